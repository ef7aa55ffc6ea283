"""Mail sources: the mailbox mailbot reads from and files into (IMAP, or a Maildir on local disk)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

FOLDERS = ("processed", "review", "ignored")


class SourceError(Exception):
    """The mailbox could not be reached or refused an operation; the pass stops and is retried.
    `credentials`: it refused the login, or no password or token could be had (ops must act)."""

    def __init__(self, message: str, credentials: bool = False):
        super().__init__(message)
        self.credentials = credentials


@dataclass(frozen=True)
class MailboxState:
    name: str  # stable name of this mailbox, for checkpoints ("imap://user@host/INBOX", "maildir:/path")
    uidvalidity: str
    uidnext: int  # 0 where the source has no such number (Maildir)


@dataclass(frozen=True)
class Fetched:
    """One message as read from the inbox."""

    uid: str  # the source's handle for it (an IMAP UID, a Maildir key)
    order: int  # its IMAP UID as a number, for the checkpoint (0 for Maildir)
    raw: bytes | None  # None when it is larger than allowed; then `head` holds its header
    size: int
    head: bytes = b""


class MailSource(Protocol):
    """One open session on a mailbox."""

    def state(self) -> MailboxState: ...

    def waiting(self, after: int | None) -> list[str]:
        """Handles of the messages waiting in the inbox, oldest first; with `after`, only those after that UID."""

    def fetch(self, uids: list[str], max_bytes: int) -> Iterator[Fetched]:
        """Read messages without marking them seen."""

    def file(self, uid: str, folder: str, message_id: str | None = None) -> bool:
        """Move a message out of the inbox into a folder ("processed", "review", "ignored").
        Returns False when it was no longer in the inbox. `message_id` is given when moving it again after
        a pass that stopped: a move the server cut short may have put it in the folder already."""

    def file_many(self, uids: list[str], folder: str) -> list[str]:
        """File several messages into one folder at once; returns those moved (the others had gone)."""

    def find(self, message_id: str) -> str | None:
        """The handle of the message in the inbox with this Message-ID, if any."""

    def refile(self, uid: str | None, message_id: str | None, from_folder: str, to_folder: str) -> bool:
        """Move a message a reviewer decided from one filing folder to another; False when not found there."""

    def alive(self) -> bool:
        """Is the session still usable? (After a refused operation: was it the message or the connection?)"""

    def close(self) -> None: ...
