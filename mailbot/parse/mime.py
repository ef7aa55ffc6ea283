"""Reads raw message bytes into one frozen Email: the standard library for the MIME tree, mail-parser for addresses."""

from __future__ import annotations

import codecs
import email
import logging
import re
import unicodedata
from email.header import decode_header, make_header
from email.message import Message
from email.utils import collapse_rfc2231_value, getaddresses
from types import MappingProxyType

from mailparser.utils import get_addresses

from mailbot.parse.auth_results import parse_auth_results
from mailbot.parse.delivery import delivery_report
from mailbot.parse.html import MAX_HTML, html_to_text, tame
from mailbot.parse.message import Address, Attachment, Email, Embedded
from mailbot.parse.thread import split_thread, subject_kind

log = logging.getLogger(__name__)

_MAX_DEPTH = 30
_MAX_ATTACHED = 20  # attached messages read (more are counted, not read: the message is held)
_MAX_PARTS = 5000  # MIME parts: a message with more is held unread (no request needs them; parsing them takes long)
_MAX_HEADER = 8192  # characters of a header decoded; the rest is never needed
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200c\u200d\u2060\ufeff]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
                        r"\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb]")
_LONG_SPACES = re.compile(r"(?<! ) {9,}+")
_SINGLE_BYTE_LIARS = {"ascii", "iso8859-1", "cp1252", "iso8859-15"}


def clean_header(value: object) -> str:
    """A header value decoded from RFC 2047, unfolded, without control characters; at most _MAX_HEADER long."""
    if value is None:
        return ""
    raw = str(value)[:_MAX_HEADER]
    if "=?" not in raw:
        text = " ".join(raw.split())
        if text.isascii() and text.isprintable():
            return text  # the common case, quickly
    text = raw
    if "=?" in raw:
        try:
            text = str(make_header(decode_header(raw)))
        except (LookupError, UnicodeError, ValueError, AssertionError):
            text = raw
    text = _SURROGATES.sub("\ufffd", text)
    return " ".join(_CONTROL.sub("", text).split())


def decode_text(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """Decode a body part; returns (text, problem) where problem says how a bad charset was worked round."""
    charset = (declared or "").strip().strip('"').lower() or None
    codec = None
    if charset:
        try:
            codec = codecs.lookup(charset).name
        except LookupError:
            codec = None
    if codec is None or codec in _SINGLE_BYTE_LIARS:
        # Unknown or single-byte labels are often wrong: bytes that are valid UTF-8 are UTF-8.
        try:
            text = data.decode("utf-8")
            problem = f"unknown charset {charset!r}, read as UTF-8" if charset and codec is None else None
            return text, problem
        except UnicodeDecodeError:
            pass
    if codec is not None:
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, LookupError):
            pass
        except Exception:  # some codecs raise odd errors on odd input
            pass
    try:
        return data.decode("utf-8"), f"charset {charset!r} did not fit the text, read as UTF-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), f"charset {charset!r} did not fit the text, read as Windows-1252"


