"""`mailbot check-config`: the file, the database, the mailbox and its folders, the way out; a line each."""

from __future__ import annotations

from typing import Callable, Iterator

from mailbot.errors import ConfigError
from mailbot.send import SendError
from mailbot.settings import Settings
from mailbot.source import SourceError


def run_checks(settings: Settings, config_path: str) -> Iterator[tuple[str, bool, str]]:
    """(check, passed, detail) for each check in turn; stops after the first failure."""
    yield "config", True, config_path
    steps: list[tuple[str, Callable[[], str]]] = []
    parts = None

    def wiring() -> str:
        nonlocal parts
        from mailbot.service.wiring import build

        parts = build(settings)
        return f"directory of {len(parts.triage.directory.people)} people in {len(set(o.name for o in parts.triage.directory.organisations.values()))} organisations"

    def database() -> str:
        parts.store.upgrade()
        return f"{settings.database.url.split('@')[-1]} (schema up to date)"

    def mailbox() -> str:
        box = parts.open_source(False)
        try:
            state = box.state()
            created = getattr(box, "created", [])
            folders = ", ".join(sorted(str(folder) for folder in getattr(box, "folders", {}).values()))  # names or paths
            return f"{state.name}: logged in, folders ready ({folders})" + (f"; created {', '.join(created)}" if created else "")
        finally:
            box.close()

    def sending() -> str:
        sender = parts.sender
        if hasattr(sender, "check"):
            sender.check()
            return f"{settings.smtp.host}:{settings.smtp.port}: logged in"
        folder = settings.outbox.path
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".mailbot-check"
        probe.write_bytes(b"")
        probe.unlink()
        return f"no [smtp]: replies are written as .eml files to {folder}"

    steps = [("directory", wiring), ("database", database), ("mailbox", mailbox), ("smtp" if settings.smtp else "outbox", sending)]
    for name, step in steps:
        try:
            detail = step()
        except (ConfigError, SourceError, SendError, OSError) as exc:
            yield name, False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return
        except Exception as exc:  # a database driver's own errors, and the like
            yield name, False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            return
        yield name, True, detail
