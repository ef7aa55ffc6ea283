"""`mailbot triage` as a user runs it: exit codes, one-line configuration errors, what goes to stdout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, ROOT

GOOD_CONFIG = """\
[mailbox]
address = "agencies@nhsprofessionals.nhs.uk"

[authentication]
trusted_authserv_ids = ["mx.nhsprofessionals.nhs.uk"]

[directory]
organisations = "organisations.csv"
people = "people.csv"
"""

AUTH = "mx.nhsprofessionals.nhs.uk; dkim=pass header.d=harrowgatenursing.co.uk; dmarc=pass header.from=harrowgatenursing.co.uk"


def _message(tag: str, requester: str = "Jane Doe", email: str = "jane.doe@harrowgatenursing.co.uk") -> bytes:
    """An authenticated Agency User request from Maria Santos (a listed manager): approved."""
    return (
        f"Authentication-Results: {AUTH}\n"
        "From: Maria Santos <maria.santos@harrowgatenursing.co.uk>\n"
        "To: agencies@nhsprofessionals.nhs.uk\n"
        f"Subject: Agency User access {tag}\n"
        f"Message-ID: <{tag}@harrowgatenursing.co.uk>\n"
        "Date: Tue, 22 Apr 2025 08:02:39 +0100\n"
        "\n"
        f"Hello,\n\nPlease could you set up NHSP:Online Agency User access for {requester}, {email}.\n\n"
        "Kind regards\nMaria Santos\nBranch Manager\nHarrowgate Nursing Ltd\n"
    ).encode()


OUT_OF_OFFICE = (
    b"From: Tobias Wren <tobias.wren@harrowgatenursing.co.uk>\nTo: agencies@nhsprofessionals.nhs.uk\n"
    b"Subject: Automatic reply: Agency User access\nAuto-Submitted: auto-replied\nMessage-ID: <ooo@x.example>\n\n"
    b"I am out of the office until Monday.\n"
)


def mailbot(*args: str | Path, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mailbot", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=environment,
        timeout=60,
    )


def json_lines(stdout: str) -> list[dict]:
    assert stdout == "" or stdout.endswith("\n")
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A config folder with the test directory's CSV files and a good mailbot.toml."""
    folder = tmp_path / "config"
    folder.mkdir()
    for csv_file in DATA.glob("*.csv"):
        shutil.copy(csv_file, folder / csv_file.name)
    (folder / "mailbot.toml").write_text(GOOD_CONFIG)
    return folder


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "b.eml").write_bytes(_message("b"))
    (folder / "a.eml").write_bytes(_message("a"))
    (folder / "c-ooo.eml").write_bytes(OUT_OF_OFFICE)
    (folder / "notes.txt").write_bytes(_message("txt"))
    (folder / "a.eml.bak").write_bytes(_message("bak"))
    (folder / "sub").mkdir()
    (folder / "sub" / "d.eml").write_bytes(_message("d"))
    (folder / "folder.eml").mkdir()  # a directory named like a message is not a message
    return folder


# -- configuration errors: exit 2, one line on stderr naming the key or file ----------------------


def _config_error(config_dir: Path, text: str) -> str:
    (config_dir / "mailbot.toml").write_text(text)
    run = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", DATA)
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{run.stderr}"
    return lines[0]


def test_good_config_runs(config_dir, inbox):
    run = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", inbox / "a.eml")
    assert run.returncode == 0, run.stderr
    [result] = json_lines(run.stdout)
    assert result["outcome"] == "approved" and result["reply"]["to"] == ["maria.santos@harrowgatenursing.co.uk"]


def test_misspelt_key_is_named(config_dir):
    line = _config_error(config_dir, GOOD_CONFIG.replace("address =", "adress ="))
    # The key that is wrong is the misspelt one; naming only the consequence (address missing) hides it.
    assert "mailbox.adress" in line, line


def test_unknown_key_beside_the_right_one_is_named(config_dir):
    line = _config_error(config_dir, GOOD_CONFIG.replace("[mailbox]\n", '[mailbox]\nadress = "x@y.example"\n'))
    assert "mailbox.adress" in line and "unknown" in line, line


def test_unknown_section_is_named(config_dir):
    line = _config_error(config_dir, GOOD_CONFIG + "\n[mailboxx]\naddress = \"x@y.example\"\n")
    assert "mailboxx" in line, line


@pytest.mark.parametrize(
    "old, new, key",
    [
        ('trusted_authserv_ids = ["mx.nhsprofessionals.nhs.uk"]', 'trusted_authserv_ids = "x"', "authentication.trusted_authserv_ids"),
        ('trusted_authserv_ids = ["mx.nhsprofessionals.nhs.uk"]', 'exchange_online = "yes"', "authentication.exchange_online"),
        ('trusted_authserv_ids = ["mx.nhsprofessionals.nhs.uk"]', "trusted_authserv_ids = [1]", "authentication.trusted_authserv_ids"),
        ('address = "agencies@nhsprofessionals.nhs.uk"', "address = 42", "mailbox.address"),
        ('people = "people.csv"', "people = 5", "directory.people"),
    ],
)
def test_wrong_type_is_named(config_dir, old, new, key):
    line = _config_error(config_dir, GOOD_CONFIG.replace(old, new))
    assert key in line, line