class _Collector:
    """Walks a MIME tree once, gathering text parts, attachments and attached messages."""

    def __init__(self) -> None:
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[Attachment] = []
        self.attached_messages: list[Message] = []
        self.problems: list[str] = []
        self.truncated = False

    def walk(self, part: Message, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            self.problems.append("MIME structure nested too deeply; the deepest parts were not read")
            return
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                self.attached_messages.append(inner)
            else:
                self.attachments.append(_attachment(part))
            return
        if part.is_multipart():
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            if ctype == "multipart/alternative":
                chosen = _best_alternative(children)
                if chosen is not None:
                    self.walk(chosen, depth + 1)
            elif ctype == "multipart/report":
                if children:
                    self.walk(children[0], depth + 1)
                self.attachments.extend(_attachment(c) for c in children[1:])
            else:
                for child in children:
                    self.walk(child, depth + 1)
            return
        if _is_attachment(part):
            self.attachments.append(_attachment(part))
            return
        if ctype in ("text/plain", "text/html"):
            text = self._text_of(part)
            (self.plain if ctype == "text/plain" else self.html).append(text)
        elif part.get_content_maintype() == "text" and ctype not in ("text/calendar", "text/rfc822-headers"):
            self.plain.append(self._text_of(part))
        else:
            self.attachments.append(_attachment(part))

    def _text_of(self, part: Message) -> str:
        try:
            data = part.get_payload(decode=True)
        except Exception as exc:  # a transfer encoding the library cannot undo
            self.problems.append(f"a text part could not be decoded ({type(exc).__name__})")
            return ""
        if data is None:
            return ""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        text, problem = decode_text(data, _param(part, "charset"))
        if problem:
            self.problems.append(problem)
        if part.get_content_type() == "text/plain" and (_param(part, "format") or "").lower() == "flowed":
            text = unflow(text, (_param(part, "delsp") or "").lower() == "yes")
        return text

    def body_text(self) -> str:
        plain = "\n\n".join(t for t in self.plain if t.strip())
        if plain:
            return plain
        if any(tame(h)[1] for h in self.html):
            self.truncated = True
            self.problems.append(f"the HTML is longer than {MAX_HTML:,} characters: only its beginning was read")
        return "\n\n".join(html_to_text(h) for h in self.html if h.strip())


def _param(part: Message, name: str) -> str | None:
    """A Content-Type parameter as text, whatever form it came in: RFC 2231 (charset*=us-ascii''x, or continued
    over name*0*, name*1*) arrives as a (charset, language, value) triple, which is decoded here."""
    try:
        value = part.get_param(name)
    except Exception:  # a parameter the library cannot take apart
        return None
    if isinstance(value, tuple):
        try:
            return collapse_rfc2231_value(value, errors="replace", fallback_charset="utf-8")
        except (LookupError, TypeError, ValueError):
            return str(value[2]) if len(value) == 3 else None
    return value


def unflow(text: str, delsp: bool = False) -> str:
    """format=flowed text (RFC 3676) as its author wrote it: a line ending in a space goes on in the next line of
    the same quote depth (the space dropped with delsp=yes); a space-stuffed line loses its stuffing."""
    out: list[str] = []
    carry = None  # (depth, text so far) of a paragraph still flowing
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):
            body = body[1:]
        if carry is not None and carry[0] == depth:
            body = carry[1] + body
        elif carry is not None:
            out.append(">" * carry[0] + carry[1])
        carry = None
        if body.endswith(" ") and body != "-- ":
            carry = (depth, body[:-1] if delsp else body)
        else:
            out.append(">" * depth + (" " if depth else "") + body if depth else body)
    if carry is not None:
        out.append(">" * carry[0] + carry[1])
    return "\n".join(out)


def _disposition(part: Message) -> str:
    value = part.get("Content-Disposition")
    return str(value).split(";", 1)[0].strip().lower() if value else ""


def _is_attachment(part: Message) -> bool:
    """Attached, or a named part that is not inline text."""
    disposition = _disposition(part)
    if disposition == "attachment":
        return True
    try:
        named = bool(part.get_filename())
    except Exception:
        named = False
    return named and (part.get_content_maintype() != "text" or disposition != "inline")


def _attachment(part: Message) -> Attachment:
    try:
        filename = clean_header(part.get_filename() or "")
    except Exception:
        filename = ""
    payload = part.get_payload()
    size = len(payload) if isinstance(payload, str) else 0
    if size and str(part.get("content-transfer-encoding", "")).strip().lower() == "base64":
        size = size * 3 // 4  # about the decoded size, without decoding what is never read
    return Attachment(filename=filename, content_type=part.get_content_type(), size=size)


# An HTML table whose cells hold addresses: a list of people that plain text flattens to a cell a line.
_TABLE_OF_ADDRESSES = re.compile(rb"<t[dh][^<>]{0,300}+>(?:(?!</t[dh]).){0,300}?@", re.I | re.S)


