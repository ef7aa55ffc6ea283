"""Reads a delivery status notification (RFC 3464): which recipients failed for good, and which message came back."""

from __future__ import annotations

import re
from email.message import Message

from mailbot.parse.message import Delivery

_STATUSES = ("message/delivery-status", "message/global-delivery-status")
_RETURNED = ("message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers")
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}+>")
_ADDRESS = re.compile(r"[^\s<>;\"@]{1,64}+@[^\s<>;\"@]{1,255}+")
_MAX_PARTS = 50  # a report has three; no more are read


def delivery_report(message: Message) -> Delivery | None:
    """What a delivery report says, or None when the message carries no delivery-status part."""
    failed: list[str] = []
    returned: list[str] = []
    found = False
    for number, part in enumerate(message.walk()):
        if number >= _MAX_PARTS:
            break
        ctype = part.get_content_type()
        if ctype in _STATUSES:
            found = True
            failed.extend(_failed_recipients(part))
        elif ctype in _RETURNED:
            returned.extend(_returned_ids(part))
    if not found:
        return None
    return Delivery(tuple(dict.fromkeys(a.lower() for a in failed)), tuple(dict.fromkeys(returned)))


def _failed_recipients(part: Message) -> list[str]:
    """The recipients whose Action is failed with a permanent (5.x.x) status."""
    blocks = part.get_payload()
    if not isinstance(blocks, list):  # some servers send it unparsed, as text: read the fields from the text
        text = part.get_payload(decode=True) or b""
        blocks = [_fields(chunk) for chunk in text.decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n")[:200]]
    addresses = []
    for block in blocks[:200]:
        get = block.get if isinstance(block, (Message, dict)) else (lambda _k: None)
        action = str(get("action") or get("Action") or "").strip().lower()
        status = str(get("status") or get("Status") or "").strip()
        recipient = str(get("final-recipient") or get("Final-Recipient") or get("original-recipient")
                        or get("Original-Recipient") or "")
        if action == "failed" and status.startswith("5"):
            match = _ADDRESS.search(recipient.split(";", 1)[-1])
            if match:
                addresses.append(match.group().strip("<>"))
    return addresses


def _fields(chunk: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in chunk.split("\n")[:50]:
        name, colon, value = line.partition(":")
        if colon and name.strip():
            fields[name.strip().lower()] = value.strip()
    return fields


def _returned_ids(part: Message) -> list[str]:
    """The Message-ID (and In-Reply-To) of the message that came back, whole or headers only."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        inner = payload[0]
        values = [inner.get("message-id"), inner.get("in-reply-to")]
    else:
        text = (part.get_payload(decode=True) or b"")[:65_536].decode("utf-8", "replace")
        values = [line.split(":", 1)[1] for line in text.splitlines()
                  if line.lower().startswith(("message-id:", "in-reply-to:"))]
    return [m for value in values if value for m in _MESSAGE_ID.findall(str(value))[:1]]
