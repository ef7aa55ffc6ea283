"""Finds people's names in running text and tidies them: honorifics off, "Surname, Firstname" turned round."""

from __future__ import annotations

import functools
import re
import unicodedata

HONORIFICS = frozenset("mr mrs ms miss mx dr prof sir dame rev revd".split())
PARTICLES = frozenset("de da di del della van von der den du la le bin binti ibn al el dos das do y ten ter".split())

# Capitalised words that are not names: sentence openers, the access vocabulary, organisation and
# job words, days and months. A name is a run of capitalised words with none of these in it.
STOPWORDS = frozenset(
    """
    a about above access accounts account across actually add added adding admin administrator administrators ara
    after afternoon again agencies agency agreed agreements ahead all also although am an and another any anyone
    anything apologies april are as asap at au aug august authorise authorised authorisation
    basis be because been before being below best both branch brilliant but by
    can cannot cant care cc cheers co coordinator co-ordinator compliance confidential connect consultant consultants
    controller could currently
    data day dear dec december details did director directors do does done due during
    each email emails e-mail employee employees england enquiries even evening every
    feb february finance fine first following for friday from full fw fwd
    general get give glad good great group
    had has have having he head health healthcare hello her here hers hey hi him his hope hospital how hr
    i i'd i'll i'm i've id if im in info is it it's its
    january job jul july jun june just
    kind
    last limited locum locums log login logins logon ltd
    made manager managers managing many mar march may me medical mob mobile mon monday morning most mr much my
    name names need needs new next nhs nhsp no north not nov november now nurse nurses nursing
    oct october of office officer ok okay on once one online operations or our out over
    password people per permanent personnel phone please pls plus portal
    quick
    rate re recruitment regards regional reply request requests resourcer role rota
    sat saturday senior sent sep sept september set shall she should since so some sorry south staff staffing
    start started starter starters sun sunday support sure
    team tel thank thanks that the their them then there these they this those thu thursday time to today
    tomorrow trust tue tuesday two
    uk under unfortunately unit until up urgent us user users
    very
    wales ward was we wed wednesday week weekend welcome well were west what when where whether which while who
    why will with work would
    yes yesterday you your yours
    """.split()
)

