"""The file sender: each reply is written as an .eml file in the outbox folder (no SMTP configured)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from mailbot.send import SendError

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileSender:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path_for(self, content: bytes) -> Path:
        match = re.search(rb"^Message-ID:\s*<([^>\r\n]+)>", content, re.I | re.M)
        stem = _SAFE.sub("_", match.group(1).decode("ascii", "replace")) if match else f"reply-{time.time_ns()}"
        return self.folder / f"{stem}.eml"

    def send(self, sender: str, recipients: tuple[str, ...], content: bytes) -> None:
        target = self.path_for(content)
        temporary = target.with_suffix(".eml.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, target)  # whole or not at all
        except OSError as exc:
            raise SendError(f"cannot write {target}: {exc.strerror or exc}") from None

    def close(self) -> None:
        pass
