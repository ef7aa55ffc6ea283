"""The service under faults, against the real servers of tests/servers.py (Dovecot, aiosmtpd, SQLite and
PostgreSQL; no mocks): SIGKILL at random points while it works through a backlog, the IMAP server restarted
mid-pass, the SMTP server down for a while, a reply that cannot be sent, a message the server cannot read,
SIGTERM mid-backlog, and two passes started at the same time. Whatever happens: every message filed once,
every answered message answered, and no reply twice except the one in flight at a crash.

The crash test draws its kill points from a seeded random generator and prints the seed; set
MAILBOT_CRASH_SEED to replay a run."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import DATA
from mailbot.store import AuditEntry, Message, Reply, Store
from servers import ROOT, SmtpSink, header_message_id, mailbot, write_config
from test_service import DEMO_INBOX, FOLDER_PATHS, folder_for, request_message, triage_json

# The backlog: about fifty messages of every outcome, most of them answered.
QUOTA = {"approved": 12, "needs_info": 6, "informed": 6, "partial": 6, "redirected": 5, "rejected": 4, "review": 6, "ignored": 5}
WAVES = 4  # further copies of the backlog (new Message-IDs), delivered when the crash test runs out of work

# Short intervals, so that a test waits for the service as little as possible.
# No repeat window: these tests compare the service with `mailbot triage` run beforehand on an empty store, and the
# corpora ask for some people more than once (conversations are tested in test_conversations.py).
FAST = {"poll_interval_seconds": 0.2, "send_interval_seconds": 0.2, "housekeeping_interval_seconds": 60, "batch_size": 5,
        "retry_max_seconds": 0.5, "replies_per_sender_per_hour": 1000, "repeat_window_days": 0}

KILLS = 12  # SIGKILLs per crash test, at least
KILL_AFTER = (0.05, 1.5)  # seconds after the start, uniformly


@dataclass(frozen=True)
class Item:
    """One message of the backlog and what `mailbot triage` decides for it."""

    name: str
    raw: bytes
    message_id: str
    outcome: str
    answered: bool

    @property
    def folder(self) -> str:
        return folder_for(self.outcome)


def _renumbered(raw: bytes, message_id: str, wave: int) -> tuple[bytes, str]:
    """The same message with a Message-ID of its own (a copy delivered in a later wave)."""
    new = message_id.replace("<", f"<w{wave}.", 1)
    head, sep, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    assert message_id.encode() in head, message_id
    return head.replace(message_id.encode(), new.encode(), 1) + sep + body, new


@pytest.fixture(scope="module")
def waves(tmp_path_factory) -> list[list[Item]]:
    """The backlog (waves[0]) and its copies (waves[1:]), each message with what triage decides for it."""
    folder = tmp_path_factory.mktemp("triage")
    config, _ = write_config(folder / "config", f"sqlite:///{folder / 'unused.db'}")
    candidates = [*sorted(DEMO_INBOX.glob("*.eml")), *sorted((DATA / "cases").glob("*.eml")), *sorted((DATA / "cases2").glob("*.eml"))]
    decided = triage_json(config, candidates)
    chosen, seen, count = [], set(), Counter()
    for path in candidates:
        result = decided[str(path)]
        message_id = result["message_id"]
        if message_id is None or message_id in seen or header_message_id(path.read_bytes()) != message_id:
            continue
        if count[result["outcome"]] >= QUOTA[result["outcome"]]:
            continue
        count[result["outcome"]] += 1
        seen.add(message_id)
        chosen.append(Item(path.name, path.read_bytes(), message_id, result["outcome"], bool(result["reply"])))
    assert count == Counter(QUOTA), count
    # The copies are decided as their originals are (checked, not assumed).
    copies: list[list[Item]] = []
    files = []
    for wave in range(1, WAVES + 1):
        items = []
        for item in chosen:
            raw, message_id = _renumbered(item.raw, item.message_id, wave)
            path = folder / f"w{wave}-{item.name}"
            path.write_bytes(raw)
            files.append(path)
            items.append(Item(path.name, raw, message_id, item.outcome, item.answered))
        copies.append(items)
    decided = triage_json(config, files)
    for items in copies:
        for item in items:
            result = decided[str(folder / item.name)]
            assert (result["message_id"], result["outcome"], bool(result["reply"])) == (item.message_id, item.outcome, item.answered), item.name
    return [chosen, *copies]


@pytest.fixture
def backlog(waves) -> list[Item]:
    return waves[0]


# -- the service as a process ------------------------------------------------------------------------------


class SlowSmtp(SmtpSink):
    """The SMTP sink, taking `latency` seconds to acknowledge a message it has already taken (as a real server
    does while it commits the message to its queue), and refusing any message to an address in `refuse_to`
    with a temporary error."""

    def __init__(self, latency: float = 0.0):
        super().__init__()
        self.latency = latency
        self.refuse_to: set[str] = set()
        self.refused: list[tuple[str, ...]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse_to & {a.lower() for a in envelope.rcpt_tos}:
            self.refused.append(tuple(envelope.rcpt_tos))
            return "451 4.3.0 try again later"
        answer = await super().handle_DATA(server, session, envelope)
        if self.latency:
            await asyncio.sleep(self.latency)
        return answer


@pytest.fixture
def slow_smtp():
    server = SlowSmtp()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _environment(env: dict) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG" and not k.startswith("MAILBOT_TEST_")}
    environment.update(env)
    return environment


class Running:
    """`python -m mailbot run [--once] --config FILE` as ops start it, in a process group of its own;
    its log (stderr) goes to a file."""

    def __init__(self, config: Path, env: dict, log: Path, once: bool = False):
        self.log = log
        self.started_at = time.monotonic()
        with log.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailbot", "run", *(["--once"] if once else []), "--config", str(config)],
                cwd=ROOT, env=_environment(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> bool:
        """SIGKILL to the whole group; True when it hit a running process (not one that had exited by itself)."""
        if not self.alive():
            return False
        os.killpg(self.pid, signal.SIGKILL)
        return self.process.wait(timeout=30) == -signal.SIGKILL

    def terminate(self, timeout: float = 60) -> int:
        os.kill(self.pid, signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop_if_running(self) -> None:
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def entries(self) -> list[dict]:
        """The JSON log lines (a line cut short by a kill is left out)."""
        found = []
        for line in self.text().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
        return found

    def said(self, words: str) -> bool:
        return any(words in entry.get("message", "") for entry in self.entries())


def wait_for(condition, timeout: float, what: str, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


# -- what the database says ----------------------------------------------------------------------------


class Records:
    """Reads the service's database from the test (a store of its own; one engine for the whole test)."""

    def __init__(self, url: str):
        self.store = Store(url)

    def close(self) -> None:
        self.store.close()

    def _ready(self) -> bool:
        from sqlalchemy import inspect

        return inspect(self.store.engine).has_table("replies")

    def count(self) -> int:
        from sqlalchemy import func

        if not self._ready():
            return 0
        with self.store.session() as session:
            return session.scalar(select(func.count(Message.id)))

    def messages(self) -> list[dict]:
        if not self._ready():
            return []
        with self.store.session() as session:
            return [{
                "id": m.id, "key": m.key, "message_id": m.message_id, "uid": m.uid, "outcome": m.outcome, "folder": m.folder,
                "state": m.state, "error": m.error,
                "reply": None if m.reply is None else {"status": m.reply.status, "attempts": m.reply.attempts,
                                                       "error": m.reply.last_error, "rfc_message_id": m.reply.rfc_message_id},
                "review": None if m.review is None else {"status": m.review.status, "reasons": list(m.review.reasons)},
            } for m in session.scalars(select(Message).order_by(Message.id))]

    def by_message_id(self) -> dict[str, dict]:
        return {row["message_id"]: row for row in self.messages()}

    def replies(self) -> Counter:
        """Replies by status."""
        if not self._ready():
            return Counter()
        with self.store.session() as session:
            return Counter(session.scalars(select(Reply.status)))

    def audit(self, action: str) -> list[tuple[str | None, dict]]:
        """(the Message-ID of the message it is about, detail) of each audit entry of that action."""
        with self.store.session() as session:
            rows = session.execute(select(Message.message_id, AuditEntry.detail).select_from(AuditEntry)
                                   .outerjoin(Message, AuditEntry.message_id == Message.id)
                                   .where(AuditEntry.action == action).order_by(AuditEntry.id)).all()
            return [(message_id, detail) for message_id, detail in rows]


