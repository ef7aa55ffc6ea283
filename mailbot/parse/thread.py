"""Finds forwarded messages and quoted history inside a body, and splits each author's text."""

from __future__ import annotations

import re
from email.utils import parseaddr

from mailbot.parse.html import QUOTE_MARK
from mailbot.parse.message import Address, Embedded, TextBody
from mailbot.parse.signature import split_signature

# Every pattern here runs on each line of a body: quantifiers are possessive (*+, ++) where runs could meet, so a
# line of 50,000 spaces costs one scan, not one per character (see tests/test_slow_mail.py).
_FORWARD_MARK = re.compile(
    r"^\s*+(?:-{2,}+\s*+(?:Forwarded|Weitergeleitete|Message transféré)[\w ]{0,40}?\s*+-{2,}+|Begin forwarded message\s*+:?"
    r"|-{2,}+\s*+Forwarded by\b.*|Forwarded message\s*+:?)\s*+$",
    re.IGNORECASE,
)
_ORIGINAL_MARK = re.compile(r"^\s*+-{2,}+\s*+(?:Original Message|Ursprüngliche Nachricht|Message d'origine)\s*+-{2,}+\s*+$", re.I)
_RULE = re.compile(r"^\s*+_{8,}+\s*+$")
_HEADER = re.compile(
    r"^\s*+(?:[*>]\s*+)*+(From|Sent|Date|To|Cc|Bcc|Subject|Reply-To|Importance|Von|Gesendet|An|Betreff|De|Envoyé|À|Objet)"
    r"\s*+(?:\*\s*+)?:\s*+(?:\*\s*+)?(.*)$",
    re.IGNORECASE,
)
_FROM_NAMES = {"from", "von", "de"}
_SENT = re.compile(r"^\s*+(?:[*>]\s*+)*+(?:Sent|Date|Gesendet|Envoyé)\s*+(?:\*\s*+)?:\s*+\S", re.I)
_WROTE = re.compile(r"^\s*+(?:On|Am|Le)\b.{4,300}\b(?:wrote|writes|schrieb|a écrit)\s*+:\s*+$", re.I)
_WROTE_WORDS = re.compile(r"(?:wrote|writes|schrieb|a écrit)\s*+:\s*+$", re.I)
_WROTE_STARTS = {"on ", "am ", "le "}
_QUOTED = re.compile(r"^\s*+>")
_SUBJECT_PREFIX = re.compile(r"^\s*+(?:\[\s*+)?(re|aw|sv|antw|fw|fwd|wg|tr|rv)\s*+(?:\[\d++\]\s*+)?:", re.I)
_QUOTE_PREFIX = re.compile(r"^\s*+> ?")
_MAILTO = re.compile(r"\[mailto:([^\]]++)\]")
_BRACKETED = re.compile(r"^([^<>]{0,200}+)<([^<>\s]{1,254}+)>$")
_FORWARD_PREFIXES = {"fw", "fwd", "wg", "tr", "rv"}


def subject_kind(subject: str) -> str | None:
    """'reply' or 'forward' from the subject's first prefix, else None."""
    match = _SUBJECT_PREFIX.match(subject or "")
    if not match:
        return None
    return "forward" if match.group(1).lower() in _FORWARD_PREFIXES else "reply"


def _header_block_at(lines: list[str], index: int) -> bool:
    """Does an Outlook/Gmail style From:/Sent:/To:/Subject: block start at this line?"""
    match = _HEADER.match(lines[index])
    if not match or match.group(1).lower() not in _FROM_NAMES or not match.group(2).strip():
        return False
    others = 0
    for line in lines[index + 1 : index + 8]:
        found = _HEADER.match(line)
        if found and found.group(1).lower() not in _FROM_NAMES:
            others += 1
        elif not line.strip():
            break
    # "From: X <x@...>" then "Sent: <date>" and nothing more: Outlook's block cut short, a quote all the same
    return others >= 2 or (others == 1 and "@" in match.group(2) and bool(_SENT.match(lines[index + 1] if index + 1 < len(lines) else "")))


def _attribution_lines(lines: list[str], index: int) -> int:
    """How many lines the attribution starting here takes ("On ..., X wrote:", which mail clients wrap over up to
    three lines: "On Tue, 1 Dec 2026 at 09:00, NHSP Agency Support Team" / "<agencies@...>" / "wrote:"); 0 if none."""
    for count in (1, 2, 3):
        if index + count > len(lines) or (count > 1 and not lines[index + count - 1].strip()):
            return 0
        joined = " ".join(lines[index: index + count])
        if not _WROTE_WORDS.search(joined[-40:]):
            continue  # the attribution ends "wrote:": a cheap look before the pattern
        if _WROTE.match(joined) and (count == 1 or not _WROTE.match(lines[index + count - 1])):
            return count
    return 0


