"""Extraction: from a parsed Email, every (person, access) pair asked for, the matters it raises, and doubts.

Three steps, each its own module: annotate (each unit read once into spans and cues), candidates and people
(the evidence for who is asked for, weighed, people assigned one to one), bind (each person's accesses);
then a self-check says what is doubtful. The words it reads by are data: config/reading.toml (cues, weights),
config/lexicon/ (names, places...), config/policy.toml (access phrases and purposes, topics).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mailbot.extract.access import AccessFinder, How
from mailbot.extract.annotate import Annotator, Note
from mailbot.extract.bind import PASSWORD_HELP, Binder, RequestedAccess, accesses_asked
from mailbot.extract.candidates import Evidence
from mailbot.extract.details import Details, read_details
from mailbot.extract.lexicon import Lexicon
from mailbot.extract.names import clean_name
from mailbot.extract.people import PeopleReader, Person, bearers
from mailbot.extract.rules import Cue, ReadingRules
from mailbot.extract.selfcheck import doubts
from mailbot.extract.signature import signed_name, stated_title
from mailbot.extract.topics import TopicFinder
from mailbot.extract.units import Unit, units_of
from mailbot.parse.message import Email
from mailbot.parse.thread import subject_kind
from mailbot.policy import Policy

__all__ = ["PASSWORD_HELP", "Details", "Extraction", "Extractor", "RequestedAccess"]

# Requests are short (the longest sample is under 700 characters): text past this many characters of one author's
# message is not read for requests, and a message cut short is held for a person. So are the forwards past MAX_FORWARDS.
MAX_TEXT = 6_000
MAX_FORWARDS = 12
MAX_UNITS = 250  # sentences, items and records read in all: a message with more is held (text_too_long)
_SUBJECT_PREFIXES = re.compile(r"^\s*+(?:\[?(?:re|aw|sv|antw|fw|fwd|wg|tr|rv)\s*+(?:\[\d++\]\s*+)?:\s*+)++", re.I)


@dataclass(frozen=True)
class Extraction:
    requests: tuple[RequestedAccess, ...] = ()
    topics: tuple[str, ...] = ()
    stated_title: str | None = None
    cut_short: bool = False  # some text was past MAX_TEXT (or MAX_FORWARDS) and not read
    doubts: tuple[str, ...] = ()  # what makes this reading doubtful (the desk shows them): held, extraction_uncertain


class Extractor:
    """Reads requests out of messages, by one policy, one set of reading rules and one lexicon."""

    def __init__(self, policy: Policy, mailbox_address: str, rules: ReadingRules, lexicon: Lexicon):
        self.policy = policy
        self.rules = rules
        self.access = AccessFinder.from_policy(policy)
        self.topics = TopicFinder.from_policy(policy, rules, self.access)
        self.own_domains = frozenset({mailbox_address.lower().rsplit("@", 1)[-1]})
        self.use_lexicon(lexicon)

    def use_lexicon(self, lexicon: Lexicon) -> None:
        """Read with this lexicon from now on (the directory's organisation names change with the directory)."""
        self.lexicon = lexicon
        self.annotator = Annotator(self.rules, lexicon, self.access, self.topics)

    def units(self, email: Email) -> list[Unit]:
        units: list[Unit] = []
        if subject_kind(email.subject) != "reply" and email.subject.strip():
            units.append(Unit(_SUBJECT_PREFIXES.sub("", email.subject), 0, -1, "subject", email.sender))
        units.extend(units_of(email.body.new_text[:MAX_TEXT], 1, email.sender, 0))
        for number, forward in enumerate(email.forwards[:MAX_FORWARDS]):
            author = forward.sender if forward.sender and forward.sender.email else None
            units.extend(units_of(forward.body.new_text[:MAX_TEXT], 2 + number, author, 1000 * (number + 1)))
        return units

    def extract(self, email: Email) -> Extraction:
        units = self.units(email)
        notes = [self.annotator.note(index, unit) for index, unit in enumerate(units[:MAX_UNITS])]
        asked = {(n.unit.source, n.unit.paragraph) for n in notes if n.has(Cue.ASK)}
        wanted = any((n.requested_accesses() and (n.unit.source, n.unit.paragraph) in asked) or n.password
                     for n in notes if n.unit.kind != "subject")
        # Beside a request, a matter counts where it is raised (a question, a problem), not where it is background
        # ("our bookings rose over the winter"); in a message asking nothing, any matter is what it is about.
        # A matter named in the very sentence that asks for an access is what the access is for ("she needs 247 Time,
        # as the wards she's booked on use it for her shifts").
        topics = tuple(dict.fromkeys(t for note in notes for t in note.topics
                                     if not wanted or (note.has(Cue.MATTER) and not (note.unit.kind in ("sentence", "item") and note.requested_accesses()
                                                                                   and note.has(Cue.ASK)))))
        read, notes = notes, _quieten(notes, bool(topics))
        asking = any(n.has(Cue.ASK) or n.requested_accesses() or n.password for n in notes)
        people: list[Person] = []
        requests: list[RequestedAccess] = []
        if asking:
            authors = [clean_name(u.author.name) for u in (n.unit for n in notes) if u.author and u.author.name]
            evidence = Evidence(notes, self.lexicon, self.rules, [a for a in authors if a])
            reader = PeopleReader(notes, evidence, self.lexicon, self.rules, email.sender, self.own_domains)
            people = reader.read(signed_name(email.body.signature, self.lexicon))
            if not any(p.context is None for p in people) and any(n.requested_accesses() for n in notes):
                reader.subject_people()
                people = reader.people
            if not any(p.context is None for p in people):
                nameless = next((n for n in notes if n.unit.kind != "subject" and accesses_asked(n, self.rules) and n.has(Cue.ASK)), None)
                if nameless is not None:
                    people = [*people, Person(None, None, (nameless.index,))]
            requests = Binder(notes, people, self.policy, self.rules, stated=read).requests()
        texts = [email.body.new_text, *(f.body.new_text for f in email.forwards)]
        cut_short = (any(len(t) > MAX_TEXT for t in texts) or len(email.forwards) > MAX_FORWARDS or email.truncated
                     or len(units) > MAX_UNITS)
        found = doubts(requests, people, self.lexicon, email.sender)
        excluded = {u for p in people if p.context is not None for u in p.units}
        asked_for = {u for p in people if p.context is None for u in p.units}
        # a condition on someone left out ("Craig - ON HOLD: do not set him up until I confirm") unsettles nothing
        if requests and any(n.has(Cue.UNSETTLED) and not (n.index in excluded and n.index not in asked_for)
                            for n in notes if n.unit.source <= 1):
            found = (*found, "the request waits on a condition, a confirmation or a choice still to be made")
        found = (*found, *_ambiguous_first_names(notes, people))
        return Extraction(tuple(requests), topics, stated_title(email.body.signature), cut_short, found)


    def details(self, email: Email) -> Details:
        """What the sender's own new text gives, asked for or not (to complete a conversation's pending requests)."""
        notes = [self.annotator.note(index, unit) for index, unit in enumerate(self.units(email)[:MAX_UNITS])]
        authors = [clean_name(u.author.name) for u in (n.unit for n in notes) if u.author and u.author.name]
        evidence = Evidence(notes, self.lexicon, self.rules, [a for a in authors if a])
        return read_details(notes, evidence, self.lexicon, self.policy, email.sender, self.own_domains)


def _ambiguous_first_names(notes: list[Note], people: list[Person]) -> tuple[str, ...]:
    """A first name alone where the message asks for access, borne by two of the people asked for ("give Chloe
    ARA" beside Chloe Barnes and Chloe Adeyinka): whose access it is, a person must say."""
    found = []
    asked_for = [p for p in people if p.context is None]
    for note in notes:
        if not note.requested_accesses():
            continue
        for mention in note.names:
            either = bearers(mention.name, asked_for) if mention.words == 1 else []
            if len(either) >= 2:
                found.append(f"'{mention.name}' may be {either[0].name} or {either[1].name}")
    return tuple(dict.fromkeys(found))


def _quieten(notes: list[Note], topics: bool) -> list[Note]:
    """Notes whose accesses ask for nothing: taking access away, a report of what is done, a password question;
    and, in a message about another matter, an access named where nothing is asked ("it isn't on NHSP:Online")."""
    asked = {(n.unit.source, n.unit.paragraph) for n in notes if n.unit.kind != "subject" and n.has(Cue.ASK)}
    quiet = []
    for note in notes:
        silent = (note.has(Cue.REMOVAL) or (note.has(Cue.REMOVAL_WORD) and note.accesses)
                  or (note.has(Cue.DONE) and not note.has(Cue.DIRECT_ASK)) or note.password
                  or (topics and (note.unit.kind == "subject" or (note.unit.source, note.unit.paragraph) not in asked
                                  # "timesheets we uploaded on NHSP:Connect ... Could someone take a look?": where the
                                  # access is, not what is asked
                                  or (note.unit.kind == "sentence" and not note.has(Cue.ASK)))))
        if silent and note.accesses:
            note = replace(note, accesses=())
        elif topics and not note.has(Cue.CAPABILITY) and any(m.how == How.PURPOSE for m in note.accesses):
            # in a message about another matter, "self-bill invoice" and "rate card" are the matter, not an access
            note = replace(note, accesses=tuple(m for m in note.accesses if m.how != How.PURPOSE))
        quiet.append(note)
    return quiet
