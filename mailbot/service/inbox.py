"""One pass over the inbox: read each waiting message, triage it, record it with its reply, file it away."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from typing import Callable

from mailbot.parse import parse_email
from mailbot.source import Fetched, MailboxState, MailSource, SourceError
from mailbot.store import Message, Reply, Request, Store, message_key, utcnow
from mailbot.triage import Triage, TriageResult

log = logging.getLogger(__name__)

FOLDER_FOR = {"ignored": "ignored", "review": "review"}  # every other outcome is answered: "processed"


def _address(address: str | None, lower: bool = True) -> str | None:
    """An address as the database keeps it: no real one is longer than 254 characters, but what a message
    says can be; a longer one is cut to the column's 320 rather than failing the message on PostgreSQL."""
    if address is None:
        return None
    return (address.lower() if lower else address)[:320]


@dataclass(frozen=True)
class Row:
    """What a pass did with one message, for the summary table."""

    uid: str
    subject: str
    outcome: str
    reasons: tuple[str, ...]
    folder: str
    reply: str | None  # the reply's Message-ID, when one was written
    note: str = ""


@dataclass
class PassReport:
    rows: list[Row] = field(default_factory=list)
    filed_late: int = 0  # decided in an earlier pass, filed in this one

    @property
    def replies(self) -> int:
        return sum(1 for r in self.rows if r.reply)


