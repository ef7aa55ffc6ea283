"""The Maildir mail source: the embedded default, a Maildir++ tree on local disk, filed by atomic rename."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path
from typing import Iterator

from mailbot.settings import MaildirSettings
from mailbot.source import Fetched, MailboxState, SourceError


def _folder_dir(root: Path, path: str) -> Path:
    """A config folder path ('Mailbot/Processed') as a Maildir++ sub-folder of the root; INBOX is the root."""
    parts = [p for p in path.split("/") if p]
    if not parts or (len(parts) == 1 and parts[0].upper() == "INBOX"):
        return root
    return root / ("." + ".".join(parts))


class MaildirSource:
    """The inbox of a Maildir: messages in new/ and cur/, filed by moving their file."""

    def __init__(self, settings: MaildirSettings, readonly: bool = False):
        self.root = Path(settings.path)
        if readonly and not self.root.is_dir():
            raise SourceError(f"Maildir {self.root}: no such folder")
        try:
            top = mailbox.Maildir(str(self.root), create=not readonly)  # makes new/ cur/ tmp/ where missing
            self.inbox = _folder_dir(self.root, settings.folder)
            self.folders = {name: _folder_dir(self.root, getattr(settings, f"{name}_folder")) for name in ("processed", "review", "ignored")}
            for folder in (self.inbox, *self.folders.values()):
                if folder != self.root and not folder.exists() and not readonly:
                    top.add_folder(folder.name[1:])
        except OSError as exc:
            raise SourceError(f"Maildir {self.root}: {exc.strerror or exc}") from None
        self.name = f"maildir:{self.root.resolve()}/{settings.folder}"

    def state(self) -> MailboxState:
        return MailboxState(self.name, "maildir", 0)

    def _files(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for sub in ("new", "cur"):
            directory = self.inbox / sub
            try:
                names = os.listdir(directory)
            except OSError as exc:
                raise SourceError(f"Maildir {directory}: {exc.strerror or exc}") from None
            for name in names:
                if not name.startswith("."):
                    found[name.split(":", 1)[0]] = directory / name
        return found

    def waiting(self, after: int | None) -> list[str]:
        return sorted(self._files())

    def fetch(self, uids: list[str], max_bytes: int) -> Iterator[Fetched]:
        files = self._files()
        for uid in uids:
            path = files.get(uid)
            if path is None:
                continue
            try:
                size = path.stat().st_size
                if size > max_bytes:
                    with path.open("rb") as f:
                        head = f.read(64 * 1024).split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
                    yield Fetched(uid, 0, None, size, head)
                else:
                    yield Fetched(uid, 0, path.read_bytes(), size)
            except FileNotFoundError:
                continue  # filed by another process meanwhile
            except OSError as exc:
                raise SourceError(f"Maildir {path}: {exc.strerror or exc}") from None

    def file(self, uid: str, folder: str, message_id: str | None = None) -> bool:
        path = self._files().get(uid)
        if path is None:
            return False
        target = self.folders[folder] / "cur" / (path.name if ":" in path.name else path.name + ":2,")
        try:
            os.rename(path, target)  # atomic: the message is in exactly one folder at every moment
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise SourceError(f"Maildir: cannot move {path.name}: {exc.strerror or exc}") from None
        return True

    def file_many(self, uids: list[str], folder: str) -> list[str]:
        return [uid for uid in uids if self.file(uid, folder)]

    def find(self, message_id: str) -> str | None:
        return None  # Maildir handles never change, so a decided message is always found by its handle

    def refile(self, uid: str | None, message_id: str | None, from_folder: str, to_folder: str) -> bool:
        source = self.folders[from_folder]
        for sub in ("cur", "new"):
            for name in os.listdir(source / sub) if (source / sub).is_dir() else ():
                if uid and name.split(":", 1)[0] == uid:
                    try:
                        os.rename(source / sub / name, self.folders[to_folder] / "cur" / (name if ":" in name else name + ":2,"))
                    except FileNotFoundError:
                        return False
                    return True
        return False

    def alive(self) -> bool:
        return self.inbox.is_dir()

    def close(self) -> None:
        pass
