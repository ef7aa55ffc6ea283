"""The mailbox service end to end, as ops run it: `python -m mailbot run --once` in a subprocess against a
real Dovecot (IMAP), a real SMTP server (aiosmtpd) and SQLite; and the Maildir + file outbox mode."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from conftest import DATA, ROOT, SHARED, shared_path
from mailbot.store import Message, Reply, Store
from servers import IMAP_PASSWORD_ENV, header_message_id, mailbot, write_config

DEMO_INBOX = ROOT / "config" / "demo" / "inbox"
OURS = "agencies@nhsprofessionals.nhs.uk"
FOLDER_PATHS = {"processed": "Mailbot/Processed", "review": "Mailbot/Review", "ignored": "Mailbot/Ignored"}
PER_OUTCOME = 6  # messages of each outcome in the loaded mailbox: a few dozen in all

AUTH = "mx.nhsprofessionals.nhs.uk; dkim=pass header.d=harrowgatenursing.co.uk; dmarc=pass header.from=harrowgatenursing.co.uk"


def folder_for(outcome: str) -> str:
    return {"review": "review", "ignored": "ignored"}.get(outcome, "processed")


def request_message(tag: str, sender: str = "Maria Santos <maria.santos@harrowgatenursing.co.uk>", size: int = 0) -> bytes:
    """An authenticated Agency User request from Maria Santos (a listed branch manager): approved.
    With `size`, padded with a base64 attachment up to about that many bytes."""
    head = (
        f"Authentication-Results: {AUTH}\r\n"
        f"From: {sender}\r\n"
        f"To: {OURS}\r\n"
        f"Subject: Agency User access {tag}\r\n"
        f"Message-ID: <{tag}@harrowgatenursing.co.uk>\r\n"
        "Date: Tue, 22 Apr 2025 08:02:39 +0100\r\n"
    )
    body = (
        f"Hello,\r\n\r\nPlease could you set up NHSP:Online Agency User access for Jane Doe {tag.title()},"
        f" jane.doe.{tag}@harrowgatenursing.co.uk.\r\n\r\nKind regards\r\nMaria Santos\r\nBranch Manager\r\nHarrowgate Nursing Ltd\r\n"
    )
    if not size:
        return (head + "\r\n" + body).encode()
    padding = "\r\n".join(["QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0"] * (size // 78 + 1))
    return (
        head + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
        '--b1\r\nContent-Type: application/pdf; name="scan.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + padding + "\r\n--b1--\r\n"
    ).encode()


def _public_corpus() -> list[Path]:
    """The shared public corpus when it is beside the project (required under CI), else nothing:
    the project's own messages are enough for these tests."""
    if not (SHARED / "corpus" / "public").exists() and os.environ.get("CI", "").lower() != "true":
        return []
    return sorted(shared_path("corpus", "public").glob("*.eml"))


def triage_json(config: Path, files: list[Path]) -> dict[str, dict]:
    """`mailbot triage --json` on the files with the same config, by file name."""
    run = mailbot("triage", "--config", config, "--json", *files)
    assert run.returncode == 0, run.stderr
    return {line["file"]: line for line in map(json.loads, run.stdout.splitlines())}


def recorded(database_url: str) -> dict[str, dict]:
    """What the service recorded, by the message's Message-ID."""
    store = Store(database_url)
    try:
        if not inspect(store.engine).has_table("messages"):
            return {}
        with store.session() as session:
            rows = {}
            for message in session.scalars(select(Message)):
                rows[message.message_id] = {
                    "outcome": message.outcome, "reasons": sorted(message.reasons), "folder": message.folder,
                    "state": message.state, "requests": sorted((r.email or "", r.access or "", r.outcome) for r in message.requests),
                    "reply": message.reply.status if message.reply else None,
                    "review": sorted(message.review.reasons) if message.review else None, "error": message.error,
                }
            return rows
    finally:
        store.close()


def mailbox_snapshot(dovecot, user) -> dict[str, list]:
    return {name: [(m.message_id, m.flags) for m in dovecot.messages(user, path)]
            for name, path in {"inbox": "INBOX", **FOLDER_PATHS}.items()}


