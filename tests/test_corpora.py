"""The shared corpora through the real command line: the public sample must score 42/42, the wild one must hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, shared_path

from mailbot.decide.reasons import REASONS

MESSAGE_OUTCOMES = {"approved", "rejected", "needs_info", "redirected", "informed", "partial", "review", "ignored"}
REQUEST_OUTCOMES = {"approved", "rejected", "needs_info", "redirected", "informed", "review"}
# The triage contract's table of reason codes, by level.
MESSAGE_REASONS = {
    "auto_submitted",
    "bounce",
    "bulk_or_list",
    "own_message",
    "sender_not_authenticated",
    "unknown_organisation",
    "unknown_endorser",
    "no_request_found",
    "out_of_scope",
    "malformed_message",
}
REQUEST_REASONS = {
    "endorser_not_senior_enough",
    "missing_full_name",
    "missing_work_email",
    "not_a_work_email",
    "email_domain_mismatch",
    "access_level_unclear",
    "self_service_platform",
}
OUTPUT_KEYS = {"file", "message_id", "outcome", "reasons", "endorser", "requests", "reply"}


def _triage(config: Path, *paths: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mailbot", "triage", "--config", str(config), "--json", *map(str, paths)]
    return subprocess.run(command, capture_output=True, cwd=ROOT, timeout=120)


def _json_lines(stdout: bytes) -> list[dict]:
    """stdout as JSON Lines; fails if anything else is on it."""
    text = stdout.decode("utf-8")
    assert text == "" or text.endswith("\n"), "the last JSON line is not terminated"
    objects = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"stdout line {number} is not JSON: {line[:200]!r}") from None
        assert isinstance(value, dict), f"stdout line {number} is not a JSON object: {line[:200]!r}"
        objects.append(value)
    return objects


def test_public_corpus_scores_42_of_42(tmp_path):
    public = shared_path("corpus", "public")
    checker = shared_path("corpus", "check.py")
    run = _triage(public / "mailbot.toml", public)
    assert run.returncode == 0, run.stderr.decode("utf-8", "replace")
    out = tmp_path / "out.jsonl"
    out.write_bytes(run.stdout)
    check = subprocess.run(
        [sys.executable, str(checker), str(public / "expected.jsonl"), str(out)], capture_output=True, text=True, timeout=60
    )
    report = check.stdout + check.stderr
    assert check.returncode == 0, report
    lines = check.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("42/42 "), report


def test_public_corpus_output_is_one_object_per_file_in_name_order():
    public = shared_path("corpus", "public")
    run = _triage(public / "mailbot.toml", public)
    assert run.returncode == 0, run.stderr.decode("utf-8", "replace")
    files = sorted(p.name for p in public.glob("*.eml"))
    assert len(files) == 42
    assert [Path(o["file"]).name for o in _json_lines(run.stdout)] == files


def test_wild_corpus_every_message_gets_one_valid_result():
    wild = shared_path("corpus", "wild")
    config = shared_path("corpus", "public", "mailbot.toml")
    # Reverse name order: the output must follow the order the files were given in, not sort them.
    files = sorted(str(p) for p in wild.glob("*/*.eml"))[::-1]
    assert len(files) >= 100, f"only {len(files)} wild messages found"
    run = _triage(config, *files)
    stderr = run.stderr.decode("utf-8", "replace")
    assert run.returncode == 0, stderr[-3000:]
    results = _json_lines(run.stdout)
    assert [o["file"] for o in results] == files
    problems = []
    for o in results:
        where = Path(o["file"]).relative_to(wild)
        if set(o) != OUTPUT_KEYS:
            problems.append(f"{where}: keys {sorted(o)}")
            continue
        if o["outcome"] not in MESSAGE_OUTCOMES:
            problems.append(f"{where}: outcome {o['outcome']!r}")
        # The contract allows extra reasons; mailbot's own are listed, with a sentence each, in REASONS.
        known = MESSAGE_REASONS | REQUEST_REASONS | set(REASONS)
        unknown = set(o["reasons"]) - known
        for request in o["requests"]:
            unknown |= set(request["reasons"]) - known
            if request["outcome"] not in REQUEST_OUTCOMES:
                problems.append(f"{where}: request outcome {request['outcome']!r}")
        if unknown:
            problems.append(f"{where}: unknown reason codes {sorted(unknown)}")
        if o["outcome"] == "ignored":
            if o["requests"] != [] or o["reply"] is not None or o["endorser"] is not None:
                problems.append(f"{where}: ignored but requests={o['requests']!r} reply={o['reply']!r} endorser={o['endorser']!r}")
            if not o["reasons"]:
                problems.append(f"{where}: ignored without a reason")
        elif o["outcome"] == "review":
            if o["reply"] is not None:
                problems.append(f"{where}: review but a reply is sent")
        else:
            reply = o["reply"]
            if reply is None:
                problems.append(f"{where}: {o['outcome']} but no reply")
            elif o["endorser"] is None or reply["to"] != [o["endorser"]["email"]]:
                problems.append(f"{where}: reply to {reply['to']} is not the sender {o['endorser']}")
    assert not problems, "\n".join(problems)


def test_every_contract_reason_has_a_sentence_for_people():
    assert MESSAGE_REASONS | REQUEST_REASONS <= set(REASONS)
