"""Alerts after they are raised: acknowledgement, snooze and maintenance windows."""

from noc.alerting.actions import (
    AlertingError,
    Scope,
    acknowledge,
    add_maintenance,
    end_maintenance,
    list_maintenance,
    snooze,
    unacknowledge,
)

__all__ = [
    "AlertingError",
    "Scope",
    "acknowledge",
    "add_maintenance",
    "end_maintenance",
    "list_maintenance",
    "snooze",
    "unacknowledge",
]
