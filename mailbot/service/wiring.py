"""Builds the service's parts from the settings, in one place: store, triage, mailbox, sender."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mailbot.errors import ConfigError
from mailbot.send import MailSender
from mailbot.send.files import FileSender
from mailbot.send.smtp import SmtpSender
from mailbot.settings import Settings
from mailbot.source import MailSource
from mailbot.source.maildir import MaildirSource
from mailbot.source.oauth import TokenSource
from mailbot.store import Store
from mailbot.store.conversations import recall_for
from mailbot.triage import Triage

IMAP_SCOPE = "https://outlook.office365.com/.default"
SMTP_SCOPE = "https://outlook.office365.com/.default"


@dataclass
class Parts:
    settings: Settings
    triage: Triage
    store: Store
    open_source: Callable[[bool], MailSource]  # readonly -> an open session
    sender: MailSender
    imap_tokens: TokenSource | None
    smtp_tokens: TokenSource | None
    _directory_seen: tuple[int, object] | None = None  # (revision, Directory) last read from the database

    def directory_files_fingerprint(self) -> str:
        """A hash of the configured directory CSV files' content."""
        import hashlib

        digest = hashlib.sha256()
        for path in (self.settings.directory.organisations, self.settings.directory.people):
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def sync_directory(self, follow_files: bool = True) -> bool:
        """Import the configured CSV files if that loses no desk edit (once the database holds the directory, it is
        the source of truth: files changed over desk edits are refused, with a warning), then decide with the
        database's directory. True when the triage now decides with another directory than before.

        With follow_files False (the CLI's commands on the database) the files are imported only into a database
        that has no directory yet."""
        import logging

        from mailbot.directory import load_directory
        from mailbot.store import directory as stored

        if follow_files or stored.is_empty(self.store):
            files = load_directory(self.settings.directory.organisations, self.settings.directory.people,
                                   self.triage.policy.seniority_ranks)
            done = stored.follow_files(self.store, files, self.directory_files_fingerprint())
            if done not in (None, "imported"):
                logging.getLogger(__name__).warning("the directory CSV files changed but were not imported: %s", done)
        before = self.triage.directory
        self.triage.use_directory(self.directory_now())
        return self.triage.directory is not before

    def directory_now(self):
        """The database's directory as it is now (read again only when its revision changed)."""
        from mailbot.store import directory as stored

        revision = stored.version(self.store)
        seen = self._directory_seen
        if seen is None or seen[0] != revision:
            seen = self._directory_seen = (revision, stored.load(self.store))
        return seen[1]

    @property
    def triage_workers(self) -> int:
        """Processes that triage a batch: as configured, else one per core (at most 4)."""
        from mailbot.workers import cores

        return self.settings.service.triage_workers or min(4, cores())

    @property
    def me(self) -> str:
        """This node and process, as its outbox claims and its lease name it."""
        from mailbot.service.outbox import process_name

        return process_name(self.settings.ops.node_name)

    def new_sender(self) -> MailSender:
        """A sender of its own (an SMTP connection is one thread's): for ops' warnings beside the outbox."""
        smtp = self.settings.smtp
        return SmtpSender(smtp, self.smtp_tokens) if smtp else FileSender(self.settings.outbox.path)

    @property
    def replies_go_to(self) -> str:
        smtp = self.settings.smtp
        return f"smtp://{smtp.host}:{smtp.port}" if smtp else str(self.settings.outbox.path)


def build(settings: Settings) -> Parts:
    if settings.imap is None and settings.maildir is None:
        raise ConfigError("the service needs a mailbox: an [imap] or a [maildir] section")
    imap_tokens = TokenSource(settings.imap.oauth, IMAP_SCOPE) if settings.imap and settings.imap.oauth else None
    smtp_tokens = TokenSource(settings.smtp.oauth, SMTP_SCOPE) if settings.smtp and settings.smtp.oauth else None

    def open_source(readonly: bool = False) -> MailSource:
        if settings.imap is not None:
            from mailbot.source.imap import ImapSource

            return ImapSource(settings.imap, imap_tokens, readonly=readonly)
        return MaildirSource(settings.maildir, readonly=readonly)

    sender: MailSender = SmtpSender(settings.smtp, smtp_tokens) if settings.smtp else FileSender(settings.outbox.path)
    return Parts(settings, Triage.from_settings(settings, recall=recall_for(settings)), Store(settings.database.url), open_source,
                 sender, imap_tokens, smtp_tokens)
