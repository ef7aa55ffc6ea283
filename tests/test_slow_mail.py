"""No message holds up the mailbox: every shape that was slow is read quickly now, every pattern mailbot runs is
linear in the text's length, and a message past its time budget is held (processing_timeout) while the rest goes
on, in `mailbot triage` and in the service."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import time
from pathlib import Path

import pytest

import mailbot
from conftest import DATA
from mailbot.report import as_contract
from mailbot.settings import load_settings
from mailbot.triage import Triage
from servers import mailbot as run_mailbot
from servers import write_config
from slow_mail import SHAPES, message
from test_service import recorded, replies_by_original, request_message, run_once

# Reading any of these took from 40 s to minutes before (three of them over 40 s on this machine); now each is
# read in well under a second. The bound leaves room for a busy machine, and stays far below the budget.
QUICK_SECONDS = 3.0


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_slow_shape_is_read_quickly(engine, shape):
    raw = SHAPES[shape]()
    started = time.thread_time()  # the work reading it takes, whatever else the machine runs meanwhile (wall time
    result = engine.run(raw)      # counted the other test processes' turns too: 3.4 s for about 1 s of work, once)
    took = time.thread_time() - started
    assert took < QUICK_SECONDS, f"{shape}: {took:.1f} s"
    assert "processing_timeout" not in result.decision.reasons  # read, not cut short by the budget


# -- every pattern, linear ----------------------------------------------------------------------------------


def _patterns() -> dict[str, re.Pattern]:
    """Every compiled pattern at the top of a mailbot module; the policy's access phrases, purposes and topics; and
    the reading rules' cues and context patterns (config/reading.toml)."""
    found = {}
    for info in pkgutil.walk_packages(mailbot.__path__, "mailbot."):
        if ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                found[f"{info.name}.{name}"] = value
    engine = Triage.from_settings(load_settings(DATA / "mailbot.toml"))
    extractor = engine.extractor
    found["policy access phrases"] = extractor.access.names
    found["policy access purposes"] = extractor.access.purposes
    for name, pattern in extractor.topics.topics:
        found[f"policy topic {name}"] = pattern
    for cue, pattern in extractor.rules.cues.items():
        found[f"reading cue {cue.value}"] = pattern
    for name, pattern in extractor.rules.context.items():
        found[f"reading context {name}"] = pattern
    return found


PATTERNS = _patterns()
# Runs of one piece: what made the old patterns quadratic (spaces, tabs, quote marks, label colons...).
PIECES = [" ", "\t", "a", "A ", "Ab, ", "-", "_", ">", "*", ".", ",", ":", "a:", "a.", "a@", "a'", "a-", "\n", " \n", "(",
          "=?", "1", "On ", "From: ", "set ", "for ", "please ", "<td", "x@y.co "]


