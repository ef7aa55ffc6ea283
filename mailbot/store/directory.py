"""The directory in the database: read for deciding, replaced by a CSV import, edited person by person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from mailbot.directory import Directory
from mailbot.directory import Organisation as OrganisationEntry
from mailbot.directory import Person as PersonEntry
from mailbot.store import Store, utcnow
from mailbot.store.models import AuditEntry, Organisation, Person


def version(store: Store) -> tuple[int, int, datetime | None]:
    """Changes when anything in the directory changes (counts and the latest edit)."""
    with store.session() as session:
        people = session.scalar(select(func.count(Person.id)))
        organisations = session.scalar(select(func.count(Organisation.id)))
        latest = max(
            (t for t in (session.scalar(select(func.max(Person.updated_at))), session.scalar(select(func.max(Organisation.updated_at)))) if t),
            default=None,
        )
    return people, organisations, latest


def load(store: Store) -> Directory:
    with store.session() as session:
        organisations: dict[str, OrganisationEntry] = {}
        for row in session.scalars(select(Organisation)):
            entry = OrganisationEntry(row.name, tuple(row.domains))
            for domain in row.domains:
                organisations[domain.lower()] = entry
        people = {
            row.email.lower(): PersonEntry(row.email.lower(), row.name, row.organisation, row.title, row.seniority)
            for row in session.scalars(select(Person))
        }
    return Directory.of(organisations, people)


def is_empty(store: Store) -> bool:
    return version(store)[:2] == (0, 0)


def replace(store: Store, directory: Directory, actor: str, source: str, fingerprint: str | None = None) -> dict[str, int]:
    """Make the database's directory exactly this one (a CSV import); audited with what changed."""
    now = utcnow()
    organisations = {o.name: o for o in directory.organisations.values()}
    with store.session() as session:
        before_people = {p.email: (p.name, p.organisation, p.title, p.seniority) for p in session.scalars(select(Person))}
        session.execute(delete(Person))
        session.execute(delete(Organisation))
        session.flush()
        for entry in organisations.values():
            session.add(Organisation(name=entry.name, domains=list(entry.domains), updated_at=now))
        for entry in directory.people.values():
            session.add(Person(email=entry.email, name=entry.name, organisation=entry.organisation, title=entry.title,
                               seniority=entry.seniority, updated_at=now))
        after_people = {p.email: (p.name, p.organisation, p.title, p.seniority) for p in directory.people.values()}
        summary = {
            "organisations": len(organisations),
            "people": len(after_people),
            "added": len(after_people.keys() - before_people.keys()),
            "removed": len(before_people.keys() - after_people.keys()),
            "changed": sum(1 for k in after_people.keys() & before_people.keys() if after_people[k] != before_people[k]),
        }
        detail = {"source": source, **summary, **({"fingerprint": fingerprint} if fingerprint else {})}
        session.add(AuditEntry(at=now, actor=actor, action="directory_imported", detail=detail))
    return summary


def edit_person(store: Store, email: str, actor: str, **changes: str) -> dict[str, tuple[str, str]]:
    """Change a person's name, title, organisation or seniority; audited field by field."""
    now = utcnow()
    with store.session() as session:
        person = session.scalar(select(Person).where(Person.email == email.lower()))
        if person is None:
            raise KeyError(email)
        changed = {}
        for field in ("name", "title", "organisation", "seniority"):
            new = changes.get(field)
            if new is not None and new != getattr(person, field):
                changed[field] = (getattr(person, field), new)
                setattr(person, field, new)
        if changed:
            person.updated_at = now
            session.add(AuditEntry(at=now, actor=actor, action="directory_edited",
                                   detail={"email": person.email, "changes": {k: list(v) for k, v in changed.items()}}))
    return changed


def follow_files(store: Store, directory: Directory, fingerprint: str) -> bool:
    """Import the configured CSV files when they are new or changed since they were last imported.

    Edits made on the desk last until the files change (or are imported again). Returns True when imported.
    """
    with store.session() as session:
        last = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "directory_imported").order_by(AuditEntry.id.desc()).limit(20)
        ).all()
    seen = next((d.get("fingerprint") for d in last if d.get("source") == "config files"), None)
    if seen == fingerprint and not is_empty(store):
        return False
    try:
        replace(store, directory, "mailbot", "config files", fingerprint=fingerprint)
    except IntegrityError:  # another process started at the same moment and imported them first
        return False
    return True