def _best_alternative(children: list[Message]) -> Message | None:
    """The text part to read: plain text, unless the HTML part lays people out in a table."""
    if not children:
        return None
    for child in children:
        if child.get_content_type() == "text/html" and not _is_attachment(child):
            payload = (child.get_payload(decode=True) or b"")[:MAX_HTML]
            if b"<t" in payload and _TABLE_OF_ADDRESSES.search(payload):
                return child
    for wanted in ("text/plain", "text/html"):
        for child in children:
            if child.get_content_type() == wanted and not _is_attachment(child):
                payload = child.get_payload(decode=True)
                if payload and payload.strip():
                    return child
    multipart = [c for c in children if c.is_multipart()]
    return multipart[-1] if multipart else children[-1]


def invisible_in(text: str) -> bool:
    """Does the text hold a control or invisible character (zero-width, bidi, soft hyphen, Unicode tags, a space
    other than the plain one...)?"""
    return bool(_INVISIBLE.search(text)) or any(unicodedata.category(c) in ("Cf", "Cc", "Co", "Cn", "Zs", "Zl", "Zp")
                                                for c in text if not c.isascii())


def _addresses(pairs: object) -> tuple[Address, ...]:
    """Addresses mail-parser read from a header (RFC 2047 names already decoded), tidied. An address holding an
    invisible character keeps it (visibly marked): cleaned away, it would become another, real, address."""
    found = []
    for display, address in pairs if isinstance(pairs, (list, tuple)) else ():
        raw = str(address or "").strip(" \t\r\n").strip("<>")
        if invisible_in(raw):
            address = "".join("\ufffd" if invisible_in(c) else c for c in raw)
        else:
            address = clean_header(raw).strip("<>")
        if "@" in address and " " not in address:
            found.append(Address(name=clean_header(display).strip('"').strip(), email=address))
    return tuple(found)


def _sender_doubts(message: Message, senders: tuple[Address, ...]) -> tuple[str, ...]:
    doubts = []
    values = message.get_all("from") or []
    if len(senders) > 1 or len(values) > 1:
        doubts.append("the From header names more than one address")
    if any("\ufffd" in s.email for s in senders) or any(invisible_in(_at_sign_part(str(v)).strip(" \t\r\n")) for v in values):
        doubts.append("the From address holds invisible characters")
    elif any(not s.email.isascii() for s in senders):
        doubts.append("the From address holds characters outside ASCII (they may only look like a directory address)")
    return tuple(doubts)


def _at_sign_part(value: str) -> str:
    """The address part of a From value (what lies between < >, or the whole), where invisible characters matter."""
    start, end = value.rfind("<"), value.rfind(">")
    return value[start + 1 : end] if 0 <= start < end else value


def _address_headers(message: Message) -> dict[str, tuple[Address, ...]]:
    """From, Reply-To, To and Cc, each from its first occurrence, read by mail-parser (RFC 2047 names decoded), or
    by _plain_addresses where the value is plain enough that both read it alike."""
    first: dict[str, str] = {}
    for name, value in message.items():
        first.setdefault(str(name).strip().lower(), str(value)[:_MAX_HEADER])  # 60,000 addresses are not read
    found = {}
    for name in ("from", "reply-to", "to", "cc"):
        if name in first:
            value = first[name]
            pairs = _plain_addresses(value)
            found[name] = _addresses(pairs if pairs is not None else get_addresses(value, decode_names=True))
        else:
            found[name] = ()
    return found


_ADDRESS_SPEC = r"[A-Za-z0-9_%+'-]++(?:\.[A-Za-z0-9_%+'-]++)*+@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++"
# Anchored at the start (\A): used whole (fullmatch), never searched for.
_PLAIN_MAILBOX = re.compile(rf"\A[ \t]*+(?:(?:\"([A-Za-z0-9 .,'&-]*+)\"|([A-Za-z0-9][A-Za-z0-9 '&-]*+))?[ \t]*+<({_ADDRESS_SPEC})>"
                            rf"|({_ADDRESS_SPEC}))[ \t]*+")
_PLAIN_VALUE = re.compile(r"\A[A-Za-z0-9 \t.,'&<>@%+\"_-]*+")