_TOKEN = re.compile(r"[^\W\d_][^\W\d_'’\-]*(?:['’\-][^\W\d_]+)*\.?")
_EMAILISH = re.compile(r"(?<!\S)[^\s@]+@\S+|(?:https?://|www\.)\S+")
_SPECIAL = str.maketrans({"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ß": "ss", "æ": "ae",
                          "Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "ı": "i"})


@functools.lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Lower-case ASCII letters and digits only: 'Łukasz Wróblewski' -> 'lukaszwroblewski'."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    return "".join(c for c in decomposed.lower() if c.isascii() and c.isalnum())


def _is_capitalised(token: str) -> bool:
    return token[:1].isupper()


def _is_stop(token: str) -> bool:
    return token.lower().rstrip(".").replace("’", "'") in STOPWORDS


# What is not a person's name (the triage contract): text holding digits, an @ or a web address, or starting
# with a character a spreadsheet reads as a formula. Such text is never put in a reply or a worklist as a name.
_NOT_A_NAME = re.compile(r"[0-9@]|https?:|www\.|(?<![^\W\d_])[^\W\d_]{2,}+\.[^\W\d_]{2}|^\s*+[=+\-@]", re.I)


def is_person_name(text: str | None) -> bool:
    """Could this text be a person's name at all (see _NOT_A_NAME)?"""
    return bool(text and text.strip()) and not _NOT_A_NAME.search(text)


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
    return 1 <= len(tokens) <= 3 and all(_is_capitalised(t) or t.lower() in PARTICLES for t in tokens)


def is_full_name(name: str | None) -> bool:
    """A first name and a surname, not just one of them or an initial."""
    if not name:
        return False
    tokens = [t for t in re.split(r"\s+", name) if t]
    real = [t for t in tokens if len(fold(t)) >= 2]
    return len(tokens) >= 2 and len(real) >= 2 and len(fold(tokens[0])) >= 2 and len(fold(tokens[-1])) >= 2


_SURNAME_FIRST_END = re.compile(r"^\s*(?:$|[-–—:|(<\t;]|\S+@)")


def find_names(text: str, surname_first: bool = False) -> list[tuple[int, int, str]]:
    """Spans of capitalised words that could be a person's name: (start, end, name).

    With surname_first (lists, tables, records, subjects), "Okonkwo, Chidi -" is one name, turned round.
    """
    found = _find_names(text)
    if not surname_first:
        return found
    joined: list[tuple[int, int, str]] = []
    index = 0
    while index < len(found):
        start, end, name = found[index]
        if index + 1 < len(found):
            n_start, n_end, n_name = found[index + 1]
            if (
                text[end:n_start].strip() == ","
                and len(n_name.split()) == 1
                and len(name.split()) <= 2
                and _SURNAME_FIRST_END.match(text[n_end:])
            ):
                joined.append((start, n_end, f"{n_name} {name}"))
                index += 2
                continue
        joined.append((start, end, name))
        index += 1
    return joined


def _find_names(text: str) -> list[tuple[int, int, str]]:
    masked = _EMAILISH.sub(lambda m: " " * len(m.group()), text)
    found: list[tuple[int, int, str]] = []
    run: list[re.Match] = []

    def close() -> None:
        tokens = list(run)
        while tokens and tokens[0].group().islower():  # a lower-case particle ("de", "van") cannot start a name
            tokens.pop(0)
        while tokens and tokens[-1].group().islower():
            tokens.pop()
        words = [t for t in tokens if t.group().lower().rstrip(".") not in HONORIFICS]
        if 1 <= len(words) <= 4 and any(_is_capitalised(t.group()) for t in words):
            start, end = tokens[0].start(), tokens[-1].end()
            found.append((start, end, clean_name(text[start:end]) or ""))
        run.clear()

    previous_end = None
    for match in _TOKEN.finditer(masked):
        token = match.group()
        gap = masked[previous_end : match.start()] if previous_end is not None else ""
        joinable = previous_end is not None and gap.strip() == "" and gap.count("\n") <= 1 and len(gap) <= 4
        if run and not joinable:
            close()
        bare = token.rstrip(".")
        if bare.lower() in HONORIFICS and _is_capitalised(bare):
            run.append(match)
        elif _is_capitalised(token) and not _is_stop(token):
            run.append(match)
            if token.endswith(".") and bare.lower() not in HONORIFICS and len(bare) > 1:
                close()
        elif run and bare.lower() in PARTICLES:
            run.append(match)
        elif run:
            close()
        previous_end = match.end()
    if run:
        close()
    return [(s, e, n) for s, e, n in found if n and not all(w.lower().rstrip(".") in HONORIFICS for w in n.split())]


@functools.lru_cache(maxsize=4096)
def local_part_score(name: str | None, email: str | None) -> int:
    """How well an address's local part fits a name: 3 sure, 2 likely, 1 weak, 0 not at all."""
    if not name or not email or "@" not in email:
        return 0
    local = email.split("@", 1)[0].lower()
    pieces = [fold(p) for p in re.split(r"[._\-+]+", local) if fold(p)]
    joined = fold(re.sub(r"\d+", "", local))
    tokens = [fold(t) for t in re.split(r"[\s\-]+", name) if fold(t)]
    if not tokens or not joined:
        return 0
    first, last = tokens[0], tokens[-1]
    if "".join(tokens) == joined or (len(tokens) > 1 and first + last == joined):
        return 3
    if len(tokens) > 1 and (first in pieces and last in pieces or joined.startswith(first + last)):
        return 3
    if pieces and pieces[0] == first and len(tokens) > 1 and len(pieces) > 1 and last.startswith(pieces[-1]):
        return 3
    if len(tokens) > 1 and (joined == first[0] + last or joined == first + last[0] or (pieces and pieces[-1] == last and pieces[0][:1] == first[:1])):
        return 2
    if len(tokens) == 1 and pieces and pieces[0] == first:
        return 2
    if len(tokens) > 1 and (last in joined and len(last) >= 3) or (len(first) >= 3 and joined.startswith(first)):
        return 1
    return 0
