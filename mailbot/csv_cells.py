"""CSV a spreadsheet will not run (OWASP's CSV-injection rule): a cell that could start a formula is written
with a leading apostrophe, and read back without it."""

from __future__ import annotations

import csv
from typing import IO, Iterable

_LEADS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell as written: text starting (perhaps after spaces) with = + - @, a tab or a carriage return gets a
    leading ' so that a spreadsheet shows it as text instead of running it."""
    text = "" if value is None else str(value)
    return "'" + text if text.lstrip(" ").startswith(_LEADS) else text


def read_cell(text: str) -> str:
    """A cell as mailbot wrote it, without the apostrophe safe_cell put in front of a formula-like value."""
    return text[1:] if text.startswith("'") and text[1:].lstrip(" ").startswith(_LEADS) else text


def write_rows(stream: IO[str], rows: Iterable[Iterable[object]]) -> None:
    """Write rows of cells, every one made safe."""
    writer = csv.writer(stream)
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
