"""Cuts the text that can hold requests into units: sentences, list items, table rows and Name:/Email: records."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.parse.message import Address

_NUMBER = re.compile(r"^\s*+\(?(\d{1,2})[.)]")
_BULLET = re.compile(r"^\s*(?:[•*·◦▪‣○●■►➢✓\-–—]|\(?\d{1,2}[.)]|\(\d{1,2}\)|[a-hA-H][.)])\s+")
# Starts only where a run of address characters starts: no quadratic search through long tokens.
_EMAIL = re.compile(r"(?<![\w.+'’-])[\w.+'’-]+@[\w-]+(?:\.[\w-]+)+")
_LABEL = re.compile(r"^\s*+(?:[*•-]\s*+)?([A-Za-z][A-Za-z /'’-]{1,30}?(?:\s*+\([A-Za-z ,/'’-]{1,40}\))?)\s*+[:=]\s*+(?:\|\s*+)?(.*)$")  # "Name: | Jo" (a table); "Name (as on ID):"
# The person's name and address in a form ("Name:", "New user full name:", "Work email:"), not another's ("Line
# manager name:", "Submitted by:", "Personal email:", "Company name:") and not a login name ("User name:").
_NOT_THE_PERSONS = r"(?!.*\b(?:company|agency|organi[sz]ation|branch|site|office|manager|managers|submitted|requested|approved|authori[sz]ed|your|sender|contact|business|trading|ward|unit|team|personal|home|private|alternative|other|previous)\b)"
_PART_OF_A_NAME = r"(?!.*\b(?:first|fore|given|christian|last|sur|family|middle|preferred|known\s+as)\s*names?$)(?!surname$)"
_NAME_LABEL = re.compile(rf"^{_NOT_THE_PERSONS}{_PART_OF_A_NAME}(?!user\s*name$)(?:[\w'’]+\s+){{0,4}}?(?:full\s+)?names?$", re.I)
_FIRST_LABEL = re.compile(r"^(?:[\w'’]+\s+){0,2}?(?:first|fore|given|christian)\s*names?$", re.I)
_LAST_LABEL = re.compile(r"^(?:[\w'’]+\s+){0,2}?(?:(?:last|family)\s*names?|surname)$", re.I)
# A vertical form pasted as a table: "First Name | Aleksandra" is the field "First Name: Aleksandra".
_LABEL_CELL = re.compile(r"^\s*+([A-Za-z][A-Za-z /'’?()-]{1,40}?)\s*+\|\s*+([^|]*?)\s*+$")
_EMAIL_LABEL = re.compile(rf"^{_NOT_THE_PERSONS}(?:[\w'’]+\s+){{0,4}}?e-?mail(?:\s+address)?$", re.I)
_GREETING = re.compile(
    r"^\s*(?:hi|hiya|hello|hey|dear|good\s+(?:morning|afternoon|evening)|morning|afternoon|evening|greetings)\b"
    r",?(?:\s+[\w'’&.-]+){0,5}?\s*[,!.:]?\s*$",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9\u00c0-\u024f•])")
_WRAPPED_AT_HYPHEN = re.compile(r"[^\W\d_]-")
_ABBREVIATION = re.compile(r"\b(?:mr|mrs|ms|dr|st|e\.g|i\.e|etc|approx|no|tel|mob|ref|[a-z])\.$", re.I)


@dataclass(frozen=True, slots=True)
class Unit:
    """A piece of text that states at most one thing about people and access."""

    text: str
    source: int  # 0 the subject, 1 the sender's new text, 2 and up the forwarded messages
    paragraph: int  # numbered across the whole message
    kind: str  # "subject", "sentence", "item" or "record"
    author: Address | None
    cells: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    number: int | None = None  # a numbered list item's number ("2." or "(2)")


def _joined(lines: list[str]) -> str:
    """Lines of one paragraph as one text; a line broken at a hyphen inside a word ("Oyinlola-" then "Bassey",
    "marguerite.oyinlola-" then "bassey@...") is joined without a space."""
    pieces: list[str] = []
    for line in (l.strip() for l in lines):
        if pieces and _WRAPPED_AT_HYPHEN.fullmatch(pieces[-1][-2:]) and line[:1].isalnum():
            pieces[-1] += line
        else:
            pieces.append(line)
    return " ".join(pieces)


def emails_in(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group().rstrip(".'’-")) for m in _EMAIL.finditer(text)]


def _sentences(text: str) -> list[str]:
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()].rstrip()
        if _ABBREVIATION.search(candidate[-16:]):  # the end only: a growing candidate is not searched again
            continue
        pieces.append(candidate)
        start = match.end()
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]


# A pasted CSV header: comma-separated labels, one of them a name or an email (only tried on short lines).
_CSV_HEADER = re.compile(r"^(?=[\w \-]{0,60}+(?:,[\w \-]{0,60}+){1,8}+$)[\w ,\-]*?(?:name|e-?mail)", re.I)


def _cells(line: str) -> tuple[str, ...]:
    """A table row's cells: split on '|', tabs, or commas in a pasted CSV line (with an address, or a header)."""
    if "|" in line:
        return tuple(c.strip() for c in line.split("|"))
    if "\t" in line:
        return tuple(c.strip() for c in line.split("\t"))
    machine = ", " not in line.strip()  # written by a program: no space after its commas
    if len(line) < 200 and line.count(",") >= 2 and (_EMAIL.search(line) or _CSV_HEADER.match(line) or machine):
        cells = tuple(c.strip() for c in line.split(","))
        if all(len(c) <= 60 for c in cells):
            return cells
    return ()