def _plain_addresses(value: str) -> list[tuple[str, str]] | None:
    """The (name, address) pairs of a header in its plainest shapes ("Jane Doe <jane@x.org>", "jane@x.org, Bob
    <bob@y.org>", '"Doe, Jane" <jane@x.org>'), read without mail-parser's forensic parser (a third of the cost
    of parsing a message); None for any other shape: comments, encoded words, groups, odd characters, quotes in
    a list."""
    if not _PLAIN_VALUE.fullmatch(value):
        return None
    pieces = [value] if '"' in value else value.split(",")
    if '"' in value and value.count('"') != 2:
        return None
    pairs = []
    for piece in pieces:
        match = _PLAIN_MAILBOX.fullmatch(piece)
        if match is None:
            return None
        quoted, bare, angled, alone = match.groups()
        name = quoted if quoted is not None else " ".join((bare or "").split())
        pairs.append((name, angled or alone))
    return pairs


def _raw(value: object) -> str:
    """A header's value as received: not decoded, nothing removed (8-bit bytes as replacement characters)."""
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value)
    chunks = getattr(value, "_chunks", None)  # a Header made for 8-bit bytes: its text as received
    return "".join(str(text) for text, _ in chunks) if chunks else str(value)


def _message_ids(value: str | None) -> tuple[str, ...]:
    return tuple(re.findall(r"<[^<>\s]+>", value or ""))


def _headers(message: Message) -> MappingProxyType:
    headers: dict[str, list[str]] = {}
    for name, value in message.items():
        headers.setdefault(str(name).strip().lower(), []).append(clean_header(value))
    return MappingProxyType({k: tuple(v) for k, v in headers.items()})


def _embedded_from_attached(message: Message, depth: int) -> tuple[Embedded, ...]:
    """An attached message/rfc822 part: a forward, with whatever it embeds in turn."""
    collector = _Collector()
    collector.walk(message)
    try:
        senders = _addresses(getaddresses([str(v) for v in message.get_all("from") or []]))
    except Exception:
        senders = ()
    sender = senders[0] if senders else None
    subject = clean_header(message.get("subject"))
    body, nested = split_thread(
        _normalise(collector.body_text()), subject, _author_name(sender), subject_kind(subject) == "forward", depth
    )
    found = [Embedded("forward", sender, subject, body, depth)]
    found.extend(nested)
    for inner in collector.attached_messages[:_MAX_ATTACHED]:
        if depth < 5:
            found.extend(_embedded_from_attached(inner, depth + 1))
    return tuple(found)


def _normalise(text: str) -> str:
    """Line ends, spaces and invisible characters made plain; a run of spaces longer than any layout needs is cut
    to eight, so that no pattern ever meets a run of thousands (the slow shapes of tests/slow_mail.py)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = "\n".join(_tab_row(line) for line in text.split("\n")) if "\t" in text else text
    text = _LONG_SPACES.sub("        ", _SURROGATES.sub("\ufffd", _CONTROL.sub("", text)))
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _author_name(sender: Address | None) -> str:
    """The sender's name, for finding where their signature starts: the display name, else what a first.last
    address spells ("maria.santos@..." signs "Maria Santos")."""
    if sender is None:
        return ""
    if sender.name.strip():
        return sender.name
    pieces = [p for p in re.split(r"[._-]+", sender.email.split("@", 1)[0]) if p]
    return " ".join(pieces) if len(pieces) in (2, 3) and all(p.isalpha() and len(p) > 1 for p in pieces) else ""


def _tab_row(line: str) -> str:
    """A row pasted from a spreadsheet or a form ("Jago<TAB>Emma<TAB>emma.jago@...", "Work Email<TAB>"): its cells
    as a table row, "Jago | Emma | ...", as an HTML table's are; other tabs are spaces ("Name:<TAB>Jane")."""
    cells = [cell.strip(" ") for cell in line.lstrip("\t ").rstrip(" ").split("\t")]
    filled = [c for c in cells if c]
    if len(filled) >= 3 or (len(filled) == 2 and not filled[0].endswith(":")):
        return " | ".join(filled)
    if len(filled) == 1 and len(cells) >= 2 and cells[0] and len(cells[0]) <= 40 and cells[0][-1:].isalnum():
        return f"{cells[0]} |"  # a form's field left blank
    return line.replace("\t", " ")


