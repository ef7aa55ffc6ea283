"""Mail senders: how replies leave (SMTP, or .eml files in the outbox folder when there is no SMTP)."""

from __future__ import annotations

from typing import Protocol


class SendError(Exception):
    """A reply could not be sent now; `permanent` says whether trying again can help."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class MailSender(Protocol):
    def send(self, sender: str, recipients: tuple[str, ...], content: bytes) -> None:
        """Deliver one message (its bytes as written to the outbox); raises SendError."""

    def close(self) -> None:
        """Let go of any connection kept between sends."""