def _fields_from_cells(lines: list[str]) -> list[str]:
    """Lines of two cells each, a label and its value, read as a form's fields ("First Name: Aleksandra")."""
    matches = [_LABEL_CELL.match(line) for line in lines]
    if sum(1 for m in matches if m and _is_name_label(m.group(1).strip())) and sum(1 for m in matches if m) >= 3:
        return [f"{m.group(1).strip()}: {m.group(2)}" if m else line for m, line in zip(matches, lines)]
    return lines


_HINT = re.compile(r"\(([^()]*+)\)")
# "New user (Surname, First name)": both parts of a name in one field, the surname first.
_SURNAME_FIRST_LABEL = re.compile(r"\b(?:surname|last\s*name|family\s*name)\s*+[,/]?\s*+(?:first|fore|given|christian)\s*names?\b", re.I)


def _bare(label: str) -> str:
    """A label without its parenthesised hint: "Name (as on passport)" is "Name"."""
    return " ".join(_HINT.sub(" ", label).split())


def _is_name_label(label: str) -> bool:
    bare = _bare(label)
    return bool(_NAME_LABEL.match(bare) or _FIRST_LABEL.match(bare) or _SURNAME_FIRST_LABEL.search(label))


def _is_record(lines: list[str]) -> bool:
    if not any(":" in line or "=" in line for line in lines):
        return False
    labels = [_LABEL.match(line) for line in lines]
    names = sum(1 for m in labels if m and _is_name_label(m.group(1).strip()))
    emails = sum(1 for m in labels if m and _EMAIL_LABEL.match(_bare(m.group(1))))
    return names >= 1 and (emails >= 1 or any(_EMAIL.search(line) for line in lines))


def _records(lines: list[str]) -> list[list[str]]:
    records: list[list[str]] = []
    for line in lines:
        match = _LABEL.match(line)
        if match and _is_name_label(match.group(1).strip()) or not records:
            if records and not any(_is_name_label((_LABEL.match(l) or [None, ""])[1].strip()) for l in records[-1]):
                records[-1].append(line)
            else:
                records.append([line])
        else:
            records[-1].append(line)
    return records


# "Grace de la Cruz - our IT team haven't made her mailbox yet": a line that starts with a name and a separator.
_NAMED_LINE = re.compile(r"^\s*+[A-Z][\w'’-]*+(?:\s[\w'’-]++){0,4}?\s[-–—:]\s")


def _is_list(lines: list[str]) -> bool:
    if sum(1 for line in lines if _NAMED_LINE.match(line)) >= 2 and len(lines) >= 2:
        return True
    bullets = sum(1 for line in lines if _BULLET.match(line))
    with_email = sum(1 for line in lines if "@" in line and _EMAIL.search(line))
    with_cells = sum(1 for line in lines if _cells(line))
    # Wrapped prose also has addresses on several lines, but some of its lines start in lower case.
    prose = any(line.strip()[:1].islower() and not _EMAIL.match(line.strip()) for line in lines)
    return (
        bullets >= 1 and (bullets >= 2 or len(lines) <= 3 or with_email >= 1)
        or with_email >= 2 and not prose
        or with_cells >= 2
    )


def _wrapped(line: str) -> bool:
    """Does this line run on into the next (a long line cut at a word, not an item's end: a full stop, a colon, a
    bracket, a bar or an address)?"""
    line = line.strip()
    return len(line) >= 50 and line[-1] not in ".:;?!)]|" and "@" not in line.rsplit(None, 1)[-1] and not _cells(line)