def _cost(pattern: re.Pattern, text: str) -> float:
    """The CPU time of this thread for one search and one full scan: the work the pattern does, whatever else the
    machine runs meanwhile (the suite runs on several processes; wall time would count their turns too)."""
    subject = text.encode() if isinstance(pattern.pattern, bytes) else text
    started = time.thread_time()
    pattern.search(subject)
    for _ in pattern.finditer(subject):
        pass
    return time.thread_time() - started


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_pattern_is_linear_in_the_length_of_the_text(name):
    """Four times the text may cost about four times as much, never sixteen: searched over a run of each piece
    (search tries every start, so a pattern that rescans a run from each of its characters shows here)."""
    pattern = PATTERNS[name]
    for piece in PIECES:
        short = piece * (3000 // len(piece)) + "!"
        long = piece * (12000 // len(piece)) + "!"
        small, big = min(_cost(pattern, short) for _ in range(3)), min(_cost(pattern, long) for _ in range(3))
        assert big < 0.02 or big < 8 * small, f"{name} on runs of {piece!r}: {small * 1000:.1f} ms, then {big * 1000:.1f} ms"


# -- the time budget ------------------------------------------------------------------------------------------

# A policy topic that takes exponential time on a run of a's not followed by its end: a stand-in for any step
# that is slow on some message, without any mock. The shipped policy's last table is [out_of_scope].
STALL = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"
SLOW_TOPIC = "\nstall = '(?:a|aa)+$'\n"


def slow_policy(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    policy = folder / "policy.toml"
    policy.write_text((Path(mailbot.__file__).parents[1] / "config" / "policy.toml").read_text(encoding="utf-8") + SLOW_TOPIC,
                      encoding="utf-8")
    return policy


def stalling_message(tag: str) -> bytes:
    return message(f"Please set up Jane Doe (jane.doe@harrowgatenursing.co.uk) as an Agency User.\n{STALL}\n",
                   subject=f"Stalling {tag}").replace(b"Message-ID: <slow-", f"Message-ID: <stall-{tag}-".encode())


def test_a_message_past_its_budget_is_held_with_processing_timeout(tmp_path):
    config, _ = write_config(tmp_path, "sqlite:///unused.db", service={"message_timeout_seconds": 1},
                             extra=f"[policy]\nfile = {json.dumps(str(slow_policy(tmp_path)))}\n")
    engine = Triage.from_settings(load_settings(config))
    started = time.perf_counter()
    result = engine.run(stalling_message("one"))
    assert time.perf_counter() - started < 3
    contract = as_contract("stall.eml", result)
    assert contract["outcome"] == "review" and contract["reasons"] == ["processing_timeout"]
    assert contract["endorser"]["email"] == "maria.santos@harrowgatenursing.co.uk"  # what the header says is kept
    assert contract["reply"] is None and contract["requests"] == []
    # the same engine goes on reading ordinary mail
    assert engine.run(request_message("after")).decision.outcome == "approved"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_triage_holds_the_slow_message_and_decides_the_rest(tmp_path, jobs):
    config, _ = write_config(tmp_path / "config", "sqlite:///unused.db", service={"message_timeout_seconds": 1},
                             extra=f"[policy]\nfile = {json.dumps(str(slow_policy(tmp_path / 'config')))}\n")
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "1-ordinary.eml").write_bytes(request_message("first"))
    (mail / "2-stalling.eml").write_bytes(stalling_message("two"))
    (mail / "3-ordinary.eml").write_bytes(request_message("third"))
    started = time.monotonic()
    run = run_mailbot("triage", "--config", config, "--json", "--jobs", jobs, mail, timeout=60)
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - started < 30
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(Path(line["file"]).name, line["outcome"], line["reasons"]) for line in lines] == [
        ("1-ordinary.eml", "approved", []), ("2-stalling.eml", "review", ["processing_timeout"]), ("3-ordinary.eml", "approved", [])]


def test_run_once_answers_the_ordinary_requests_and_holds_the_slow_one(tmp_path, dovecot, imap_user, smtp_server, sqlite_url):
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server,
                               service={"message_timeout_seconds": 2},
                               extra=f"[policy]\nfile = {json.dumps(str(slow_policy(tmp_path / 'config')))}\n")
    ordinary = [request_message(f"plain{n}") for n in range(3)]
    dovecot.append(imap_user, [ordinary[0], stalling_message("svc"), ordinary[1], ordinary[2]])
    started = time.monotonic()
    run = run_once(config, env)
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - started < 60
    rows = recorded(sqlite_url)
    held = [r for k, r in rows.items() if "stall-svc-" in k]
    assert len(held) == 1 and held[0]["reasons"] == ["processing_timeout"]
    assert held[0]["folder"] == "review" and held[0]["review"] == ["processing_timeout"]
    answered = replies_by_original(smtp_server)
    assert all(len(answered[f"<plain{n}@harrowgatenursing.co.uk>"]) == 1 for n in range(3))
    assert not any("stall-svc-" in key for key in answered)


def test_run_once_over_the_attack_probes_50kb_message_and_three_requests(tmp_path, dovecot, imap_user, smtp_server, sqlite_url):
    """The message that stalled the mailbox for minutes (one line of 50,000 spaces) beside three requests."""
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server)
    dovecot.append(imap_user, [request_message("probe0"), SHAPES["one-line-of-50000-spaces"](), request_message("probe1"),
                               request_message("probe2")])
    started = time.monotonic()
    run = run_once(config, env)
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - started < 60
    assert len(recorded(sqlite_url)) == 4
    answered = replies_by_original(smtp_server)
    assert all(len(answered[f"<probe{n}@harrowgatenursing.co.uk>"]) == 1 for n in range(3))


def test_triage_holds_a_message_over_the_size_limit_unread_as_the_service_does(tmp_path):
    config, _ = write_config(tmp_path, "sqlite:///unused.db", service={"max_message_bytes": 2000})
    engine = Triage.from_settings(load_settings(config))
    result = as_contract("big.eml", engine.run(request_message("big", size=5000)))
    assert (result["outcome"], result["reasons"], result["reply"]) == ("review", ["message_too_large"], None)
    assert result["endorser"]["email"] == "maria.santos@harrowgatenursing.co.uk"
    assert as_contract("small.eml", engine.run(request_message("small")))["outcome"] == "approved"
