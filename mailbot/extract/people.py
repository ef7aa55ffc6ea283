"""Works out who is asked for: each person's name and address, the units about them, and who is only context."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace

from mailbot.extract.annotate import NameMention, Note
from mailbot.extract.candidates import Evidence, NameChoice
from mailbot.extract.lexicon import Lexicon
from mailbot.extract.names import clean_name, fold, same_person, spelling
from mailbot.extract.rules import Cue, ReadingRules
from mailbot.parse.message import Address


_REACH = 30  # characters from an "ignore" / "instead of" to the name it is about
_CLAUSE_BREAK = re.compile(r"[;!?\n|]|\.(?!\w)|\s[-–—]\s|,\s++(?:and|but|so|or)\b|\bplease\b|\bcould\s+you\b", re.I)


def bearers(first_name: str, people: list[Person]) -> list[Person]:
    """The people named in full whom a first name alone may stand for ("Amir" for Amir Hosseini)."""
    return [p for p in people if p.name and len(p.name.split()) >= 2 and same_person(first_name, p.name)]


def named_subjects(note: Note) -> list[NameMention]:
    """The given names that open the note's sentence as its subject ("Kate will also cover...", "Also Kate
    needs..."): at most two words before them."""
    return [m for m in note.names if m.given and m.words == 1 and not (m.organisation or m.role or m.place)
            and len(note.text[:m.start].split()) <= 2]


def clause_around(text: str, position: int) -> tuple[int, int]:
    """The clause of a sentence a position is in: between breaks (a full stop, a dash, "please", ", and"...)."""
    start = 0
    for match in _CLAUSE_BREAK.finditer(text, 0, position):
        start = match.end()
    after = _CLAUSE_BREAK.search(text, position)
    return start, after.start() if after else len(text)
_PRONOUN = re.compile(r"\b(?:her|him|them)\b", re.I)
_PRONOUN_SUBJECT = re.compile(r"\b(?:s?he|they)\b(?:\s++[\w'’]++){0,2}+\s*+$", re.I)


class Context(str, enum.Enum):
    """Why a person the message names is not a requester."""

    EXCLUDED = "excluded"  # a leaver, someone to leave out, a predecessor
    CONTACT = "contact"  # copied in, to be contacted


@dataclass(frozen=True, slots=True)
class Person:
    name: str | None
    email: str | None
    units: tuple[int, ...]  # the notes about them
    is_author: bool = False
    password_help: bool = False
    context: Context | None = None  # set: named only as context, not a requester
    doubts: tuple[str, ...] = ()
    mentions: tuple[tuple[int, int], ...] = ()  # (note, position) of each mention, for binding accesses in a unit

    @property
    def key(self) -> str | None:
        return self.email.lower() if self.email else None