@pytest.fixture
def records_for():
    opened: list[Records] = []

    def make(url: str) -> Records:
        opened.append(Records(url))
        return opened[-1]

    yield make
    for records in opened:
        records.close()


# -- the checks every test ends with -------------------------------------------------------------------


def replies_to(smtp) -> dict[str, list]:
    """The envelopes the SMTP server took, by the Message-ID of the message each answers."""
    found: dict[str, list] = {}
    for envelope in smtp.envelopes():
        found.setdefault(" ".join(str(envelope.message["In-Reply-To"] or "").split()), []).append(envelope)
    return found


def all_done(dovecot, user, smtp, records: Records, items: list[Item], unanswered: set[str] = frozenset()) -> bool:
    """Has the service got to the end: inbox empty, every message recorded and filed, every reply out?"""
    if records.count() < len(items):
        return False
    answered = {i.message_id for i in items if i.answered} - set(unanswered)
    if not answered <= set(replies_to(smtp)):
        return False
    rows = records.messages()
    if any(row["state"] != "filed" for row in rows):
        return False
    if any(row["reply"] and row["reply"]["status"] in ("pending", "sending") for row in rows):
        return False
    return dovecot.messages(user, "INBOX") == []


def check_filed_and_answered(dovecot, user, smtp, records: Records, items: list[Item], not_answered: set[str] = frozenset()) -> dict[str, int]:
    """Every message filed once where its outcome says, decided once as triage decides, recorded once; every answered
    message answered (but those in `not_answered`), nothing else answered. Returns how many replies each answered
    message got (duplicates are for the caller to judge)."""
    assert dovecot.messages(user, "INBOX") == [], "messages left in the inbox"
    where: dict[str, list[str]] = {}
    for name, path in FOLDER_PATHS.items():
        for stored in dovecot.messages(user, path):
            where.setdefault(stored.message_id, []).append(name)
            assert b"\\Seen" not in stored.flags, (stored.message_id, stored.flags)
    for item in items:
        assert where.get(item.message_id) == [item.folder], f"{item.name} ({item.outcome}) is filed in {where.get(item.message_id)}"
    assert sum(map(len, where.values())) == len(items), "a message filed that was never delivered"

    rows = records.messages()
    assert len(rows) == len(items), f"{len(rows)} rows for {len(items)} messages"
    by_id = {row["message_id"]: row for row in rows}
    assert set(by_id) == {item.message_id for item in items}
    for item in items:
        row = by_id[item.message_id]
        assert (row["outcome"], row["folder"], row["state"]) == (item.outcome, item.folder, "filed"), (item.name, row)
        if item.answered and item.message_id not in not_answered:
            assert row["reply"] is not None and row["reply"]["status"] == "sent", (item.name, row)
        elif not item.answered:
            assert row["reply"] is None, (item.name, row)
    decided = Counter(message_id for message_id, _ in records.audit("decided"))
    assert all(count == 1 for count in decided.values()) and len(decided) == len(items), "a message decided twice"

    replies = replies_to(smtp)
    answered = {item.message_id for item in items if item.answered} - set(not_answered)
    assert set(replies) == answered, (
        f"answered but should not be: {sorted(set(replies) - answered)}; not answered: {sorted(answered - set(replies))}")
    for original, envelopes in replies.items():
        # A reply that went out twice went out as the same message (one Message-ID): a client shows it once.
        assert len({str(e.message["Message-ID"]) for e in envelopes}) == 1, original
        assert by_id[original]["reply"]["rfc_message_id"] == str(envelopes[0].message["Message-ID"])
    return {original: len(envelopes) for original, envelopes in replies.items()}


