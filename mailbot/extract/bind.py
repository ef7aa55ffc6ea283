"""Gives each person the access levels asked for them: the accesses of their own sentence, list item or table row;
else of their paragraph; else what the message asks for everyone. Never another person's, never one they hold."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.extract.access import AccessMention, How, resolve
from mailbot.extract.annotate import Note
from mailbot.extract.people import Person, clause_around, named_subjects
from mailbot.extract.names import fold, same_person
from mailbot.extract.rules import Cue, ReadingRules
from mailbot.policy import Policy

PASSWORD_HELP = "password_help"


def accesses_asked(note: Note, rules: ReadingRules) -> tuple[AccessMention, ...]:
    """The accesses a note asks for, leaving out those it says someone holds already ("he already has AU")."""
    requested = note.requested_accesses()
    if not note.has(Cue.ALREADY):
        return requested
    if note.unit.cells:
        return ()  # a table row that says its person has it already asks for nothing
    # held from the mark to the end of its clause: "Now that she is on Agency User, could she have Connect too?"
    spans = rules.reach(Cue.ALREADY, note.text)
    # "Martin already has a 247 Time login - could Farah have one too?": the access held is the one asked again
    again = rules.context["refers_back"]
    spans = tuple((start, end) for start, end in spans if not (note.has(Cue.ASK) and again.search(note.text, end)))
    return tuple(m for m in requested if not any(start < m.start < end for start, end in spans))


# "Agency User and Connect for ...": accesses joined into one list, then "for" (or "to") the people they are for.
_JOINED_ACCESSES = re.compile(r"\s*+(?:,|and|&|plus|/|\+)?\s*+(?:(?:access|logins?|log-ins?|accounts?)\s*+)?(?:,|and|&|plus|/|\+)?\s*+", re.I)
_FOR_PEOPLE = re.compile(r"(?<!\s)\s*+(?:(?:access|logins?|log-ins?|accounts?|roles?)\s++)?(?:for|to)\s", re.I)


def _headed(note: Note) -> dict[int, tuple[int, int]]:
    """The accesses a sentence puts before the people they are for ("Agency User for Hamza and Lucy, and Connect for
    Lucy only"): each one's start, and the stretch after it that names its people (up to the next access)."""
    mentions = sorted(note.accesses, key=lambda m: m.start)
    text = note.text
    headed: dict[int, tuple[int, int]] = {}
    index = 0
    while index < len(mentions):
        group = [mentions[index]]
        while index + 1 < len(mentions) and _JOINED_ACCESSES.fullmatch(text, group[-1].end, mentions[index + 1].start):
            index += 1
            group.append(mentions[index])
        index += 1
        if _FOR_PEOPLE.match(text, group[-1].end):
            end = mentions[index].start if index < len(mentions) else len(text)
            headed.update((m.start, (group[-1].end, end)) for m in group)
    return headed


_JOINER = re.compile(r"\s*+(?:,|and|&|plus)?\s*+(?:,|and|&)?\s*+", re.I)


def _joined_owners(note: Note, before: list[tuple[int, int]]) -> set[int]:
    """Whom an access goes to: the person named last before it, with those joined to them by "and" or a comma
    ("Beth and Carl on NHSP:Connect")."""
    ends = {m.start: m.end for m in note.names}
    owners = {before[-1][1]}
    for (pos, who), (next_pos, _) in zip(reversed(before[:-1]), reversed(before[1:])):
        end = ends.get(pos)
        if end is None or not _JOINER.fullmatch(note.text, end, next_pos):
            break
        owners.add(who)
    return owners


@dataclass(frozen=True, slots=True)
class RequestedAccess:
    """One (person, access) pair asked for; None where the message does not say."""

    name: str | None
    email: str | None
    access: str | None


class Binder:
    def __init__(self, notes: list[Note], people: list[Person], policy: Policy, rules: ReadingRules, stated: list[Note] | None = None):
        self.notes = notes
        self.stated = stated if stated is not None else notes  # the notes before quietening: what they say people have
        self.people = people
        self.policy = policy
        self.rules = rules
        self.requesters = [p for p in people if p.context is None]
        self.about: dict[int, list[Person]] = {}  # each note's requesters
        for person in self.requesters:
            for unit in person.units:
                self.about.setdefault(unit, []).append(person)
        self.context_notes = {u for p in people if p.context is not None for u in p.units}
        self.owned = {u for p in self.requesters for u in p.units if self._asked(notes[u])}
        self.general = [(n, m) for n in notes if n.index not in self.owned and n.index not in self.context_notes and self._asks(n)
                        and not self._for_a_stranger(n) for m in self._asked(n)]

    def _for_a_stranger(self, note: Note) -> bool:
        """"Priyanka will cover the desk, so could she have Connect?": asked for someone named by a first name that is
        nobody's here; not for everyone the message asks for."""
        if note.unit.kind != "sentence" or not note.has(Cue.SINGULAR_PRONOUN):
            return False
        known = [p.name for p in self.people if p.name]
        return any(not any(same_person(m.name, name) for name in known) for m in named_subjects(note))

    def _asked(self, note: Note) -> tuple[AccessMention, ...]:
        return accesses_asked(note, self.rules)

    def requests(self) -> list[RequestedAccess]:
        found: list[RequestedAccess] = []
        for person in sorted(self.requesters, key=lambda p: min(p.units) if p.units else 0):
            if self._holds_already(person):
                continue  # "Kamal's row is for information only: he is already set up"
            levels = self._corrected(self._levels(person))
            if person.password_help:
                levels.append(PASSWORD_HELP)
            if not levels and not self._wants_access(person):
                continue  # named, but nothing asked for them
            for level in levels or [None]:
                request = RequestedAccess(person.name, person.email, level)
                if request not in found:
                    found.append(request)
        return found

    def _adds_access(self, note: Note, person: Person) -> bool:
        """"Jane needs NHSP:Connect too": an access on top of what the message asks for everyone; not "Also Fiona
        needs 247 Time" or "can you sort that for her too", which add a person to what is asked."""
        if not note.has(Cue.ADDITIVE) or not self._asked(note):
            return False
        for_person = self.rules.context["additive_person"]
        named_at = min((pos for unit, pos in person.mentions if unit == note.index and pos >= 0), default=-1)
        return any(start > named_at and not for_person.search(note.text, max(0, start - 24), start)
                   for start, _ in self.rules.where(Cue.ADDITIVE, note.text))

    def _corrected(self, levels: list[str]) -> list[str]:
        """Levels after the sender's corrections ("Sorry - I meant NHSP:Connect, not Agency User"): a level taken
        back is replaced by the levels the correction gives (or dropped, where it gives none)."""
        for note in self.notes:
            if note.unit.kind == "subject" or not note.has(Cue.CORRECTION):
                continue
            taken_back = {m.access for m in note.accesses if m.negated}
            given = resolve([m for m in note.accesses if not m.negated], self.policy)
            if taken_back & set(levels):
                levels = [new for level in levels for new in (given if level in taken_back else [level])]
        return list(dict.fromkeys(levels))

    def _mine(self, person: Person, note: Note) -> list[AccessMention]:
        """The accesses of a note that are this person's: all of them, unless the note names several people and
        several accesses, where each access goes to the person named last before it (the first, if none)."""
        accesses = list(self._asked(note))
        others = [p for p in self.about.get(note.index, ()) if p is not person]
        if not others or len(accesses) <= 1:
            return accesses
        spots = sorted((pos, id(p)) for p in (person, *others) for unit, pos in p.mentions if unit == note.index and pos >= 0)
        if not spots:
            return accesses
        headed = _headed(note)
        mine = []
        for access in accesses:
            span = headed.get(access.start)
            owners = {who for pos, who in spots if span[0] <= pos < span[1]} if span else set()
            if owners:  # "Agency User for Hamza and Lucy, and Connect for Lucy only"
                if id(person) in owners:
                    mine.append(access)
                continue
            before = [(pos, who) for pos, who in spots if pos <= access.start]
            owners = _joined_owners(note, before) if before else {spots[0][1]}
            if id(person) in owners:
                mine.append(access)
        return mine

    def _levels(self, person: Person) -> list[str]:
        mentions = [m for u in person.units for m in self._mine(person, self.notes[u])]
        if not mentions and not person.password_help:
            paragraphs = {(self.notes[u].unit.source, self.notes[u].unit.paragraph) for u in person.units}
            mentions = [m for n in self.notes if (n.unit.source, n.unit.paragraph) in paragraphs and n.index not in self.owned
                        and self._asks(n) for m in self._asked(n)]
        # what the message asks for everyone, but not from a note that names someone else and not them ("New
        # starter - Agency User (Tamara Osei)" is Tamara's, not that of the leaver named in the text)
        general = [m for n, m in self.general if not (self._names_other(n, person) and not self._names(n, person))]
        if not mentions and not person.password_help:
            mentions = general
        elif mentions and any(self._adds_access(self.notes[u], person) for u in person.units if self.notes[u].unit.kind == "sentence"):
            mentions = mentions + general
        if not mentions and not person.password_help:
            mentions = self._same_as_colleague(person)
        if not any(m.how == How.NAMED for m in mentions):
            mentions = mentions + self._described(person)
        refused = {m.access for u in person.units for m in self.notes[u].accesses if m.negated and self._asks(self.notes[u])}
        return [level for level in resolve(mentions, self.policy) if level not in refused]  # "an Agency User instead, not ARA"

    def _same_as_colleague(self, person: Person) -> list[AccessMention]:
        """"The same access as Jamie Reid", where the message says what Jamie has ("Jamie has Agency User and
        NHSP:Connect"): the accesses named in the clause about Jamie, in the same author's text."""
        same_as = self.rules.context["same_access_as"]
        found: list[AccessMention] = []
        for unit in person.units:
            note = self.notes[unit]
            for mention in note.names:
                if not same_as.search(note.text[max(0, mention.start - 40): mention.start]):
                    continue
                first = fold(mention.name.split()[0])
                for other in self.stated:  # "Helen is set up as an Agency User": said, not asked
                    if other.unit.source != note.unit.source or other.has(Cue.REMOVAL):
                        continue
                    for named in other.names:
                        if not (same_person(named.name, mention.name) or fold(named.name) == first):
                            continue
                        start, end = clause_around(other.text, named.start)
                        found.extend(m for m in other.accesses if start <= m.start < end and not m.negated)
        return found

    def _described(self, person: Person) -> list[AccessMention]:
        """What the person's access is for, said in their paragraph without asking ("She'll be running our booking
        reports and looking after our rate cards. Could she have access to NHSP:Online?"): it says which level."""
        paragraphs = {(self.notes[u].unit.source, self.notes[u].unit.paragraph) for u in person.units}
        return [m for n in self.notes if (n.unit.source, n.unit.paragraph) in paragraphs and n.has(Cue.CAPABILITY)
                and not any(p is not person for p in self.about.get(n.index, ())) for m in n.accesses
                if m.how == How.PURPOSE and not m.negated]

    @staticmethod
    def _names(note: Note, person: Person) -> bool:
        """Does the note name this person (in full, or by first name)?"""
        if not person.name:
            return False
        first = fold(person.name.split()[0])
        return any(same_person(m.name, person.name) or fold(m.name) == first for m in note.names)

    def _names_other(self, note: Note, person: Person) -> bool:
        return any(other is not person and self._names(note, other) for other in self.requesters)

    @staticmethod
    def _asks(note: Note) -> bool:
        """Does a note that no person owns ask for its accesses? A sentence must ask ("Mo has had AU since March"
        asks nothing); a subject, a list item or a table row stands for the request it heads or belongs to."""
        return note.unit.kind != "sentence" or note.has(Cue.ASK) or note.has(Cue.DIRECT_ASK)

    def _holds_already(self, person: Person) -> bool:
        """Named only to say they have their access already: nothing of theirs is asked for. Where the unit says
        where they are named, in the clause that says so ("Helen is set up as an Agency User, and Ravi will cover
        her work": Helen holds it, not Ravi)."""
        return (any(self.notes[u].has(Cue.ALREADY) and self._in_already_clause(person, self.notes[u]) or self.notes[u].held_spans
                    for u in person.units)
                and not person.password_help and not any(self._mine(person, self.notes[u]) for u in person.units))

    def _in_already_clause(self, person: Person, note: Note) -> bool:
        spots = [pos for unit, pos in person.mentions if unit == note.index and pos >= 0]
        if not spots or note.unit.kind != "sentence":
            return True  # a row or an item is about its one person
        clauses = [clause_around(note.text, start) for start, _ in self.rules.where(Cue.ALREADY, note.text)]
        return any(start <= spot < end for spot in spots for start, end in clauses)

    def _wants_access(self, person: Person) -> bool:
        """Does the text around a person ask for access of some kind, even without naming it?"""
        paragraphs = {(self.notes[u].unit.source, self.notes[u].unit.paragraph) for u in person.units}
        # the paragraph just before, where it asks for nobody named ("can you set our new assistant up with a login
        # please" and then "Hannah Bexley - hannah.bexley@...")
        before = {(source, paragraph - 1) for source, paragraph in paragraphs}
        # or in a paragraph after, asking for "them" and naming nobody ("Could you set them both up please?")
        after = {(source, paragraph + offset) for source, paragraph in paragraphs for offset in (1, 2)}
        return any(
            (n.has(Cue.ACCESS_INTENT) or n.requested_accesses()) and n.has(Cue.ASK)
            and not (n.has(Cue.REMOVAL) or n.has(Cue.DONE) and not n.has(Cue.DIRECT_ASK))
            for n in self.notes if (n.unit.source, n.unit.paragraph) in paragraphs or n.unit.kind == "subject"
            or ((n.unit.source, n.unit.paragraph) in before and n.index not in self.about)
            or ((n.unit.source, n.unit.paragraph) in after and n.index not in self.about and n.has(Cue.OTHERS) and not n.names)
        )
