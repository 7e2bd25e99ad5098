"""Alerting: probe results judged into check states and alerts, and what people do with them.

The evaluator (``evaluator``, with ``judge``, ``thresholds``, ``flapping``, ``dependencies``,
``alerts``, ``maintenance``) turns results into states, deduplicated alerts and events; the
actions exported here (acknowledge, snooze, maintenance windows) are how a technician answers.
"""

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
