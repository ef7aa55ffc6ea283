"""Retention: after the configured days, message bodies and personal data go; decisions, reasons and audit stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import null, select, update

from mailbot.store import Store, utcnow
from mailbot.store.models import AuditEntry, Message, Reply, Request


def purge(store: Store, days: int) -> dict[str, int]:
    """Purge what is personal in messages seen more than `days` ago; returns what was purged."""
    cutoff = utcnow() - timedelta(days=days)
    with store.session() as session:
        old = select(Message.id).where(Message.seen_at < cutoff,
                                       Message.sender.is_not(None) | Message.raw.is_not(None) | Message.subject.is_not(None))
        ids = list(session.scalars(old))
        if not ids:
            return {"messages": 0, "requests": 0, "replies": 0}
        counts = {"messages": len(ids)}
        session.execute(update(Message).where(Message.id.in_(ids))
                        .values(raw=None, subject=None, sender=None, endorser=null(), error=None))
        counts["requests"] = session.execute(update(Request).where(Request.message_id.in_(ids), Request.email.is_not(None) | Request.name.is_not(None))
                                             .values(name=None, email=None)).rowcount or 0
        counts["replies"] = session.execute(update(Reply).where(Reply.message_id.in_(ids), Reply.status.in_(("sent", "failed", "held")))
                                            .values(content=b"", envelope_to=[], recipient="", subject="")).rowcount or 0
        session.add(AuditEntry(at=utcnow(), actor="mailbot", action="retention_purged",
                               detail={"older_than_days": days, **counts}))
    return counts
