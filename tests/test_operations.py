"""The long-running service as ops see it, against real servers (Dovecot, aiosmtpd, PostgreSQL): /healthz follows
the mailbox, /metrics counts what was done, and two nodes on one mailbox fail over without answering twice."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from mailbot.store.models import AuditEntry, Lease
from servers import free_port, write_config
from test_resilience import (  # noqa: F401 (fixtures)
    FAST, Running, all_done, backlog, check_filed_and_answered, records_for, replies_to, slow_smtp, wait_for, waves,
)

# Quick to notice a failing mailbox; everything else at mailbot's defaults.
OPS = {"poll_stale_seconds": 3, "poll_failures_before_alert": 3}


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()
    except OSError:
        return 0, b""


def _health(port: int) -> tuple[int, dict]:
    status, body = _get(f"http://127.0.0.1:{port}/healthz")
    return status, (json.loads(body) if body else {})


def test_healthz_turns_unhealthy_when_the_mailbox_is_gone_and_healthy_again_when_it_returns(
        tmp_path, dovecot, imap_user, smtp_server, sqlite_url, backlog, records_for):
    port = free_port()
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server,
                               service=FAST, ops={**OPS, "health_port": port, "alert_to": "ops@nhsprofessionals.nhs.uk"})
    records = records_for(sqlite_url)
    dovecot.append(imap_user, [item.raw for item in backlog[:10]])
    running = Running(config, env, tmp_path / "run.log")
    try:
        wait_for(lambda: _health(port)[0] == 200, 30, "/healthz to say healthy")
        wait_for(lambda: all_done(dovecot, imap_user, smtp_server, records, backlog[:10]), 30, "the first messages")
        status, body = _health(port)
        assert (status, body["status"], body["failed"]) == (200, "ok", []), body
        assert body["checks"]["poll"]["ok"] and body["checks"]["outbox"]["ok"] and body["checks"]["credentials"]["ok"]

        dovecot.stop(hard=True)  # the server goes away at once (a graceful stop lets open sessions run on)
        try:
            status, body = wait_for(lambda: (lambda h: h if h[0] == 503 else None)(_health(port)), 30, "/healthz to say unhealthy")
            assert body["status"] == "unhealthy" and "poll" in body["failed"], body
            assert "could not" in body["checks"]["poll"]["detail"].lower() or "ago" in body["checks"]["poll"]["detail"], body
            # Polls keep failing: ops are warned once (a line in the log, an email, and a warning on /healthz).
            wait_for(lambda: "polls_failing" in _health(port)[1]["checks"]["warnings"]["active"], 30, "the warning")
            assert running.alive(), running.text()[-3000:]
        finally:
            dovecot.start()
        wait_for(lambda: _health(port)[0] == 200, 30, "/healthz to say healthy again")
        assert _health(port)[1]["checks"]["warnings"]["active"] == []  # the condition cleared itself
        dovecot.append(imap_user, [item.raw for item in backlog[10:15]])
        wait_for(lambda: all_done(dovecot, imap_user, smtp_server, records, backlog[:15]), 30, "the messages sent meanwhile")
        warnings = [e for e in smtp_server.envelopes() if list(e.rcpt_tos) == ["ops@nhsprofessionals.nhs.uk"]]
        assert len(warnings) == 1 and "polls failing" in str(warnings[0].message["Subject"]), [str(w.message["Subject"]) for w in warnings]
        assert running.terminate() == 0, running.text()[-3000:]
    finally:
        running.stop_if_running()


def test_metrics_parse_and_count_what_was_processed(tmp_path, dovecot, imap_user, smtp_server, sqlite_url, backlog, records_for):
    port = free_port()
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server,
                               service=FAST, ops={**OPS, "health_port": port})
    records = records_for(sqlite_url)
    dovecot.append(imap_user, [item.raw for item in backlog])
    running = Running(config, env, tmp_path / "run.log")
    try:
        wait_for(lambda: all_done(dovecot, imap_user, smtp_server, records, backlog), 60, "the backlog to be done", every=0.1)
        status, text = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        samples = {}
        for family in text_string_to_metric_families(text.decode()):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        by_outcome = Counter(item.outcome for item in backlog)
        counted = {dict(labels)["outcome"]: value for (name, labels), value in samples.items() if name == "mailbot_messages_total"}
        assert counted == dict(by_outcome), (counted, by_outcome)
        assert samples[("mailbot_replies_sent_total", ())] == sum(1 for item in backlog if item.answered)
        assert samples[("mailbot_send_failures_total", ())] == 0
        assert samples[("mailbot_outbox_depth", ())] == 0
        assert samples[("mailbot_review_queue_depth", ())] == by_outcome["review"]
        assert samples[("mailbot_poll_duration_seconds_count", ())] >= 1
        assert samples[("mailbot_standby", ())] == 0
        assert running.terminate() == 0, running.text()[-3000:]
    finally:
        running.stop_if_running()


def test_two_nodes_one_mailbox_the_standby_takes_over_from_a_killed_node_and_nothing_is_answered_twice(
        tmp_path, dovecot, imap_user, slow_smtp, postgresql_url, waves, records_for):
    """Two `mailbot run` on one config and one PostgreSQL: one works the mailbox, the other stands by. The working
    one is SIGKILLed half-way through a backlog; the standby takes the lease when it lapses (the default 20 s; the
    nodes are named as two hosts, so neither can see the other's process) and finishes the backlog. Every message
    is filed once; a reply goes out twice only if the kill caught it in flight."""
    slow_smtp.latency = 0.05  # a reply takes a while: the kill lands with work left
    items = [item for wave in waves[:3] for item in wave]
    folder = tmp_path / "config"
    configs = {}
    for node in ("node-a", "node-b"):
        configs[node] = write_config(folder / node, postgresql_url, dovecot=dovecot, user=imap_user, smtp=slow_smtp,
                                     service={**FAST, "batch_size": 5}, ops={"node_name": node})
    records = records_for(postgresql_url)
    dovecot.append(imap_user, [item.raw for item in items])
    nodes = {node: Running(*configs[node], tmp_path / f"{node}.log") for node in configs}
    try:
        def holder() -> str | None:
            if not records._ready():  # the first node has not created the tables yet
                return None
            with records.store.session() as session:
                return session.scalar(select(Lease.holder))

        first = wait_for(holder, 30, "a node to take the lease").split(":")[0]
        other = "node-b" if first == "node-a" else "node-a"
        wait_for(lambda: records.count() >= len(items) // 3, 60, "the first third to be decided", every=0.01)
        assert records.count() < len(items), "the backlog was done before the kill"
        killed_at = time.monotonic()
        assert nodes[first].kill()
        done_when_killed = records.count()
        wait_for(lambda: (holder() or "").startswith(other), 40, "the standby to take the lease", every=0.1)
        took = time.monotonic() - killed_at
        wait_for(lambda: all_done(dovecot, imap_user, slow_smtp, records, items), 120, "the standby to finish", every=0.2)
        assert nodes[other].terminate() == 0, nodes[other].text()[-3000:]
    finally:
        for running in nodes.values():
            running.stop_if_running()
    assert took < 30, f"the standby took {took:.1f} s to take over"
    assert done_when_killed < len(items)
    counts = check_filed_and_answered(dovecot, imap_user, slow_smtp, records, items)
    duplicates = {original: n - 1 for original, n in counts.items() if n > 1}
    released = records.audit("reply_released")
    assert sum(duplicates.values()) <= 1 and len(released) <= 1, (duplicates, released)
    assert all(detail["claimed_by"] != "" for _, detail in released)
    with records.store.session() as session:
        takers = [e.actor.split(":")[0] for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "lease_taken"))]
    assert takers == [first, other], takers
    assert nodes[other].said("this node now works the mailbox")
    print(f"\nfailover: {first} killed with {done_when_killed}/{len(items)} decided; {other} took over in {took:.1f} s; "
          f"{sum(duplicates.values())} duplicate(s), {len(replies_to(slow_smtp))} messages answered")
