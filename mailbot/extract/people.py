"""Works out who is asked for: each person's name and work email, and the units that mention them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailbot.extract.names import clean_name, find_names, fold, local_part_score
from mailbot.extract.units import Unit, emails_in, record_fields
from mailbot.parse.message import Address

ROLE_ADDRESSES = frozenset(
    """info hr admin administrator enquiries enquiry recruitment privacy dpo compliance accounts finance payroll
    office support it it.support itsupport noreply no-reply donotreply do-not-reply bookings booking contact hello
    jobs careers reception team mail post postmaster mailer-daemon sales marketing legal data dataprotection gdpr
    helpdesk service services general operations ops""".split()
)
_CONTACT = re.compile(
    r"\b(?:contact|copied|cc'?d|cc|reply\s+to|get\s+in\s+touch|reach\s+(?:me|us)|speak\s+to|call|forward(?:ed)?\s+to"
    r"|sent\s+to|send\s+(?:it|them|this)\s+to|email\s+me|copy(?:ing)?\s+in|queries)\b",
    re.I,
)
_PRONOUN = re.compile(r"\b(?:his|her|their|s?he|they|them|him)\b", re.I)
_EMAIL_LABEL = re.compile(r"^\s*(?:(?:work|business|her|his|their)\s+)?e-?mail(?:\s+address)?\s*(?:is|:|-|–)?", re.I)
_BEFORE_TARGET = re.compile(
    r"(?:\bset(?:ting)?\s+up|\bsetup|\bgive|\bgiving|\badd|\badding|\benable|\benabling|\bregister|\bregistering|\bgrant"
    r"|\bgranting|\bcreate|\bcreating|\bprovide|\bproviding|\barrange|\brequest(?:ing)?|\bfor|\bnew\s+starters?"
    r"|\bnew\s+(?:user|joiner|member\s+of\s+(?:staff|the\s+team))s?|\bcolleague|\bemployee)"
    r"\s+(?:(?:access|(?:a|an)\s+(?:login|account)|logins?)\s+for\s+)?(?:(?:our|my|the|a|an|his|her)\s+)?"
    r"(?:(?!(?:in|at|from|of|on|to|with|by|near)\b)[a-z][\w-]*,?\s+){0,4}?[,:\-–]?\s*$"
)
_ITEM_NAME_END = re.compile(r"^\s*(?:$|[-–—:|,(<\t]|\S+@)")
# A single capitalised word followed by a lower-case word that is not a verb, preposition or the like
# qualifies that word ("Newport clinicians") rather than naming a person ("Becky as", "Ellie needs").
_ATTRIBUTIVE = re.compile(
    r"^\s+(?!(?:as|is|are|was|were|has|have|had|will|would|can|could|should|may|might|must|needs?|requires?|joins?|joined"
    r"|start(?:s|ed|ing)?|to|and|or|with|on|for|from|at|in|up|please|who|whose|which|that|also|too|today|now|asap"
    r"|urgently|again|straight|soon|please|here|there|by|via|into|onto|who's|whom|if|so|but|be|been|being|access)\b)[a-z]"
)
_THANKS_FOR = re.compile(r"\bthank(?:s|\s+you)\b[^.!?]{0,40}\bfor\s+(?:[\w'’-]+\s+){0,3}$", re.I)  # something already done
_PLACE_AFTER = re.compile(
    r"^\s+(?:office|offices|branch|branches|team|teams|site|clinic|hospital|ward|area|region|location|depot|hub|based)\b",
    re.I,
)
_SET_BEFORE = re.compile(r"\bset\s+$|\b(?:can|could|would|please)\s+$", re.I)
_SET_AFTER = re.compile(r"^\s+(?:up|be|have|get|also)\b", re.I)
_AFTER_TARGET = re.compile(
    r"^\s*+(?:\([^)]{0,200}+\)\s*+)?(?:,\s*+)?(?:needs|requires|will\s+need|would\s+need|also\s+needs|has\s+(?:just\s+)?joined"
    r"|is\s+joining|joins|has\s+(?:just\s+)?started|is\s+starting|starts|will\s+be\s+starting|to\s+be\s+set\s+up"
    r"|be\s+set\s+up|as\s+(?:an?\s+)?(?:agency|rate|nhsp|247|user|administrator|ara|au)\b)",
    re.I,
)
_SUBJECT_TARGET = re.compile(
    r"(?:access|login|log-in|logins|account|user|administrator|admin|ara|au|connect|online|time|request|starter)\s*(?:for|[-–:])\s*$",
    re.I,
)


@dataclass
class Person:
    """A person asked for, while the extraction is being worked out."""

    name: str | None
    email: str | None
    anchors: list[int] = field(default_factory=list)
    is_author: bool = False
    password_help: bool = False

    @property
    def key(self) -> str | None:
        return self.email.lower() if self.email else None


def _same_person(name: str | None, other: str | None) -> bool:
    if not name or not other:
        return False
    a, b = fold(name), fold(other)
    if a == b:
        return True
    first_a, first_b = (fold(t) for t in (name.split()[0], other.split()[0]))
    # "Ruth" and "Ruth Adeyemi", or "Mrs J Oyelaran" and "Janet Oyelaran" (initial and surname)
    if len(name.split()) == 1 or len(other.split()) == 1:
        return first_a == first_b
    last_a, last_b = fold(name.split()[-1]), fold(other.split()[-1])
    return last_a == last_b and first_a[:1] == first_b[:1] and (len(first_a) == 1 or len(first_b) == 1)


def is_target(unit: Unit, start: int, end: int, asks_access: bool = True) -> bool:
    """Is the name at text[start:end] the person access is asked for (not a bystander)?"""
    before, after = unit.text[max(0, start - 80) : start], unit.text[end:]
    if _PLACE_AFTER.match(after) or _THANKS_FOR.search(before):
        return False
    if " " not in unit.text[start:end].strip() and _ATTRIBUTIVE.match(after):
        return False  # "the Borders shifts", "our Newport clinicians": a place or a team, not a person
    if unit.kind == "subject":
        return bool(_SUBJECT_TARGET.search(before)) or not before.strip()
    if unit.kind in ("item", "record") and not re.search(r"\w", unit.text[:start]) and _ITEM_NAME_END.match(after):
        return True  # a list of people: each item starts with a name, then a separator
    return asks_access and bool(
        _BEFORE_TARGET.search(before)
        or (_SET_BEFORE.search(before) and _SET_AFTER.match(after))
        or _AFTER_TARGET.match(after)
    )


def _words_spelling(before: str, email: str) -> str | None:
    """The words right before an address that spell its local part, whatever their case:
    'for kayode bello kayode.bello@...' -> 'kayode bello'."""
    words = re.findall(r"[^\W\d_][\w'’-]*", before[-80:])
    for count in (3, 2):
        candidate = " ".join(words[-count:])
        if len(words) >= count and local_part_score(candidate, email) >= 3 and before.rstrip().endswith(words[-1]):
            return candidate
    return None


class PeopleFinder:
    """Collects the people asked for across the units of one message."""

    def __init__(self, units: list[Unit], sender: Address | None, own_domains: frozenset[str], asks_access: list[bool]):
        self.units = units
        self.asks_access = asks_access  # does each unit ask for access of some kind?
        self.sender = sender
        self.own_domains = own_domains
        self.people: list[Person] = []
        self._names: list[list[tuple[int, int, str]] | None] = [None] * len(units)

    def names_in(self, index: int) -> list[tuple[int, int, str]]:
        """The name candidates of one unit (found once, when first needed)."""
        found = self._names[index]
        if found is None:
            unit = self.units[index]
            found = self._names[index] = find_names(unit.text, surname_first=unit.kind != "sentence")
        return found

    def names_near(self, index: int, reach: int = 6) -> list[str]:
        """Names an address given in this unit may belong to: the authors', the subject's, and nearby units'."""
        authors = [clean_name(u.author.name) for u in self.units if u.author and u.author.name]
        near = [i for i, u in enumerate(self.units) if u.kind == "subject" or abs(i - index) <= reach]
        return list(dict.fromkeys([n for n in authors if n] + [n for i in near for _, _, n in self.names_in(i)]))

    # -- people ------------------------------------------------------------------------------------

    def author_person(self, unit_index: int) -> Person:
        author = self.units[unit_index].author or self.sender
        name = clean_name(author.name) if author else None
        return self._add(Person(name if name and "@" not in name else None, author.email if author else None, [unit_index], is_author=True))

    def _add(self, person: Person) -> Person:
        for existing in self.people:
            if person.key and existing.key == person.key or (
                not person.key and not existing.key and person.name and fold(person.name or "") == fold(existing.name or "")
            ):
                existing.anchors.extend(a for a in person.anchors if a not in existing.anchors)
                existing.name = existing.name or person.name
                existing.is_author = existing.is_author or person.is_author
                return existing
        self.people.append(person)
        return person

    def _is_own(self, email: str) -> bool:
        return email.lower().rsplit("@", 1)[-1] in self.own_domains

    def _is_author_email(self, index: int, email: str) -> bool:
        author = self.units[index].author
        return any(a is not None and a.key == email.lower() for a in (author, self.sender))

    def from_emails(self) -> None:
        """A person for each address given in a request unit, with the name that goes with it."""
        for index, unit in enumerate(self.units):
            if unit.kind == "subject":
                continue
            fields = record_fields(unit) if unit.kind == "record" else {}
            for position, email in emails_in(unit.text):
                if self._is_own(email):
                    continue
                if self._is_author_email(index, email):
                    person = self.author_person(index)
                    if fields.get("name"):
                        person.name = clean_name(fields["name"]) or person.name
                    continue
                name = self._name_for(index, position, email, fields)
                local = email.split("@", 1)[0].lower()
                if name is None and (local in ROLE_ADDRESSES or local.split(".")[0] in ROLE_ADDRESSES):
                    continue
                if _CONTACT.search(unit.text) and not self._asks(unit):
                    continue  # "I've copied in Mark (mark@...)", "queries to hr@..."
                self._add(Person(name, email, [index]))

    def _asks(self, unit: Unit) -> bool:
        return bool(re.search(r"\b(?:set|setup|access|login|account|user|please|could you|can you)\b", unit.text, re.I))

    def _name_for(self, index: int, position: int, email: str, fields: dict[str, str]) -> str | None:
        unit = self.units[index]
        if fields.get("name"):
            return clean_name(fields["name"])
        if unit.cells and unit.labels:
            by_label = dict(zip(unit.labels, unit.cells))
            first = next((c for l, c in by_label.items() if re.search(r"first|fore|given", l) and c), None)
            last = next((c for l, c in by_label.items() if re.search(r"sur|last|family", l) and c), None)
            if first and last:
                return clean_name(f"{first} {last}")  # "First name,Surname,Email"
            for label, cell in by_label.items():
                if "name" in label and "user" not in label and cell and "@" not in cell:
                    return clean_name(cell)
        in_unit = [(s, e, n) for s, e, n in self.names_in(index)]
        best = max(((local_part_score(n, email), -abs(s - position), n) for s, _, n in in_unit), default=None)
        if best and best[0] >= 2:
            return best[2]
        scored = sorted(((local_part_score(n, email), n) for n in self.names_near(index)), key=lambda x: (-x[0], -len(x[1])))
        if scored and scored[0][0] >= 2:
            # prefer the fullest form of the matching name ("Aoife Brennan" over "Aoife")
            top = scored[0][0]
            candidates = [n for s, n in scored if s == top]
            return max(candidates, key=lambda n: len(n.split()))
        others = [p for p, _ in emails_in(unit.text) if p != position]
        before = [(s, e, n) for s, e, n in in_unit if e <= position and not any(e <= p < position for p in others)]
        if before and position - before[-1][1] <= 80:
            return before[-1][2]
        after = [(s, e, n) for s, e, n in in_unit if s > position and not any(position < p < s for p in others)]
        if after and re.match(r"^[^\w]{0,4}$", unit.text[position + len(email) : after[0][0]]):
            return after[0][2]
        spelled = _words_spelling(unit.text[:position], email)
        if spelled:
            return spelled
        if _PRONOUN.search(unit.text) or _EMAIL_LABEL.match(unit.text) or unit.text.strip() == email:
            for earlier in range(index - 1, -1, -1):
                if self.units[earlier].source != unit.source:
                    break
                for person in reversed(self.people):
                    if person.email is None and earlier in person.anchors:
                        self.people.remove(person)
                        return person.name
                targets = [n for s, e, n in self.names_in(earlier) if is_target(self.units[earlier], s, e)]
                if targets:
                    return targets[-1]
        return None

    def from_names(self, include_subject: bool) -> None:
        """A person for each name something is asked for but no address was given with."""
        for index, unit in enumerate(self.units):
            if unit.kind == "subject" and not include_subject or unit.kind == "sentence" and not self.asks_access[index]:
                continue  # a sentence that asks for no access names nobody it is asked for
            if unit.kind in ("item", "record") and "@" in unit.text:
                continue  # a row with an address: its person came with the address
            for start, end, name in self.names_in(index):
                if not is_target(unit, start, end, self.asks_access[index]) or self._is_author_name(index, name):
                    continue
                match = next((p for p in self.people if _same_person(name, p.name)), None)
                if match is not None:
                    if index not in match.anchors:
                        match.anchors.append(index)
                    if match.name and len(name.split()) > len(match.name.split()) and match.email and local_part_score(name, match.email):
                        match.name = name
                    continue
                self._add(Person(name, None, [index]))

    def add_named(self, name: str, index: int) -> Person:
        """The person of this name (known already, or new), anchored at this unit."""
        match = next((p for p in self.people if _same_person(name, p.name)), None)
        if match is None:
            return self._add(Person(name, None, [index]))
        if index not in match.anchors:
            match.anchors.append(index)
        return match

    def merge(self) -> None:
        """Fold a person known only by name into the person with an address who has that name."""
        for person in list(self.people):
            if person.email is not None:
                continue
            match = next((p for p in self.people if p is not person and p.email and _same_person(person.name, p.name)), None)
            if match is not None:
                match.anchors.extend(a for a in person.anchors if a not in match.anchors)
                match.password_help = match.password_help or person.password_help
                self.people.remove(person)

    def _is_author_name(self, index: int, name: str) -> bool:
        authors = [a for a in (self.units[index].author, self.sender) if a and a.name]
        return any(_same_person(name, clean_name(a.name)) for a in authors)