class PeopleReader:
    """Collects the people of one message from its notes."""

    def __init__(self, notes: list[Note], evidence: Evidence, lexicon: Lexicon, rules: ReadingRules,
                 sender: Address | None, own_domains: frozenset[str]):
        self.notes = notes
        self.evidence = evidence
        self.lexicon = lexicon
        self.rules = rules
        self.sender = sender
        self.own_domains = own_domains
        self.people: list[Person] = []
        self.used_names: set[tuple[int, int]] = set()  # name mentions an address took
        self._full_names = None

    def read(self, signed_name: str | None) -> list[Person]:
        self.signed_name = signed_name
        self._from_addresses()
        self._from_names()
        self._self_requests()
        self._password_help()
        self._merge()
        self._references()
        self._exclusions()
        return self.people

    # -- helpers -----------------------------------------------------------------------------------------------

    def _asks(self, note: Note) -> bool:
        return note.has(Cue.ACCESS_INTENT) or note.has(Cue.ASK) or bool(note.requested_accesses())

    def _paragraph_asks(self, note: Note) -> bool:
        """Does the note's paragraph ask for something, or say whom for ("for myself")?"""
        return any(self._asks(n) or n.has(Cue.SELF) for n in self.notes
                   if (n.unit.source, n.unit.paragraph) == (note.unit.source, note.unit.paragraph))

    def _asks_for_self(self, source: int) -> bool:
        """Does the author of this part of the message ask for something for themselves anywhere in it?"""
        return any(n.has(Cue.SELF) or (n.has(Cue.FIRST_PERSON) and n.has(Cue.ASK)) for n in self.notes
                   if n.unit.source == source and n.unit.kind != "subject")

    def _author(self, note: Note) -> Address | None:
        """Who wrote this unit: the sender, or a forwarded message's own author (unknown: None, never the sender)."""
        return note.unit.author if note.unit.source >= 2 else (note.unit.author or self.sender)

    def _is_author_email(self, note: Note, email: str) -> bool:
        return any(a is not None and a.key == email.lower() for a in (note.unit.author, self.sender))

    def _author_name(self, note: Note) -> str | None:
        author = self._author(note)
        name = clean_name(author.name) if author and author.name else None
        if name and (any(self.lexicon.is_role_word(w) for w in name.split()) or self.lexicon.is_organisation(name)):
            name = None  # "Rosebay Lodge - Manager": a mailbox's name, not a person's
        if name is None and author is self.sender:
            name = self.signed_name
        return name

    def _add(self, person: Person) -> Person:
        for index, existing in enumerate(self.people):
            if (person.key and existing.key == person.key) or (
                    not person.key and not existing.key and person.name and fold(person.name) == fold(existing.name or "")):
                merged = replace(existing, units=_union(existing.units, person.units), name=existing.name or person.name,
                                 is_author=existing.is_author or person.is_author, doubts=existing.doubts + person.doubts,
                                 mentions=existing.mentions + person.mentions,
                                 password_help=existing.password_help or person.password_help,
                                 context=existing.context if existing.context == person.context else None)
                self.people[index] = merged
                return merged
        self.people.append(person)
        return person

    def _update(self, person: Person, **changes) -> Person:
        index = self.people.index(person)
        self.people[index] = replace(person, **changes)
        return self.people[index]

    def author_person(self, note: Note, position: int = -1) -> Person | None:
        author = self._author(note)
        if author is None or (author is not self.sender and self.lexicon.is_role_mailbox(author.email.split("@")[0])):
            return None  # a forwarded ticket's or system's mailbox asks for nothing itself
        return self._add(Person(self._author_name(note), author.email if author else None, (note.index,), is_author=True,
                                mentions=((note.index, position),)))

    # -- people with an address ------------------------------------------------------------------------------------

    def _from_addresses(self) -> None:
        weights = self.rules.weights["name_for_address"]
        pairs: list[tuple[float, int, NameChoice]] = []
        found: list[tuple[Note, object, list[tuple[float, NameChoice]]]] = []
        for note in self.notes:
            if note.unit.kind == "subject":
                continue
            for address in note.addresses:
                domain = address.email.lower().rsplit("@", 1)[-1]
                if domain in self.own_domains:
                    continue
                if self._is_author_email(note, address.email):
                    if (note.unit.source == 1 and note.unit.kind != "record" and not self._paragraph_asks(note)
                            and not self._asks_for_self(note.unit.source)):
                        continue  # "Sent by Pradeep Chauhan (pradeep@...) using Staffora CRM": the sender, asking nothing
                    person = self.author_person(note, address.start)
                    if person is not None and note.unit.kind == "record":
                        from mailbot.extract.units import record_fields

                        named = clean_name(record_fields(note.unit).get("name"))
                        if named:
                            self._update(person, name=named)
                    continue
                scored = sorted(((weights.score(c.features), c) for c in self.evidence.names_for(note, address)),
                                key=lambda pair: -pair[0])
                number = len(found)
                found.append((note, address, scored))
                pairs.extend((score, number, choice) for score, choice in scored if score >= weights.threshold)
        chosen: dict[int, tuple[float, NameChoice]] = {}
        for score, number, choice in sorted(pairs, key=lambda p: -p[0]):  # best first, each name mention once
            spot = (choice.note, choice.start)
            if number in chosen or (choice.note is not None and spot in self.used_names):
                continue
            chosen[number] = (score, choice)
            if choice.note is not None:
                self.used_names.add(spot)
        for number, (note, address, scored) in enumerate(found):
            best = chosen.get(number)
            name = best[1].name if best else None
            doubts: list[str] = []
            if best is not None:
                name = self._fullest(name, address.email)
                rivals = [(s, c) for s, c in scored if s >= weights.threshold and not same_person(c.name, name)]
                if rivals and best[0] - rivals[0][0] < weights.margin:
                    doubts.append(f"{address.email} may be {name}'s or {rivals[0][1].name}'s")
            if name is None and self.lexicon.is_role_mailbox(address.local):
                continue  # info@, bookings@: a team's mailbox, not a person
            context = Context.CONTACT if self._contact(note, address.start) or note.in_context(address.start) else None
            units, mentions = (note.index,), ((note.index, address.start),)
            if best is not None and best[1].note not in (None, note.index) and self.notes[best[1].note].unit.kind != "subject":
                units, mentions = _union(units, (best[1].note,)), mentions + ((best[1].note, best[1].start),)  # named there
            self._add(Person(name, address.email, units, context=context, doubts=tuple(doubts), mentions=mentions))

    def _contact(self, note: Note, position: int) -> bool:
        """Is the address at this position one to contact or copy, not to set up ("I've cc'd Jane (jane@...) for
        info - please set up Tom")? Said in its own clause."""
        if not note.has(Cue.CONTACT):
            return False
        start, end = clause_around(note.text, position)
        return any(start <= cue < end for cue, _ in self.rules.where(Cue.CONTACT, note.text))

    def _fullest(self, name: str | None, email: str) -> str | None:
        """The fullest form of a name the message gives that the address spells as well ('Ravi' -> 'Ravi Chandran')."""
        if not name:
            return name
        best, best_score = name, spelling(name, email, self.lexicon.forms_of)
        if self._full_names is None:
            self._full_names = [m for note in self.notes for m in note.names if m.words >= 2 and not m.organisation and not m.role]
        for mention in self._full_names:
            if mention.words <= len(best.split()):
                continue
            if fold(mention.name.split()[0]) not in self.lexicon.forms_of(best.split()[0]) | {fold(best.split()[0])}:
                continue
            score = spelling(mention.name, email, self.lexicon.forms_of)
            if score >= best_score and score >= 1:
                best, best_score = mention.name, score
        return best

    # -- people named without an address -------------------------------------------------------------------------

    def _from_names(self) -> None:
        weights = self.rules.weights["name_for_person"]
        for note in self.notes:
            if note.unit.kind == "subject" or (note.unit.kind == "sentence" and not self._asks(note)):
                continue  # a sentence that asks for no access names nobody it is asked for (a list item may)
            if note.unit.kind in ("item", "record") and note.addresses:
                continue  # a row with an address: its person came with the address
            for mention in note.names:
                if (note.index, mention.start) in self.used_names or self.evidence.is_author(mention.name) or note.in_context(mention.start):
                    continue
                if mention.words == 1 and note.requested_accesses() and not note.has(Cue.ALREADY) and self._by_first_name(note, mention):
                    continue  # "Amir for the rate cards, and Beth on Connect": Amir Hosseini, Beth Carmody, listed below
                features = self.evidence.person_features(note, mention)
                if not features["target"] or weights.score(features) < weights.threshold:
                    continue
                match = next((p for p in self.people if same_person(mention.name, p.name)), None)
                if match is not None:
                    name = match.name
                    if match.name and mention.words > len(match.name.split()) and match.email and spelling(mention.name, match.email, self.lexicon.forms_of):
                        name = mention.name
                    self._update(match, units=_union(match.units, (note.index,)), name=name,
                                 mentions=match.mentions + ((note.index, mention.start),))
                    continue
                self._add(Person(mention.name, None, (note.index,), mentions=((note.index, mention.start),)))

    def _by_first_name(self, note: Note, mention: NameMention) -> bool:
        """A first name alone, in a unit that gives accesses, for the one person found with that first name: linked to
        them there (their accesses are the ones the unit gives them)."""
        if note.text[mention.start: mention.end].endswith(("'s", "’s")):
            return False  # "Hana will take over Wiktoria's old role and needs Agency User": Hana's, not Wiktoria's
        found = bearers(mention.name, self.people)
        if len(found) != 1:
            return False
        self._update(found[0], units=_union(found[0].units, (note.index,)), mentions=found[0].mentions + ((note.index, mention.start),))
        return True

    def subject_people(self) -> None:
        """Names in the subject, where the body names nobody ("Connect login - Tom Reed")."""
        weights = self.rules.weights["name_for_person"]
        for note in self.notes:
            if note.unit.kind != "subject":
                continue
            for mention in note.names:
                features = self.evidence.person_features(note, mention)
                if features["target"] and weights.score(features) >= weights.threshold and not self.evidence.is_author(mention.name):
                    self._add(Person(mention.name, None, (note.index,), mentions=((note.index, mention.start),)))

    # -- the author, for themselves ------------------------------------------------------------------------------

    def _self_requests(self) -> None:
        """The author asks for access for themselves: 'could you set me up as an agency user?'"""
        for note in self.notes:
            if note.unit.kind == "subject" or not note.has(Cue.SELF):
                continue
            held = self.rules.reach(Cue.ALREADY, note.text)
            marks = [(start, end) for start, end in self.rules.where(Cue.SELF, note.text) if not any(s <= start < e for s, e in held)]
            if not marks:
                continue  # "I already have ARA access myself, but we need someone...": what the author has, not asks
            clauses = [(clause_around(note.text, start)[0], clause_around(note.text, end)[1]) for start, end in marks]
            paragraph = [n for n in self.notes if (n.unit.source, n.unit.paragraph) == (note.unit.source, note.unit.paragraph)]
            # the paragraph's accesses, where they are nobody else's ("forward this for me: Lachlan needs AU" is Lachlan's)
            unclaimed = [n for n in paragraph if n.requested_accesses() and not self._names_another(n)]
            if not note.requested_accesses() and not unclaimed and not note.has(Cue.ACCESS_INTENT):
                continue
            # another person named in the clause that asks: "I'd like Rich to ..." (not "I've taken over from Esme Talbot,
            # so could I have ARA?")
            others = [m for m in note.names if not self.evidence.is_author(m.name) and not m.organisation and not m.role
                      and not m.place and (m.given or m.words >= 2 or self.evidence.is_target(note, m))
                      and any(start <= m.start < end for start, end in clauses)]
            other_addresses = [a for a in note.addresses if not self._is_author_email(note, a.email)
                               and a.email.lower().rsplit("@", 1)[-1] not in self.own_domains]
            alone = not others and not other_addresses and not note.has(Cue.OTHERS)
            if alone or note.has(Cue.SELF_TOO):
                person = self.author_person(note)
                for other in paragraph:  # "I need an AU login ... Can you set me up?": the access is in the next sentence
                    if person is not None and other is not note and other.requested_accesses() and not any(other.index in p.units for p in self.people):
                        person = self._update(person, units=_union(person.units, (other.index,)))

    def _names_another(self, note: Note) -> bool:
        """Does the note name a person other than its author (by a name that may be a person's, or an address)?"""
        return any(not self.evidence.is_author(m.name) and (m.given or m.words >= 2) and not m.organisation and not m.role
                   for m in note.names) or any(not self._is_author_email(note, a.email) for a in note.addresses
                                                if a.email.lower().rsplit("@", 1)[-1] not in self.own_domains)

    # -- password help ----------------------------------------------------------------------------------------------

    def _password_help(self) -> None:
        """Whoever a password question is about: the author ('my password') or the person it names."""
        for note in self.notes:
            if not note.password or note.unit.kind == "subject":
                continue
            # "I can't log in" is the author's; "Chloe Marsden (chloe@...) tells me she never received one" is Chloe's
            told = not self.rules.context["author_subject"].search(note.text.replace("’", "'")) and note.has(Cue.SINGULAR_PRONOUN)
            if note.has(Cue.FIRST_PERSON) and not (told and self._names_another(note)):
                about = [self.author_person(note)]
            else:
                about = [p for p in self.people if note.index in p.units and not p.is_author]
                if not about:  # "Hamish can't log in": the person the question is about, even by first name
                    about = [self._add(Person(m.name, None, (note.index,), mentions=((note.index, m.start),))) for m in note.names
                             if not self.evidence.is_author(m.name) and not m.organisation and not m.role and not m.place
                             and not note.in_context(m.start) and (m.given or m.honorific) and not m.not_name_words]
                if not about and note.has(Cue.THIRD_PERSON):
                    previous = self._previous_person(note, others=True)  # "he isn't sure how": not the author
                    about = [self.people[previous]] if previous is not None else []
                if not about:
                    about = [self.author_person(note)]
            for person in about:
                if person is None:
                    continue
                current = next((p for p in self.people if (p.key and p.key == person.key) or (p.name and p.name == person.name)), person)
                if current in self.people:
                    self._update(current, password_help=True, units=_union(current.units, (note.index,)))

    # -- merging and references --------------------------------------------------------------------------------------

    def _merge(self) -> None:
        """Fold a person known only by name into the person with an address who has that name."""
        for person in list(self.people):
            if person.email is not None or person not in self.people:
                continue
            match = next((p for p in self.people if p is not person and p.email and same_person(person.name, p.name)), None)
            if match is not None:
                self._update(match, units=_union(match.units, person.units), password_help=match.password_help or person.password_help,
                             mentions=match.mentions + person.mentions)
                self.people.remove(person)

    def _references(self) -> None:
        """A sentence asking for access for someone found already: by their first name ("Adaeze is also taking over
        our rate cards, so please grant her rate admin access") or by a pronoun ("could she also have ARA")."""
        for note in self.notes:
            anchored = [p for p in self.people if note.index in p.units]
            if note.unit.kind != "sentence" or anchored or not note.requested_accesses() or note.addresses or not note.has(Cue.ASK):
                continue
            strangers = [m for m in named_subjects(note) if not self.evidence.is_author(m.name)]
            named = {id(p): p for m in note.names if not self.evidence.is_author(m.name) for p in self.people if same_person(m.name, p.name)}
            if not named:  # "Kate will also be covering the desk": Katherine Whitfield, named before in full
                named = {id(p): p for m in strangers for p in self.people
                         if p.name and fold(m.name) in self.lexicon.forms_of(p.name.split()[0])}
            if named:
                if len(named) == 1:
                    person = next(iter(named.values()))
                    self._update(person, units=_union(person.units, (note.index,)))
                continue
            if strangers:
                continue  # "Kate ... could she have Connect?": she is Kate, whoever Kate is, not the last person named
            if note.has(Cue.SINGULAR_PRONOUN) and not note.has(Cue.SELF):
                earlier = [p for p in self.people if any(u < note.index and self.notes[u].unit.source == note.unit.source for u in p.units)]
                if earlier:
                    person = max(earlier, key=lambda p: max(u for u in p.units if u < note.index))
                    self._update(person, units=_union(person.units, (note.index,)))
                else:
                    # "Forwarding Hannah's request below. Please set her up as an Agency User instead": the one person
                    # of the forwarded message
                    forwarded = [p for p in self.people if any(self.notes[u].unit.source >= 2 for u in p.units)]
                    if note.unit.source == 1 and len(forwarded) == 1 and len(self.people) == 1:
                        self._update(forwarded[0], units=_union(forwarded[0].units, (note.index,)))

    # -- who is only context -------------------------------------------------------------------------------------------

    def _exclusions(self) -> None:
        """A person the message says to leave out is not a requester: the one named right after "ignore", "instead
        of", "replacing"..., right before "has left", "retired", "no longer"..., or by their list number."""
        for note in self.notes:
            after = self.rules.where(Cue.EXCLUDE_AFTER, note.text) if note.has(Cue.EXCLUDE_AFTER) else ()
            before = self.rules.where(Cue.EXCLUDE_BEFORE, note.text) if note.has(Cue.EXCLUDE_BEFORE) else ()
            if not after and not before and not note.number_references:
                continue
            mentions = self._mentions_in(note)
            named = sorted({*(m.start for m in note.names if not m.organisation and not m.role and not (m.place and m.words == 1)
                              and (m.given or m.words >= 2 or m.honorific or not m.not_name_words)), *(p for p, _ in mentions)})
            excluded: set[int] = set()
            if note.unit.cells and (after or before):  # a table row is about one person: "Tamsin | ... | Left us in May"
                excluded.update(who for _, who in mentions)
            for start, end in after:
                if _PRONOUN.search(note.text[start:end]) or _PRONOUN.match(note.text[end:end + 8].lstrip()):
                    # "Bronwen's DBS hasn't come back, so leave her off"; "nothing is needed for her": the one named
                    # last before, but not in the cue's own clause ("Jess is replacing him": him is not Jess)
                    clause = clause_around(note.text, start)[0]
                    earlier = [spot for spot in named if spot < clause]
                    if earlier:  # "Lowenna Hicks already has AU, so nothing is needed for her": Lowenna, whoever she is
                        excluded.update(who for spot, who in mentions if spot == max(earlier))
                    elif not [spot for spot in named if spot < start]:
                        before_note = self._person_before(note)
                        if before_note is not None and self._named_last_before(note) in (None, before_note):
                            excluded.add(before_note)
                    continue
                # "ignore Euan", "leave Sam off" (the name inside the cue), not "rather than wait ... Joy"
                later = [spot for spot in named if start < spot and spot - end <= _REACH]
                excluded.update(who for spot, who in mentions if later and spot == min(later))
            for start, end in before:
                if any(0 <= m.start - end <= 24 for m in note.accesses):
                    continue  # "Natalia does not need Agency User": about the access, not the person
                earlier = [spot for spot in named if spot < start]
                if earlier:  # the one named last before it: "Kerry is replacing Janine Cole, who left us"
                    excluded.update(who for spot, who in mentions if spot == max(earlier))
                elif _PRONOUN_SUBJECT.search(note.text[max(0, start - 30): start]):  # "she has retired"
                    previous = self._previous_person(note)
                    if previous is not None:
                        excluded.add(previous)
            if note.number_references and (after or before):
                for number in note.number_references:
                    for index, person in enumerate(self.people):
                        if any(self.notes[u].item_number == number for u in person.units if self.notes[u].unit.kind == "item"):
                            excluded.add(index)
            for index in excluded:
                self.people[index] = replace(self.people[index], context=Context.EXCLUDED)

    def _mentions_in(self, note: Note) -> list[tuple[int, int]]:
        """(position, person index) of each person this note mentions: by address, by name, by first name."""
        found = []
        for index, person in enumerate(self.people):
            for unit, position in person.mentions:
                if unit == note.index and position >= 0:
                    found.append((position, index))
            for mention in note.names:
                if person.name and (same_person(mention.name, person.name) or fold(mention.name) == fold(person.name.split()[0])):
                    found.append((mention.start, index))
                elif not person.name and person.email and mention.words >= 2 and spelling(mention.name, person.email, self.lexicon.forms_of) >= 2:
                    found.append((mention.start, index))  # "ignore Dan Whitely" for dan.whitely@..., named nowhere else
        return sorted(set(found))

    def _named_last_before(self, note: Note) -> int | None:
        """The person the name written last before this note names (-1: a name that is nobody found, as "Precious
        Okonkwo (copied in) will be training him" before "nothing is needed for her"), None if no name comes first."""
        for other in reversed(self.notes[:note.index]):
            if other.unit.source != note.unit.source:
                break
            names = [m for m in other.names if not (m.organisation or m.role or m.place) and (m.given or m.words >= 2)]
            if names:
                last = names[-1]
                return next((i for i, p in enumerate(self.people) if same_person(last.name, p.name)), -1)
        return None

    def _person_before(self, note: Note) -> int | None:
        """The person named last in the units before this one (of the same author)."""
        earlier = [(max(u for u in p.units if u < note.index), i) for i, p in enumerate(self.people)
                   if any(u < note.index and self.notes[u].unit.source == note.unit.source for u in p.units)]
        return max(earlier)[1] if earlier else None

    def _previous_person(self, note: Note, others: bool = False) -> int | None:
        earlier = [(max(u for u in p.units if u <= note.index), i) for i, p in enumerate(self.people)
                   if any(u <= note.index and self.notes[u].unit.source == note.unit.source for u in p.units)
                   and not (others and p.is_author)]
        return max(earlier)[1] if earlier else None


def _union(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(set(a) | set(b)))