def replies_by_original(smtp_server) -> dict[str, list]:
    found: dict[str, list] = {}
    for envelope in smtp_server.envelopes():
        found.setdefault(" ".join(str(envelope.message["In-Reply-To"] or "").split()), []).append(envelope)
    return found


def run_once(config: Path, env: dict, *extra: str):
    return mailbot("run", "--once", *extra, "--config", config, env=env)


# -- the loaded mailbox --------------------------------------------------------------------------------


@pytest.fixture
def loaded(tmp_path, dovecot, imap_user, smtp_server, database_url):
    """A few dozen varied messages, of every outcome, in the test user's INBOX; the config to run on it
    (SQLite, then PostgreSQL); and what `mailbot triage --json` decides for each with that config."""
    public = _public_corpus()
    directories = (DATA, public[0].parent) if public else (DATA,)
    config, env = write_config(tmp_path / "config", database_url, dovecot=dovecot, user=imap_user, smtp=smtp_server,
                               directories=directories, service={"replies_per_sender_per_hour": 1000})
    candidates = [*sorted(DEMO_INBOX.glob("*.eml")), *sorted((DATA / "cases").glob("*.eml")),
                  *sorted((DATA / "cases2").glob("*.eml")), *public]
    decided = triage_json(config, candidates)
    chosen, seen_ids, per_outcome = [], set(), Counter()
    for path in candidates:
        result = decided[str(path)]
        message_id = result["message_id"]
        # A message without a Message-ID, or with one another message has, is another test's matter.
        if message_id is None or message_id in seen_ids or header_message_id(path.read_bytes()) is None:
            continue
        if per_outcome[result["outcome"]] >= PER_OUTCOME:
            continue
        per_outcome[result["outcome"]] += 1
        seen_ids.add(message_id)
        chosen.append((path, result))
    assert set(per_outcome) >= {"approved", "rejected", "needs_info", "redirected", "informed", "partial", "review", "ignored"}, per_outcome
    dovecot.append(imap_user, [path.read_bytes() for path, _ in chosen])
    return {"config": config, "env": env, "chosen": chosen, "database": database_url}