def parse_email(raw: bytes) -> Email:
    """Parse a raw RFC 5322 message; never raises: what cannot be read is said in `unreadable`."""
    try:
        return _parse(raw)
    except Exception as exc:  # the promise: malformed mail is held, never crashes the run
        log.warning("message could not be parsed: %s: %s", type(exc).__name__, exc)
        return Email(unreadable=f"the message could not be parsed ({type(exc).__name__})")


def _parse(raw: bytes) -> Email:
    if not raw or not raw.strip():
        return Email(unreadable="the message is empty")
    if raw.count(b"\n--") > 2 * _MAX_PARTS:  # each part starts at a boundary line: counted without parsing
        head = email.message_from_bytes(raw.split(b"\n\n", 1)[0][:65536] + b"\n\n")
        sender = (_address_headers(head)["from"] or (None,))[0]
        return Email(message_id=(_message_ids(clean_header(head.get("message-id"))) or (None,))[0], subject=clean_header(head.get("subject")),
                     sender=sender, unreadable=f"the message has more than {_MAX_PARTS:,} MIME parts")
    # The standard library builds the MIME tree (as mail-parser would: the same call), mail-parser reads the
    # address headers, whatever shape they come in. mail-parser's whole parse would also decode every
    # attachment and parse every Received and Date header, which mailbot never reads: twice the time.
    message: Message = email.message_from_bytes(raw)
    if message is None or not message.keys():
        return Email(unreadable="the message has no headers")
    headers = _headers(message)
    addresses = _address_headers(message)
    senders = addresses["from"]
    sender = senders[0] if senders else None
    subject = clean_header(message.get("subject"))
    in_reply_to = (_message_ids(clean_header(message.get("in-reply-to"))) or (None,))[0]
    kind = subject_kind(subject)
    forwarding = kind == "forward"

    collector = _Collector()
    collector.walk(message)
    body, embedded = split_thread(_normalise(collector.body_text()), subject, _author_name(sender), forwarding)
    attached: list[Embedded] = []
    for inner in collector.attached_messages[:_MAX_ATTACHED]:  # a request is not in the 700th attached message
        attached.extend(_embedded_from_attached(inner, 1))
    problems = list(dict.fromkeys(collector.problems))
    if message.defects:
        problems.extend(f"MIME defect: {type(d).__name__}" for d in message.defects[:5])
    ctype = message.get_content_type()
    return_path = message.get("return-path")
    message_id = _message_ids(clean_header(message.get("message-id")))
    unreadable = None
    if sender is None:
        unreadable = "the message has no readable From address" if message.get("from") else "the message has no From header"
    return Email(
        message_id=message_id[0] if message_id else None,
        subject=subject,
        date=clean_header(message.get("date")) or None,
        sender=sender,
        reply_to=addresses["reply-to"],
        to=addresses["to"],
        cc=addresses["cc"],
        in_reply_to=in_reply_to,
        references=_message_ids(clean_header(message.get("references"))),
        headers=headers,
        auth=tuple(h for h in (parse_auth_results(_raw(v)) for v in message.get_all("authentication-results") or ()) if h),
        content_type=ctype,
        report_type=((_param(message, "report-type") or "").strip().lower() or None) if ctype == "multipart/report" else None,
        return_path=clean_header(return_path) if return_path is not None else None,
        body=body,
        embedded=tuple(embedded) + tuple(attached),
        attachments=tuple(collector.attachments),
        problems=tuple(problems),
        unreadable=unreadable,
        sender_doubts=_sender_doubts(message, senders),
        truncated=collector.truncated or len(collector.attached_messages) > _MAX_ATTACHED,
        delivery=delivery_report(message) if message.is_multipart() else None,
    )


def plain_text(raw: bytes) -> str | None:
    """The plain-text body of a message mailbot wrote itself (a stored reply), or None; never raises."""
    try:
        from email import message_from_bytes
        from email import policy as email_policy

        part = message_from_bytes(raw, policy=email_policy.default).get_body(("plain",))
        return part.get_content() if part is not None else None
    except Exception:
        return None
