"""What the reader knows about words, as data: given names, nicknames, places, words that are not names, role
mailboxes and role words (config/lexicon/), and the organisations of the directory."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

from mailbot.errors import ConfigError
from mailbot.extract.names import PARTICLES, fold


def _lines(path: Path) -> list[str]:
    """The entries of a lexicon file: one a line, '#' starts a comment line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"lexicon file {path}: {exc.strerror or exc}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True)
class Lexicon:
    """Folded words (see names.fold) the reader weighs a name with; every set is of folded strings."""

    given_names: frozenset[str] = frozenset()
    nicknames: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))  # short -> full forms
    short_forms: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))  # full -> short forms
    places: frozenset[str] = frozenset()
    not_names: frozenset[str] = frozenset()  # lower case, as written (no folding: "i'm")
    role_mailboxes: frozenset[str] = frozenset()
    role_words: frozenset[str] = frozenset()
    organisation_words: frozenset[str] = frozenset()  # the distinctive words of the directory's organisations
    organisations: frozenset[str] = frozenset()  # whole organisation names, folded, with and without their suffix
    # answers already given, word by word (a message asks about the same few hundred words again and again)
    _known: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, folder: Path, extra_not_names: Iterable[str] = ()) -> Lexicon:
        """The lexicon from its folder (each list and its hand-kept _extra beside it)."""

        def both(name: str) -> list[str]:
            return _lines(folder / f"{name}.txt") + _lines(folder / f"{name}_extra.txt")

        nicknames: dict[str, set[str]] = {}
        shorts: dict[str, set[str]] = {}
        for line in both("nicknames"):
            parts = line.split()
            if len(parts) == 2:
                nicknames.setdefault(fold(parts[0]), set()).add(fold(parts[1]))
                shorts.setdefault(fold(parts[1]), set()).add(fold(parts[0]))
        never = {fold(w) for w in _lines(folder / "not_given_names.txt")}
        return cls(
            given_names=frozenset(fold(n) for n in both("given_names")) - never,
            nicknames=MappingProxyType({k: frozenset(v) for k, v in nicknames.items() if k not in never}),
            short_forms=MappingProxyType({k: frozenset(v) for k, v in shorts.items()}),
            places=frozenset(fold(p) for p in both("places")),
            not_names=frozenset([*(w.lower() for w in both("not_names")), *(w.lower() for w in extra_not_names)]),
            role_mailboxes=frozenset(w.lower() for w in both("role_mailboxes")),
            role_words=frozenset(fold(w) for w in both("role_words")),
        )

    def with_organisations(self, names: Iterable[str]) -> Lexicon:
        """The same lexicon knowing these organisation names (the directory's): a name like one is not a person."""
        names = [n for n in names if n]
        words = {fold(w) for n in names for w in n.replace("&", " ").split() if w.lower() not in PARTICLES} - self.role_words - {""}
        whole = {fold(n) for n in names} | {fold(" ".join(w for w in n.split() if fold(w) not in self.role_words)) for n in names}
        return replace(self, organisation_words=frozenset(w for w in words if len(w) >= 3), organisations=frozenset(whole - {""}))

    # -- questions the reader asks ------------------------------------------------------------------------

    def _remembered(self, question: str, text: str, answer) -> bool:
        known = self._known
        key = (question, text)
        found = known.get(key)
        if found is None:
            if len(known) > _REMEMBER:
                known.clear()
            found = known[key] = answer(text)
        return found

    def is_given_name(self, word: str) -> bool:
        return self._remembered("given", word, self._is_given_name)

    def _is_given_name(self, word: str) -> bool:
        folded = fold(word)
        return folded in self.given_names or folded in self.nicknames

    def is_not_name(self, word: str) -> bool:
        return self._remembered("not", word, self._is_not_name)

    def _is_not_name(self, word: str) -> bool:
        plain = _plain(word)
        if plain in self.not_names:
            return True
        stem, apostrophe, ending = plain.rpartition("'")
        return bool(apostrophe) and ending in _CONTRACTIONS and stem in self.not_names  # "He's", "She'll", "They're"

    def is_place(self, text: str) -> bool:
        return self._remembered("place", text, lambda t: fold(t) in self.places)

    def is_role_word(self, word: str) -> bool:
        return self._remembered("role", word, lambda w: fold(w) in self.role_words)

    def is_role_mailbox(self, local_part: str) -> bool:
        local = local_part.lower()
        return local in self.role_mailboxes or local.split(".")[0] in self.role_mailboxes

    def is_organisation(self, text: str) -> bool:
        """Is the text an organisation's name, or one of its distinctive words ('Quillfield', 'Quillfield Cardiff')?"""
        return self._remembered("organisation", text, self._is_organisation)

    def _is_organisation(self, text: str) -> bool:
        folded = fold(text)
        if folded in self.organisations:
            return True
        words = [fold(w) for w in text.split() if w.lower() not in PARTICLES]
        return bool(words) and words[0] in self.organisation_words and (len(words) == 1 or all(
            w in self.organisation_words or w in self.places or w in self.role_words for w in words[1:]))

    def forms_of(self, given: str) -> frozenset[str]:
        """A given name and every name it is a short form of, or that is a short form of it (folded)."""
        folded = fold(given)
        return frozenset({folded, *self.nicknames.get(folded, ()), *self.short_forms.get(folded, ())})


_REMEMBER = 50_000  # answers kept at most: a long-running service forgets them all and starts again
_CONTRACTIONS = frozenset({"s", "ll", "d", "re", "ve", "m"})


def _plain(word: str) -> str:
    return word.lower().rstrip(".").replace("\u2019", "'")