def test_run_once_files_every_message_and_answers_each_answered_one_once(loaded, dovecot, imap_user, smtp_server):
    chosen = loaded["chosen"]
    run = run_once(loaded["config"], loaded["env"])
    assert run.returncode == 0, run.stderr

    # Every message is out of the inbox, in the folder its outcome calls for, and was not marked seen.
    assert dovecot.messages(imap_user, "INBOX") == []
    where: dict[str, list[str]] = {}
    for name, path in FOLDER_PATHS.items():
        for stored in dovecot.messages(imap_user, path):
            where.setdefault(stored.message_id, []).append(name)
            assert b"\\Seen" not in stored.flags, (stored.message_id, stored.flags)
    for path, result in chosen:
        assert where.get(result["message_id"]) == [folder_for(result["outcome"])], (path.name, result["outcome"], where.get(result["message_id"]))
    assert sum(map(len, where.values())) == len(chosen)

    # The service's decision is triage's, message by message; all recorded and filed.
    rows = recorded(loaded["database"])
    assert len(rows) == len(chosen)
    for path, result in chosen:
        row = rows[result["message_id"]]
        assert (row["outcome"], row["reasons"]) == (result["outcome"], sorted(result["reasons"])), path.name
        assert row["requests"] == sorted((r["email"] or "", r["access"] or "", r["outcome"]) for r in result["requests"]), path.name
        assert row["state"] == "filed" and row["folder"] == folder_for(result["outcome"]), path.name
        assert row["reply"] == ("sent" if result["reply"] else None), path.name
        assert row["review"] == (sorted(result["reasons"]) if result["outcome"] == "review" else None), path.name

    # Every answered message got exactly one threaded reply, of mailbot's own, to whom triage says.
    answered = {result["message_id"]: result for _, result in chosen if result["reply"]}
    assert answered, "the mailbox should hold answered messages"
    replies = replies_by_original(smtp_server)
    assert set(replies) == set(answered), "a reply to a message that should get none, or none to one that should"
    own_ids = set()
    for original, result in answered.items():
        [envelope] = replies[original]
        reply = envelope.message
        assert envelope.mail_from == OURS
        assert sorted(a.lower() for a in envelope.rcpt_tos) == sorted(a.lower() for a in (*result["reply"]["to"], *result["reply"]["cc"]))
        assert " ".join(str(reply["In-Reply-To"]).split()) == original
        assert original in str(reply["References"]).split()
        assert str(reply["Auto-Submitted"]) == "auto-replied"
        assert str(reply["Subject"]).startswith("Re:") and str(reply["Subject"]) == result["reply"]["subject"]
        own = str(reply["Message-ID"])
        assert own.startswith("<") and own.endswith("@nhsprofessionals.nhs.uk>") and own != original
        own_ids.add(own)
    assert len(own_ids) == len(answered)

    # A second pass sends nothing and moves nothing.
    before = mailbox_snapshot(dovecot, imap_user)
    again = run_once(loaded["config"], loaded["env"])
    assert again.returncode == 0, again.stderr
    assert len(smtp_server.envelopes()) == len(answered)
    assert mailbox_snapshot(dovecot, imap_user) == before

    # New messages get only their own replies.
    fresh = [request_message("fresh-one"), request_message("fresh-two"), DEMO_INBOX.joinpath("07-out-of-office.eml").read_bytes().replace(
        b"Message-ID: <", b"Message-ID: <fresh-ooo-")]
    dovecot.append(imap_user, fresh)
    third = run_once(loaded["config"], loaded["env"])
    assert third.returncode == 0, third.stderr
    replies = replies_by_original(smtp_server)
    assert set(replies) == set(answered) | {"<fresh-one@harrowgatenursing.co.uk>", "<fresh-two@harrowgatenursing.co.uk>"}
    assert all(len(envelopes) == 1 for envelopes in replies.values())
    assert dovecot.messages(imap_user, "INBOX") == []
    assert len(dovecot.messages(imap_user, FOLDER_PATHS["processed"])) == len(before["processed"]) + 2
    assert len(dovecot.messages(imap_user, FOLDER_PATHS["ignored"])) == len(before["ignored"]) + 1


def test_dry_run_sends_moves_and_records_nothing_but_prints_the_decisions(loaded, dovecot, imap_user, smtp_server, tmp_path):
    before = mailbox_snapshot(dovecot, imap_user)
    folders = dovecot.folders(imap_user)
    run = run_once(loaded["config"], loaded["env"], "--dry-run")
    assert run.returncode == 0, run.stderr
    assert mailbox_snapshot(dovecot, imap_user) == before
    assert dovecot.folders(imap_user) == folders
    assert smtp_server.envelopes() == []
    if loaded["database"].startswith("sqlite:///"):
        assert not Path(loaded["database"].removeprefix("sqlite:///")).exists()
    assert recorded(loaded["database"]) == {}
    assert "dry run" in run.stdout
    printed = Counter(word for line in run.stdout.splitlines() for word in line.replace("│", " ").split())
    expected = Counter(result["outcome"] for _, result in loaded["chosen"])
    for outcome, count in expected.items():
        assert printed[outcome] >= count, (outcome, printed[outcome], count)
    # ...and a real pass afterwards still has everything to do.
    real = run_once(loaded["config"], loaded["env"])
    assert real.returncode == 0, real.stderr
    assert dovecot.messages(imap_user, "INBOX") == []
    assert len(smtp_server.envelopes()) == sum(1 for _, result in loaded["chosen"] if result["reply"])


# -- one mailbox, a few messages -----------------------------------------------------------------------


@pytest.fixture
def service(tmp_path, dovecot, imap_user, smtp_server, sqlite_url):
    """A config on this test's own IMAP user, SMTP server and SQLite file; `overrides` for [service]."""

    def make(**overrides):
        config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server,
                                   service=overrides)
        return config, env

    return make