def check_exactly_once(dovecot, user, smtp, records: Records, items: list[Item], not_answered: set[str] = frozenset()) -> None:
    counts = check_filed_and_answered(dovecot, user, smtp, records, items, not_answered)
    twice = {original: n for original, n in counts.items() if n != 1}
    assert not twice, f"replies sent more than once: {twice}"


def assert_clean_exit(running: Running, code: int) -> None:
    text = running.text()
    assert code == 0, f"exit {code}\n{text[-3000:]}"
    assert "Traceback" not in text, text[-3000:]
    entries = running.entries()
    assert entries and entries[-1]["message"] == "mailbot stopped", text[-3000:]


# -- 1. crash safety -----------------------------------------------------------------------------------


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_sigkill_at_random_points_loses_nothing_and_repeats_only_the_reply_in_flight(
        request, database, tmp_path, dovecot, imap_user, slow_smtp, waves, records_for):
    """The service is killed (SIGKILL) at random points many times while it works through a backlog, then run
    to the end: every message filed once, every answered message answered, and a reply twice only where a kill
    caught it in flight (claimed, 'sending'), at most one per kill."""
    url = request.getfixturevalue(f"{database}_url")
    seed = int(os.environ.get("MAILBOT_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\ncrash test on {database}: seed {seed} (replay with MAILBOT_CRASH_SEED={seed})")
    rng = random.Random(seed)
    slow_smtp.latency = 0.08  # a reply takes a while to be acknowledged: kills land inside SMTP transactions too
    config, env = write_config(tmp_path / "config", url, dovecot=dovecot, user=imap_user, smtp=slow_smtp, service=FAST)
    records = records_for(url)
    items = list(waves[0])
    dovecot.append(imap_user, [item.raw for item in items])
    logs = tmp_path / "logs"
    logs.mkdir()

    # Where the kills land: most while the service works (after its start-up: the clock starts when the
    # long-running service says it started, or for `run --once` after the start-up seen last), some during
    # the start-up itself (the schema upgrade of a new database, the directory, releasing stale claims).
    killed: list[tuple[int, str]] = []  # (pid, where: "start-up", "run" or "once")
    startup = 1.0  # seconds from the start to "mailbot started", as last seen
    runs = 0
    delivered = 1
    while len(killed) < KILLS:
        if all_done(dovecot, imap_user, slow_smtp, records, items):
            assert delivered < len(waves), f"the backlog was done after {len(killed)} kills, and no wave is left"
            items += waves[delivered]  # more work, so that the kills to come land in work too
            dovecot.append(imap_user, [item.raw for item in waves[delivered]])
            delivered += 1
        draw = rng.random()
        where = "start-up" if draw < 0.2 else "once" if draw < 0.4 else "run"
        delay = rng.uniform(*KILL_AFTER)
        runs += 1
        running = Running(config, env, logs / f"{runs:03d}.log", once=where == "once")
        try:
            if where == "run":
                wait_for(lambda: running.said("mailbot started") or not running.alive(), 60, "the service to start", every=0.01)
                startup = time.monotonic() - running.started_at
                time.sleep(delay)
            else:
                time.sleep(max(0.0, running.started_at + delay + (startup if where == "once" else 0) - time.monotonic()))
            if running.kill():
                killed.append((running.pid, where))
            else:
                assert running.process.returncode == 0, f"run {runs} failed by itself\n{running.text()[-3000:]}"
        finally:
            running.stop_if_running()

    final = mailbot("run", "--once", "--config", config, env=env)
    assert final.returncode == 0, final.stderr[-3000:]
    counts = check_filed_and_answered(dovecot, imap_user, slow_smtp, records, items)

    # Duplicates: at most one per kill, and only of replies a killed process had claimed ('sending') and that
    # a later start released (audited as reply_released, naming the process that held the claim).
    killed_pids = {pid for pid, _ in killed}
    released = records.audit("reply_released")
    holders = Counter(int(detail["claimed_by"].rsplit(":", 1)[1]) for _, detail in released)
    assert set(holders) <= killed_pids, f"a claim released from a process nobody killed: {set(holders) - killed_pids}"
    assert all(n == 1 for n in holders.values()), f"one killed process held more than one reply: {holders}"
    released_for = Counter(message_id for message_id, _ in released)
    duplicates = {original: n - 1 for original, n in counts.items() if n > 1}
    for original, extra in duplicates.items():
        assert extra <= released_for[original], f"{original} went out {extra + 1} times but was released {released_for[original]} times"
    assert sum(duplicates.values()) <= len(killed)
    assert records.replies() == Counter({"sent": sum(1 for item in items if item.answered)})
    print(f"{len(killed)} kills in {runs} runs ({dict(Counter(where for _, where in killed))}), "
          f"{len(items)} messages in {delivered} wave(s), {len(released)} replies released, "
          f"{sum(duplicates.values())} duplicate(s): {sorted(duplicates)}")

    # Nothing is left to do: another pass sends nothing and moves nothing.
    again = mailbot("run", "--once", "--config", config, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sum(len(e) for e in replies_to(slow_smtp).values()) == sum(counts.values())
    assert dovecot.messages(imap_user, "INBOX") == []


# -- 2. faults -----------------------------------------------------------------------------------------


def test_the_imap_server_restarted_mid_pass(tmp_path, dovecot, imap_user, smtp_server, sqlite_url, backlog, records_for):
    """Dovecot dies (every process killed at once) in the middle of a pass of the long-running service and comes
    back: mailbot reconnects by itself and finishes the backlog, nothing lost, nothing twice."""
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server, service=FAST)
    records = records_for(sqlite_url)
    dovecot.append(imap_user, [item.raw for item in backlog])
    running = Running(config, env, tmp_path / "run.log")
    try:
        wait_for(lambda: records.count() >= 10, 30, "the first messages to be decided", every=0.005)
        os.kill(running.pid, signal.SIGSTOP)  # held still for a moment, so that the server dies mid-pass, not after it
        decided_before = records.count()
        try:
            dovecot.stop(hard=True)
        finally:
            os.kill(running.pid, signal.SIGCONT)
        try:
            wait_for(lambda: running.said("the mailbox could not be read"), 20, "mailbot to notice the server is gone")
            time.sleep(1.0)  # a few reconnection attempts fail
            assert running.alive(), running.text()[-3000:]
        finally:
            dovecot.start()
        wait_for(lambda: all_done(dovecot, imap_user, smtp_server, records, backlog), 60, "the backlog to be finished", every=0.1)
        code = running.terminate()
    finally:
        running.stop_if_running()
    assert decided_before < len(backlog), "the server was stopped after the pass, not during it"
    assert code == 0, running.text()[-3000:]
    check_exactly_once(dovecot, imap_user, smtp_server, records, backlog)


def test_replies_wait_while_the_smtp_server_is_down_and_go_out_once_it_is_back(
        tmp_path, dovecot, imap_user, smtp_server, sqlite_url, backlog, records_for):
    """The SMTP server goes away while the long-running service is sending: the mailbox goes on, the replies wait
    in the outbox (tried again and again, never given up for that), and go out once it is back, each once."""
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server,
                               service={**FAST, "send_attempts": 100})
    records = records_for(sqlite_url)
    dovecot.append(imap_user, [item.raw for item in backlog])
    answered = sum(1 for item in backlog if item.answered)
    running = Running(config, env, tmp_path / "run.log")
    try:
        wait_for(lambda: len(smtp_server.envelopes()) >= 5, 30, "the first replies", every=0.002)
        smtp_server.stop()
        try:
            wait_for(lambda: running.said("sending failed; will try again"), 20, "a failed attempt to send")
            wait_for(lambda: records.count() == len(backlog) and dovecot.messages(imap_user, "INBOX") == [], 30,
                     "the inbox to be worked through")
            sent_while_down = records.replies()["sent"]
            time.sleep(1.5)  # down for a while: attempts fail and back off
            assert records.replies()["sent"] == sent_while_down and records.replies()["failed"] == 0, records.replies()
            assert running.alive(), running.text()[-3000:]
        finally:
            smtp_server.start()
        wait_for(lambda: records.replies()["sent"] == answered, 30, "the replies to go out")
        code = running.terminate()
    finally:
        running.stop_if_running()
    assert sent_while_down < answered, "the SMTP server was stopped after every reply had gone out"
    assert_clean_exit(running, code)
    check_exactly_once(dovecot, imap_user, smtp_server, records, backlog)


