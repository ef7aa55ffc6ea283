"""Decided messages, searchable by any address, each with its audit trail."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from mailbot.store import Store
from mailbot.store.models import AuditEntry, Message, Request


def search(store: Store, address: str | None = None, limit: int = 200) -> list[Message]:
    """The newest decided messages, or those whose sender, subject, or any person asked for (name or address) holds
    the words searched for."""
    with store.session() as session:
        query = select(Message).options(selectinload(Message.requests))  # the page counts them after the session
        if address:
            like = f"%{address.strip().lower()}%"
            people = select(Request.message_id).where(or_(func.lower(Request.email).like(like), func.lower(Request.name).like(like)))
            query = query.where(or_(func.lower(Message.sender).like(like), func.lower(Message.subject).like(like), Message.id.in_(people)))
        return list(session.scalars(query.order_by(Message.seen_at.desc(), Message.id.desc()).limit(limit)))


def audit_trail(store: Store, limit: int = 200) -> list[AuditEntry]:
    with store.session() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)))
