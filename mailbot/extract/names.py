"""People's names as text: folding for comparison, tidying as written, and how well an address spells a name."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Callable

HONORIFICS = frozenset("mr mrs ms miss mx dr prof sir dame rev revd".split())
PARTICLES = frozenset("de da di del della van von der den du la le bin binti ibn al el dos das do y ten ter ap ab ní nic ó mac".split())

_SPECIAL = str.maketrans({"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ß": "ss", "æ": "ae",
                          "Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "ı": "i"})

# What is not a person's name (the triage contract): text holding digits, an @ or a web address, or starting
# with a character a spreadsheet reads as a formula. Such text is never put in a reply or a worklist as a name.
# It is checked in its NFKC form, where fullwidth, superscript and circled digits are digits and a fullwidth or small
# @ is @; dots of other scripts count as dots; markup is no name either.
_NOT_A_NAME = re.compile(r"[0-9@<>]|(?<![^\W\d_])[a-z][a-z0-9+.-]{1,15}+:(?=\S)|www\.|(?<![^\W\d_])[^\W\d_]++[.。｡．][^\W\d_]{2}", re.I)
_LEADS = "=+-@\u2013\u2014\u2212\ufe63"  # and what a spreadsheet reads as them: en and em dash, minus signs
_WRAPPING = " \t\"'‘’“”«»([{"
_PIECES = re.compile(r"[._\-+']+")
_TOKENS = re.compile(r"[\s\-]+")


@functools.lru_cache(maxsize=16384)
def fold(text: str) -> str:
    """Lower-case ASCII letters and digits only: 'Łukasz Wróblewski' -> 'lukaszwroblewski'."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    return "".join(c for c in decomposed.lower() if c.isascii() and c.isalnum())


def is_person_name(text: str | None) -> bool:
    """Could this text be a person's name at all (see _NOT_A_NAME), even with quotes or brackets around it?"""
    if not text or not text.strip():
        return False
    plain = unicodedata.normalize("NFKC", text)
    if any(c.isnumeric() for c in plain) or _NOT_A_NAME.search(plain):
        return False
    return plain.strip()[:1] not in _LEADS and plain.lstrip(_WRAPPING)[:1] not in _LEADS


def clean_name(text: str | None) -> str | None:
    """A name as written, without honorifics or stray punctuation; 'Lott, Megan' -> 'Megan Lott'.
    None when there is no name, or the text cannot be a person's name (is_person_name)."""
    if not text or not is_person_name(text):
        return None
    text = " ".join(text.replace('"', " ").replace("\u200b", "").split()).strip(" ,;:-–—()[]<>'")
    if "," in text:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) == 2 and all(parts) and all(_looks_like_name_part(p) for p in parts):
            text = f"{parts[1]} {parts[0]}"
        else:
            text = parts[0]
    words = [w for w in text.split() if w.lower().rstrip(".") not in HONORIFICS]
    name = re.sub(r"['’]s$", "", " ".join(words).strip(" .,"))  # "Laura Price's access"
    return name or None


def _looks_like_name_part(part: str) -> bool:
    tokens = part.split()
    return 1 <= len(tokens) <= 3 and all(t[:1].isupper() or t.lower() in PARTICLES for t in tokens)


def is_full_name(name: str | None) -> bool:
    """A first name and a surname, not just one of them or an initial."""
    if not name:
        return False
    tokens = [t for t in re.split(r"\s+", name) if t]
    real = [t for t in tokens if len(fold(t)) >= 2]
    return len(tokens) >= 2 and len(real) >= 2 and len(fold(tokens[0])) >= 2 and len(fold(tokens[-1])) >= 2


def same_person(name: str | None, other: str | None) -> bool:
    """Do two names name one person: equal, one the first name of the other, or initial and surname alike?"""
    if not name or not other:
        return False
    name, other = _without_honorifics(name), _without_honorifics(other)
    if not name or not other:
        return False
    a, b = fold(name), fold(other)
    if a == b:
        return True
    first_a, first_b = fold(name.split()[0]), fold(other.split()[0])
    if len(name.split()) == 1 or len(other.split()) == 1:
        return first_a == first_b
    last_a, last_b = fold(name.split()[-1]), fold(other.split()[-1])
    if first_a == first_b and len(name.split()) == len(other.split()) == 2 and min(len(last_a), len(last_b)) == 1:
        return last_a[:1] == last_b[:1]  # "Chloe B" for Chloe Barnes, beside Chloe Adeyinka
    return last_a == last_b and first_a[:1] == first_b[:1] and (len(first_a) == 1 or len(first_b) == 1)


