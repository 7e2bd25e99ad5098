"""What the notifier refuses or fails at, as one-line ``NocError`` messages.

NocError
└── NotifyError
    ├── RulesError      the rules file is malformed (file:line: field: why)
    └── DeliveryError   one attempt to deliver a notification failed (URL masked)
"""

from __future__ import annotations

from noc.errors import NocError


class NotifyError(NocError):
    pass


class RulesError(NotifyError):
    pass


class DeliveryError(NotifyError):
    """``retry`` is False when sending the same request again cannot succeed (a 4xx answer, a
    channel that is no longer in the rules file)."""

    def __init__(self, message: str, *, retry: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after