def test_a_message_seen_again_is_filed_but_not_answered_again(service, dovecot, imap_user, smtp_server, sqlite_url):
    config, env = service()
    out_of_office = DEMO_INBOX.joinpath("07-out-of-office.eml").read_bytes()
    dovecot.append(imap_user, [request_message("twice"), out_of_office])
    assert run_once(config, env).returncode == 0
    assert [e.message["In-Reply-To"] for e in smtp_server.envelopes()] == ["<twice@harrowgatenursing.co.uk>"]

    dovecot.append(imap_user, [request_message("twice"), out_of_office])  # the same messages, delivered again
    run = run_once(config, env)
    assert run.returncode == 0, run.stderr
    assert len(smtp_server.envelopes()) == 1, "the same Message-ID was answered twice"
    assert dovecot.messages(imap_user, "INBOX") == []
    assert dovecot.message_ids(imap_user, FOLDER_PATHS["processed"]) == ["<twice@harrowgatenursing.co.uk>"] * 2
    assert len(dovecot.messages(imap_user, FOLDER_PATHS["ignored"])) == 2
    assert len(recorded(sqlite_url)) == 2


def test_a_new_uidvalidity_rereads_the_inbox_but_answers_nothing_twice(service, dovecot, imap_user, smtp_server, sqlite_url):
    """The server renumbered the inbox (a new UIDVALIDITY): everything in it is read again, and a
    message decided before (put back in the inbox by a person, say) is filed, not answered again."""
    config, env = service()
    dovecot.append(imap_user, [request_message("before")])
    assert run_once(config, env).returncode == 0
    [answered] = dovecot.messages(imap_user, FOLDER_PATHS["processed"])
    dovecot.append(imap_user, [answered.raw, request_message("after")])
    dovecot.set_uidvalidity(imap_user, dovecot.uidvalidity(imap_user) + 1000)
    run = run_once(config, env)
    assert run.returncode == 0, run.stderr
    assert sorted(" ".join(str(e.message["In-Reply-To"]).split()) for e in smtp_server.envelopes()) == [
        "<after@harrowgatenursing.co.uk>", "<before@harrowgatenursing.co.uk>"]
    assert dovecot.messages(imap_user, "INBOX") == []
    assert sorted(dovecot.message_ids(imap_user, FOLDER_PATHS["processed"])) == [
        "<after@harrowgatenursing.co.uk>", "<before@harrowgatenursing.co.uk>", "<before@harrowgatenursing.co.uk>"]
    # Said in the log, one JSON object per line (stderr is a pipe here, not a terminal).
    logged = [json.loads(line) for line in run.stderr.splitlines() if line.strip()]
    assert any("UIDVALIDITY" in entry["message"] for entry in logged), run.stderr


def test_a_message_over_the_size_limit_is_held_unanswered(service, dovecot, imap_user, smtp_server, sqlite_url):
    config, env = service(max_message_bytes=20_000)
    dovecot.append(imap_user, [request_message("large", size=60_000), request_message("small")])
    run = run_once(config, env)
    assert run.returncode == 0, run.stderr
    assert [e.message["In-Reply-To"] for e in smtp_server.envelopes()] == ["<small@harrowgatenursing.co.uk>"]
    [held] = dovecot.messages(imap_user, FOLDER_PATHS["review"])
    assert held.message_id == "<large@harrowgatenursing.co.uk>" and b"\\Seen" not in held.flags
    assert len(held.raw) > 60_000  # filed whole, though only its header was read
    row = recorded(sqlite_url)["<large@harrowgatenursing.co.uk>"]
    assert (row["outcome"], row["reasons"], row["folder"], row["reply"], row["review"]) == (
        "review", ["message_too_large"], "review", None, ["message_too_large"])


