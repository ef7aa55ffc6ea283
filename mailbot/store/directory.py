"""The directory in the database, its source of truth once imported: read for deciding, edited on the desk,
imported from CSV files only where that loses no edit, exported back as CSV."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbot.directory import Directory
from mailbot.directory import Organisation as OrganisationEntry
from mailbot.directory import Person as PersonEntry
from mailbot.store import Store, utcnow
from mailbot.store.models import AuditEntry, DirectoryState, Organisation, Person


class Change(str, enum.Enum):
    """What the audit trail calls each change to the directory."""

    IMPORTED = "directory_imported"
    IMPORT_REFUSED = "directory_import_refused"
    PERSON_EDITED = "directory_edited"
    PERSON_ADDED = "directory_person_added"
    PERSON_REMOVED = "directory_person_removed"
    ORGANISATION_ADDED = "directory_organisation_added"
    ORGANISATION_EDITED = "directory_organisation_edited"
    ORGANISATION_REMOVED = "directory_organisation_removed"


DESK_EDITS = frozenset(c.value for c in Change if c not in (Change.IMPORTED, Change.IMPORT_REFUSED))


class ImportRefused(Exception):
    """The directory was edited on the desk since its last import: importing would lose those edits."""


@dataclass
class ImportSummary:
    organisations: int = 0
    people: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # desk edits a merge kept over the files

    def line(self) -> str:
        parts = [f"{self.organisations} organisations", f"{self.people} people"]
        for label, emails in (("added", self.added), ("removed", self.removed), ("changed", self.changed),
                              ("kept from the desk", self.kept)):
            if emails:
                parts.append(f"{label}: {', '.join(sorted(emails))}")
        return "; ".join(parts)


# -- reading -------------------------------------------------------------------------------------------


def _state(session: Session) -> DirectoryState:
    """The state row, made on first use (a database from before it: the last import is read from the audit trail)."""
    state = session.get(DirectoryState, 1)
    if state is None:
        last = session.scalars(select(AuditEntry).where(AuditEntry.action == Change.IMPORTED.value)
                               .order_by(AuditEntry.id.desc()).limit(1)).first()
        fingerprint = (last.detail or {}).get("fingerprint") if last else None
        state = DirectoryState(id=1, revision=0, imported_fingerprint=fingerprint, imported_at=last.at if last else None)
        try:
            with session.begin_nested():  # two processes starting together on a new database both get here
                session.add(state)
        except IntegrityError:
            state = session.get(DirectoryState, 1, populate_existing=True)  # the other one made it: theirs
    return state


def _bump(session: Session, now: datetime, desk_edit: bool) -> None:
    state = _state(session)
    state.revision += 1
    if desk_edit:
        state.edited_at = now


def version(store: Store) -> int:
    """The directory's revision: it changes whenever anything in the directory changes."""
    with store.session() as session:
        state = session.get(DirectoryState, 1)
        return state.revision if state else 0


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
    with store.session() as session:
        return session.scalar(select(Person.id).limit(1)) is None and session.scalar(select(Organisation.id).limit(1)) is None


def last_import(store: Store) -> ImportSummary | None:
    """What the last import changed, from the audit trail."""
    with store.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == Change.IMPORTED.value)
                                .order_by(AuditEntry.id.desc()).limit(1)).first()
    if entry is None:
        return None
    detail = entry.detail or {}
    lists = {key: list(detail.get(key) or []) if isinstance(detail.get(key), list) else [] for key in ("added", "removed", "changed", "kept")}
    return ImportSummary(int(detail.get("organisations") or 0), int(detail.get("people") or 0), **lists)


def edited_since_import(store: Store) -> bool:
    with store.session() as session:
        return _state(session).edited_at is not None


# -- importing -----------------------------------------------------------------------------------------


def _desk_edited_people(session: Session, since: datetime | None) -> set[str]:
    """The addresses of people added, edited or removed on the desk since the last import."""
    query = select(AuditEntry.detail).where(AuditEntry.action.in_(sorted(DESK_EDITS)))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return {str(d.get("email", "")).lower() for d in session.scalars(query) if d and d.get("email")}


