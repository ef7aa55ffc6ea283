"""Before any automatic reply: is the reading sure enough? Says, in plain words for the desk, what is doubtful."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from mailbot.extract.bind import RequestedAccess
from mailbot.extract.lexicon import Lexicon
from mailbot.extract.names import same_person, spelling
from mailbot.extract.people import Person
from mailbot.parse.message import Address


def doubts(requests: list[RequestedAccess], people: list[Person], lexicon: Lexicon, sender: Address | None) -> tuple[str, ...]:
    """What makes the reading of these requests doubtful; empty when nothing does."""
    found: list[str] = []
    for person in people:
        if person.context is None and any(r.email == person.email and r.name == person.name for r in requests):
            found.extend(person.doubts)
    sender_name = sender.name if sender else ""
    for request in {(r.name, r.email): r for r in requests}.values():
        name, email = request.name, request.email
        if email:
            try:
                validate_email(email, check_deliverability=False)
            except EmailNotValidError:
                found.append(f"{email} is not a whole, valid address")
        if not name:
            continue
        if email and _contradicts(name, email, lexicon):
            found.append(f"the name {name} does not match the address {email}")
        spelled = bool(email) and spelling(name, email, lexicon.forms_of) >= 2  # grace.whitby@ for Grace Whitby
        if lexicon.is_organisation(name) and not spelled:
            found.append(f"{name} is named like an organisation, not a person")
        elif len(name.split()) == 1 and lexicon.is_place(name) and not lexicon.is_given_name(name) and not spelled:
            found.append(f"{name} is the name of a place")
        if any(lexicon.is_role_word(w) for w in name.split()):
            found.append(f"{name} reads like a job title or a team")
        if sender_name and same_person(name, sender_name) and (not email or not sender or email.lower() != sender.key):
            found.append(f"{name} is the sender's own name, given for another address")
    return tuple(dict.fromkeys(found))


def _contradicts(name: str, email: str, lexicon: Lexicon) -> bool:
    """A first.last address that spells no part of the name: one of the two belongs to someone else."""
    local = email.split("@", 1)[0].lower()
    pieces = [p for p in re.split(r"[._\-+]+", local) if p.isalpha() and len(p) >= 2]
    return len(pieces) >= 2 and spelling(name, email, lexicon.forms_of) == 0
