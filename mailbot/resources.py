"""Finds the config and templates shipped with mailbot, whether installed or in a checkout."""

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """Path of a shipped top-level folder ("config" or "templates")."""
    for base in (_HERE / "_shipped", _HERE.parent):
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mailbot's shipped {name}/ folder is missing")
