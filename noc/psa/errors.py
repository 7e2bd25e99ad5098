"""What the service desk refuses, as one-line ``NocError`` messages.

Callers catch ``PsaError`` to show the message; ``TicketConflict`` also carries the ticket as it
is now, so a console can redraw it and let the user apply the change again.

    NocError
    └── PsaError
        ├── QuickEntryError   a typed time entry cannot be read ("25x fix")
        ├── TicketError       a ticket change is not allowed (bad status move, unknown client)
        │   ├── TicketNotFound
        │   └── TicketConflict   someone else changed the ticket since it was read
        └── TimeEntryError    a time entry or timer change is not allowed
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noc.errors import NocError

if TYPE_CHECKING:
    from noc.storage.models import Ticket


class PsaError(NocError):
    pass


class QuickEntryError(PsaError):
    pass


class TicketError(PsaError):
    pass


class TicketNotFound(TicketError):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"ticket {ticket_id} does not exist")
        self.ticket_id = ticket_id


class TicketConflict(TicketError):
    """Carries the ticket as it is now, so the caller can show it and let the user redo."""

    def __init__(self, current: Ticket, expected_version: int) -> None:
        super().__init__(
            f"ticket #{current.number} was changed by someone else "
            f"(you read version {expected_version}, it is now {current.version}); reload it"
        )
        self.current = current
        self.expected_version = expected_version


class TimeEntryError(PsaError):
    pass