def test_a_busy_manager_is_answered_but_what_looks_like_a_loop_waits_past_five_replies_an_hour(service, dovecot, imap_user,
                                                                                              smtp_server, sqlite_url):
    config, env = service()  # the default limit: 5 per sender per hour
    # Eight distinct starters from a verified manager on a Monday morning: every one answered.
    tags = [f"starter-{n}" for n in range(1, 9)]
    dovecot.append(imap_user, [request_message(tag) for tag in tags])
    assert run_once(config, env).returncode == 0
    answered = [" ".join(str(e.message["In-Reply-To"]).split()) for e in smtp_server.envelopes()]
    assert answered == [f"<{tag}@harrowgatenursing.co.uk>" for tag in tags]
    # The same words again and again under new Message-IDs (a loop, or a stuck client): the first answered, the rest held.
    same = request_message("echo")
    copies = [same.replace(b"<echo@", f"<echo-{n}@".encode()) for n in range(1, 5)]
    dovecot.append(imap_user, copies)
    smtp_server.clear()
    assert run_once(config, env).returncode == 0
    assert [" ".join(str(e.message["In-Reply-To"]).split()) for e in smtp_server.envelopes()] == ["<echo-1@harrowgatenursing.co.uk>"]
    rows = recorded(sqlite_url)
    for n in range(2, 5):
        row = rows[f"<echo-{n}@harrowgatenursing.co.uk>"]
        assert row["folder"] == "review" and row["review"] == ["reply_rate_limited"] and row["reply"] == "held", row
    # Anyone nobody verified (public password help) gets five an hour, distinct or not.
    strangers = [(f"From: Sam <sam@example.org>\r\nTo: {OURS}\r\nSubject: password {n}\r\nMessage-ID: <pw-{n}@example.org>\r\n"
                  f"\r\nI forgot my NHSP password ({n}), how do I reset it?\r\n").encode() for n in range(1, 8)]
    dovecot.append(imap_user, strangers)
    smtp_server.clear()
    assert run_once(config, env).returncode == 0
    assert len(smtp_server.envelopes()) == 5
    assert sorted(m for m in dovecot.message_ids(imap_user, FOLDER_PATHS["review"]) if m.startswith("<pw-")) == ["<pw-6@example.org>", "<pw-7@example.org>"]


def test_an_unreachable_mailbox_is_a_one_line_failure(service, dovecot, imap_user, smtp_server):
    config, env = service()
    dovecot.append(imap_user, [request_message("waits")])
    run = run_once(config, {**env, IMAP_PASSWORD_ENV: "not-the-password"})
    assert run.returncode != 0
    last = json.loads(run.stderr.strip().splitlines()[-1])  # not on a terminal: a JSON object
    assert last["level"] == "error" and "IMAP" in last["message"], run.stderr
    assert "Traceback" not in run.stderr
    assert dovecot.message_ids(imap_user, "INBOX") == ["<waits@harrowgatenursing.co.uk>"]
    assert smtp_server.envelopes() == []


def test_replies_wait_in_the_outbox_while_smtp_is_down(service, dovecot, imap_user, smtp_server, sqlite_url):
    config, env = service()
    dovecot.append(imap_user, [request_message("later")])
    with smtp_server.down():
        run = run_once(config, env)
    assert run.returncode != 0
    assert json.loads(run.stderr.strip().splitlines()[-1])["message"].startswith("replies wait in the outbox"), run.stderr
    assert dovecot.message_ids(imap_user, FOLDER_PATHS["processed"]) == ["<later@harrowgatenursing.co.uk>"]
    assert recorded(sqlite_url)["<later@harrowgatenursing.co.uk>"]["reply"] == "pending"
    store = Store(sqlite_url)
    with store.session() as session:  # due again after the backoff; make it due now
        for reply in session.scalars(select(Reply)):
            reply.next_attempt_at = reply.created_at
    store.close()
    again = run_once(config, env)
    assert again.returncode == 0, again.stderr
    assert [e.message["In-Reply-To"] for e in smtp_server.envelopes()] == ["<later@harrowgatenursing.co.uk>"]


