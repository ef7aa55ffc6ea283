"""Reads the sender's signature: the job title it states, and the name it signs with."""

from __future__ import annotations

import re

from mailbot.extract.names import find_names

_TITLE = re.compile(
    r"\b(?:manager|director|consultant|co-?ordinator|officer|assistant|administrator|controller|lead|head|executive"
    r"|ceo|coo|cfo|cto|founder|owner|partner|supervisor|advis[eo]r|specialist|recruiter|resourcer|secretary|president"
    r"|chair(?:man|woman|person)?|principal|associate|analyst|accountant|clerk|leader|md)\b",
    re.I,
)
_NOT_TITLE = re.compile(r"@|\bltd\b|\blimited\b|\bllp\b|\bplc\b|www\.|https?:|\d{3}|registered|confidential", re.I)
# Each separator starts where a run of spaces starts ((?<!\s)), so a long run is scanned once, not once a character.
_SEGMENTS = re.compile(r"(?<!\s)\s++[|–—-]\s++|(?<!\s)\s*+\|\s*+|,\s++|(?<!\s)\s++at\s++")


def stated_title(signature: str) -> str | None:
    """The first job title the signature gives, as written ('Branch Manager'), or None."""
    for line in signature.split("\n")[:15]:
        line = line.strip().strip("*_")
        if not line or len(line) > 80:
            continue
        for segment in _SEGMENTS.split(line):
            segment = segment.strip()
            if segment and len(segment) <= 60 and _TITLE.search(segment) and not _NOT_TITLE.search(segment):
                return segment
    return None


def signed_name(signature: str) -> str | None:
    """The first full name the signature signs with, for a sender whose From header gives none."""
    for line in signature.split("\n")[:10]:
        for _, _, name in find_names(line):
            if len(name.split()) >= 2:
                return name
    return None
