"""Conversations in the store: which reply a message answers, what was approved lately, each message's thread."""

from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import bindparam, func, or_, select

from mailbot.decide.conversation import Approval, Earlier, EarlierRequest
from mailbot.parse import plain_text
from mailbot.store import Store, _aware
from mailbot.store.models import AuditEntry, Message, Reply, Request
from mailbot.settings import Settings

WARNINGS = ("asked_again", "address_bounced")  # what the worklist and the desk flag on a request


class StoredRecall:
    """The Recall triage reads (see mailbot.decide.conversation): the store, read-only. Each process opens its own
    connections when it first reads (a forked triage worker never shares its parent's)."""

    def __init__(self, url: str):
        self.url = url
        self._store: Store | None = None
        self._pid = 0

    def _absent(self) -> bool:
        """A SQLite file not made yet (a dry run, or triage before the service ever ran): nothing to recall, and
        nothing is created by looking."""
        if not self.url.startswith("sqlite:///") or self.url == "sqlite:///:memory:":
            return False
        return not Path(self.url[len("sqlite:///"):]).exists()

    @property
    def store(self) -> Store:
        if self._store is None or self._pid != os.getpid():
            self._store, self._pid = Store(self.url), os.getpid()
        return self._store

    def __getstate__(self) -> dict:  # sent to a spawned worker: the address only
        return {"url": self.url, "_store": None, "_pid": 0}

    def earlier(self, message_ids: Sequence[str], ref: str | None) -> Earlier | None:
        """The message mailbot answered with a reply named here (In-Reply-To, References), or else the latest answer
        in the conversation the subject's reference names."""
        ids = [i for i in dict.fromkeys(message_ids) if i][:20]
        if self._absent() or (not ids and not ref):
            return None
        with self.store.transaction() as connection:
            row = None
            if ids:
                row = connection.execute(_ANSWERED_BY_REPLY, {"ids": ids}).first()
            if row is None and ref:
                row = connection.execute(_ANSWERED_IN_CONVERSATION, {"ref": ref}).first()
            if row is None:
                return None
            requests = connection.execute(_REQUESTS_OF, {"message": row.id}).all()
        endorser = row.endorser or {}
        return Earlier(
            conversation=row.conversation or "", message=row.id, sender=row.sender, organisation=endorser.get("organisation"),
            requests=tuple(EarlierRequest(r.id, r.name, r.email, r.access, r.outcome, tuple(r.reasons or ())) for r in requests),
            answered_at=_aware(row.answered_at))

    def approvals(self, pairs: Sequence[tuple[str, str]], since: datetime, besides: str | None) -> dict[tuple[str, str], Approval]:
        """For each (address, access), its latest approval since then (by mailbot or a reviewer), in any message but
        the one with the Message-ID `besides` (the message being decided: decided again, it is no repeat of itself)."""
        wanted = {(e.lower(), a) for e, a in pairs if e and a}
        if not wanted or self._absent():
            return {}
        found: dict[tuple[str, str], Approval] = {}
        with self.store.transaction() as connection:
            rows = connection.execute(_APPROVALS, {"since": since, "besides": besides or "",
                                                   "emails": sorted({e for e, _ in wanted})}).all()
        for request_id, email, access, at in rows:
            key = ((email or "").lower(), access or "")
            if key in wanted:
                found[key] = Approval(request_id, _aware(at))
        return found


# What triage reads for every message it decides, made once: plain statements, no ORM session (a thousandth of a
# second a message otherwise, a third of triage's own time).
_ANSWERED = (select(Message.id, Message.conversation, Message.sender, Message.endorser, Reply.created_at.label("answered_at"))
             .join(Reply, Reply.message_id == Message.id).order_by(Reply.created_at.desc()).limit(1))
_ANSWERED_BY_REPLY = _ANSWERED.where(Reply.rfc_message_id.in_(bindparam("ids", expanding=True)))
_ANSWERED_IN_CONVERSATION = _ANSWERED.where(Message.conversation == bindparam("ref"))
_REQUESTS_OF = (select(Request.id, Request.name, Request.email, Request.access, Request.outcome, Request.reasons)
                .where(Request.message_id == bindparam("message")).order_by(Request.position))
_APPROVALS = (select(Request.id, Request.email, Request.access, Request.approved_at).join(Message, Message.id == Request.message_id)
              .where(Request.outcome == "approved", Request.approved_at >= bindparam("since"),
                     or_(Message.message_id.is_(None), Message.message_id != bindparam("besides")),
                     func.lower(Request.email).in_(bindparam("emails", expanding=True)))
              .order_by(Request.approved_at))