def test_a_reply_that_cannot_be_sent_is_given_up_and_held_and_the_rest_goes_on(
        tmp_path, dovecot, imap_user, slow_smtp, sqlite_url, backlog, records_for):
    """The SMTP server says 'try again later' to every reply to one address: after the configured attempts the
    reply is given up, and its message is held for review with reason reply_failed and the error."""
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=slow_smtp,
                               service={**FAST, "send_attempts": 3, "retry_max_seconds": 0.3})
    records = records_for(sqlite_url)
    doomed = request_message("doomed")
    slow_smtp.refuse_to = {"jane.doe.doomed@harrowgatenursing.co.uk"}
    items = [*backlog[:20], Item("doomed", doomed, "<doomed@harrowgatenursing.co.uk>", "approved", True), *backlog[20:]]
    dovecot.append(imap_user, [item.raw for item in items])
    running = Running(config, env, tmp_path / "run.log")
    try:
        wait_for(lambda: all_done(dovecot, imap_user, slow_smtp, records, items, unanswered={"<doomed@harrowgatenursing.co.uk>"}),
                 60, "the backlog to be finished", every=0.1)
        code = running.terminate()
    finally:
        running.stop_if_running()
    assert_clean_exit(running, code)
    check_exactly_once(dovecot, imap_user, slow_smtp, records, items, not_answered={"<doomed@harrowgatenursing.co.uk>"})
    row = records.by_message_id()["<doomed@harrowgatenursing.co.uk>"]
    assert row["reply"]["status"] == "failed" and row["reply"]["attempts"] == 3, row
    assert "451" in row["reply"]["error"], row
    assert row["review"] == {"status": "open", "reasons": ["reply_failed"]}, row
    assert len(slow_smtp.refused) == 3
    [(_, detail)] = [entry for entry in records.audit("reply_failed") if entry[0] == "<doomed@harrowgatenursing.co.uk>"]
    assert "451" in detail["error"] and detail["attempts"] == 3
    # Said in the log (with the logs' words for it), not a traceback.
    assert running.said("given up"), running.text()[-3000:]


