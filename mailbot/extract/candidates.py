"""The evidence for each pairing the reader weighs: which name goes with an address, and whether a name without
an address is a person asked for. Features only: scoring them is score.py's, choosing is people.py's."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.extract.annotate import AddressMention, NameMention, Note
from mailbot.extract.lexicon import Lexicon
from mailbot.extract.names import NameSet, fold, same_person, spelling
from mailbot.extract.rules import ReadingRules
from mailbot.extract.units import record_fields

_ADJACENT_BEFORE = re.compile(r"^[\s,]*+(?:[(<\[:\-–—|/]|e-?mail(?:\s+address)?\s*+(?:is|:)?)?[\s:]*+$", re.I)
_ADJACENT_AFTER = re.compile(r"^\s*+[)>\]]?\s*+[(\-–—,|:/]?\s*+$")
_DETERMINER_BEFORE = re.compile(r"\b(?:the|our|their|your|its)\s++$", re.I)
_ITEM_NAME_END = re.compile(r"^\s*+(?:$|[-–—:|,(<\t]|\S+@)")
_FIRST = re.compile(r"first|fore|given", re.I)
REACH = 6  # units: how far from an address its name may be
_LAST = re.compile(r"sur|last|family", re.I)


# Between two names of one list: an optional parenthesis (an address, a role) then "and", "&" or a comma.
_JOINED = re.compile(r"(?<!\s)\s*+(?:\([^()\n]{0,120}\)\s*+)?(?:,\s*+(?:and\s++|&\s*+)?|and\s++|&\s*+)$")


@dataclass(frozen=True, slots=True)
class NameChoice:
    """A name that may go with an address, where it was found, and the evidence for it."""

    name: str
    note: int | None  # the unit it is in (None: a record field, a table cell or a header, made whole here)
    start: int
    features: dict[str, float]


class Evidence:
    """Computes features over one message's notes."""

    def __init__(self, notes: list[Note], lexicon: Lexicon, rules: ReadingRules, authors: list[str]):
        self.notes = notes
        self.lexicon = lexicon
        self.rules = rules
        self.authors = NameSet(a for a in authors if a)
        self._targets: dict[tuple[int, int], bool] = {}

    # -- a name for an address ---------------------------------------------------------------------------------

    def names_for(self, note: Note, address: AddressMention) -> list[NameChoice]:
        """Every name the address may belong to, with its features."""
        choices = [*self._from_fields(note, address)]
        for other in self.notes:
            if other.unit.source not in (note.unit.source, 0) and other is not note:
                continue
            if other.unit.source != 0 and abs(other.index - note.index) > REACH:
                continue  # a name this far away is another item's
            for mention in other.names:
                if other.in_context(mention.start) != (other is note and note.in_context(address.start)):
                    continue  # a submitter's or a manager's name is not the person's, and the other way round
                choices.append(NameChoice(mention.name, other.index, mention.start, self._features(note, address, other, mention)))
        return choices

    def _from_fields(self, note: Note, address: AddressMention) -> list[NameChoice]:
        unit = note.unit
        found = []
        if unit.kind == "record":
            fields = record_fields(unit)
            if fields.get("name"):
                found.append(self._whole(fields["name"], address, record_field=1.0))
        if unit.cells and unit.labels:
            by_label = dict(zip(unit.labels, unit.cells))
            first = next((label for label, c in by_label.items() if _FIRST.search(label) and c), None)
            last = next((label for label, c in by_label.items() if _LAST.search(label) and c), None)
            if first and last and first == last:  # "Name (Surname, Forename)": one column holds both parts
                found.append(self._whole(by_label[first], address, table_column=1.0))
            elif first and last:
                first, last = by_label[first], by_label[last]
                found.append(self._whole(f"{first} {last}", address, table_column=1.0))
            else:
                for label, cell in by_label.items():
                    if "name" in label and "user" not in label and cell and "@" not in cell:
                        found.append(self._whole(cell, address, table_column=1.0))
                        break
        return [f for f in found if f is not None]

    def _whole(self, text: str, address: AddressMention, **given: float) -> NameChoice | None:
        from mailbot.extract.names import clean_name

        name = clean_name(text)
        if not name:
            return None
        words = name.split()
        features = {**self._spelled(name, address), **given, "full_name": float(len(words) >= 2),
                    "given_name": float(self.lexicon.is_given_name(words[0])), "same_unit": 1.0}
        return NameChoice(name, None, -1, features)

    def _spelled(self, name: str, address: AddressMention) -> dict[str, float]:
        score = spelling(name, address.email, self.lexicon.forms_of)
        pieces = [p for p in re.split(r"[._\-+]+", address.local.lower()) if p.isalpha() and len(p) >= 2]
        return {
            "spelled_sure": float(score == 3), "spelled_likely": float(score == 2), "spelled_weakly": float(score == 1),
            "contradicted": float(score == 0 and len(pieces) >= 2),
        }

    def _features(self, note: Note, address: AddressMention, other: Note, mention: NameMention) -> dict[str, float]:
        same = other is note
        text = note.text
        features = self._spelled(mention.name, address)
        features.update(self.name_features(mention))
        features["same_unit"] = float(same)
        if same:
            if mention.end <= address.start:
                gap = text[mention.end: address.start]
                features["adjacent"] = float(len(gap) <= 24 and bool(_ADJACENT_BEFORE.match(gap)))
                features["before"] = 1.0
                features["address_between"] = float(any(mention.end <= a.start < address.start for a in other.addresses if a is not address))
            else:
                gap = text[address.end: mention.start]
                features["adjacent"] = float(len(gap) <= 6 and bool(_ADJACENT_AFTER.match(gap)))
                features["address_between"] = float(any(address.end <= a.start < mention.start for a in other.addresses if a is not address))
        else:
            features["distance_units"] = float(min(abs(other.index - note.index), 8))
            low, high = sorted((other.index, note.index))
            features["address_between"] = float(any(n.addresses for n in self.notes[low + 1: high]))
        features["author"] = float(mention.name in self.authors)
        features["role_mailbox"] = float(self.lexicon.is_role_mailbox(address.local))
        features["target"] = float(self.is_target(other, mention))
        # "Her email: j.kowalczyk@...": the address is the person asked for a sentence or two before
        features["pronoun_link"] = float(not same and other.index < note.index and other.unit.source == note.unit.source
                                         and bool(features["target"]) and self._points_back(note))
        return features

    def _points_back(self, note: Note) -> bool:
        from mailbot.extract.rules import Cue

        return bool(self.rules.context["email_label"].match(note.text)) or note.has(Cue.SINGULAR_PRONOUN)

    def name_features(self, mention: NameMention) -> dict[str, float]:
        """What the words of a name say, whatever it is paired with."""
        return {
            "full_name": float(mention.words >= 2), "given_name": float(mention.given),
            "not_name_words": float(mention.not_name_words), "role_words": float(mention.role),
            "organisation": float(mention.organisation), "place": float(mention.place and mention.words == 1 and not mention.given),
            "honorific": float(mention.honorific),
        }

    # -- a name without an address -------------------------------------------------------------------------------

    def is_target(self, note: Note, mention: NameMention) -> bool:
        """Do the words around the name say it is the person asked for (not a bystander, a place, a team)?"""
        key = (note.index, mention.start)
        if key not in self._targets:
            self._targets[key] = self._is_target(note, mention)
        return self._targets[key]

    def _is_target(self, note: Note, mention: NameMention) -> bool:
        context = self.rules.context
        unit, text = note.unit, note.text
        before, after = text[max(0, mention.start - 80): mention.start], text[mention.end:]
        if context["place_after"].match(after) or context["thanks_for"].search(before):
            return False
        if (mention.words == 1 or _DETERMINER_BEFORE.search(before[-8:])) and context["attributive"].match(after):
            return False  # "the Borders shifts", "our Newport clinicians", "the Royal Infirmary shifts": a place or a team
        if unit.kind == "subject":
            return bool(context["subject_target"].search(before)) or not before.strip()
        if unit.kind == "record" and record_fields(unit).get("name", "").strip() and mention.name in record_fields(unit)["name"]:
            return True  # the form's name field
        if unit.kind in ("item", "record") and not re.search(r"\w", text[: mention.start]) and _ITEM_NAME_END.match(after):
            return True  # a list of people: each item starts with a name, then a separator
        if any(m.start >= mention.end and text[mention.end: m.start].strip().lower() in ("as", "as an", "as a") for m in note.accesses):
            return True  # "Jane Doe as an Agency User"
        if (context["before_target"].search(before)
                or (context["set_before"].search(before) and context["set_after"].match(after))
                or context["after_target"].match(after)):
            return True
        # "for Mia Carrick (mia.carrick@...) and Joe Pennock": a name joined by "and" to a person asked for is asked for
        previous = [m for m in note.names if m.end <= mention.start and _JOINED.match(text, m.end, mention.start)]
        return bool(previous) and self.is_target(note, previous[-1])

    def person_features(self, note: Note, mention: NameMention) -> dict[str, float]:
        after = note.text[mention.end:]
        features = self.name_features(mention)
        features["target"] = float(self.is_target(note, mention))
        before = note.text[max(0, mention.start - 8): mention.start]
        features["attributive"] = float((mention.words == 1 or bool(_DETERMINER_BEFORE.search(before)))
                                        and bool(self.rules.context["attributive"].match(after)))
        features["place"] = float(mention.place and mention.words == 1 and not mention.given or bool(self.rules.context["place_after"].match(after)))
        return features

    def is_author(self, name: str | None) -> bool:
        return bool(name) and name in self.authors

    def same_first_name(self, name: str, other: str | None) -> bool:
        return bool(other) and fold(name.split()[0]) == fold(other.split()[0])
