"""The frozen values a parsed message is made of; every later stage reads only these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping


@dataclass(frozen=True, slots=True)
class Address:
    """A display name and an address, both decoded."""

    name: str
    email: str

    @property
    def key(self) -> str:
        """The address for comparisons: addresses compare case-insensitively."""
        return self.email.strip().lower()

    @property
    def domain(self) -> str:
        return self.key.rsplit("@", 1)[1] if "@" in self.key else ""


@dataclass(frozen=True, slots=True)
class AuthResult:
    """One method's result in an Authentication-Results header, e.g. dkim=pass header.d=x."""

    method: str
    result: str
    properties: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        for key, value in self.properties:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class AuthHeader:
    """One Authentication-Results header; authserv_id is None in Exchange Online's form."""

    authserv_id: str | None
    results: tuple[AuthResult, ...]


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class TextBody:
    """One author's text: what they wrote now, and their sign-off, signature and disclaimer."""

    new_text: str = ""
    signature: str = ""


@dataclass(frozen=True, slots=True)
class Embedded:
    """A message found inside another: a forward (the sender's request) or quoted history (context)."""

    kind: Literal["forward", "quoted"]
    sender: Address | None
    subject: str
    body: TextBody
    depth: int = 1


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a delivery status notification says: recipients that failed for good, and the message that came back."""

    failed: tuple[str, ...] = ()  # addresses (lower case) with Action: failed and a 5.x.x status
    returned: tuple[str, ...] = ()  # Message-IDs of the returned message (and of what it answered)


@dataclass(frozen=True)
class Email:
    """A message as mailbot understands it."""

    message_id: str | None = None
    subject: str = ""
    date: str | None = None
    sender: Address | None = None
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    auth: tuple[AuthHeader, ...] = ()
    content_type: str = "text/plain"
    report_type: str | None = None
    return_path: str | None = None
    body: TextBody = TextBody()
    embedded: tuple[Embedded, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    problems: tuple[str, ...] = ()
    unreadable: str | None = None
    # Why the From header cannot be taken at its word (several addresses, invisible characters): such a sender is
    # never authenticated, and never taken for a person of the directory.
    sender_doubts: tuple[str, ...] = ()
    truncated: bool = False  # part of the body was too long to read (held for a person: more may be asked for)
    delivery: Delivery | None = None  # a delivery status notification's report (a bounce)

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def forwards(self) -> tuple[Embedded, ...]:
        return tuple(e for e in self.embedded if e.kind == "forward")

    @property
    def quoted_text(self) -> str:
        return "\n\n".join(e.body.new_text for e in self.embedded if e.kind == "quoted")
