"""Shared test fixtures: the shared corpora (skipped where absent, required under CI), a triage engine,
and real servers for the service tests (Dovecot, SMTP, PostgreSQL; skipped where absent, required under CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailbot.settings import load_settings
from mailbot.triage import Triage

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips the test where it is absent, fails it under CI."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} not found: the shared corpora live beside the project in ../shared"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}, and CI=true requires them")
        pytest.skip(f"{message} (absent in a user's own clone)")
    return path


@pytest.fixture(scope="session")
def engine() -> Triage:
    """Triage wired from tests/data/mailbot.toml (the test directory of agencies and people)."""
    return Triage.from_settings(load_settings(DATA / "mailbot.toml"))


# -- real servers for the service tests (tests/servers.py) ------------------------------------------


def _unavailable(message: str):
    """A server the test needs is missing: skip it, or fail it under CI, where everything must run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}, and CI=true requires it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def dovecot():
    """One throwaway Dovecot for the whole session; each test takes its own user with `imap_user`."""
    from servers import Dovecot, ServerUnavailable

    try:
        server = Dovecot()
        server.start()
    except ServerUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def imap_user(dovecot):
    """A Dovecot user (and so a mailbox) of this test's own; the server is running when the test starts."""
    if not dovecot.running():
        dovecot.start()  # a test before this one stopped it and did not start it again
    return dovecot.add_user()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) of this test's own, keeping every envelope it receives."""
    from servers import SmtpSink

    server = SmtpSink()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mailbot.db'}"


@pytest.fixture
def postgresql_url():
    """A fresh PostgreSQL database of this test's own (127.0.0.1:5432), dropped afterwards."""
    from servers import PostgresDatabase, ServerUnavailable

    try:
        database = PostgresDatabase()
    except ServerUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield database.url
    finally:
        database.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    """The database URL, once for SQLite (a temporary file) and once for PostgreSQL (a fresh database)."""
    return request.getfixturevalue(f"{request.param}_url")


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under Playwright; skipped where it is missing (`make test` installs it), failed under CI."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found: `make test` installs Debian's chromium (the browser tests never download one)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is missing ({exc}): pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
