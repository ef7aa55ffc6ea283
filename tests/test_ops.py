"""Operations pieces on their own: the lease between nodes, retention, health checks, alerts, the monitor server."""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import date, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from mailbot.send import SendError
from mailbot.service.alerts import Alerts
from mailbot.service.health import HealthState, check
from mailbot.service.lease import MailboxLease
from mailbot.service.metrics import Metrics
from mailbot.service.monitor import serve
from mailbot.service.retention import purge
from mailbot.store import Store, utcnow
from mailbot.store.models import AuditEntry, Lease, Message, Reply, Request
from test_store import _message, _record_with_reply, _reply

MAILBOX = "imap://agencies@mx.example:993/INBOX"


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    store.upgrade()
    try:
        yield store
    finally:
        store.close()


# -- the lease --------------------------------------------------------------------------------------


def test_one_node_holds_the_lease_the_other_stands_by(store):
    first, second = MailboxLease(store, MAILBOX, "node-a:1", 20), MailboxLease(store, MAILBOX, "node-b:2", 20)
    assert first.hold() is True
    assert second.hold() is False
    assert first.hold() is True  # renewing keeps it
    assert second.hold() is False


def test_a_lapsed_lease_is_taken_by_the_standby(store):
    first, second = MailboxLease(store, MAILBOX, "node-a:1", 20), MailboxLease(store, MAILBOX, "node-b:2", 20)
    assert first.hold()
    with store.session() as session:  # node a stopped renewing 21 seconds ago
        session.execute(update(Lease).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert second.hold() is True
    assert first.hold() is False  # it comes back: it must stand by
    with store.session() as session:
        taken = session.scalars(select(AuditEntry).where(AuditEntry.action == "lease_taken")).all()
    assert [e.actor for e in taken] == ["node-a:1", "node-b:2"]


def test_a_lease_held_by_a_dead_process_of_this_host_is_taken_at_once(store):
    """A node that crashed and was started again by systemd does not wait out its own dead lease; a lease held by a
    live process, or by a process of another host (whose life cannot be seen from here), is waited out."""
    from test_store import _dead_pid

    host = "thishost"
    dead = MailboxLease(store, MAILBOX, f"{host}:{_dead_pid()}", 20)
    assert dead.hold()
    assert MailboxLease(store, MAILBOX, f"{host}:{os.getpid()}", 20).hold() is True
    assert MailboxLease(store, MAILBOX, f"otherhost:{_dead_pid()}", 20).hold() is False  # another host: it waits
    alive = MailboxLease(store, "maildir:/other", f"{host}:1", 20)  # pid 1 is alive
    assert alive.hold()
    assert MailboxLease(store, "maildir:/other", f"{host}:{os.getpid()}", 20).hold() is False


def test_a_clean_stop_releases_the_lease_at_once(store):
    first, second = MailboxLease(store, MAILBOX, "node-a:1", 20), MailboxLease(store, MAILBOX, "node-b:2", 20)
    assert first.hold()
    first.release()
    assert second.hold() is True


def test_leases_are_per_mailbox(store):
    assert MailboxLease(store, MAILBOX, "node-a:1", 20).hold()
    assert MailboxLease(store, MAILBOX + "-2", "node-b:2", 20).hold()


def test_without_the_database_the_lease_is_lost(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.upgrade()
    lease = MailboxLease(store, MAILBOX, "node-a:1", 20)
    assert lease.hold()
    store.engine.dispose()
    (tmp_path / "db.sqlite").unlink()
    (tmp_path / "db.sqlite").mkdir()  # the database file is gone (and cannot be made again)
    assert lease.hold() is False and lease.held is False


# -- retention --------------------------------------------------------------------------------------


def test_retention_purges_bodies_and_personal_data_older_than_the_window_and_nothing_else(store):
    old_id = _record_with_reply(store, 1, status="sent")
    new_id = _record_with_reply(store, 2, status="sent")
    with store.session() as session:
        session.execute(update(Message).where(Message.id == old_id).values(seen_at=utcnow() - timedelta(days=91)))
    assert purge(store, 90) == {"messages": 1, "requests": 1, "replies": 1}
    with store.session() as session:
        old, new = session.get(Message, old_id), session.get(Message, new_id)
        assert (old.raw, old.sender, old.subject, old.endorser) == (None, None, None, None)
        assert old.outcome == "approved" and old.reasons == [] and old.key  # the decision and the key stay
        request = session.scalar(select(Request).where(Request.message_id == old_id))
        assert (request.name, request.email) == (None, None) and request.access == "agency_user" and request.outcome == "approved"
        reply = session.scalar(select(Reply).where(Reply.message_id == old_id))
        assert reply.content == b"" and reply.envelope_to == [] and reply.status == "sent"
        assert new.raw and new.sender and new.subject
        assert session.scalar(select(Request.email).where(Request.message_id == new_id))
        assert session.scalar(select(Reply.content).where(Reply.message_id == new_id))
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "retention_purged")).all()
        assert [a.detail["messages"] for a in audit] == [1]
    assert purge(store, 90) == {"messages": 0, "requests": 0, "replies": 0}  # nothing twice