def _bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:  # Dovecot moved it from new/ to cur/ meanwhile: found under its new name
        return b""


def test_a_message_the_server_cannot_read_is_held_and_the_rest_goes_on(tmp_path, dovecot, imap_user, smtp_server, sqlite_url,
                                                                       backlog, records_for):
    """One message Dovecot cannot read (its file unreadable: FETCH fails with an internal error and the server
    drops the connection): it must not block the mailbox. The rest is decided, filed and answered; the one is held
    for review with its error."""
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server, service=FAST)
    records = records_for(sqlite_url)
    items = backlog[:12]
    dovecot.append(imap_user, [item.raw for item in items[:6]])
    [bad_uid] = dovecot.append(imap_user, request_message("unreadable"))
    dovecot.append(imap_user, [item.raw for item in items[6:]])
    maildir = dovecot.root / "mail" / imap_user.name
    [bad] = [f for f in glob.glob(str(maildir / "*" / "*")) if b"<unreadable@" in _bytes(f)]
    base = Path(bad).name.split(":", 1)[0]  # its name in new/; in cur/ it gets flags after a colon

    def unreadable(mode: int) -> None:  # Dovecot's mail processes run as another user (or drop their rights)
        for path in glob.glob(str(maildir / "*" / f"{glob.escape(base)}*")):
            os.chmod(path, mode)

    unreadable(0)
    try:
        runs = [mailbot("run", "--once", "--config", config, env=env) for _ in range(3)]
    finally:
        unreadable(0o600)
    assert all("Traceback" not in run.stderr for run in runs), runs[-1].stderr[-3000:]
    inbox = dovecot.message_ids(imap_user, "INBOX")
    assert set(inbox) <= {"<unreadable@harrowgatenursing.co.uk>"}, f"{len(inbox)} messages wait behind the one that cannot be read"
    rows = records.messages()
    held = [row for row in rows if row["uid"] == str(bad_uid) or row["message_id"] == "<unreadable@harrowgatenursing.co.uk>"]
    assert len(held) == 1 and held[0]["review"] and held[0]["review"]["status"] == "open" and held[0]["error"], held
    assert not any("unreadable" in original for original in replies_to(smtp_server))
    answered = {item.message_id for item in items if item.answered}
    assert set(replies_to(smtp_server)) == answered


