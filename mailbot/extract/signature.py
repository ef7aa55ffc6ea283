"""Reads the sender's signature: the job title it states, and the name it signs with."""

from __future__ import annotations

import re

from mailbot.extract.lexicon import Lexicon
from mailbot.extract.names import clean_name

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


_NAME_LINE = re.compile(r"^(?:[A-Z][\w'’.-]*+\s++){1,3}+[A-Z][\w'’-]*+$")


def signed_name(signature: str, lexicon: Lexicon | None = None) -> str | None:
    """The first full name the signature signs with ("Ellen Moorcroft" on a line of its own), for a sender whose
    From header gives none; not a job title, a team or an organisation."""
    for line in signature.split("\n")[:10]:
        line = line.strip().strip("*_").split("|")[0].split(" - ")[0].strip()
        if not _NAME_LINE.match(line):
            continue
        words = line.split()
        if lexicon is not None and (any(lexicon.is_role_word(w) or lexicon.is_not_name(w) and not lexicon.is_given_name(w)
                                        for w in words) or lexicon.is_organisation(line)):
            continue
        name = clean_name(line)
        if name and len(name.split()) >= 2:
            return name
    return None