def import_directory(store: Store, directory: Directory, actor: str, source: str, *, fingerprint: str | None = None,
                     merge: bool = False, replace_edits: bool = False) -> ImportSummary:
    """Make the database's directory the imported one, audited with what changed.

    Over a directory edited on the desk since its last import this raises ImportRefused, unless `merge` (the
    files' people and organisations are taken, except the people edited on the desk since, who are kept as the
    desk left them; listed as kept) or `replace_edits` (the person importing chose to drop the desk's edits)."""
    now = utcnow()
    with store.session() as session:
        state = _state(session)
        edited = state.edited_at is not None
        if edited and not (merge or replace_edits):
            raise ImportRefused(
                f"the directory was edited on the desk since it was last imported ({state.edited_at:%Y-%m-%d %H:%M} UTC): "
                "importing would lose those edits; export it first, or import with --merge or --replace")
        keep = _desk_edited_people(session, state.imported_at) if edited and merge else set()
        current = {p.email.lower(): p for p in session.scalars(select(Person))}
        incoming = {p.email.lower(): p for p in directory.people.values()}
        summary = ImportSummary()
        for email in sorted(keep):
            if email in current or email in incoming:
                summary.kept.append(email)
        # organisations: the files' ones, and those the kept people belong to that the files no longer have
        organisations = {o.name: o for o in directory.organisations.values()}
        old_orgs = {o.name: o for o in session.scalars(select(Organisation))}
        keep_orgs = {current[e].organisation for e in keep if e in current} & (old_orgs.keys() - organisations.keys())
        for name, row in old_orgs.items():
            if name not in keep_orgs:
                session.delete(row)
        session.flush()
        for entry in organisations.values():
            session.add(Organisation(name=entry.name, domains=list(entry.domains), updated_at=now))
        for email, row in current.items():
            if email in keep:
                continue
            entry = incoming.get(email)
            if entry is None:
                session.delete(row)
                summary.removed.append(email)
            elif (row.name, row.organisation, row.title, row.seniority) != (entry.name, entry.organisation, entry.title, entry.seniority):
                row.name, row.organisation, row.title, row.seniority, row.updated_at = (
                    entry.name, entry.organisation, entry.title, entry.seniority, now)
                summary.changed.append(email)
        for email, entry in incoming.items():
            if email not in current and email not in keep:
                session.add(Person(email=email, name=entry.name, organisation=entry.organisation, title=entry.title,
                                   seniority=entry.seniority, updated_at=now))
                summary.added.append(email)
        session.flush()
        summary.organisations = len(organisations) + len(keep_orgs)
        summary.people = len((incoming.keys() - keep) | (keep & (current.keys() | incoming.keys())))
        state.revision += 1
        state.imported_at, state.edited_at = now, None
        if fingerprint is not None:
            state.imported_fingerprint = fingerprint
        session.add(AuditEntry(at=now, actor=actor, action=Change.IMPORTED.value, detail={
            "source": source, "merge": merge, "replaced_desk_edits": bool(edited and replace_edits),
            "organisations": summary.organisations, "people": summary.people, "added": summary.added,
            "removed": summary.removed, "changed": summary.changed, "kept": summary.kept,
            **({"fingerprint": fingerprint} if fingerprint else {})}))
    return summary


def follow_files(store: Store, directory: Directory, fingerprint: str) -> str | None:
    """Import the configured CSV files when the database has no directory yet, or when the files changed
    since they were last imported and nobody edited the directory on the desk since.

    Returns None when nothing was to be done, "imported", or the one-line reason the files were not
    imported (desk edits would be lost); that refusal is audited once per version of the files."""
    with store.session() as session:
        state = _state(session)
        if state.imported_fingerprint == fingerprint and (state.revision or state.imported_at):
            return None
        already_refused = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == Change.IMPORT_REFUSED.value)
            .order_by(AuditEntry.id.desc()).limit(1)).first()
    try:
        import_directory(store, directory, "mailbot", "config files", fingerprint=fingerprint)
    except ImportRefused as refused:
        if not already_refused or already_refused.get("fingerprint") != fingerprint:
            store.audit(Change.IMPORT_REFUSED.value, fingerprint=fingerprint, reason=str(refused))
        return str(refused)
    except IntegrityError:  # another process started at the same moment and imported them first
        return None
    return "imported"


# -- editing on the desk ---------------------------------------------------------------------------------


