"""Shared test fixtures: the shared corpora (skipped where absent, required under CI) and a triage engine."""

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
