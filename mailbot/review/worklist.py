"""The provisioning worklist: approved requests a person still has to create the login for."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Mapping

from sqlalchemy import select

from mailbot.csv_cells import write_rows
from mailbot.store import Store, utcnow
from mailbot.store.models import AuditEntry, Message, Request


@dataclass(frozen=True)
class WorkItem:
    request_id: int
    message_id: int
    name: str | None
    email: str | None
    organisation: str | None
    access: str | None
    endorser: str | None
    approved_at: datetime | None
    approved_by: str | None
    duplicate_of: int | None  # an earlier request for the same person and access, approved or done
    warnings: tuple[str, ...] = ()  # asked_again (requested again since), address_bounced (not to provision yet)

    @property
    def held(self) -> bool:
        """Not to be provisioned until a person looks: mailbot's reply to this address bounced."""
        return "address_bounced" in self.warnings


def open_items(store: Store) -> list[WorkItem]:
    """Approved requests not yet done, oldest first; a repeat of one already approved or done is flagged."""
    with store.session() as session:
        rows = session.execute(
            select(Request, Message).join(Message, Request.message_id == Message.id)
            .where(Request.outcome == "approved", Request.approved_by.is_not(None)).order_by(Request.approved_at, Request.id)
        ).all()
    first: dict[tuple[str, str], int] = {}
    items = []
    for request, message in rows:
        key = ((request.email or request.name or "").lower(), request.access or "")
        duplicate_of = first.get(key)
        first.setdefault(key, request.id)
        if request.provisioned_at is not None:
            continue
        endorser = message.endorser or {}
        items.append(WorkItem(request.id, message.id, request.name, request.email, endorser.get("organisation"), request.access,
                              endorser.get("email") or message.sender, request.approved_at, request.approved_by, duplicate_of,
                              tuple(request.warnings or ())))
    return items


def mark_done(store: Store, request_id: int, actor: str) -> bool:
    """Record that the login was created; False when it was marked done already, or its address bounced and nobody
    has looked yet (clear the warning first)."""
    now = utcnow()
    with store.session() as session:
        request = session.get(Request, request_id, with_for_update=True)
        if request is None or request.provisioned_at is not None or request.outcome != "approved":
            return False
        if "address_bounced" in (request.warnings or []):
            return False
        request.provisioned_at, request.provisioned_by = now, actor
        session.add(AuditEntry(at=now, actor=actor, action="login_created", message_id=request.message_id,
                               detail={"request": request.id, "name": request.name, "email": request.email, "access": request.access}))
    return True


@dataclass(frozen=True)
class DoneItem:
    request_id: int
    name: str | None
    email: str | None
    access: str | None
    done_at: datetime
    done_by: str | None


def recently_done(store: Store, days: int = 7) -> list[DoneItem]:
    """Logins marked created in the last `days`, newest first: what "undo" can bring back."""
    since = utcnow() - timedelta(days=days)
    with store.session() as session:
        rows = session.scalars(select(Request).where(Request.provisioned_at.is_not(None), Request.provisioned_at >= since)
                               .order_by(Request.provisioned_at.desc(), Request.id.desc()).limit(200))
        return [DoneItem(r.id, r.name, r.email, r.access, r.provisioned_at, r.provisioned_by) for r in rows]


def undo_done(store: Store, request_id: int, actor: str) -> bool:
    """A login marked created by mistake goes back on the worklist; audited. False when it was not marked done."""
    now = utcnow()
    with store.session() as session:
        request = session.get(Request, request_id, with_for_update=True)
        if request is None or request.provisioned_at is None:
            return False
        was = {"at": request.provisioned_at.isoformat(), "by": request.provisioned_by}
        request.provisioned_at, request.provisioned_by = None, None
        session.add(AuditEntry(at=now, actor=actor, action="login_unmarked", message_id=request.message_id,
                               detail={"request": request.id, "name": request.name, "email": request.email, "was": was}))
    return True


def as_csv(items: list[WorkItem], labels: Mapping[str, str] | None = None) -> str:
    """The worklist as CSV: ids with their labels beside them ("agency_user", "NHSP:Online Agency User (AU)"), times in
    ISO 8601 with their zone, to the second. No cell a spreadsheet would run (names and addresses come from mail)."""
    labels = labels or {}
    out = io.StringIO()
    header = ["name", "work_email", "organisation", "access", "endorser", "approved_at", "approved_by", "duplicate_of", "warnings",
              "access_label"]
    write_rows(out, [header, *([item.name, item.email, item.organisation, item.access, item.endorser, _when(item.approved_at),
                                item.approved_by, item.duplicate_of or "", " ".join(item.warnings), labels.get(item.access or "", "")]
                               for item in items)])
    return out.getvalue()


def _when(moment: datetime | None) -> str:
    """2026-12-03T14:05:09+00:00: the database's time (UTC), its zone said, no microseconds."""
    if moment is None:
        return ""
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    return moment.replace(microsecond=0).isoformat()
