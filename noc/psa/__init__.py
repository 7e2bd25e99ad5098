"""The service desk (PSA): tickets, technicians and time, on top of ``noc.storage.Store``.

No Textual here: the console, the CLI and the alert automation all call these functions.
"""

from noc.psa.errors import (
    PsaError,
    QuickEntryError,
    TicketConflict,
    TicketError,
    TicketNotFound,
    TimeEntryError,
)
from noc.psa.quickentry import DEFAULT_WORK_TYPES, QuickEntry, parse_quick_entry
from noc.psa.technicians import ensure_technician, find_technician
from noc.psa.tickets import (
    PRIORITIES,
    STATUSES,
    TRANSITIONS,
    TicketDetail,
    add_note,
    create_ticket,
    ticket_detail,
    ticket_queue,
    update_ticket,
)
from noc.psa.timelog import (
    TimerSwitch,
    add_entry,
    edit_entry,
    exact_seconds,
    rounded_minutes,
    running_timer,
    start_timer,
    stop_timer,
)

__all__ = [
    "DEFAULT_WORK_TYPES",
    "PRIORITIES",
    "STATUSES",
    "TRANSITIONS",
    "PsaError",
    "QuickEntry",
    "QuickEntryError",
    "TicketConflict",
    "TicketDetail",
    "TicketError",
    "TicketNotFound",
    "TimeEntryError",
    "TimerSwitch",
    "add_entry",
    "add_note",
    "create_ticket",
    "edit_entry",
    "ensure_technician",
    "exact_seconds",
    "find_technician",
    "parse_quick_entry",
    "rounded_minutes",
    "running_timer",
    "start_timer",
    "stop_timer",
    "ticket_detail",
    "ticket_queue",
    "update_ticket",
]