def test_retention_keeps_replies_still_to_be_sent(store):
    waiting = _record_with_reply(store, 1, status="pending")
    with store.session() as session:
        session.execute(update(Message).where(Message.id == waiting).values(seen_at=utcnow() - timedelta(days=100)))
    purge(store, 90)
    with store.session() as session:
        assert session.scalar(select(Reply.content).where(Reply.message_id == waiting))  # still sendable


# -- health -----------------------------------------------------------------------------------------


def test_healthy_only_when_the_last_poll_succeeded_recently(store):
    state = HealthState()
    ok, checks = check(state, store, poll_stale=600, outbox_stale=900, secret_expires=None, warn_days=14)
    assert ok  # just started: no poll yet, within the grace
    state.poll_failed("IMAP: connection refused")
    ok, checks = check(state, store, 600, 900, None, 14)
    assert not ok and "connection refused" in checks["poll"]["detail"]
    state.poll_ok()
    assert check(state, store, 600, 900, None, 14)[0]
    state.last_poll_ok_at = utcnow() - timedelta(seconds=601)
    ok, checks = check(state, store, 600, 900, None, 14)
    assert not ok and not checks["poll"]["ok"]


def test_unhealthy_when_the_outbox_does_not_drain(store):
    state = HealthState()
    state.poll_ok()
    message = _message(1)
    store.record(message, _reply(message, created_at=utcnow() - timedelta(hours=1)), None, None)
    ok, checks = check(state, store, 600, 900, None, 14)
    assert not ok and not checks["outbox"]["ok"] and checks["poll"]["ok"]


def test_an_expired_secret_is_unhealthy_and_one_about_to_expire_is_flagged(store):
    state = HealthState()
    state.poll_ok()
    ok, checks = check(state, store, 600, 900, date.today() + timedelta(days=5), 14)
    assert ok and checks["credentials"]["expiring"]
    ok, checks = check(state, store, 600, 900, date.today() - timedelta(days=1), 14)
    assert not ok and not checks["credentials"]["ok"]


# -- alerts -----------------------------------------------------------------------------------------


class _Sink:
    def __init__(self, fail: bool = False):
        self.sent, self.fail = [], fail

    def send(self, sender, recipients, content):
        if self.fail:
            raise SendError("down")
        self.sent.append((sender, recipients, content))

    def close(self):
        pass


def test_an_alert_is_emailed_once_per_condition_until_it_clears(store):
    sink = _Sink()
    alerts = Alerts(store, sink, "ops@nhsprofessionals.nhs.uk", "agencies@nhsprofessionals.nhs.uk")
    assert alerts.raise_("polls_failing", "the mailbox could not be read 5 times in a row")
    assert not alerts.raise_("polls_failing", "the mailbox could not be read 6 times in a row")
    assert len(sink.sent) == 1 and sink.sent[0][1] == ("ops@nhsprofessionals.nhs.uk",)
    assert b"Auto-Submitted: auto-generated" in sink.sent[0][2]
    assert alerts.active() == {"polls_failing": "the mailbox could not be read 5 times in a row"}
    alerts.clear("polls_failing")
    assert alerts.active() == {}
    assert alerts.raise_("polls_failing", "again")
    assert len(sink.sent) == 2


def test_an_alert_survives_a_failing_mail_server_and_is_still_recorded(store):
    alerts = Alerts(store, _Sink(fail=True), "ops@nhsprofessionals.nhs.uk", "agencies@nhsprofessionals.nhs.uk")
    assert alerts.raise_("credentials_expiring", "the client secret expires in 3 days")
    assert "credentials_expiring" in alerts.active()


# -- the monitor server -----------------------------------------------------------------------------


def test_healthz_and_metrics_are_served_and_parse(store):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = HealthState()
    metrics = Metrics(store, state)
    metrics.messages.labels(outcome="approved").inc(3)
    _record_with_reply(store, 1)
    server = serve("127.0.0.1", port, lambda: check(state, store, 600, 900, None, 14), metrics.text)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as answer:
            assert answer.status == 200 and json.loads(answer.read())["status"] == "ok"
        state.poll_failed("IMAP: connection refused")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz")
        body = json.loads(refused.value.read())
        assert refused.value.code == 503 and body["failed"] == ["poll"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as answer:
            families = {f.name: f for f in text_string_to_metric_families(answer.read().decode())}
        assert [s.value for s in families["mailbot_messages"].samples if s.name == "mailbot_messages_total"] == [3.0]
        assert families["mailbot_outbox_depth"].samples[0].value == 1.0
    finally:
        server.shutdown()
