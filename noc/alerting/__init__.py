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
from noc.alerting.durations import DurationError, parse_duration

__all__ = [
    "AlertingError",
    "DurationError",
    "Scope",
    "acknowledge",
    "add_maintenance",
    "end_maintenance",
    "list_maintenance",
    "parse_duration",
    "snooze",
    "unacknowledge",
]