def _list_units(lines: list[str], make) -> list[Unit]:
    units: list[Unit] = []
    items: list[list[str]] = []
    intro: list[str] = []
    labels: tuple[str, ...] = ()
    named = sum(1 for line in lines if _NAMED_LINE.match(line)) >= 2  # "Kwabena Asare - no address yet" / "Zara Ali - zara@"
    for line in lines:
        cells = _cells(line)
        if (
            cells
            and not _EMAIL.search(line)
            and all(len(c) <= 40 for c in cells)
            and any(re.search(r"name|e-?mail|access|role", c, re.I) for c in cells)
        ):
            labels = tuple(c.lower() for c in cells)  # a table's header row
            continue
        named_line = named and bool(_NAMED_LINE.match(line))
        starts_item = bool(_BULLET.match(line) or cells or _EMAIL.search(line) and not items or named_line)
        if not items and intro and _wrapped(intro[-1]) and not _BULLET.match(line) and not cells and not named_line:
            intro.append(line)  # the sentence before runs on into this line
        elif items and not starts_item and _wrapped(items[-1][-1]) and not (_EMAIL.search(line) and _EMAIL.search(" ".join(items[-1]))):
            items[-1].append(line)  # "... our new resourcer Tamsin" / "Penrose (tamsin.penrose@...)": one line, wrapped
        elif starts_item or (items and not line[:1].isspace() and _EMAIL.search(line)):
            items.append([line])
        elif items and (line[:1].isspace() or line.strip()[:1].islower() or not _EMAIL.search(" ".join(items[-1]))):
            items[-1].append(line)
        elif items:
            items.append([line])
        else:
            intro.append(line)
    units.extend(make(s, "sentence") for s in _sentences(_joined(intro)))
    for item in items:
        text = _joined(item)
        cells = _cells(item[0]) if len(item) == 1 else ()
        number = _NUMBER.match(text)
        units.append(make(_BULLET.sub("", text, count=1), "item", cells, labels if cells else (), int(number.group(1)) if number else None))
    return units


def units_of(text: str, source: int, author: Address | None, first_paragraph: int) -> list[Unit]:
    """The units of one author's new text, paragraphs numbered from first_paragraph."""
    units: list[Unit] = []
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    for offset, paragraph in enumerate(paragraphs):
        number = first_paragraph + offset
        lines = [line.rstrip() for line in paragraph.split("\n") if line.strip()]
        if offset == 0 and lines and _GREETING.match(lines[0]):
            lines = lines[1:]
        if not lines:
            continue
        lines = _fields_from_cells(lines)

        def make(t: str, kind: str, cells: tuple[str, ...] = (), labels: tuple[str, ...] = (), item: int | None = None) -> Unit:
            return Unit(t, source, number, kind, author, cells, labels, item)

        if _is_record(lines):
            for record in _records(lines):
                if any(_LABEL.match(l) and _is_name_label(_LABEL.match(l).group(1).strip()) for l in record):
                    units.append(make("\n".join(l.strip() for l in record), "record"))
                else:
                    units.extend(make(s, "sentence") for s in _sentences(_joined(record)))
        elif _is_list(lines):
            units.extend(_list_units(lines, make))
        else:
            units.extend(make(s, "sentence") for s in _sentences(_joined(lines)))
    return units


def record_fields(unit: Unit) -> dict[str, str]:
    """The labelled fields of a record unit, keys 'name', 'email' and the other labels in lower case."""
    fields: dict[str, str] = {}
    for line in unit.text.split("\n"):
        match = _LABEL.match(line)
        if not match:
            continue
        label, value = _bare(match.group(1)), match.group(2).strip()
        if _SURNAME_FIRST_LABEL.search(match.group(1)) and "," in value:  # "Okonjo-Baptiste, Temi": turned round
            surname, _, given = value.partition(",")
            fields.setdefault("name", f"{given.strip()} {surname.strip()}".strip())
        elif _NAME_LABEL.match(label):
            fields.setdefault("name", value)
        elif _FIRST_LABEL.match(label):
            fields.setdefault("first name", value)
        elif _LAST_LABEL.match(label):
            fields.setdefault("last name", value)
        elif _EMAIL_LABEL.match(label):
            fields.setdefault("email", value)
        else:
            fields.setdefault(label.lower(), value)
    if "name" not in fields and fields.get("first name") and fields.get("last name"):
        fields["name"] = f"{fields['first name']} {fields['last name']}"
    return fields


def other_fields(unit: Unit) -> tuple[tuple[int, int], ...]:
    """Where a record's fields about anyone but the person asked for are ("Form submitted by: Nisha Raval (...)",
    "Line manager: Grace ..."): whoever is named there is context, never asked for. Only the name and email fields
    (and first/last name) are the person's."""
    if unit.kind != "record":
        return ()
    labels = [_LABEL.match(line) for line in unit.text.split("\n")]
    if not (any(m and _is_name_label(m.group(1)) for m in labels) and any(m and _EMAIL_LABEL.match(_bare(m.group(1))) for m in labels)):
        return ()  # not a form with the person's own name and email fields ("NAME: EMAIL" over "JO BLOGGS: JO@...")
    spans, start = [], 0
    for line in unit.text.split("\n"):
        match = _LABEL.match(line)
        if match:
            label = _bare(match.group(1))
            if not (_is_name_label(match.group(1)) or _LAST_LABEL.match(label) or _EMAIL_LABEL.match(label)):
                spans.append((start + match.start(2), start + len(line)))
        start += len(line) + 1
    return tuple(spans)


def label_spans(unit: Unit) -> tuple[tuple[int, int], ...]:
    """Where the labels of a record's fields are ("First Name:"): words of a form, never a name."""
    spans, start = [], 0
    for line in unit.text.split("\n"):
        match = _LABEL.match(line)
        if match:
            spans.append((start, start + match.start(2)))
        start += len(line) + 1
    return tuple(spans)