def edit_person(store: Store, email: str, actor: str, **changes: str) -> dict[str, tuple[str, str]]:
    """Change a person's name, title, organisation or seniority; audited field by field (before -> after)."""
    now = utcnow()
    with store.session() as session:
        person = session.scalar(select(Person).where(Person.email == email.strip().lower()))
        if person is None:
            raise KeyError(email)
        changed = {}
        for name in ("name", "title", "organisation", "seniority"):
            new = changes.get(name)
            if new is not None and new != getattr(person, name):
                changed[name] = (getattr(person, name), new)
                setattr(person, name, new)
        if changed:
            person.updated_at = now
            _bump(session, now, desk_edit=True)
            session.add(AuditEntry(at=now, actor=actor, action=Change.PERSON_EDITED.value,
                                   detail={"email": person.email, "changes": {k: list(v) for k, v in changed.items()}}))
    return changed


class DirectoryRefused(Exception):
    """A directory change that cannot be made as asked (the reason says why, for the page)."""


def add_person(store: Store, email: str, name: str, organisation: str, title: str, seniority: str, actor: str,
               source: str = "desk") -> None:
    """Add a person who may endorse requests (from a held message, or on the directory page); audited."""
    email, name, title = email.strip().lower(), " ".join(name.split()), " ".join(title.split())
    if not email or "@" not in email or not name or not organisation:
        raise DirectoryRefused("a person needs a work email address, a name and an organisation")
    now = utcnow()
    with store.session() as session:
        known = session.scalars(select(Organisation)).all()
        named = next((o for o in known if o.name == organisation), None)
        if named is None:
            raise DirectoryRefused(f"no organisation called {organisation!r} in the directory")
        if email.rsplit("@", 1)[1] not in {d.lower() for d in named.domains}:
            raise DirectoryRefused(f"{email} is not on a domain of {organisation}")
        if session.scalar(select(Person).where(Person.email == email)) is not None:
            raise DirectoryRefused(f"{email} is in the directory already")
        session.add(Person(email=email, name=name, organisation=organisation, title=title or "", seniority=seniority, updated_at=now))
        _bump(session, now, desk_edit=True)
        session.add(AuditEntry(at=now, actor=actor, action=Change.PERSON_ADDED.value, detail={
            "email": email, "source": source, "after": {"name": name, "organisation": organisation, "title": title, "seniority": seniority}}))


def remove_person(store: Store, email: str, actor: str) -> bool:
    """Remove a person from the directory (their messages are held as unknown from now on); audited."""
    now = utcnow()
    with store.session() as session:
        person = session.scalar(select(Person).where(Person.email == email.strip().lower()))
        if person is None:
            return False
        before = {"name": person.name, "organisation": person.organisation, "title": person.title, "seniority": person.seniority}
        session.delete(person)
        _bump(session, now, desk_edit=True)
        session.add(AuditEntry(at=now, actor=actor, action=Change.PERSON_REMOVED.value, detail={"email": email.strip().lower(), "before": before}))
    return True


def add_organisation(store: Store, name: str, domains: list[str], actor: str) -> None:
    """Add an agency with its email domains; audited."""
    name = " ".join(name.split())
    domains = sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})
    if not name or not domains or any("." not in d or "@" in d or " " in d for d in domains):
        raise DirectoryRefused("an organisation needs a name and at least one email domain such as agency.co.uk")
    now = utcnow()
    with store.session() as session:
        for row in session.scalars(select(Organisation)):
            if row.name == name:
                raise DirectoryRefused(f"{name} is in the directory already")
            taken = set(domains).intersection(d.lower() for d in row.domains)
            if taken:
                raise DirectoryRefused(f"{', '.join(sorted(taken))} belongs to {row.name} already")
        session.add(Organisation(name=name, domains=domains, updated_at=now))
        _bump(session, now, desk_edit=True)
        session.add(AuditEntry(at=now, actor=actor, action=Change.ORGANISATION_ADDED.value, detail={"name": name, "after": {"domains": domains}}))


def remove_organisation(store: Store, name: str, actor: str) -> None:
    """Remove an agency that has nobody left in the directory; audited."""
    now = utcnow()
    with store.session() as session:
        row = session.scalar(select(Organisation).where(Organisation.name == name))
        if row is None:
            raise DirectoryRefused(f"no organisation called {name!r}")
        if session.scalar(select(Person.id).where(Person.organisation == name).limit(1)) is not None:
            raise DirectoryRefused(f"{name} still has people in the directory: remove them first")
        before = {"domains": list(row.domains)}
        session.delete(row)
        _bump(session, now, desk_edit=True)
        session.add(AuditEntry(at=now, actor=actor, action=Change.ORGANISATION_REMOVED.value, detail={"name": name, "before": before}))
