"""Reading one-line messages in tests: a message from an authenticated manager of the test directory, and what
each step of the reader makes of it."""

from __future__ import annotations

from mailbot.parse import parse_email
from mailbot.triage import Triage

SENDER = "Maria Santos <maria.santos@harrowgatenursing.co.uk>"


def message(body: str, subject: str = "Access", sender: str = SENDER) -> bytes:
    domain = sender.rsplit("@", 1)[1].rstrip(">")
    return (f"Authentication-Results: mx.nhsprofessionals.nhs.uk; dmarc=pass header.from={domain}\n"
            f"From: {sender}\nTo: agencies@nhsprofessionals.nhs.uk\nSubject: {subject}\nMessage-ID: <t@{domain}>\n"
            f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


def notes(engine: Triage, body: str, subject: str = "Access"):
    """The annotated units of a message with this body."""
    extractor = engine.extractor
    email = parse_email(message(body, subject))
    return [extractor.annotator.note(index, unit) for index, unit in enumerate(extractor.units(email))]


def requests(engine: Triage, body: str, subject: str = "Access", sender: str = SENDER) -> list[tuple]:
    """(name, email, access) of each request read from a message with this body."""
    extraction = engine.extractor.extract(parse_email(message(body, subject, sender)))
    return [(r.name, r.email, r.access) for r in extraction.requests]


def doubts(engine: Triage, body: str, subject: str = "Access") -> tuple[str, ...]:
    return engine.extractor.extract(parse_email(message(body, subject))).doubts