class NameSet:
    """Names to ask same_person() of all at once, in constant time however many there are (a message with hundreds
    of attached messages has hundreds of authors)."""

    def __init__(self, names) -> None:
        self.whole: set[str] = set()
        self.firsts: set[str] = set()  # every name's first word
        self.single: set[str] = set()  # names of one word
        self.initialled: dict[tuple[str, str], bool] = {}  # (surname, initial) -> some such name has only an initial
        for raw in names:
            name = _without_honorifics(raw or "")
            if not name:
                continue
            words = name.split()
            first = fold(words[0])
            self.whole.add(fold(name))
            self.firsts.add(first)
            if len(words) == 1:
                self.single.add(first)
            else:
                key = (fold(words[-1]), first[:1])
                self.initialled[key] = self.initialled.get(key, False) or len(first) == 1

    def __contains__(self, raw: str | None) -> bool:
        name = _without_honorifics(raw or "")
        if not name:
            return False
        if fold(name) in self.whole:
            return True
        words = name.split()
        first = fold(words[0])
        if len(words) == 1:
            return first in self.firsts
        if first in self.single:
            return True
        key = (fold(words[-1]), first[:1])
        return key in self.initialled and (len(first) == 1 or self.initialled[key])


def _without_honorifics(name: str) -> str:
    return " ".join(w for w in name.split() if w.lower().rstrip(".") not in HONORIFICS)


# -- an address spelling a name --------------------------------------------------------------------------------

Forms = Callable[[str], frozenset[str]]  # a given name's short and long forms (Lexicon.forms_of)


def _no_forms(given: str) -> frozenset[str]:
    return frozenset({fold(given)})


def spelling(name: str | None, email: str | None, forms: Forms = _no_forms) -> int:
    """How well an address's local part spells a name: 3 surely (jane.doe, janedoe, doe.jane, seun.adebayo-reid
    for Oluwaseun, ivy.vanderberg), 2 likely (jdoe, j.doe, jane.d, jane alone for 'Jane'), 1 weakly (the surname
    alone, or the first name alone for a full name), 0 not at all."""
    if not name or not email or "@" not in email:
        return 0
    local = email.split("@", 1)[0].lower()
    pieces = [fold(p) for p in _PIECES.split(re.sub(r"\d+", "", local)) if fold(p)]
    joined = "".join(pieces)
    tokens = [fold(t) for t in _TOKENS.split(name) if fold(t)]
    if not tokens or not joined:
        return 0
    first, last = tokens[0], tokens[-1]
    rest = "".join(tokens[1:])
    givens = forms(first) | {first}
    if len(tokens) == 1:
        if joined in givens or (pieces and pieces[0] in givens):
            return 2
        return 1 if first in joined and len(first) >= 3 else 0
    for given in givens:
        if joined in (given + rest, given + last, rest + given, last + given):
            return 3
        if pieces and pieces[0] == given and "".join(pieces[1:]) in (rest, last) and len(pieces) > 1:
            return 3
    if any(g in pieces for g in givens) and last in pieces:
        return 3  # natasha.greenhalgh.rgn
    if pieces and pieces[0] in givens and len(pieces) == 2 and len(pieces[1]) >= 2 and (last.startswith(pieces[1]) or rest.startswith(pieces[1])):
        return 3  # jane.do for Jane Doe-Smith
    if joined in (first[0] + last, first[0] + rest, last + first[0], first + last[0]):
        return 2
    if pieces and pieces[-1] in (last, rest) and pieces[0][:1] == first[:1]:
        return 2
    if (len(last) >= 3 and last in joined) or (len(first) >= 3 and any(joined.startswith(g) for g in givens)):
        return 1
    return 0


def local_part_score(name: str | None, email: str | None) -> int:
    """spelling() without short forms of given names (kept for callers that have no lexicon)."""
    return spelling(name, email)