def test_overlong_addresses_are_decided_like_any_other_on_postgresql(tmp_path, dovecot, imap_user, smtp_server, postgresql_url):
    """Addresses longer than any real one (PostgreSQL enforces the columns' lengths, SQLite does not):
    the message is decided and filed as triage says, and the rest of the mailbox goes on."""
    config, env = write_config(tmp_path / "config", postgresql_url, dovecot=dovecot, user=imap_user, smtp=smtp_server)
    long_sender = request_message("long-sender", sender="Bob <" + "b" * 400 + "@harrowgatenursing.co.uk>")
    long_request = request_message("long-request").replace(b"jane.doe.long-request@", b"j" * 400 + b"@")
    files = []
    for name, raw in (("long-sender.eml", long_sender), ("long-request.eml", long_request), ("normal.eml", request_message("normal"))):
        (tmp_path / name).write_bytes(raw)
        files.append(tmp_path / name)
    decided = triage_json(config, files)
    dovecot.append(imap_user, [path.read_bytes() for path in files])
    run = run_once(config, env)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert dovecot.messages(imap_user, "INBOX") == []
    rows = recorded(postgresql_url)
    for path in files:
        result = decided[str(path)]
        row = rows[result["message_id"]]
        assert (row["outcome"], row["reasons"]) == (result["outcome"], sorted(result["reasons"])), (path.name, row)
        assert row["error"] is None, row["error"]
    answered = {" ".join(str(e.message["In-Reply-To"]).split()) for e in smtp_server.envelopes()}
    assert answered == {result["message_id"] for result in decided.values() if result["reply"]}
    assert "<normal@harrowgatenursing.co.uk>" in answered
    # a 400-character local part is no valid address: held for a person, with the reason, not answered
    held = decided[str(tmp_path / "long-request.eml")]
    assert (held["outcome"], held["reasons"]) == ("review", ["extraction_uncertain"])


# -- check-config --------------------------------------------------------------------------------------


def _check_lines(run) -> list[str]:
    return [line for line in run.stdout.splitlines() if line.strip()]


def test_check_config_passes_against_the_running_servers(service, dovecot, imap_user):
    config, env = service()
    run = mailbot("check-config", "--config", config, env=env)
    assert run.returncode == 0, (run.stdout, run.stderr)
    lines = _check_lines(run)
    assert [line.split()[1] for line in lines] == ["config", "directory", "database", "mailbox", "smtp"], run.stdout
    assert all(line.startswith("ok") for line in lines), run.stdout
    assert {"Mailbot.Processed", "Mailbot.Review", "Mailbot.Ignored"} <= set(dovecot.folders(imap_user))


def test_check_config_fails_on_a_wrong_imap_password(service):
    config, env = service()
    run = mailbot("check-config", "--config", config, env={**env, IMAP_PASSWORD_ENV: "wrong"})
    assert run.returncode != 0
    lines = _check_lines(run)
    assert lines[-1].startswith("FAIL") and lines[-1].split()[1] == "mailbox", run.stdout
    assert all(line.startswith("ok") for line in lines[:-1]), run.stdout
    assert "Traceback" not in run.stderr


def test_check_config_fails_when_the_password_variable_is_unset(service):
    config, env = service()
    run = mailbot("check-config", "--config", config, env={})
    assert run.returncode != 0
    last = _check_lines(run)[-1]
    assert last.startswith("FAIL") and IMAP_PASSWORD_ENV in last, run.stdout


def test_check_config_fails_when_the_smtp_port_is_closed(service, smtp_server):
    config, env = service()
    smtp_server.stop()
    run = mailbot("check-config", "--config", config, env=env)
    assert run.returncode != 0
    lines = _check_lines(run)
    assert lines[-1].startswith("FAIL") and lines[-1].split()[1] == "smtp", run.stdout
    assert all(line.startswith("ok") for line in lines[:-1]), run.stdout
    assert "Traceback" not in run.stderr


