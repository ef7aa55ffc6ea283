"""Splits one author's text into what they wrote and their sign-off, signature and disclaimer."""

from __future__ import annotations

import re

from mailbot.parse.message import TextBody

_SIGN_OFF_WORDS = frozenset(
    "many kind kindest best warm warmest with thanks thank thankyou thx tia ta cheers you regards wishes "
    "again so much very in advance a lot million all the sincerely yours faithfully truly and & "
    "speak soon take care have good great nice day weekend team lots love hugs".split()
)
_SIGN_OFF_CORE = frozenset("thanks thank thankyou thx tia ta cheers regards wishes sincerely faithfully best".split())
_WORD = re.compile(r"[\w&']+")
_DASHES = re.compile(r"^\s*--\s*$")
_POSTSCRIPT = re.compile(r"^\s*+p\.?\s?s\.?(?:\s|:|-|,)", re.I)
_RULE = re.compile(r"^\s*+(?:_{5,}+|-{5,}+|={5,}+|\*{5,}+)\s*+$")
# A form's field ("New user full name:  Ella-Rose Whitfield"): a rule line above such lines frames a form, not a footer.
_FIELD = re.compile(r"^\s*+[A-Za-z][A-Za-z /'’()&-]{1,40}+:\s*+\S")
_FIELD_PARTS = re.compile(r"^\s*+([A-Za-z][A-Za-z /'’()&-]{1,40}+):\s*+(\S.*)$")
_NAME_FIELD = re.compile(r"^(?:(?:full|new\s+user|user|starter|staff|employee)\s+)?name$", re.I)
_FOOTER = re.compile(
    r"^\s*(?:confidential(?:ity)?\b|disclaimer\b|important\s*:|privileged\b|legal notice\b"
    r"|please consider the environment|sent from my\b|sent from (?:outlook|mail) for\b|get outlook for\b"
    r"|sent via\b|sent using\b)"
    r"|\bthis (?:e-?mail|message|communication)(?: and any (?:files|attachments))?"
    r"(?: transmitted with it)? (?:is|are|may be|may contain|contains|and any)\b"
    r"|\bthe information (?:in|contained in) this (?:e-?mail|message)\b"
    r"|\bregistered (?:in england|in scotland|office|company)\b"
    r"|\b(?:received|receive) this (?:e-?mail|message|communication) in error\b"
    r"|\bif you are not the intended recipient\b",
    re.IGNORECASE,
)


def is_sign_off(line: str) -> bool:
    """A line that only says goodbye: "Many thanks,", "Kind regards", "Ta," ... (optionally with a first name)."""
    if len(line) > 48:
        return False
    words = [w.lower() for w in _WORD.findall(line)]
    if not words:
        return False
    core = [w for w in words if w in _SIGN_OFF_CORE]
    if not core:
        return False
    rest = [w for w in words if w not in _SIGN_OFF_WORDS]
    # "Thanks, Fern" or "Cheers Bea": a sign-off followed by at most two name-like words.
    if rest:
        tail = line.strip().split()[-len(rest):]
        return len(rest) <= 2 and all(t[:1].isupper() for t in tail) and words[0] in _SIGN_OFF_WORDS
    return True


def _name_forms(author_name: str) -> tuple[str, ...]:
    name = " ".join(author_name.replace('"', " ").split()).casefold()
    if not name or "@" in name:
        return ()
    if "," in name:  # "Okafor, Dana" -> "dana okafor"
        last, _, first = name.partition(",")
        name = f"{first.strip()} {last.strip()}"
    return (name,) if len(name.split()) >= 2 else ()


def _starts_with_name(line: str, names: tuple[str, ...]) -> bool:
    folded = " ".join(line.split()).casefold()
    for name in names:
        if folded == name or (folded.startswith(name) and folded[len(name) : len(name) + 2].strip()[:1] in "|-–,/("):
            return True
    return False


def _frames_a_form(lines: list[str], index: int) -> bool:
    """Do labelled fields follow this rule line (a pasted form, not a signature's or a disclaimer's rule)?"""
    following = [line for line in lines[index + 1: index + 12] if line.strip() and not _RULE.match(line)][:8]
    return sum(1 for line in following if _FIELD.match(line)) >= 2


def _with_postscript(text: list[str], rest: list[str], names: tuple[str, ...] = ()) -> TextBody:
    """The text and what follows it; a P.S. after the sign-off (before any "--" signature) is the author's text, and
    so is a block of fields about someone else ("Name: Tendai Mukwevho" / "Email: tendai@..." under "Thanks, Rashid")."""
    for index, line in enumerate(rest[:40]):
        if _DASHES.match(line):
            break
        if _POSTSCRIPT.match(line) or _starts_a_record(rest, index, names):
            end = next((i for i in range(index + 1, len(rest)) if not rest[i].strip()), len(rest))
            text = [*text, "", *rest[index:end]]
            rest = [*rest[:index], *rest[end:]]
            break
    return TextBody("\n".join(text).strip("\n"), "\n".join(rest).strip("\n"))


def _starts_a_record(lines: list[str], index: int, names: tuple[str, ...]) -> bool:
    """Does a block of labelled fields start here, one of them a name that is not the author's and one an address?"""
    if index and lines[index - 1].strip():
        return False  # a block starts after a blank line
    block = []
    for line in lines[index: index + 8]:
        if not line.strip():
            break
        block.append(line)
    fields = [_FIELD_PARTS.match(line) for line in block]
    if len(block) < 2 or not all(fields):
        return False
    named = [m.group(2) for m in fields if _NAME_FIELD.match(m.group(1))]
    return bool(named) and any("@" in m.group(2) for m in fields) and not any(_starts_with_name(n, names) for n in named)


def split_signature(text: str, author_name: str = "") -> TextBody:
    """Cut the text where the sign-off, signature or disclaimer starts."""
    lines = text.split("\n")
    names = _name_forms(author_name)
    seen_content = False
    introduced = False  # the line before ends with ':' ("My details are:"): what follows is what it introduces
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        # a rule under "... sent you a message:" or above a pasted form frames what follows; elsewhere it ends the text
        rule = bool(_RULE.match(line)) and not _frames_a_form(lines, index) and not introduced
        if seen_content and (
            _DASHES.match(line) or is_sign_off(stripped) or rule or _FOOTER.search(stripped)
            or (_starts_with_name(stripped, names) and not introduced)
        ):
            return _with_postscript(lines[:index], lines[index:], names)
        if not seen_content and (_DASHES.match(line) or rule or _FOOTER.search(stripped)):
            return TextBody("", text.strip("\n"))
        seen_content = True
        introduced = stripped.endswith(":")
    return TextBody(text.strip("\n"), "")
