"""Extraction: from a parsed Email, every (person, access) pair asked for, and the matters it raises."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.extract.access import AccessFinder, resolve_platforms
from mailbot.extract.names import clean_name
from mailbot.extract.people import Person, PeopleFinder, _same_person, is_target
from mailbot.extract.signature import signed_name, stated_title
from mailbot.extract.topics import TopicFinder, asks_password_help, first_person, mentions_password
from mailbot.extract.units import Unit, emails_in, units_of
from mailbot.parse.message import Email
from mailbot.parse.thread import subject_kind
from mailbot.policy import Policy

PASSWORD_HELP = "password_help"
# Requests are short (the longest sample is under 700 characters): text past this many characters
# of one author's message is not read for requests, and a message cut short is held for a person.
MAX_TEXT = 6_000
_SUBJECT_PREFIXES = re.compile(r"^\s*+(?:\[?(?:re|aw|sv|antw|fw|fwd|wg|tr|rv)\s*+(?:\[\d++\]\s*+)?:\s*+)++", re.I)
_ASKING = re.compile(
    r"\b(?:please|pls|plz|could\s+you|can\s+you|would\s+you|can\s+i|could\s+i|set(?:ting)?\s+(?:\w+\s+){0,3}?up|setup"
    r"|i'?d\s+like|would\s+like|request(?:ing)?|need(?:s|ed)?|require[sd]?|give|add|create|enable|grant|register|arrange"
    r"|(?:can|could|may)\s+[\w'’-]+(?:\s+[\w'’-]+)?\s+(?:have|get|be\s+(?:given|set\s+up|added)))\b",
    re.I,
)
_SELF = re.compile(
    r"\b(?:set\s+me\s+up|(?:give|grant|get|add|enable|register|set\s+up)\s+me\b|for\s+me|for\s+myself|myself|my\s+own|my\s+behalf"
    r"|(?:can|could|may)\s+i\s+(?:please\s+)?(?:get|have)|my\s+(?:login|log-in|access|account|user\s*name)"
    r"|i(?:'d|\s+would)?\s+(?:need|like|require|want)\s+(?:to\s+(?:have|get|request)\s+)?(?:an?\s+|some\s+)?"
    r"(?:access|log-?in|account|nhsp|agency|rate|ara|au|247|connect)"
    r"|how\s+(?:do|can|could|would|should)\s+i\s+(?:get|request|apply\s+for|obtain|have|be\s+given|set\s+up)"
    r"|\b(?:me|i)\s+(?:to\s+)?(?:get|be)\s+set\s+up\b|\bget\s+set\s+up\b)",
    re.I,
)
# "for myself and my colleague Marcus": the author asks for themselves as well as for others.
_SELF_TOO = re.compile(
    r"\bfor\s+(?:both\s+)?(?:me|myself)\s+(?:and|&|as\s+well\s+as)\b|\b(?:myself|me)\s+and\s+(?:my|our)\b"
    r"|\bboth\s+of\s+us\b|\b(?:my|our)\s+colleague\s+and\s+(?:me|myself|i)\b",
    re.I,
)
# "please grant her rate admin access too": what is asked here comes on top of what was asked before.
_ADDITIVE = re.compile(r"\b(?:also|too|as\s+well|additionally|in\s+addition)\b", re.I)
_SINGULAR_PRONOUN = re.compile(r"\b(?:she|he|her|him|his|hers)\b", re.I)
_ACCESS_INTENT = re.compile(
    r"\b(?:access|log-?ins?|log\s+in|logon|accounts?|set\s+(?:\w+\s+){0,3}?up|setup|usernames?)\b",
    re.I,
)
# Asking to take access away is not asking for it ("please remove his Agency User access").
_REMOVAL = re.compile(
    r"\b(?:remov|revok|disabl|deactivat|delet|clos|cancel|suspend|terminat|withdraw)\w*\b[^.?!]{0,60}"
    r"\b(?:access|log-?ins?|accounts?|users?|nhsp|agency|connect|247)\b"
    r"|\b(?:has|have|had)\s+left\b|\bleft\s+(?:us|the\s+(?:company|business|agency|organisation))\b|\bleavers?\b",
    re.I,
)
_DONE = re.compile(
    r"\bthank(?:s|\s+you)\b[^.?!]{0,60}\bfor\b|\b(?:has|have|had|was|were|got|been|is|are)\s+(?:now\s+|all\s+|both\s+)?"
    r"(?:been\s+)?(?:set\s+up|created|enabled|sorted|activated|working)\b|\bup\s+and\s+running\b"
    r"|\b(?:already|currently)\s+(?:have|has|got|holds?|uses?)\b",
    re.I,
)
_DIRECT_ASK = re.compile(r"\?|\b(?:please|pls|could\s+you|can\s+you|would\s+you|i'?d\s+like|we'?d\s+like|also\s+need)\b", re.I)
_THIRD_PERSON = re.compile(r"\b(?:him|her|them|they|he|she|his|their|hers)\b", re.I)


@dataclass(frozen=True, slots=True)
class RequestedAccess:
    """One (person, access) pair asked for; None where the message does not say."""

    name: str | None
    email: str | None
    access: str | None


@dataclass(frozen=True)
class Extraction:
    requests: tuple[RequestedAccess, ...] = ()
    topics: tuple[str, ...] = ()
    stated_title: str | None = None
    cut_short: bool = False  # some text was past MAX_TEXT and not read


def _asked_in_paragraph(units: list[Unit], mentions: list[list[str]]) -> list[list[str]]:
    """Only the access named where something is asked (in the unit's paragraph): in a message about a
    missing shift, "it isn't showing on NHSP:Online" reports a problem, it asks for no access."""
    asked = {(u.source, u.paragraph) for u in units if u.kind != "subject" and _ASKING.search(u.text)}
    return [found if units[i].kind != "subject" and (units[i].source, units[i].paragraph) in asked else []
            for i, found in enumerate(mentions)]


class Extractor:
    """Reads requests out of messages, by the phrases of one policy."""

    def __init__(self, policy: Policy, mailbox_address: str):
        self.policy = policy
        self.access = AccessFinder.from_policy(policy)
        self.topics = TopicFinder.from_policy(policy)
        self.own_domains = frozenset({mailbox_address.lower().rsplit("@", 1)[-1]})

    def units(self, email: Email) -> list[Unit]:
        units: list[Unit] = []
        if subject_kind(email.subject) != "reply" and email.subject.strip():
            subject = _SUBJECT_PREFIXES.sub("", email.subject)
            units.append(Unit(subject, 0, -1, "subject", email.sender))
        units.extend(units_of(email.body.new_text[:MAX_TEXT], 1, email.sender, 0))
        for number, forward in enumerate(email.forwards):
            author = forward.sender if forward.sender and forward.sender.email else None
            units.extend(units_of(forward.body.new_text[:MAX_TEXT], 2 + number, author, 1000 * (number + 1)))
        return units

    def extract(self, email: Email) -> Extraction:
        units = self.units(email)
        whole = "\n".join(u.text for u in units)

        def each(test, applies: bool) -> list:
            """test(text) for each unit; one search of the whole text first spares them when it cannot apply."""
            return [test(u.text) for u in units] if applies else [type(test(""))() for _ in units]

        password_units = each(asks_password_help, mentions_password(whole))
        removals = each(lambda t: bool(_REMOVAL.search(t)), bool(_REMOVAL.search(whole)))
        # "Thanks for getting Ravi set up - both are up and running": a report of what is done, not a request.
        done = each(lambda t: bool(_DONE.search(t) and not _DIRECT_ASK.search(t)), bool(_DONE.search(whole)))
        not_asking = [r or d for r, d in zip(removals, done)]
        found = each(lambda t: [a for _, a in self.access.mentions(t)], bool(self.access.any_access.search(whole)))
        mentions = [[] if password_units[i] or not_asking[i] else found[i] for i in range(len(units))]
        topics: list[str] = []
        if self.topics.any_topic.search(whole):
            for unit in units:
                topics.extend(t for t in self.topics.raised(unit.text) if t not in topics)
        if topics:
            mentions = _asked_in_paragraph(units, mentions)
        intent = each(lambda t: bool(_ACCESS_INTENT.search(t)), bool(_ACCESS_INTENT.search(whole)))
        asks_access = [bool(mentions[i] or (intent[i] and not not_asking[i])) for i in range(len(units))]
        asking = bool(_ASKING.search(whole)) or any(mentions) or any(password_units)

        finder = PeopleFinder(units, email.sender, self.own_domains, asks_access)
        if asking:
            finder.from_emails()
            finder.from_names(include_subject=False)
            self._self_requests(units, mentions, finder)
            self._password_help(units, password_units, finder)
            finder.merge()
            self._references(units, mentions, finder)
            if not finder.people and any(mentions):
                finder.from_names(include_subject=True)
            if not finder.people:
                self._nameless(units, mentions, finder)
        requests = self._requests(units, mentions, asks_access, finder.people, email)
        texts = [email.body.new_text, *(f.body.new_text for f in email.forwards)]
        cut_short = any(len(t) > MAX_TEXT for t in texts)
        return Extraction(tuple(requests), tuple(topics), stated_title(email.body.signature), cut_short)

    def _self_requests(self, units: list[Unit], mentions: list[list[str]], finder: PeopleFinder) -> None:
        """The author asks for access for themselves: 'could you set me up as an agency user?'"""
        for index, unit in enumerate(units):
            if unit.kind == "subject" or not mentions[index] or not _SELF.search(unit.text):
                continue
            author = unit.author or finder.sender
            others = [n for start, end, n in finder.names_in(index)
                      if is_target(unit, start, end) and not (author and finder._is_author_name(index, n))]
            other_emails = [e for _, e in emails_in(unit.text) if not finder._is_author_email(index, e) and not finder._is_own(e)]
            if not others and not other_emails and not _THIRD_PERSON.search(unit.text) or _SELF_TOO.search(unit.text):
                finder.author_person(index)

    def _references(self, units: list[Unit], mentions: list[list[str]], finder: PeopleFinder) -> None:
        """A sentence asking for access for someone found already: by their first name ("Adaeze is also taking
        over our rate cards, so please grant her rate admin access") or by a pronoun ("could she also have ARA")."""
        anchored = {i for p in finder.people for i in p.anchors}
        for index, unit in enumerate(units):
            if unit.kind != "sentence" or index in anchored or not mentions[index] or emails_in(unit.text):
                continue
            names = [n for _, _, n in finder.names_in(index) if not finder._is_author_name(index, n)]
            named = {id(p): p for n in names for p in finder.people if _same_person(n, p.name)}
            if named:  # one person found already is named here: it is about them (two: it cannot be told)
                if len(named) == 1:
                    next(iter(named.values())).anchors.append(index)
                continue
            if _SINGULAR_PRONOUN.search(unit.text) and not _SELF.search(unit.text):
                earlier = [p for p in finder.people if any(a < index and units[a].source == unit.source for a in p.anchors)]
                if earlier:
                    max(earlier, key=lambda p: max(a for a in p.anchors if a < index)).anchors.append(index)

    def _password_help(self, units: list[Unit], password_units: list[bool], finder: PeopleFinder) -> None:
        """Whoever a password question is about: the author ('my password') or the person it names."""
        for index, unit in enumerate(units):
            if not password_units[index] or unit.kind == "subject":
                continue
            if first_person(unit.text):
                finder.author_person(index).password_help = True
                continue
            named = [p for p in finder.people if index in p.anchors and not p.is_author]
            if not named:  # "Hamish can't log in": the person the question is about, even by first name
                named = [
                    finder.add_named(n, index)
                    for _, _, n in finder.names_in(index)
                    if not finder._is_author_name(index, n)
                ]
            if not named and _THIRD_PERSON.search(unit.text):
                named = [p for p in finder.people if any(a < index and units[a].source == unit.source for a in p.anchors)][-1:]
            for person in named or [finder.author_person(index)]:
                person.password_help = True
                if index not in person.anchors:
                    person.anchors.append(index)

    def _nameless(self, units: list[Unit], mentions: list[list[str]], finder: PeopleFinder) -> None:
        """Access asked for without saying for whom: one request with no name and no address."""
        for index, unit in enumerate(units):
            if unit.kind != "subject" and mentions[index] and _ASKING.search(unit.text):
                finder.people.append(Person(None, None, [index]))
                return

    def _requests(self, units, mentions, asks_access, people: list[Person], email: Email) -> list[RequestedAccess]:
        owned = {i for p in people for i in p.anchors if mentions[i]}
        requests: list[RequestedAccess] = []
        for person in sorted(people, key=lambda p: min(p.anchors) if p.anchors else 0):
            accesses = self._bind(person, units, mentions, owned)
            if person.password_help:
                accesses.append(PASSWORD_HELP)
            name = person.name
            if person.is_author and not name and email.body.signature:
                name = signed_name(email.body.signature)
            if not accesses and not person.password_help and not self._wants_access(person, units, asks_access):
                continue  # a name or address mentioned, but nothing asked for them
            for access in accesses or [None]:
                request = RequestedAccess(clean_name(name), person.email, access)
                if request not in requests:
                    requests.append(request)
        return requests

    def _wants_access(self, person: Person, units: list[Unit], asks_access: list[bool]) -> bool:
        """Does the text around a person ask for access of some kind, even without naming it?"""
        paragraphs = {(units[i].source, units[i].paragraph) for i in person.anchors}
        return any(
            asks_access[i] and _ASKING.search(u.text)
            for i, u in enumerate(units)
            if (u.source, u.paragraph) in paragraphs or u.kind == "subject"
        )

    def _bind(self, person: Person, units: list[Unit], mentions: list[list[str]], owned: set[int]) -> list[str]:
        """The access levels a person is asked for: said beside them, else in their paragraph, else in the message."""
        mine = set(person.anchors)
        found = [m for i in person.anchors for m in mentions[i]]
        if not found and not person.password_help:
            paragraphs = {(units[i].source, units[i].paragraph) for i in person.anchors}
            found = [m for i, u in enumerate(units) for m in mentions[i]
                     if (u.source, u.paragraph) in paragraphs and (i not in owned or i in mine)]
        general = [m for i in range(len(units)) if i not in owned for m in mentions[i]]
        if not found and not person.password_help:
            found = general
        elif found and any(mentions[i] and _ADDITIVE.search(units[i].text) for i in person.anchors if units[i].kind == "sentence"):
            found = found + general
        return resolve_platforms(found, self.policy)