def test_sigterm_mid_backlog_stops_cleanly_and_a_restart_finishes_the_rest(
        tmp_path, dovecot, imap_user, slow_smtp, sqlite_url, backlog, records_for):
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=slow_smtp, service=FAST)
    records = records_for(sqlite_url)
    slow_smtp.latency = 0.05  # a reply is in hand for a while: the stop waits for it
    dovecot.append(imap_user, [item.raw for item in backlog])
    running = Running(config, env, tmp_path / "run.log")
    try:
        wait_for(lambda: records.count() >= 10, 30, "the first messages to be decided", every=0.005)
        code = running.terminate()
    finally:
        running.stop_if_running()
    assert_clean_exit(running, code)
    assert running.said("stopping: finishing the message in hand")

    # Stopped mid-backlog, with nothing half done: each message decided is filed, the others wait in the inbox
    # untouched, and no reply is left claimed.
    rows = records.messages()
    assert 10 <= len(rows) < len(backlog), len(rows)
    assert all(row["state"] == "filed" for row in rows), [row for row in rows if row["state"] != "filed"]
    decided = {row["message_id"] for row in rows}
    inbox = dovecot.messages(imap_user, "INBOX")
    assert {m.message_id for m in inbox} == {item.message_id for item in backlog} - decided
    assert all(b"\\Seen" not in m.flags for m in inbox)
    assert "sending" not in records.replies(), records.replies()

    restart = mailbot("run", "--once", "--config", config, env=env)
    assert restart.returncode == 0, restart.stderr[-3000:]
    assert "replies left half-sent" not in restart.stderr  # nothing was in flight when it stopped
    check_exactly_once(dovecot, imap_user, slow_smtp, records, backlog)


