"""The store: what mailbot has seen, decided, sent and filed, in SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import DateTime, bindparam, create_engine, event, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailbot.store.models import AuditEntry, Checkpoint, Message, Reply, Request, ReviewItem

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_UPGRADE_LOCK = 0x6D61696C626F74  # "mailbot": the PostgreSQL advisory lock held while the schema is upgraded


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    """SQLite gives datetimes back without their zone; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def message_key(message_id: str | None, raw: bytes | None) -> str:
    """What makes a message the same message: its Message-ID, or else a hash of its bytes."""
    if message_id and len(message_id) <= 500:
        return message_id
    digest = hashlib.sha256((message_id or "").encode() if message_id else raw or b"").hexdigest()
    return f"sha256:{digest}"


@dataclass(frozen=True)
class Unfiled:
    """A decided message still waiting to be moved to its folder."""

    id: int
    uid: str | None
    uidvalidity: str | None
    message_id: str | None
    folder: str


@dataclass(frozen=True)
class OutgoingReply:
    """A reply claimed for sending."""

    id: int
    envelope_to: tuple[str, ...]
    content: bytes
    attempts: int
    message_id: int | None = None  # the message it answers
    rfc_message_id: str | None = None


# The outbox's statements run once a reply: built once, so each run only binds its values.
_NOW = bindparam("now", type_=DateTime(timezone=True))
_DUE = select(Reply.id).where(Reply.status == "pending", Reply.next_attempt_at <= _NOW).order_by(Reply.id).limit(1)
_CLAIM = (
    update(Reply).where(Reply.id == _DUE.scalar_subquery(), Reply.status == "pending")
    .values(status="sending", claimed_by=bindparam("me"), attempts=Reply.attempts + 1, next_attempt_at=_NOW)
    .returning(Reply.id, Reply.envelope_to, Reply.content, Reply.attempts, Reply.message_id, Reply.rfc_message_id)
)
_SENT = update(Reply).where(Reply.id == bindparam("reply_id")).values(status="sent", sent_at=_NOW, last_error=None)
_AUDIT = AuditEntry.__table__.insert()


def _given(row) -> dict:
    """What was set on a new row: a dict as it is, an ORM object's attributes."""
    return row if isinstance(row, dict) else row.__dict__


def _values(model, row) -> dict:
    """A new row's column values for a plain INSERT (ORM object or dict): what was set, else the column's default."""
    given = _given(row)
    values = {}
    for column in model.__table__.columns:
        if column.primary_key:
            continue
        if column.key in given:
            values[column.key] = given[column.key]
        elif column.default is not None:
            values[column.key] = column.default.arg(None) if column.default.is_callable else column.default.arg
        else:
            values[column.key] = None
    return values


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _unknown_revisions(connection: Connection, scripts) -> list[str]:
    """The revisions the database is at that this release has no migration for (a newer release's)."""
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(connection).get_current_heads()
    known = {script.revision for script in scripts.walk_revisions()}
    return [revision for revision in current if revision not in known]


