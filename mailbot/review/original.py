"""A held message as it came, for the desk: its source, its HTML part (served inert), its attachments' bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage

# Served with the HTML part: nothing runs, nothing loads from anywhere (images only when embedded as data:).
INERT = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; form-action 'none'; "
         "frame-ancestors 'none'; base-uri 'none'")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class Part:
    filename: str  # made safe for a Content-Disposition header
    content_type: str
    data: bytes


def _message(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=email_policy.default)


def html_part(raw: bytes) -> str | None:
    """The message's HTML body (the one a mail client would show), or None."""
    try:
        part = _message(raw).get_body(("html",))
        return part.get_content() if part is not None else None
    except Exception:  # a broken part: the desk shows the source instead
        return None


def attachments(raw: bytes) -> list[Part]:
    """Every part with a file name or marked as an attachment, in the order they come, decoded."""
    found = []
    try:
        for part in _message(raw).walk():
            if part.is_multipart():
                continue
            name = part.get_filename()
            if not name and part.get_content_disposition() != "attachment":
                continue
            data = part.get_payload(decode=True) or b""
            safe = " ".join(_UNSAFE_NAME.sub("_", name or "attachment").split())[:120] or "attachment"
            found.append(Part(safe, part.get_content_type(), data))
    except Exception:
        pass
    return found