@pytest.mark.parametrize(
    "remove, key",
    [
        ('address = "agencies@nhsprofessionals.nhs.uk"\n', "mailbox.address"),
        ('people = "people.csv"\n', "directory.people"),
        ('organisations = "organisations.csv"\n', "directory.organisations"),
    ],
)
def test_missing_required_key_is_named(config_dir, remove, key):
    line = _config_error(config_dir, GOOD_CONFIG.replace(remove, ""))
    assert key in line and "missing" in line, line


def test_missing_directory_section_is_named(config_dir):
    text = GOOD_CONFIG.split("[directory]")[0]
    line = _config_error(config_dir, text)
    assert "directory" in line, line


def test_toml_syntax_error_names_the_file(config_dir):
    line = _config_error(config_dir, GOOD_CONFIG + "\n[[[ not toml\n")
    assert "mailbot.toml" in line and "TOML" in line, line


def test_directory_file_that_does_not_exist_is_named(config_dir):
    line = _config_error(config_dir, GOOD_CONFIG.replace('people = "people.csv"', 'people = "staff.csv"'))
    assert "directory.people" in line and "staff.csv" in line, line


def test_people_csv_with_bad_seniority_is_named(config_dir):
    people = config_dir / "people.csv"
    rows = people.read_text().splitlines()
    rows[2] = rows[2].rsplit(",", 1)[0] + ",boss"
    people.write_text("\n".join(rows) + "\n")
    line = _config_error(config_dir, GOOD_CONFIG)
    assert "people.csv" in line and "boss" in line, line


def test_config_file_that_does_not_exist_is_named(tmp_path):
    run = mailbot("triage", "--config", tmp_path / "nowhere.toml", "--json", DATA)
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1 and "nowhere.toml" in run.stderr, run.stderr


# -- usage errors: exit 2 ------------------------------------------------------------------------


def test_missing_config_option_is_a_usage_error(inbox):
    run = mailbot("triage", "--json", inbox)
    assert run.returncode == 2, f"exit {run.returncode}, stderr:\n{run.stderr}"
    assert run.stdout == ""
    assert "Traceback" not in run.stderr, run.stderr
    assert "--config" in run.stderr, run.stderr


def test_config_from_environment_is_used(config_dir, inbox):
    run = mailbot("triage", "--json", inbox / "a.eml", env={"MAILBOT_CONFIG": str(config_dir / "mailbot.toml")})
    assert run.returncode == 0, run.stderr
    assert [r["outcome"] for r in json_lines(run.stdout)] == ["approved"]


def test_no_files_is_a_usage_error(config_dir):
    run = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json")
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr


def test_unknown_option_is_a_usage_error(config_dir, inbox):
    run = mailbot("triage", "--config", config_dir / "mailbot.toml", "--jsonl", inbox)
    assert run.returncode == 2 and run.stdout == ""


# -- files ---------------------------------------------------------------------------------------


def test_unreadable_file_exits_1_and_the_others_are_still_printed(config_dir, inbox):
    missing = inbox / "missing.eml"
    run = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", inbox / "a.eml", missing, inbox / "b.eml")
    assert run.returncode == 1, (run.returncode, run.stderr)
    results = json_lines(run.stdout)
    assert [r["file"] for r in results] == [str(inbox / "a.eml"), str(inbox / "b.eml")]
    assert all(r["outcome"] == "approved" for r in results)
    assert "missing.eml" in run.stderr


def test_directory_means_its_eml_files_directly_inside_in_name_order(config_dir, inbox):
    run = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", inbox)
    assert run.returncode == 0, run.stderr
    results = json_lines(run.stdout)
    assert [Path(r["file"]).name for r in results] == ["a.eml", "b.eml", "c-ooo.eml"]
    assert [r["message_id"] for r in results] == ["<a@harrowgatenursing.co.uk>", "<b@harrowgatenursing.co.uk>", "<ooo@x.example>"]
    assert [r["outcome"] for r in results] == ["approved", "approved", "ignored"]


def test_files_and_directories_keep_argument_order(config_dir, inbox):
    run = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", inbox / "c-ooo.eml", inbox / "sub", inbox / "a.eml")
    assert run.returncode == 0, run.stderr
    assert [Path(r["file"]).name for r in json_lines(run.stdout)] == ["c-ooo.eml", "d.eml", "a.eml"]


def test_file_is_reported_as_given(config_dir, inbox):
    run = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", "./inbox/a.eml", "inbox//b.eml", cwd=inbox.parent)
    assert run.returncode == 0, run.stderr
    assert [r["file"] for r in json_lines(run.stdout)] == ["./inbox/a.eml", "inbox//b.eml"]


def test_malformed_message_is_triaged_not_an_error(config_dir, tmp_path):
    bad = tmp_path / "bad.eml"
    bad.write_bytes(b"\x00\xff\xfe garbage with no headers at all\n\n\x00")
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    run = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", bad, empty)
    assert run.returncode == 0, run.stderr
    results = json_lines(run.stdout)
    assert [r["outcome"] for r in results] == ["review", "review"]
    assert all("malformed_message" in r["reasons"] and r["reply"] is None for r in results)


