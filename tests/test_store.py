"""The store against both databases it supports: SQLite (a temporary file) and PostgreSQL (a fresh database)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text, update

from mailbot.service.outbox import pid_alive
from mailbot.store import MIGRATIONS, AuditEntry, Message, Reply, Request, ReviewItem, Store, message_key, utcnow
from mailbot.store.models import Checkpoint

MAILBOX = "imap://agencies@127.0.0.1:143/INBOX"


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    store.upgrade()
    try:
        yield store
    finally:
        store.close()


def _message(n: int, outcome: str = "approved", folder: str = "processed", sender: str = "maria.santos@harrowgatenursing.co.uk",
             message_id: str | None = None) -> Message:
    message_id = message_id or f"<m{n}@harrowgatenursing.co.uk>"
    message = Message(
        key=message_key(message_id, None), mailbox=MAILBOX, uidvalidity="1700000000", uid=str(n), message_id=message_id,
        sender=sender, subject=f"Agency User access {n}", size=1000 + n, seen_at=utcnow(), outcome=outcome,
        reasons=[] if outcome != "review" else ["unknown_organisation"], endorser=None, folder=folder, state="decided",
        raw=b"From: x\r\n\r\nbody\r\n", error=None,
    )
    message.requests = [Request(position=0, name="Jane Doe", email="jane.doe@harrowgatenursing.co.uk", access="agency_user",
                                outcome=outcome, reasons=[])]
    return message


def _reply(message: Message, status: str = "pending", recipient: str | None = None, created_at=None) -> Reply:
    recipient = recipient or message.sender
    moment = created_at or message.seen_at
    return Reply(recipient=recipient.lower(), envelope_to=[recipient], subject=f"Re: {message.subject}",
                 rfc_message_id=f"<reply-{message.uid}@nhsprofessionals.nhs.uk>", template=message.outcome,
                 content=f"Message-ID: <reply-{message.uid}@nhsprofessionals.nhs.uk>\r\n\r\nThank you.\r\n".encode(),
                 status=status, attempts=0, next_attempt_at=moment, created_at=moment)


def _record_with_reply(store: Store, n: int, **reply_kwargs) -> int:
    message = _message(n)
    recorded = store.record(message, _reply(message, **reply_kwargs), None, (MAILBOX, "1700000000", n))
    assert recorded is not None
    return recorded


def _count(store: Store, model) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def _reply_of(store: Store, message_id: int) -> Reply:
    with store.session() as session:
        return session.scalar(select(Reply).where(Reply.message_id == message_id))


# -- the schema ------------------------------------------------------------------------------------------


def test_upgrade_twice_is_harmless(database_url):
    store = Store(database_url)
    try:
        store.upgrade()
        _record_with_reply(store, 1)
        store.upgrade()  # every start runs it: nothing changes, nothing is lost
        store.upgrade()
        with store.engine.connect() as connection:
            head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
        assert _count(store, Message) == 1 and _count(store, Reply) == 1
    finally:
        store.close()


def test_a_release_rolled_back_to_runs_on_the_schema_a_newer_one_left(database_url, caplog):
    """A newer release migrated the database (revision 9999, unknown here) and ops rolled back: the older one
    starts and works on it as it is, saying so, instead of refusing to start."""
    store = Store(database_url)
    try:
        store.upgrade()
        with store.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with caplog.at_level("WARNING"):
            store.upgrade()
        assert "newer than this release" in caplog.text
        assert _record_with_reply(store, 1)
        with store.engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["9999"]
    finally:
        store.close()


def test_a_second_store_on_the_same_database_sees_the_schema(database_url):
    first, second = Store(database_url), Store(database_url)
    try:
        first.upgrade()
        second.upgrade()
        _record_with_reply(first, 1)
        assert second.find("<m1@harrowgatenursing.co.uk>") is not None
    finally:
        first.close()
        second.close()


# -- recording a decision --------------------------------------------------------------------------------


def test_record_writes_message_requests_reply_review_item_and_checkpoint(store):
    message = _message(7, outcome="review", folder="review")
    reply = _reply(message)
    recorded = store.record(message, reply, ["unknown_organisation"], (MAILBOX, "1700000000", 7))
    assert isinstance(recorded, int)
    with store.session() as session:
        row = session.get(Message, recorded)
        assert (row.key, row.outcome, row.folder, row.state, row.uid) == ("<m7@harrowgatenursing.co.uk>", "review", "review", "decided", "7")
        assert [(r.name, r.email, r.access) for r in row.requests] == [("Jane Doe", "jane.doe@harrowgatenursing.co.uk", "agency_user")]
        assert row.reply.status == "pending" and row.reply.rfc_message_id == "<reply-7@nhsprofessionals.nhs.uk>"
        assert row.review.reasons == ["unknown_organisation"] and row.review.status == "open"
        audit = session.scalars(select(AuditEntry).where(AuditEntry.message_id == recorded)).all()
        assert [a.action for a in audit] == ["decided"]
    assert store.checkpoint(MAILBOX) == ("1700000000", 7)
    assert [u.id for u in store.unfiled(MAILBOX)] == [recorded]
    store.filed(recorded)
    assert store.unfiled(MAILBOX) == []


def test_record_is_one_transaction(store):
    """A reply that cannot be written takes the message, its requests, its review item and the
    checkpoint with it: nothing of the decision is left half-recorded."""
    message = _message(3, outcome="review", folder="review")
    broken = _reply(message)
    broken.content = None  # NOT NULL: the INSERT of the reply fails after the message's went through
    with pytest.raises(Exception):
        store.record(message, broken, ["unknown_organisation"], (MAILBOX, "1700000000", 3))
    for model in (Message, Request, Reply, ReviewItem, AuditEntry, Checkpoint):
        assert _count(store, model) == 0, model.__name__
    assert store.checkpoint(MAILBOX) is None
    assert store.find("<m3@harrowgatenursing.co.uk>") is None


def test_recording_the_same_key_twice_returns_none_and_keeps_one_row(store):
    first = _message(1)
    assert store.record(first, _reply(first), None, (MAILBOX, "1700000000", 1)) is not None
    again = _message(2, message_id="<m1@harrowgatenursing.co.uk>")  # the same message, under another UID
    assert store.record(again, _reply(again), None, (MAILBOX, "1700000000", 2)) is None
    assert _count(store, Message) == 1 and _count(store, Reply) == 1 and _count(store, Request) == 1
    assert store.find("<m1@harrowgatenursing.co.uk>").uid == "1"
    assert store.checkpoint(MAILBOX) == ("1700000000", 2)  # read past, all the same


def test_two_processes_recording_the_same_message_at_once_record_it_once(database_url):
    stores = [Store(database_url) for _ in range(4)]
    stores[0].upgrade()
    results: list[int | None] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def record(store: Store, n: int) -> None:
        message = _message(n, message_id="<raced@harrowgatenursing.co.uk>")
        try:
            start.wait()
            results.append(store.record(message, _reply(message), None, (MAILBOX, "1700000000", n)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(store, n)) for n, store in enumerate(stores, start=1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not errors, errors
        assert len(results) == 4 and sum(r is not None for r in results) == 1, results
        assert _count(stores[0], Message) == 1 and _count(stores[0], Reply) == 1
    finally:
        for store in stores:
            store.close()


def test_two_processes_recording_the_first_messages_of_a_mailbox_at_once_record_both(database_url):
    """Neither has a checkpoint row to lock yet: both must get their decision recorded all the same."""
    stores = [Store(database_url) for _ in range(2)]
    stores[0].upgrade()
    for store in stores:
        store.checkpoint("warm up: the connections are open before the race")
    for trial in range(10):
        mailbox = f"{MAILBOX}/{trial}"
        results: list[int | None] = []
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def record(store: Store, n: int) -> None:
            message = _message(trial * 10 + n)
            message.mailbox = mailbox
            try:
                start.wait()
                results.append(store.record(message, _reply(message), None, (mailbox, "1700000000", n)))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=record, args=(store, n)) for n, store in enumerate(stores, start=1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors and len(results) == 2 and None not in results, (trial, results, errors)
        assert stores[0].checkpoint(mailbox) == ("1700000000", 2)
    for store in stores:
        store.close()


def test_checkpoint_moves_forward_only_and_restarts_with_a_new_uidvalidity(store):
    store.advance(MAILBOX, "1", 10)
    store.advance(MAILBOX, "1", 4)
    assert store.checkpoint(MAILBOX) == ("1", 10)
    store.advance(MAILBOX, "2", 3)
    assert store.checkpoint(MAILBOX) == ("2", 3)


# -- the outbox ------------------------------------------------------------------------------------------


def test_claim_reply_is_exclusive(database_url):
    """Two processes (two Store objects, two threads) drain one outbox: every reply is claimed once."""
    setup = Store(database_url)
    setup.upgrade()
    ids = {_record_with_reply(setup, n) for n in range(1, 41)}
    setup.close()
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def drain(name: str) -> None:
        store = Store(database_url)
        try:
            start.wait()
            while (job := store.claim_reply(f"testhost:{name}")) is not None:
                claimed[name].append(job.id)
                store.reply_sent(job)
        except BaseException as exc:  # reported below, with the database's own message
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=drain, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    every = claimed["a"] + claimed["b"]
    assert len(every) == len(set(every)), "a reply was claimed twice"
    store = Store(database_url)
    try:
        assert sorted(every) == sorted(_reply_of(store, message_id).id for message_id in ids)
        assert store.outbox_counts() == {"sent": 40}
        assert store.claim_reply("testhost:c") is None
    finally:
        store.close()


def test_claiming_the_next_reply_marks_the_one_just_sent_in_the_same_transaction(store):
    first, second = _record_with_reply(store, 1), _record_with_reply(store, 2)
    job = store.claim_reply("testhost:1")
    assert job.id == _reply_of(store, first).id and _reply_of(store, first).status == "sending"
    following = store.claim_reply("testhost:1", sent=job)
    assert following.id == _reply_of(store, second).id
    assert (_reply_of(store, first).status, _reply_of(store, second).status) == ("sent", "sending")
    assert _reply_of(store, first).sent_at is not None
    with store.session() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "reply_sent")).all()
    assert [(entry.message_id, entry.detail["reply"]) for entry in audited] == [(first, job.rfc_message_id)]
    assert store.claim_reply("testhost:1", sent=following) is None  # nothing left: the last is still marked
    assert store.outbox_counts() == {"sent": 2}


def test_a_batch_recorded_from_plain_values_reads_back_like_one_from_orm_objects(store):
    """The pass records plain dicts (quicker than ORM objects); both forms land the same rows."""
    orm = _message(1)
    plain = {column.key: getattr(_message(2), column.key) for column in Message.__table__.columns if column.key != "id"}
    plain["requests"] = [{"position": 0, "name": "Jane Doe", "email": "jane.doe@harrowgatenursing.co.uk",
                          "access": "agency_user", "outcome": "approved", "reasons": []}]
    ids = store.record_many([(orm, _reply(orm), None), (plain, None, ["unknown_organisation"])], (MAILBOX, "1700000000", 2))
    assert len(ids) == 2 and ids[0] < ids[1]
    with store.session() as session:
        first, second = (session.get(Message, i) for i in ids)
        assert [(r.name, r.access, r.outcome) for r in first.requests] == [(r.name, r.access, r.outcome) for r in second.requests]
        assert first.reply is not None and second.reply is None
        assert first.review is None and second.review.reasons == ["unknown_organisation"]
        assert second.requests[0].reasons == [] and second.size == 1002
    assert store.checkpoint(MAILBOX) == ("1700000000", 2)


def test_a_claimed_reply_is_not_claimed_again(store):
    message_id = _record_with_reply(store, 1)
    job = store.claim_reply("testhost:1")
    assert job is not None and job.attempts == 1 and job.envelope_to == ("maria.santos@harrowgatenursing.co.uk",)
    assert job.content.startswith(b"Message-ID: <reply-1@")
    assert store.claim_reply("testhost:2") is None
    assert _reply_of(store, message_id).status == "sending"


def test_reply_failed_retries_later_then_gives_up(store):
    message_id = _record_with_reply(store, 1)
    job = store.claim_reply("testhost:1")
    later = utcnow() + timedelta(minutes=5)
    store.reply_failed(job.id, "SMTP 451: try later", later)
    reply = _reply_of(store, message_id)
    assert (reply.status, reply.last_error) == ("pending", "SMTP 451: try later")
    assert store.claim_reply("testhost:1") is None  # not due yet
    again = store.claim_reply("testhost:1", now=later + timedelta(seconds=1))
    assert again is not None and again.id == job.id and again.attempts == 2
    store.reply_failed(again.id, "SMTP 550: no such user", None)
    reply = _reply_of(store, message_id)
    assert reply.status == "failed" and reply.last_error == "SMTP 550: no such user"
    assert store.claim_reply("testhost:1", now=utcnow() + timedelta(days=365)) is None  # given up for good
    with store.session() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.message_id == message_id).order_by(AuditEntry.id)).all()
    assert actions == ["decided", "reply_failed"]


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    return child.pid


def test_release_stale_sending_releases_only_claims_of_dead_processes_or_old_foreign_ones(store):
    me = "testhost:%d"
    dead, alive = _dead_pid(), os.getpid()
    ids = {name: _record_with_reply(store, n) for n, name in enumerate(
        ["dead_here", "alive_here", "foreign_recent", "foreign_old", "sent", "odd_claimer"], start=1)}
    # claim_reply takes the lowest due id first: claim them in order, each under its own name
    claims = {
        "dead_here": me % dead,
        "alive_here": me % alive,
        "foreign_recent": "otherhost:%d" % dead,
        "foreign_old": "otherhost:%d" % alive,
        "sent": me % dead,
        "odd_claimer": "testhost:not-a-pid",
    }
    for name, claimer in claims.items():
        job = store.claim_reply(claimer)
        assert job is not None and job.id == _reply_of(store, ids[name]).id, name
    store.reply_sent(_reply_of(store, ids["sent"]))
    with store.session() as session:  # that one was claimed an hour ago (a claim stamps next_attempt_at)
        session.execute(update(Reply).where(Reply.message_id == ids["foreign_old"]).values(next_attempt_at=utcnow() - timedelta(hours=1)))

    released = store.release_stale_sending(me % alive, pid_alive, timedelta(minutes=10))

    status = {name: _reply_of(store, message_id).status for name, message_id in ids.items()}
    assert status == {
        "dead_here": "pending",  # its process is gone: it may have sent it, or not
        "alive_here": "sending",  # still at it
        "foreign_recent": "sending",  # another host's: its pid means nothing here; not old yet
        "foreign_old": "pending",  # another host's, claimed an hour ago
        "sent": "sent",
        "odd_claimer": "sending",  # no pid to ask about, and not old
    }
    assert released == 2
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "reply_released")) == 2
    assert store.release_stale_sending(me % alive, pid_alive, timedelta(minutes=10)) == 0


def test_replies_since_counts_recent_unheld_replies_to_that_address(store):
    now = utcnow()
    for n, (recipient, status, age) in enumerate([
        ("Maria.Santos@harrowgatenursing.co.uk", "pending", timedelta(minutes=1)),
        ("maria.santos@harrowgatenursing.co.uk", "sent", timedelta(minutes=50)),
        ("maria.santos@harrowgatenursing.co.uk", "failed", timedelta(minutes=5)),
        ("maria.santos@harrowgatenursing.co.uk", "sending", timedelta(minutes=5)),
        ("maria.santos@harrowgatenursing.co.uk", "held", timedelta(minutes=5)),  # held back by the limit itself
        ("maria.santos@harrowgatenursing.co.uk", "sent", timedelta(minutes=70)),  # over an hour ago
        ("dev.patel@kestrel-locums.com", "sent", timedelta(minutes=5)),
    ], start=1):
        message = _message(n, sender=recipient.lower())
        assert store.record(message, _reply(message, status=status, recipient=recipient, created_at=now - age), None, None)
    hour_ago = now - timedelta(hours=1)
    assert store.replies_since("maria.santos@harrowgatenursing.co.uk", hour_ago) == 4
    assert store.replies_since("MARIA.SANTOS@harrowgatenursing.co.uk", hour_ago) == 4
    assert store.replies_since("dev.patel@kestrel-locums.com", hour_ago) == 1
    assert store.replies_since("nobody@kestrel-locums.com", hour_ago) == 0


def test_requests_are_found_by_address_through_an_index_whatever_the_case(tmp_path):
    """Repeat checks look up each approved request's address: a full scan per message grew with the store (0007)."""
    from sqlalchemy import func, select, text

    from mailbot.store.models import Request

    store = Store(f"sqlite:///{tmp_path / 'index.db'}")
    store.upgrade()
    with store.session() as session:
        query = select(Request.id).where(Request.outcome == "approved", func.lower(Request.email).in_(["jo@example.co.uk"]))
        compiled = query.compile(session.bind, compile_kwargs={"literal_binds": True})
        plan = " ".join(str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "USING INDEX ix_requests_email_lower" in plan, plan
    store.close()