# -- 3. two passes at once -----------------------------------------------------------------------------


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_passes_started_together_decide_file_and_answer_each_message_once(
        request, database, tmp_path, dovecot, imap_user, smtp_server, backlog, records_for):
    """Two `run --once` on the same mailbox and database (a new one: both create its tables), started at the same time."""
    url = request.getfixturevalue(f"{database}_url")
    config, env = write_config(tmp_path / "config", url, dovecot=dovecot, user=imap_user, smtp=smtp_server, service=FAST)
    records = records_for(url)
    dovecot.append(imap_user, [item.raw for item in backlog])
    both = [Running(config, env, tmp_path / f"once-{n}.log", once=True) for n in (1, 2)]
    try:
        codes = [running.process.wait(timeout=120) for running in both]
    finally:
        for running in both:
            running.stop_if_running()
    for running, code in zip(both, codes):
        assert code == 0, running.text()[-3000:]
        assert "Traceback" not in running.text(), running.text()[-3000:]
    check_exactly_once(dovecot, imap_user, smtp_server, records, backlog)


# -- 5. workers die with the service ---------------------------------------------------------------------------


def _descendants(pid: int) -> set[int]:
    """Every live process below pid (children, their children...), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_service_leaves_none_of_its_processes_behind(tmp_path, dovecot, imap_user, smtp_server, sqlite_url):
    """SIGKILL to `mailbot run` alone (not its group) mid-batch, its triage workers busy: within seconds, none of
    the processes it started is left (workers, and whatever helpers multiprocessing started for them)."""
    from test_slow_mail import slow_policy, stalling_message

    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server,
                               service={**FAST, "triage_workers": 2, "message_timeout_seconds": 30},
                               extra=f"[policy]\nfile = {json.dumps(str(slow_policy(tmp_path / 'config')))}\n")
    dovecot.append(imap_user, [stalling_message(f"kill{n}") for n in range(6)])
    running = Running(config, env, tmp_path / "run.log")
    try:
        workers = wait_for(lambda: (found := _descendants(running.pid)) and len(found) >= 2 and found, 60,
                           "the triage workers to start")
        time.sleep(1.0)  # they are each in a message now (every message stalls for its whole budget)
        workers = _descendants(running.pid)
        os.kill(running.pid, signal.SIGKILL)
        running.process.wait(timeout=30)
        wait_for(lambda: not any(_alive(pid) for pid in workers), 10, f"the service's processes {sorted(workers)} to exit")
    finally:
        for pid in _descendants(running.pid) | {running.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        running.stop_if_running()