def test_check_config_passes_on_the_shipped_demo_a_maildir_config(tmp_path):
    """The demo's own file, in a copy of the demo folder (its paths are relative to the file: var/ lands in tmp)."""
    demo = tmp_path / "config" / "demo"
    shutil.copytree(ROOT / "config" / "demo", demo)
    run = mailbot("check-config", "--config", demo / "mailbot.toml")
    assert run.returncode == 0, (run.stdout, run.stderr)
    lines = _check_lines(run)
    assert [line.split()[1] for line in lines] == ["config", "directory", "database", "mailbox", "outbox"], run.stdout
    assert all(line.startswith("ok") for line in lines), run.stdout
    assert (tmp_path / "var" / "demo" / "mail" / ".Mailbot.Review").is_dir()


# -- Maildir and the file outbox: no servers -----------------------------------------------------------


def test_maildir_and_file_outbox(tmp_path, sqlite_url):
    maildir, outbox = tmp_path / "mail", tmp_path / "outbox"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    config, env = write_config(tmp_path / "config", sqlite_url, maildir=maildir, outbox=outbox,
                               service={"replies_per_sender_per_hour": 1000})
    files = [*sorted(DEMO_INBOX.glob("*.eml")), *sorted((DATA / "cases").glob("*.eml"))[:12]]
    decided = triage_json(config, files)
    for n, path in enumerate(files):
        shutil.copy(path, maildir / ("new" if n % 2 else "cur") / f"{1700000000 + n}.M{n}P1.test{':2,' if n % 2 == 0 else ''}")

    run = run_once(config, env)
    assert run.returncode == 0, run.stderr
    assert os.listdir(maildir / "new") == [] and os.listdir(maildir / "cur") == []
    # What was held says why, in codes on its row and in the support team's words below, and where the desk is.
    held = [line.split("\t") for line in run.stdout.splitlines() if "\treview\t" in line]
    assert held and all(len(cells) == 7 and cells[6] for cells in held), held
    assert "held for review:" in run.stdout and "sender_not_authenticated: The sender's address could not be verified" in run.stdout
    assert f"mailbot web --config {config}" in run.stdout
    for folder in FOLDER_PATHS.values():  # Maildir++: .Mailbot.Processed and so on
        assert (maildir / ("." + folder.replace("/", "."))).is_dir(), folder
    filed: dict[str, list[str]] = {}
    for name, folder in FOLDER_PATHS.items():
        sub = maildir / ("." + folder.replace("/", ".")) / "cur"
        for entry in sub.iterdir():
            filed.setdefault(header_message_id(entry.read_bytes()), []).append(name)
    answered = {}
    for path in files:
        result = decided[str(path)]
        assert filed.get(header_message_id(path.read_bytes())) == [folder_for(result["outcome"])], path.name
        if result["reply"]:
            answered[result["message_id"]] = result
    written = sorted(outbox.glob("*.eml"))
    assert len(written) == len(answered) and not list(outbox.glob("*.tmp"))
    by_original = {}
    for path in written:
        reply = message_from_bytes(path.read_bytes(), policy=email_policy.default)
        by_original[" ".join(str(reply["In-Reply-To"]).split())] = reply
        assert str(reply["Auto-Submitted"]) == "auto-replied" and str(reply["Subject"]).startswith("Re:")
    assert set(by_original) == set(answered)

    again = run_once(config, env)  # nothing left to do
    assert again.returncode == 0, again.stderr
    assert sorted(outbox.glob("*.eml")) == written


# -- logs ----------------------------------------------------------------------------------------------


def test_logs_are_json_lines_when_stderr_is_not_a_terminal(service, dovecot, imap_user, smtp_server):
    config, env = service(max_message_bytes=20_000)
    dovecot.append(imap_user, [request_message("refused"), request_message("big", size=30_000),
                               b"From: nobody\r\nSubject: \xff\xfe broken\r\n\r\n\x00\x01"])
    smtp_server.refuse = "550 5.1.1 no such mailbox"  # the reply is given up, and that is logged
    run = run_once(config, env)
    assert run.returncode == 0, run.stderr
    entries = [json.loads(line) for line in run.stderr.splitlines()]
    assert entries, "expected at least the given-up reply in the log"
    for entry in entries:
        assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= set(entry), entry
    assert any(entry["level"] == "error" and "given up" in entry["message"] for entry in entries), run.stderr
