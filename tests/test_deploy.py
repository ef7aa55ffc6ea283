"""The systemd unit as shipped (deploy/mailbot.service): `systemd-analyze verify` accepts it without a warning,
and it has what production needs (restarts, its own user, a read-only system, secrets from a file).

`verify` checks that the unit's Exec*= programs exist, and loads the units it pulls in (sysinit.target,
network-online.target, ...) from its unit directories. So the unit is verified, byte for byte, inside a
scratch root (`--root=`): the unit at /etc/systemd/system, a stand-in executable at each Exec*= path, and a
copy of the host's own system unit directory. Debian's systemd package provides systemd-analyze (`make test`
installs it); without it the verify test is skipped, except under CI=true, where it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT, _unavailable
from mailbot.cli import main

UNIT = ROOT / "deploy" / "mailbot.service"
INSTALLED_AT = Path("/etc/systemd/system/mailbot.service")  # where deploy/README.md installs it
VENDOR_UNIT_DIRS = ("/usr/lib/systemd/system", "/lib/systemd/system")  # the default targets live here
EXEC_KEYS = ("ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost")


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values, in order]}} (a key may be given more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    section = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        assert not line.endswith("\\"), f"{path}:{number}: continued lines are not expected here"
        if line.startswith("[") and line.endswith("]"):
            section = sections.setdefault(line[1:-1], {})
            continue
        assert section is not None and "=" in line, f"{path}:{number}: not a key=value in a section: {raw!r}"
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return sections


UNIT_SECTIONS = parse_unit(UNIT)
SERVICE = UNIT_SECTIONS.get("Service", {})


def one(key: str) -> str:
    """The value of a [Service] key given exactly once."""
    values = SERVICE.get(key, [])
    assert len(values) == 1, f"[Service] {key}= should be set once in {UNIT.name}, found {values}"
    return values[0]


def exec_commands() -> list[tuple[str, list[str]]]:
    """(key, argv) for each Exec*= line, without its special prefixes (-, @, :, +, !)."""
    commands = []
    for key in EXEC_KEYS:
        for value in SERVICE.get(key, []):
            argv = value.lstrip("-@:+!").split()
            commands.append((key, argv))
    return commands


# -- systemd-analyze verify ----------------------------------------------------------------------------------


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        _unavailable("systemd-analyze not found: install Debian's systemd package (`make test` does, as root or with sudo)")
    return found


def _scratch_root(root: Path) -> Path:
    """A root holding the unit as shipped, a stand-in for each program it runs, and the host's system units."""
    unit = root / INSTALLED_AT.relative_to("/")
    unit.parent.mkdir(parents=True)
    shutil.copyfile(UNIT, unit)
    for key, argv in exec_commands():
        program = Path(argv[0])
        assert program.is_absolute(), f"{key}={argv[0]}: give the program's absolute path"
        stand_in = root / program.relative_to("/")
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text("#!/bin/sh\nexit 0\n")
        stand_in.chmod(0o755)
    copied = set()
    for directory in VENDOR_UNIT_DIRS:
        real = os.path.realpath(directory)
        if os.path.isdir(real) and real not in copied:
            shutil.copytree(real, root / real.lstrip("/"), symlinks=True)
            copied.add(real)
    if not copied:
        _unavailable(f"no systemd unit directory ({', '.join(VENDOR_UNIT_DIRS)}): install Debian's systemd package")
    return root


@pytest.fixture(scope="module")
def verified(tmp_path_factory) -> subprocess.CompletedProcess:
    analyze = _systemd_analyze()
    root = _scratch_root(tmp_path_factory.mktemp("unit-root"))
    # --recursive-errors=no: a non-zero exit for any warning about mailbot.service itself (without the option,
    # verify exits 0 on warnings such as an unknown key), but not for the host's own units it loads.
    return subprocess.run([analyze, "verify", f"--root={root}", "--recursive-errors=no", str(INSTALLED_AT)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})


def test_systemd_analyze_verify_accepts_the_unit(verified):
    about_unit = [line for line in verified.stderr.splitlines() if "mailbot.service" in line]
    assert verified.returncode == 0 and not about_unit, (
        f"systemd-analyze verify {UNIT.relative_to(ROOT)} exited {verified.returncode}:\n{verified.stderr}{verified.stdout}")


# -- what production needs --------------------------------------------------------------------------------------


def test_the_unit_restarts_on_failure_as_its_own_user():
    service_type = one("Type")
    assert service_type in ("simple", "notify")
    if service_type == "notify":  # systemd would wait for READY=1 and then kill mailbot for never sending it
        sources = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "mailbot").rglob("*.py"))
        assert "NOTIFY_SOCKET" in sources or "sd_notify" in sources, "Type=notify, but mailbot never notifies systemd"
    assert one("Restart") == "on-failure"
    user = one("User")
    assert user and user not in ("root", "0"), "a dedicated user, not root"
    assert one("Group") == user
    assert "DynamicUser" not in SERVICE  # the state in /var/lib/mailbot belongs to the mailbot user of the README


def test_the_unit_is_hardened():
    assert one("ProtectSystem") == "strict"
    assert one("StateDirectory") == "mailbot"  # /var/lib/mailbot: the only writable place (SQLite, its WAL)
    assert one("NoNewPrivileges") == "yes"
    assert one("ProtectHome") == "yes"
    assert one("PrivateTmp") == "yes"
    assert one("CapabilityBoundingSet") == ""  # no capabilities: loopback ports above 1024 need none
    assert "@system-service" in SERVICE.get("SystemCallFilter", [])
    assert one("RestrictAddressFamilies").split() == ["AF_UNIX", "AF_INET", "AF_INET6"]


def test_secrets_come_from_the_environment_file():
    environment_file = one("EnvironmentFile")
    assert environment_file == "/etc/mailbot/mailbot.env", "required (no '-'): mailbot cannot log in without it"
    for value in SERVICE.get("Environment", []):
        assert not any(word in value.upper() for word in ("SECRET", "PASSWORD", "TOKEN")), f"a secret in the unit: {value}"


def test_the_unit_runs_commands_mailbot_has():
    commands = exec_commands()
    assert [key for key, _ in commands] == ["ExecStartPre", "ExecStart"]
    for key, argv in commands:
        assert argv[0] == "/opt/mailbot/venv/bin/mailbot", f"{key}: the venv of deploy/README.md"
        assert argv[-2:] == ["--config", "/etc/mailbot/mailbot.toml"], key
        result = CliRunner().invoke(main, [*argv[1:], "--help"])
        assert result.exit_code == 0, f"{key}={' '.join(argv)}: not a mailbot command:\n{result.output}"
    assert commands[0][1][1:3] == ["db", "upgrade"] and commands[1][1][1] == "run"
