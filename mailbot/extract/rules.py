"""The reader's rules as data (config/reading.toml): cue words by kind, context patterns, evidence weights."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from mailbot.errors import ConfigError
from mailbot.validation import describe, read_toml


class Cue(str, enum.Enum):
    """Kinds of cue words a unit of text may hold (each a list of patterns in [cues])."""

    ASK = "ask"
    DIRECT_ASK = "direct_ask"
    SELF = "self"
    SELF_TOO = "self_too"
    ADDITIVE = "additive"
    EXCLUDE_AFTER = "exclude_after"
    EXCLUDE_BEFORE = "exclude_before"
    ALREADY = "already"
    DONE = "done"
    REMOVAL = "removal"
    REMOVAL_WORD = "removal_word"
    CONTACT = "contact"
    ACCESS_INTENT = "access_intent"
    CAPABILITY = "capability"
    PASSWORD = "password"
    PASSWORD_TROUBLE = "password_trouble"
    PASSWORD_PLAN = "password_plan"
    FIRST_PERSON = "first_person"
    MATTER = "matter"
    OTHERS = "others"
    SINGULAR_PRONOUN = "singular_pronoun"
    THIRD_PERSON = "third_person"
    UNSETTLED = "unsettled"
    CORRECTION = "correction"


CONTEXTS = ("refers_back", "held_column", "additive_person", "same_access_as", "author_subject", "before_target", "after_target", "set_before", "set_after", "subject_target", "attributive", "thanks_for",
            "place_after", "email_label", "purpose_before", "purpose_after_access", "job_title_after", "context_field")
WEIGHT_SETS = ("name_for_address", "name_for_person")


class _File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cues: dict[Cue, list[str]]
    context: dict[str, str]
    weights: dict[str, dict[str, float]]


@dataclass(frozen=True)
class Weights:
    """One set of evidence weights: a score is the sum of each feature's value times its weight."""

    values: Mapping[str, float]

    @property
    def threshold(self) -> float:
        return self.values.get("threshold", 0.0)

    @property
    def margin(self) -> float:
        return self.values.get("margin", 0.0)

    def score(self, features: Mapping[str, float]) -> float:
        return sum(self.values.get(name, 0.0) * value for name, value in features.items() if value)


@dataclass(frozen=True)
class ReadingRules:
    cues: Mapping[Cue, re.Pattern]
    context: Mapping[str, re.Pattern]
    weights: Mapping[str, Weights]

    def has(self, cue: Cue, text: str) -> bool:
        return bool(self.cues[cue].search(_words_only(text)))

    def present(self, text: str) -> CueSet:
        """The kinds of cue the text holds, each looked for when first asked (the text made words-only once)."""
        return CueSet(self.cues, _words_only(text))

    def where(self, cue: Cue, text: str) -> tuple[tuple[int, int], ...]:
        return tuple((m.start(), m.end()) for m in self.cues[cue].finditer(_words_only(text)))

    def reach(self, cue: Cue, text: str) -> tuple[tuple[int, int], ...]:
        """Where each mark of a cue holds: from the mark to the end of its clause ("Now that she is on Agency User,
        could she have Connect too?": "is on" holds to the comma)."""
        spans = []
        for start, end in self.where(cue, text):
            found = _CLAUSE_END.search(text, end)
            spans.append((start, found.start() if found else len(text)))
        return tuple(spans)


class CueSet:
    """The cues of one text, read lazily: a unit is asked about a few kinds of cue, not all of them, and each
    kind is one pattern search. Behaves as a read-only set of Cue for `in`."""

    __slots__ = ("_patterns", "_words", "_known")

    def __init__(self, patterns: Mapping[Cue, re.Pattern], words: str):
        self._patterns, self._words, self._known = patterns, words, {}

    def __contains__(self, cue: object) -> bool:
        found = self._known.get(cue)
        if found is None:
            pattern = self._patterns.get(cue)  # type: ignore[arg-type]
            found = self._known[cue] = bool(pattern is not None and pattern.search(self._words))
        return found

    def __iter__(self):
        return (cue for cue in self._patterns if cue in self)

    def __repr__(self) -> str:
        return f"CueSet({sorted(c.value for c in self)})"


_APOSTROPHES = str.maketrans("\u2019\u2018\u02bc\u2032", "''''")  # cues are written with ', mail has \u2019 as often
_ADDRESS = re.compile(r"(?<![\w.+'\u2019-])[\w.+'\u2019-]++@[\w.-]++")  # starts where a run starts: linear


def _words_only(text: str) -> str:
    """The text as cues read it: typographic apostrophes as ', and each address blanked (same length, so places
    hold), so that no cue is read inside one ("urgent-call-0800...@" does not say "call")."""
    text = text.translate(_APOSTROPHES)
    return _ADDRESS.sub(lambda m: " " * len(m.group()), text) if "@" in text else text


_CLAUSE_END = re.compile(r"[,;?!]|\.(?!\w)|\s[-–—]\s|\b(?:but|so|please|(?:could|can|would|will)\s+(?:s?he|they|you|i|we|\w+\s+(?:have|get|be)))\b", re.I)


def _compile(pattern: str, where: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.I)
    except re.error as exc:
        raise ConfigError(f"{where}: bad pattern {pattern!r}: {exc}") from None


def one_pattern(patterns: list[str]) -> str:
    """A cue's patterns as one: those that start at a word boundary share it ("\\b(?:please\\b|pls\\b|...)"), so
    that the search tries the words only where a word starts (twice as fast as each alternative trying \\b at
    every position; the same matches)."""
    bounded = [p[2:] for p in patterns if p.startswith("\\b") and not _top_level_alternation(p)]
    rest = [p for p in patterns if not (p.startswith("\\b") and not _top_level_alternation(p))]
    parts = ([f"\\b(?:{'|'.join(f'(?:{p})' for p in bounded)})"] if bounded else []) + [f"(?:{p})" for p in rest]
    return "|".join(parts) or r"(?!x)x"


def _top_level_alternation(pattern: str) -> bool:
    """Does the pattern hold a '|' outside any group or class ("\\bfoo|bar": the bar has no boundary of its own)?"""
    depth, in_class, escaped = 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
    return False


def load_reading(path: Path) -> ReadingRules:
    """The rules from config/reading.toml; ConfigError with one line naming the key."""
    try:
        data = _File.model_validate(read_toml(path, "reading rules"))
    except ValidationError as exc:
        raise ConfigError(f"reading rules {path}: {describe(exc)}") from None
    missing = [c.value for c in Cue if c not in data.cues] + [c for c in CONTEXTS if c not in data.context] + [
        w for w in WEIGHT_SETS if w not in data.weights]
    if missing:
        raise ConfigError(f"reading rules {path}: missing {', '.join(missing)}")
    cues = {cue: _compile(one_pattern(patterns), f"{path}: cues.{cue.value}") for cue, patterns in data.cues.items()}
    context = {name: _compile(pattern, f"{path}: context.{name}") for name, pattern in data.context.items()}
    weights = {name: Weights(MappingProxyType(dict(values))) for name, values in data.weights.items()}
    return ReadingRules(MappingProxyType(cues), MappingProxyType(context), MappingProxyType(weights))