class Store:
    """Every read and write the service makes, each one transaction."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a writer that finds it busy sleeps and polls. The threads of
        # one process (the pass and the sender) take turns here instead, which hands over at once.
        self._turn = threading.RLock() if self.engine.dialect.name == "sqlite" else nullcontext()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (run at every start, and by `mailbot db upgrade`)."""
        # Alembic is imported here, not with the store: a triage worker reads the store and never migrates it.
        from alembic import command
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as connection:
            # One transaction for the whole upgrade, and one upgrade at a time: a process killed half-way leaves
            # the schema as it was, and two processes starting together on a new database do not both create it.
            if connection.dialect.name == "sqlite":
                # pysqlite runs DDL outside any transaction unless one is open; IMMEDIATE takes the write lock now,
                # so a second process waits here (busy_timeout) and then finds the schema up to date.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            elif connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
            config.attributes["connection"] = connection
            newer = _unknown_revisions(connection, ScriptDirectory.from_config(config))
            if newer:  # a newer release migrated it, and this one was rolled back to: its migrations only add
                log.warning("the database schema is newer than this release; running on it unchanged",
                            extra={"revisions": newer})
                return
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    def readable(self) -> bool:
        """Is there a database with mailbot's tables to read (for a dry run, which writes nothing)?"""
        if self.url.startswith("sqlite:///") and not Path(self.url.split("///", 1)[1]).exists():
            return False
        try:
            with self.session() as session:
                session.execute(select(Checkpoint.mailbox).limit(1))
            return True
        except Exception:
            return False

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One ORM transaction."""
        with self._turn, self.sessions.begin() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction of plain statements (for what runs often and must be quick)."""
        with self._turn, self.engine.begin() as connection:
            yield connection

    # -- reading the mailbox ---------------------------------------------------------------------

    def checkpoint(self, mailbox: str) -> tuple[str, int] | None:
        with self.session() as session:
            row = session.get(Checkpoint, mailbox)
            return (row.uidvalidity, row.last_uid) if row else None

    def find(self, key: str) -> Message | None:
        with self.session() as session:
            return session.scalar(select(Message).where(Message.key == key))

    def replies_since(self, recipient: str, since: datetime) -> int:
        """Automatic replies written to this address since then (sent or waiting), for the rate limit."""
        with self.session() as session:
            return session.scalar(
                select(func.count(Reply.id)).where(
                    Reply.recipient == recipient.lower(), Reply.created_at >= since, Reply.status != "held"
                )
            )

    def record(self, message: Message | dict, reply: Reply | dict | None, review_reasons: list[str] | None,
               checkpoint: tuple[str, str, int] | None) -> int | None:
        """Write a decided message, its requests, its reply and its review item, and move the checkpoint,
        in one transaction. Returns the message's id, or None when the message was recorded already
        (another pass, or another process, got there first)."""
        try:
            return self.record_many([(message, reply, review_reasons)], checkpoint)[0]
        except IntegrityError:
            if self.find(_given(message)["key"]) is None:
                raise  # not a message recorded already, but a row that could not be written: nothing was
            if checkpoint is not None:
                self.advance(*checkpoint)
            return None

    def record_many(self, entries: list[tuple[Message | dict, Reply | dict | None, list[str] | None]],
                    checkpoint: tuple[str, str, int] | None) -> list[int]:
        """Record a batch of decided messages and move the checkpoint, all in one transaction.

        A message is an ORM Message or a dict of its columns (with its requests under "requests"); a reply
        likewise. Raises on any failure (a message recorded meanwhile by another process, a row that cannot
        be written), writing nothing: the caller then records the batch one message at a time. Written with
        one multi-row INSERT a table (the ORM's unit of work costs several times more for a whole batch)."""
        if not entries:
            if checkpoint is not None:
                self.advance(*checkpoint)
            return []
        now = utcnow()
        messages = [_values(Message, message) for message, _, _ in entries]
        with self.transaction() as connection:
            ids = connection.execute(insert(Message).returning(Message.id, sort_by_parameter_order=True), messages).scalars().all()
            requests, replies, reviews, audits = [], [], [], []
            for message_id, values, (message, reply, review_reasons) in zip(ids, messages, entries):
                requests += [{**_values(Request, request), "message_id": message_id} for request in _given(message).get("requests") or ()]
                if reply is not None:
                    replies.append({**_values(Reply, reply), "message_id": message_id})
                if review_reasons is not None:
                    reviews.append(_values(ReviewItem, {"message_id": message_id, "reasons": review_reasons, "status": "open", "created_at": now}))
                audits.append(_values(AuditEntry, {"at": now, "actor": "mailbot", "action": "decided", "message_id": message_id, "detail": {
                    "outcome": values["outcome"], "reasons": values["reasons"], "folder": values["folder"]}}))
            for model, rows in ((Request, requests), (Reply, replies), (ReviewItem, reviews), (AuditEntry, audits)):
                if rows:
                    connection.execute(insert(model), rows)
            if checkpoint is not None:
                self._advance(connection, *checkpoint, now)
            return list(ids)

    def known(self, keys: list[str]) -> dict[str, Message]:
        """The messages already recorded under any of these keys (one query for a batch)."""
        if not keys:
            return {}
        with self.session() as session:
            return {m.key: m for m in session.scalars(select(Message).where(Message.key.in_(keys)))}

    def reply_counts(self, recipients: list[str], since: datetime) -> dict[str, int]:
        """Automatic replies written to each address since then (sent or waiting), for the rate limit."""
        if not recipients:
            return {}
        with self.session() as session:
            rows = session.execute(
                select(Reply.recipient, func.count(Reply.id))
                .where(Reply.recipient.in_(recipients), Reply.created_at >= since, Reply.status != "held")
                .group_by(Reply.recipient)
            ).all()
        return dict(rows)

    def filed_many(self, message_ids: list[int]) -> None:
        if message_ids:
            with self.session() as session:
                session.execute(update(Message).where(Message.id.in_(message_ids)).values(state="filed", filed_at=utcnow()))

    def fetch_failures(self, mailbox: str, uidvalidity: str) -> dict[str, int]:
        """UIDs whose fetch broke the connection in earlier passes, and how often alone (for poison messages)."""
        since = utcnow() - timedelta(days=2)
        with self.session() as session:
            details = session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "fetch_failed", AuditEntry.at >= since)).all()
        failures: dict[str, int] = {}
        for detail in details:
            if detail.get("mailbox") == mailbox and detail.get("uidvalidity") == uidvalidity:
                uids = detail.get("uids") or []
                for uid in uids:
                    failures.setdefault(uid, 0)
                    if len(uids) == 1:
                        failures[uid] += 1
        return failures

    def advance(self, mailbox: str, uidvalidity: str, uid: int) -> None:
        with self.session() as session:
            self._advance(session, mailbox, uidvalidity, uid, utcnow())

    @staticmethod
    def _advance(connection: Session | Connection, mailbox: str, uidvalidity: str, uid: int, now: datetime) -> None:
        # The first checkpoint of a mailbox: two processes may both find no row and both insert one; the
        # loser's whole transaction (its decision with it) would fail. INSERT .. ON CONFLICT DO NOTHING
        # makes the row race-free (it waits for the other's transaction), then it is locked and moved.
        values = {"mailbox": mailbox, "uidvalidity": uidvalidity, "last_uid": uid, "updated_at": now}
        dialect = connection.get_bind().dialect.name if isinstance(connection, Session) else connection.dialect.name
        if dialect in ("postgresql", "sqlite"):
            insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
            if connection.execute(insert_(Checkpoint).values(**values).on_conflict_do_nothing(index_elements=["mailbox"])).rowcount == 1:
                return
        row = connection.execute(select(Checkpoint.uidvalidity, Checkpoint.last_uid)
                                 .where(Checkpoint.mailbox == mailbox).with_for_update()).first()
        if row is None:
            connection.execute(insert(Checkpoint).values(**values))
        elif row.uidvalidity != uidvalidity or uid > row.last_uid:
            connection.execute(update(Checkpoint).where(Checkpoint.mailbox == mailbox)
                               .values(uidvalidity=uidvalidity, last_uid=uid, updated_at=now))

    def unfiled(self, mailbox: str) -> list[Unfiled]:
        with self.session() as session:
            rows = session.scalars(select(Message).where(Message.mailbox == mailbox, Message.state == "decided").order_by(Message.id))
            return [Unfiled(m.id, m.uid, m.uidvalidity, m.message_id, m.folder) for m in rows]

    def moves_waiting(self, mailbox: str) -> bool:
        """Is any decided message still to be filed, or to be moved after a review? (One query, for idle polls.)"""
        with self.session() as session:  # two questions, each answered from an index (an OR of them scans the table)
            waiting = select(Message.id).where(Message.mailbox == mailbox, Message.state == "decided").limit(1)
            if session.scalar(waiting) is not None:
                return True
            # Only messages a reviewer decided and not yet moved have a refile_to: few, found by its index alone
            # (with the state in the query, the planner takes the state's index and walks every filed message).
            reviewed = session.execute(select(Message.mailbox, Message.state).where(Message.refile_to > "")).all()  # not NULL, by the index
            return any(row.mailbox == mailbox and row.state == "filed" for row in reviewed)

    def refiles(self, mailbox: str) -> list[Unfiled]:
        """Messages a reviewer decided, to move from the review folder to where they now belong."""
        with self.session() as session:
            rows = session.scalars(select(Message).where(Message.mailbox == mailbox, Message.refile_to.is_not(None),
                                                         Message.state == "filed").order_by(Message.id))
            return [Unfiled(m.id, m.uid, m.uidvalidity, m.message_id, m.refile_to) for m in rows]

    def refiled(self, message_id: int, moved: bool) -> None:
        with self.session() as session:
            message = session.get(Message, message_id)
            message.refile_to = None
            session.add(AuditEntry(at=utcnow(), actor="mailbot", action="refiled" if moved else "refile_not_found",
                                   message_id=message_id, detail={"folder": message.folder}))

    def filed(self, message_id: int) -> None:
        with self.session() as session:
            session.execute(update(Message).where(Message.id == message_id).values(state="filed", filed_at=utcnow()))

    def audit(self, action: str, message_id: int | None = None, actor: str = "mailbot", **detail) -> None:
        with self.session() as session:
            session.add(AuditEntry(at=utcnow(), actor=actor, action=action, message_id=message_id, detail=detail))

    # -- the outbox --------------------------------------------------------------------------------

    def release_stale_sending(self, me: str, alive, older_than: timedelta, of: str | None = None) -> int:
        """Replies left 'sending' by a process that died go back to pending (they may go out twice).

        A claim by a process on this host is stale when that process is gone (`alive(pid)` says);
        a claim from elsewhere, when it is older than `older_than`, or at once when it is `of` (the
        process whose lease on the mailbox lapsed and was taken over).
        """
        host = me.rsplit(":", 1)[0]
        cutoff = utcnow() - older_than
        released = 0
        with self.session() as session:
            for reply in session.scalars(select(Reply).where(Reply.status == "sending")):
                claimer_host, _, pid = (reply.claimed_by or ":").rpartition(":")
                mine = claimer_host == host and pid.isdigit()
                if reply.claimed_by == of or (mine and not alive(int(pid))) or (not mine and _aware(reply.next_attempt_at) <= cutoff):
                    reply.status = "pending"
                    released += 1
                    session.add(AuditEntry(at=utcnow(), actor="mailbot", action="reply_released", message_id=reply.message_id,
                                           detail={"claimed_by": reply.claimed_by, "note": "the sending process stopped; it may go out twice"}))
        return released

    def claim_reply(self, me: str, sent: OutgoingReply | None = None, now: datetime | None = None) -> OutgoingReply | None:
        """Take the next due reply for sending; `sent`, the reply this process has just sent, is marked sent in
        the same transaction. One reply at a time is claimed, right before its SMTP transaction: a process that
        dies leaves at most that one half-sent. The claim is a conditional update (status still 'pending'):
        of two processes, only one gets any given reply."""
        now = now or utcnow()
        with self.transaction() as connection:
            if sent is not None:
                self._mark_sent(connection, sent, now)
            while True:
                row = connection.execute(_CLAIM, {"now": now, "me": me}).first()
                if row is not None:
                    return OutgoingReply(row.id, tuple(row.envelope_to), row.content, row.attempts, row.message_id, row.rfc_message_id)
                if connection.execute(_DUE, {"now": now}).first() is None:
                    return None  # nothing due (else another process took the candidate first: look again)

    def reply_sent(self, reply: OutgoingReply) -> None:
        """Mark one reply sent, right after its SMTP transaction (that bounds what a crash can send twice)."""
        with self.transaction() as connection:
            self._mark_sent(connection, reply, utcnow())

    @staticmethod
    def _mark_sent(connection, reply: OutgoingReply, now: datetime) -> None:
        connection.execute(_SENT, {"reply_id": reply.id, "now": now})
        connection.execute(_AUDIT, {"at": now, "actor": "mailbot", "action": "reply_sent", "message_id": reply.message_id,
                                    "detail": {"reply": reply.rfc_message_id, "to": list(reply.envelope_to)}})

    def reply_failed(self, reply_id: int, error: str, retry_at: datetime | None) -> None:
        """A send failed: try again at retry_at, or give up (the reply is held for a person)."""
        now = utcnow()
        with self.session() as session:
            reply = session.get(Reply, reply_id)
            reply.last_error = error[:2000]
            if retry_at is None:
                reply.status = "failed"
                session.add(AuditEntry(at=now, actor="mailbot", action="reply_failed", message_id=reply.message_id,
                                       detail={"error": reply.last_error, "attempts": reply.attempts}))
                # A person sees it: the message goes (back) to the review queue with the reason.
                review = session.scalar(select(ReviewItem).where(ReviewItem.message_id == reply.message_id))
                if review is None:
                    session.add(ReviewItem(message_id=reply.message_id, reasons=["reply_failed"], status="open", created_at=now))
                else:
                    review.status, review.reasons = "open", [*review.reasons, "reply_failed"]
            else:
                reply.status, reply.next_attempt_at = "pending", retry_at

    def outbox_counts(self) -> dict[str, int]:
        with self.session() as session:
            return dict(session.execute(select(Reply.status, func.count(Reply.id)).group_by(Reply.status)).all())


__all__ = ["AuditEntry", "Message", "OutgoingReply", "Reply", "Request", "ReviewItem", "Store", "Unfiled", "message_key", "utcnow"]