@dataclass(frozen=True)
class ThreadEntry:
    """One message of a conversation, for the desk: what came in, and mailbot's reply to it."""

    message_id: int
    seen_at: datetime
    sender: str | None
    subject: str | None
    outcome: str
    reply_subject: str | None
    reply_status: str | None
    reply_text: str | None


def thread(store: Store, message_id: int, limit: int = 50) -> tuple[list[ThreadEntry], list[ThreadEntry]]:
    """The other messages of a message's conversation, and the same sender's other recent messages."""
    with store.session() as session:
        message = session.get(Message, message_id)
        if message is None:
            return [], []
        same = []
        if message.conversation:
            same = session.scalars(select(Message).where(Message.conversation == message.conversation, Message.id != message_id)
                                   .order_by(Message.seen_at).limit(limit)).all()
        others = []
        if message.sender:
            others = session.scalars(select(Message).where(Message.sender == message.sender, Message.id != message_id,
                                                           or_(Message.conversation.is_(None), Message.conversation != (message.conversation or "")))
                                     .order_by(Message.seen_at.desc()).limit(10)).all()
        return [_entry(m) for m in same], [_entry(m) for m in others]


def _entry(message: Message) -> ThreadEntry:
    reply = message.reply
    text = plain_text(reply.content) if reply is not None and reply.content else None
    return ThreadEntry(message.id, _aware(message.seen_at), message.sender, message.subject, message.outcome,
                       reply.subject if reply else None, reply.status if reply else None, text)


def mark(store: Store, request_ids: Sequence[int], warning: str, actor: str = "mailbot", **detail) -> int:
    """Add a warning (asked_again, address_bounced) to these requests, once; audited. Returns how many changed."""
    return mark_each(store, [(request_ids, warning, detail)], actor)


def mark_each(store: Store, marks: Sequence[tuple[Sequence[int], str, dict]], actor: str = "mailbot") -> int:
    """Several marks (request ids, warning, audit detail) in one transaction: a batch's repeats at once."""
    changed = 0
    with store.session() as session:
        for request_ids, warning, detail in marks:
            assert warning in WARNINGS
            for request in session.scalars(select(Request).where(Request.id.in_(list(request_ids)))).all():
                if warning in (request.warnings or []):
                    continue
                request.warnings = [*(request.warnings or []), warning]
                session.add(AuditEntry(at=_now(), actor=actor, action=warning, message_id=request.message_id,
                                       detail={"request": request.id, "email": request.email, "access": request.access, **detail}))
                changed += 1
    return changed


def bounced_requests(store: Store, message_id: int, addresses: Sequence[str]) -> list[int]:
    """The requests of the message mailbot answered (the reply that bounced) whose address failed for good."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return []
    with store.session() as session:
        rows = session.execute(select(Request.id, Request.email).where(Request.message_id == message_id)).all()
    return [request_id for request_id, email in rows if (email or "").lower() in wanted]


def recent_digests(store: Store, senders: Sequence[str], since: datetime) -> dict[str, set[str]]:
    """The digests of each sender's messages since then (a near-identical message is a loop's sign)."""
    if not senders:
        return {}
    found: dict[str, set[str]] = {}
    with store.session() as session:
        for sender, digest in session.execute(select(Message.sender, Message.digest).where(
                Message.sender.in_(list(senders)), Message.seen_at >= since, Message.digest.is_not(None))).all():
            found.setdefault(sender, set()).add(digest)
    return found


def clear(store: Store, request_id: int, warning: str, actor: str) -> bool:
    """A person looked: the warning is cleared (audited)."""
    with store.session() as session:
        request = session.get(Request, request_id)
        if request is None or warning not in (request.warnings or []):
            return False
        request.warnings = [w for w in request.warnings if w != warning]
        session.add(AuditEntry(at=_now(), actor=actor, action=f"{warning}_cleared", message_id=request.message_id,
                               detail={"request": request.id}))
    return True


def _now() -> datetime:
    from mailbot.store import utcnow

    return utcnow()


def recall_for(settings: Settings, given_only: bool = False) -> StoredRecall | None:
    """The conversations triage reads, from the configured database; with `given_only`, only where the config file
    names one ([database]) and it holds mailbot's tables (`mailbot triage` on a fresh machine decides alone)."""
    if given_only and not settings.database.in_file:
        return None
    recall = StoredRecall(settings.database.url)
    if given_only:
        store = Store(settings.database.url)
        try:
            readable = store.readable()
        finally:
            store.close()
        if not readable:
            return None
    return recall