def _boundary(lines: list[str]) -> tuple[int, int, str] | None:
    """(where the own text ends, where the embedded headers start, kind) of the first embedded message."""
    for index, line in enumerate(lines):
        if _FORWARD_MARK.match(line):
            return index, index + 1, "forward"
        if _ORIGINAL_MARK.match(line):
            return index, index + 1, "block"
        if _header_block_at(lines, index):
            start = index
            while start > 0 and (not lines[start - 1].strip() or _RULE.match(lines[start - 1])):
                if _RULE.match(lines[start - 1]):
                    start -= 1
                    break
                start -= 1
            return start, index, "block"
        if line.strip() == QUOTE_MARK:
            following = next((i for i in range(index + 1, min(len(lines), index + 4)) if lines[i].strip()), None)
            if following is not None and _FORWARD_MARK.match(lines[following]):
                return index, following + 1, "forward"  # Gmail puts what it forwards in its quote container
            return index, index + 1, "quote"
        if line.lstrip()[:3].lower() in _WROTE_STARTS and _attribution_lines(lines, index):
            return index, index, "quote"
        if _QUOTED.match(line):
            return index, index, "quote"
    return None


def _read_headers(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """Parse the embedded message's header lines; return them and the remaining body lines."""
    headers: dict[str, str] = {}
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    last = None
    while index < len(lines):
        line = lines[index]
        match = _HEADER.match(line)
        if match:
            last = match.group(1).lower()
            headers.setdefault(last, match.group(2).strip())
        elif line.strip() and last in ("to", "cc", "an", "à") and line[:1].isspace():
            headers[last] += " " + line.strip()
        else:
            break
        index += 1
    return headers, lines[index:]


def _address(value: str) -> Address | None:
    value = _MAILTO.sub(r"<\1>", value or "").replace("*", "")
    bracketed = _BRACKETED.match(value.strip())
    if bracketed and "@" in bracketed.group(2):  # "Osei-Tutu, Faith <faith@...>": the comma is the name's, not a list's
        return Address(name=bracketed.group(1).strip().strip('"').strip(), email=bracketed.group(2).strip())
    name, email = parseaddr(value)
    if "@" not in email:
        return Address(name=" ".join((value or "").split()), email="") if value and value.strip() else None
    return Address(name=name.strip().strip('"'), email=email)


def _quote_run(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split lines into the quoted run at their top and what follows it.

    A run of '>' lines (blank lines allowed inside) ends at the first unquoted text; without
    any '>' line (an HTML blockquote, an unprefixed "On ... wrote:") everything is quoted.
    """
    first = next((i for i, line in enumerate(lines) if _QUOTED.match(line)), None)
    if first is None or any(line.strip() for line in lines[1:first]):
        return lines, []
    end = first
    while end < len(lines) and (_QUOTED.match(lines[end]) or not lines[end].strip()):
        end += 1
    return lines[:end], lines[end:]


def _unquote(lines: list[str]) -> list[str]:
    return [_QUOTE_PREFIX.sub("", line) for line in lines]


def split_thread(text: str, subject: str, author_name: str, forwarding: bool, depth: int = 0) -> tuple[TextBody, tuple[Embedded, ...]]:
    """Split a body into its author's own text and the messages embedded below it.

    `forwarding` says whether a plain Outlook block below the text is a forward (the subject says
    FW:) rather than the earlier thread of a reply.
    """
    lines = text.split("\n")
    found = _boundary(lines)
    if found is None or depth > 20:
        return split_signature(text, author_name), ()
    own_end, header_start, kind = found
    own = split_signature("\n".join(lines[:own_end]), author_name)
    rest = lines[header_start:]
    if kind == "quote":
        quoted_lines, after = _quote_run(rest)
        # The attribution ("On ..., X wrote:", perhaps over two lines) says who wrote it; it is not the text.
        cut = _attribution_lines(quoted_lines, 0) if quoted_lines and quoted_lines[0].lstrip()[:3].lower() in _WROTE_STARTS else 0
        quoted_lines = quoted_lines[cut:]
        inner_body, inner_embedded = split_thread("\n".join(_unquote(quoted_lines)), "", "", False, depth + 1)
        embedded = (Embedded("quoted", None, "", inner_body, depth + 1), *(_as_quoted(e) for e in inner_embedded))
        if any(line.strip() for line in after):  # answers written below a quote are the author's text too
            more, more_embedded = split_thread("\n".join(after), subject, author_name, forwarding, depth + 1)
            own = TextBody("\n\n".join(t for t in (own.new_text, more.new_text) if t), own.signature or more.signature)
            embedded = (*embedded, *more_embedded)
        return own, embedded
    if kind == "forward" and _QUOTED.match(next((line for line in rest if line.strip()), "")):
        quoted_lines, after = _quote_run(rest)  # Apple Mail quotes what it forwards with '>'
        rest = [*_unquote(quoted_lines), *after]
    headers, body_lines = _read_headers(rest)
    sender = _address(headers.get("from") or headers.get("von") or headers.get("de") or "")
    inner_subject = headers.get("subject") or headers.get("betreff") or headers.get("objet") or ""
    is_forward = kind == "forward" or forwarding
    inner_body, inner_embedded = split_thread(
        "\n".join(body_lines), inner_subject, sender.name if sender else "", subject_kind(inner_subject) == "forward", depth + 1
    )
    this = Embedded("forward" if is_forward else "quoted", sender, inner_subject, inner_body, depth + 1)
    if not is_forward:
        inner_embedded = tuple(_as_quoted(e) for e in inner_embedded)
    return own, (this, *inner_embedded)


def _as_quoted(embedded: Embedded) -> Embedded:
    return Embedded("quoted", embedded.sender, embedded.subject, embedded.body, embedded.depth)