# -- output --------------------------------------------------------------------------------------


def test_json_stdout_holds_nothing_but_json_even_when_verbose(config_dir, inbox, tmp_path):
    (inbox / "z-broken.eml").write_bytes(b"From: \xff\xfe\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\x00")
    run = mailbot("-v", "triage", "--config", config_dir / "mailbot.toml", "--json", inbox)
    assert run.returncode == 0, run.stderr
    results = json_lines(run.stdout)  # raises on any non-JSON line
    assert len(results) == 4
    assert all(isinstance(r, dict) and set(r) >= {"file", "outcome", "reasons", "requests", "reply"} for r in results)


def test_without_json_a_table_with_one_row_per_file(config_dir, inbox):
    run = mailbot("triage", "--config", "config/mailbot.toml", "inbox", cwd=inbox.parent)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert not any(line.lstrip().startswith("{") for line in out.splitlines())
    rows = {name: [line for line in out.splitlines() if name in line] for name in ("a.eml", "b.eml", "c-ooo.eml")}
    assert all(len(lines) == 1 for lines in rows.values()), out
    assert "approved" in rows["a.eml"][0] and "approved" in rows["b.eml"][0], out
    assert "ignored" in rows["c-ooo.eml"][0] and "auto_submitted" in rows["c-ooo.eml"][0], out
    assert "Jane Doe" in rows["a.eml"][0], out
    for skipped in ("notes.txt", "d.eml", "folder.eml", ".bak"):
        assert skipped not in out, out
    for header in ("file", "outcome", "reasons", "requests"):
        assert header in out


# -- progress, parallel runs and Exchange Online ----------------------------------------------------


def _many(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(count):
        (folder / f"{number:03}.eml").write_bytes(_message(f"m{number}"))
    return folder


def _run_with_terminal_stderr(args: list[str]) -> tuple[int, str, str]:
    """Run mailbot with stderr on a pseudo-terminal (as a person watching would have it)."""
    import pty

    import tempfile

    master, slave = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG"}
    environment.update({"COLUMNS": "100", "TERM": "xterm"})
    out = tempfile.TemporaryFile()  # a file, not a pipe: nobody reads stdout while the terminal is read
    process = subprocess.Popen([sys.executable, "-m", "mailbot", *args], stdout=out, stderr=slave, cwd=ROOT, env=environment)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    process.wait(timeout=60)
    os.close(master)
    out.seek(0)
    stdout = out.read().decode()
    return process.returncode, stdout, seen.decode("utf-8", "replace")


def test_a_progress_bar_shows_on_a_terminal_for_a_long_run_only(config_dir, tmp_path):
    many = _many(tmp_path, 40)
    code, stdout, terminal = _run_with_terminal_stderr(["triage", "--config", str(config_dir / "mailbot.toml"), "--json", str(many)])
    assert code == 0 and len(json_lines(stdout)) == 40
    assert "triage" in terminal and "━" in terminal, terminal[-500:]
    code, stdout, terminal = _run_with_terminal_stderr(
        ["triage", "--config", str(config_dir / "mailbot.toml"), "--json", str(many / "000.eml")]
    )
    assert code == 0 and "━" not in terminal
    piped = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", many)
    assert piped.returncode == 0 and piped.stderr == ""


def test_parallel_run_gives_the_same_lines_in_the_same_order(config_dir, tmp_path):
    many = _many(tmp_path, 30)
    (many / "015.eml").write_bytes(OUT_OF_OFFICE)
    one = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", "--jobs", "1", many)
    three = mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", "--jobs", "3", many)
    assert one.returncode == three.returncode == 0
    assert one.stdout == three.stdout
    assert [o["outcome"] for o in json_lines(three.stdout)].count("ignored") == 1


EXCHANGE = (
    "spf=pass (sender IP is 192.0.2.7) smtp.mailfrom=harrowgatenursing.co.uk; dkim=pass (signature was verified) "
    "header.d=harrowgatenursing.co.uk;dmarc=pass action=none header.from=harrowgatenursing.co.uk;compauth=pass reason=100"
)


def test_exchange_online_results_count_only_when_the_config_says_so(config_dir, tmp_path):
    message = tmp_path / "eop.eml"
    message.write_bytes(_message("eop").replace(f"Authentication-Results: {AUTH}".encode(), f"Authentication-Results: {EXCHANGE}".encode()))
    plain = json_lines(mailbot("triage", "--config", config_dir / "mailbot.toml", "--json", message).stdout)[0]
    assert plain["outcome"] == "review" and "sender_not_authenticated" in plain["reasons"]
    config = config_dir / "mailbot.toml"
    config.write_text(config.read_text().replace("[directory]", "exchange_online = true\n\n[directory]"))
    assert "exchange_online = true" in config.read_text().split("[directory]")[0]
    on_exchange = json_lines(mailbot("triage", "--config", config, "--json", message).stdout)[0]
    assert on_exchange["outcome"] == "approved", on_exchange