class InboxPass:
    """Works through what waits in the inbox, one message at a time; one bad message stops nothing."""

    def __init__(self, triage: Triage, store: Store | None, batch_size: int, max_message_bytes: int,
                 replies_per_hour: int, dry_run: bool = False):
        self.triage = triage
        self.store = store
        self.batch_size = batch_size
        self.max_message_bytes = max_message_bytes
        self.replies_per_hour = replies_per_hour
        self.dry_run = dry_run
        self.should_stop: Callable[[], bool] = lambda: False  # asked between messages: stop cleanly
    def run(self, box: MailSource, progress: Callable[[int], Callable[[], None]] | None = None) -> PassReport:
        report = PassReport()
        state = box.state()
        after = None
        if self.store is not None and not self.dry_run:
            checkpoint = self.store.checkpoint(state.name)
            if checkpoint and checkpoint[0] == state.uidvalidity:
                after = checkpoint[1]
                if state.uidnext and after >= state.uidnext - 1 and not self.store.moves_waiting(state.name):
                    return report  # nothing new: the idle poll costs one SELECT, whatever the folder's size
            elif checkpoint:
                log.warning("UIDVALIDITY changed: reading the whole inbox again; decided messages are not answered twice",
                            extra={"mailbox": state.name, "was": checkpoint[0], "now": state.uidvalidity})
            report.filed_late = self.file_unfiled(box, state)
            self.refile(box, state)
        uids = box.waiting(after)
        advance = progress(len(uids)) if progress and uids else (lambda: None)
        for start in range(0, len(uids), self.batch_size):
            for fetched in box.fetch(uids[start : start + self.batch_size], self.max_message_bytes):
                report.rows.append(self.handle(box, state, fetched))
                advance()
                if self.should_stop():
                    return report  # the rest waits for the next start; nothing is half done
        return report

    def file_unfiled(self, box: MailSource, state: MailboxState) -> int:
        """File messages decided in an earlier pass that stopped before moving them."""
        count = 0
        for item in self.store.unfiled(state.name):
            uid = item.uid if item.uidvalidity == state.uidvalidity else (box.find(item.message_id) if item.message_id else None)
            if uid is not None and not self._file(box, uid, item.folder, item.message_id):
                continue  # refused this time; the others go on, and it is tried again next pass
            self.store.filed(item.id)
            count += 1
        return count

    def refile(self, box: MailSource, state: MailboxState) -> None:
        """Move the messages reviewers decided out of the review folder."""
        for item in self.store.refiles(state.name):
            try:
                moved = box.refile(item.uid, item.message_id, "review", item.folder)
            except SourceError as exc:
                if not box.alive():
                    raise
                log.error("a reviewed message could not be moved; tried again next pass", extra={"message": item.id, "error": str(exc)})
                continue
            self.store.refiled(item.id, moved)

    def _file(self, box: MailSource, uid: str, folder: str, message_id: str | None = None) -> bool:
        """Move a message; True when it is out of the inbox. A refusal of this one message is logged and
        left for the next pass; a lost connection stops the pass (SourceError). `message_id` when moving it
        again after a stopped pass (see MailSource.file)."""
        try:
            box.file(uid, folder, message_id=message_id)
            return True
        except SourceError as exc:
            if not box.alive():
                raise
            log.error("a message could not be filed; it stays in the inbox and is tried again next pass",
                      extra={"uid": uid, "folder": folder, "error": str(exc)})
            return False

    def handle(self, box: MailSource, state: MailboxState, fetched: Fetched) -> Row:
        checkpoint = (state.name, state.uidvalidity, fetched.order) if fetched.order else None
        try:
            return self._handle(box, state, fetched, checkpoint)
        except SourceError:
            raise  # the mailbox went away: the pass stops, the message is picked up again next time
        except Exception as exc:  # any other step failing holds this message, and the rest goes on
            log.exception("a message could not be processed; it is held for review", extra={"uid": fetched.uid})
            return self._hold_failed(box, state, fetched, checkpoint, exc)

    def _handle(self, box, state, fetched: Fetched, checkpoint) -> Row:
        raw = fetched.raw
        result = self.triage.run(raw) if raw is not None else None
        email = result.email if result else parse_email(fetched.head + b"\r\n\r\n")
        key = message_key(email.message_id, raw if raw is not None else fetched.head)
        known = self.store.find(key) if self.store is not None else None
        if known is not None:
            return self._duplicate(box, state, fetched, known, checkpoint, email.subject)
        if result is None:
            return self._record_held(box, state, fetched, checkpoint, email, key, ["message_too_large"],
                                     f"{fetched.size} bytes, over the limit of {self.max_message_bytes}")
        decision, reply = result.decision, result.reply
        folder = FOLDER_FOR.get(decision.outcome, "processed")
        review_reasons = list(decision.reasons) if decision.outcome == "review" else None
        reply_status = "pending"
        if reply is not None and self.store is not None:  # a dry run reads the store too, writing nothing
            recent = self.store.replies_since(_address(reply.to[0].email), utcnow() - timedelta(hours=1))
            if recent >= self.replies_per_hour:
                reply_status, folder, review_reasons = "held", "review", ["reply_rate_limited"]
        if self.dry_run or self.store is None:
            return Row(fetched.uid, email.subject, decision.outcome, decision.reasons, folder,
                       reply.message_id if reply else None, "dry run: nothing recorded, moved or sent")
        message = self._message(state, fetched, raw, email, key, result, folder)
        reply_row = None
        if reply is not None:
            content = reply.to_message().as_bytes(policy=policy.SMTP)
            envelope = [a.email for a in (*reply.to, *reply.cc)]
            reply_row = Reply(recipient=_address(reply.to[0].email), envelope_to=envelope, subject=reply.subject,
                              rfc_message_id=reply.message_id, template=reply.template, content=content, status=reply_status,
                              attempts=0, next_attempt_at=message.seen_at, created_at=message.seen_at)
        recorded = self.store.record(message, reply_row, review_reasons, checkpoint)
        if recorded is None:  # another process decided it first
            known = self.store.find(key)
            return self._duplicate(box, state, fetched, known, None, email.subject)
        if self._file(box, fetched.uid, folder):
            self.store.filed(recorded)
        note = "reply held: too many automatic replies to this sender this hour" if reply_status == "held" else ""
        return Row(fetched.uid, email.subject, decision.outcome, tuple(review_reasons or decision.reasons), folder,
                   reply.message_id if reply and reply_status != "held" else None, note)

    def _message(self, state, fetched: Fetched, raw: bytes | None, email, key: str, result: TriageResult | None, folder: str,
                 outcome: str | None = None, reasons: list[str] | None = None, error: str | None = None) -> Message:
        decision = result.decision if result else None
        endorser = decision.endorser if decision else None
        message = Message(
            key=key, mailbox=state.name, uidvalidity=state.uidvalidity, uid=fetched.uid, message_id=email.message_id,
            sender=_address(email.sender.email) if email.sender else None, subject=email.subject[:2000], size=fetched.size,
            seen_at=utcnow(), outcome=outcome or decision.outcome, reasons=reasons if reasons is not None else list(decision.reasons),
            endorser=None if endorser is None else {
                "email": endorser.email, "name": endorser.name, "organisation": endorser.organisation,
                "seniority": endorser.seniority, "source": endorser.source, "stated_title": endorser.stated_title},
            folder=folder, state="decided", raw=raw, error=error,
        )
        if decision is not None and outcome is None:
            message.requests = [
                Request(position=n, name=item.request.name, email=_address(item.request.email, lower=False), access=item.request.access,
                        outcome=item.outcome, reasons=list(item.reasons),
                        approved_by="mailbot" if item.outcome == "approved" else None,
                        approved_at=message.seen_at if item.outcome == "approved" else None)
                for n, item in enumerate(decision.requests)
            ]
        return message

    def _duplicate(self, box, state: MailboxState, fetched: Fetched, known: Message, checkpoint, subject: str) -> Row:
        """Seen before (the same Message-ID): filed where the first went, never answered again."""
        if self.dry_run or self.store is None:
            return Row(fetched.uid, subject, known.outcome, tuple(known.reasons), known.folder, None, "already decided (dry run)")
        if (known.mailbox, known.uidvalidity, known.uid) == (state.name, state.uidvalidity, fetched.uid):
            # Not a copy but this very message, decided by another process working the same inbox: that process
            # files it (or, if it stops first, the next pass does). Two MOVEs of one message at once can leave
            # two copies in the folder.
            if checkpoint is not None:
                self.store.advance(*checkpoint)
            return Row(fetched.uid, subject, known.outcome, tuple(known.reasons), known.folder, None, "decided by another process")
        self._file(box, fetched.uid, known.folder)
        if checkpoint is not None:
            self.store.advance(*checkpoint)
        self.store.audit("duplicate_filed", known.id, uid=fetched.uid, folder=known.folder)
        return Row(fetched.uid, subject, known.outcome, tuple(known.reasons), known.folder, None, "already decided: not answered again")

    def _record_held(self, box, state, fetched: Fetched, checkpoint, email, key: str, reasons: list[str], error: str) -> Row:
        if self.dry_run or self.store is None:
            return Row(fetched.uid, email.subject, "review", tuple(reasons), "review", None, error)
        message = self._message(state, fetched, fetched.raw, email, key, None, "review", outcome="review", reasons=reasons, error=error)
        recorded = self.store.record(message, None, reasons, checkpoint)
        if recorded is not None and self._file(box, fetched.uid, "review"):
            self.store.filed(recorded)
        return Row(fetched.uid, email.subject, "review", tuple(reasons), "review", None, error)

    def _hold_failed(self, box, state, fetched: Fetched, checkpoint, exc: Exception) -> Row:
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]
        email = parse_email(fetched.raw or fetched.head + b"\r\n\r\n")
        key = message_key(email.message_id, fetched.raw or fetched.head)
        return self._record_held(box, state, fetched, checkpoint, email, key, ["processing_failed"], error)
