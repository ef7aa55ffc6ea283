"""One pass over the inbox: read what waits, triage it, record it with its reply, file it away.

Messages go through in batches: one fetch, the decisions, one transaction recording them all with
their replies and the checkpoint, one MOVE per folder, one update marking them filed. A batch that
cannot be recorded whole is recorded one message at a time, so one bad message holds up nothing.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import Callable, Iterator

from mailbot.decide.limits import ReplyLimit
from mailbot.parse import parse_email
from mailbot.directory import Directory
from mailbot.service.records import Item, Row, entries, stored_address
from mailbot.service.triaged import Triaged, adopt_directory, lost_in_pass, triage_for_pass, worker_engine
from mailbot.source import Fetched, MailboxState, MailSource, SourceError
from mailbot.store import Message, Store, conversations, message_key, utcnow
from mailbot.triage import Triage
from mailbot.workers import EnginePool

log = logging.getLogger(__name__)

FOLDER_FOR = {"ignored": "ignored", "review": "review"}  # every other outcome is answered: "processed"


@dataclass
class PassReport:
    rows: list[Row] = field(default_factory=list)
    filed_late: int = 0  # decided in an earlier pass, filed in this one

    @property
    def replies(self) -> int:
        return sum(1 for r in self.rows if r.reply)


class InboxPass:
    """Works through what waits in the inbox; one bad message stops nothing."""

    def __init__(self, triage: Triage, store: Store | None, batch_size: int, max_message_bytes: int,
                 replies_per_hour: int, dry_run: bool = False, workers: int = 1,
                 directory_now: Callable[[], Directory] | None = None):
        self.triage = triage
        # Triage runs on worker processes (at least one), so that a message that overruns its time budget can be
        # stopped whatever it is stuck in, and the pass goes on; each batch is decided with the directory of now.
        self.pool = EnginePool(triage, triage_for_pass, max(1, workers), build=partial(worker_engine, triage.settings, triage.directory),
                               lost=partial(lost_in_pass, triage), deadline=triage.budget, adopt=adopt_directory)
        self.directory_now = directory_now or (lambda: triage.directory)
        self._directory: Directory = triage.directory
        self.store = store
        self.batch_size = batch_size
        self.max_message_bytes = max_message_bytes
        self.replies_per_hour = replies_per_hour
        self.dry_run = dry_run
        self.should_stop: Callable[[], bool] = lambda: False  # asked between batches: stop cleanly
        self.on_batch: Callable[[], None] = lambda: None  # told when a batch is recorded (its replies can go)
        self._failures: dict[str, int] = {}

    @property
    def writes(self) -> bool:
        return self.store is not None and not self.dry_run

    def run(self, box: MailSource, progress: Callable[[int], Callable[[], None]] | None = None) -> PassReport:
        report = PassReport()
        state = box.state()
        after = None
        if self.writes:
            checkpoint = self.store.checkpoint(state.name)
            if checkpoint and checkpoint[0] == state.uidvalidity:
                after = checkpoint[1]
                if state.uidnext and after >= state.uidnext - 1 and not self.store.moves_waiting(state.name):
                    return report  # nothing new: the idle poll costs a NOOP and a search, whatever the folder's size
            elif checkpoint:
                log.warning("UIDVALIDITY changed: reading the whole inbox again; decided messages are not answered twice",
                            extra={"mailbox": state.name, "was": checkpoint[0], "now": state.uidvalidity})
            report.filed_late = self.file_unfiled(box, state)
            self.refile(box, state)
        uids = box.waiting(after)
        # Fetches that broke the connection in earlier passes (a failing one ends this pass: read once a pass).
        self._failures = self.store.fetch_failures(state.name, state.uidvalidity) if self.writes and uids else {}
        advance = progress(len(uids)) if progress and uids else (lambda: None)
        # A two-stage pipeline: while the workers triage one batch, the batch before it is recorded and filed.
        # A batch fetched but not yet recorded when the pass stops (or the connection drops) is simply read
        # again next pass: nothing of it was written, sent or moved.
        waiting = None
        for start in range(0, len(uids), self.batch_size):
            if self.should_stop():
                break  # the rest waits for the next start; nothing is half done
            started = self._start(box, state, uids[start : start + self.batch_size])
            if waiting is not None:
                self._finish_into(report, box, state, waiting, advance)
            waiting = started
        if waiting is not None:
            self._finish_into(report, box, state, waiting, advance)
        return report

    # -- a batch -------------------------------------------------------------------------------------

    def _start(self, box: MailSource, state: MailboxState, uids: list[str]) -> tuple[list[str], list[Fetched], Iterator[Triaged]]:
        """Fetch a batch and set its triage going (on the workers, when there are any)."""
        fetched = list(self._fetch(box, state, uids))
        readable = [f.raw for f in fetched if f.raw is not None]
        directory = self.directory_now()
        if directory is not self._directory:  # edited since the last batch (on the desk, or an import)
            self.pool.update(directory)
            self._directory = directory
        return uids, fetched, self.pool.map(readable)

    def _finish_into(self, report: PassReport, box: MailSource, state: MailboxState, started, advance) -> None:
        rows = self._batch(box, state, *started)
        report.rows.extend(rows)
        self.on_batch()
        for _ in rows:
            advance()

    def _batch(self, box: MailSource, state: MailboxState, uids: list[str], fetched: list[Fetched],
               results: Iterator[Triaged]) -> list[Row]:
        """Decide, record and file one batch, its triage done or under way."""
        triaged = dict(zip((f.uid for f in fetched if f.raw is not None), results))
        items = [self._decide(f, triaged.get(f.uid)) for f in fetched]
        if self.store is not None:
            items = self._plan(items)  # a dry run reads the store too (duplicates, rate limits), writing nothing
        if not self.writes:
            return [item.row if item.known is None else item.as_known(item.known, "already decided (dry run)").row
                    for item in items]
        last = max((int(u) for u in uids if u.isdigit()), default=0)
        items = self._record(state, items, (state.name, state.uidvalidity, last) if last else None)
        return self._file(box, state, items)

    def _fetch(self, box: MailSource, state: MailboxState, uids: list[str]) -> Iterator[Fetched]:
        """The batch's messages. A batch whose fetch broke the connection before is read a message at a time;
        a message whose own fetch broke it is held for review unread, and the inbox goes on past it."""
        failures = self._failures
        try:
            if not any(uid in failures for uid in uids):
                yield from box.fetch(uids, self.max_message_bytes)
                return
            for uid in uids:
                if failures.get(uid, 0) >= 1:
                    self._hold_unreadable(state, uid)
                    continue
                try:
                    yield from box.fetch([uid], self.max_message_bytes)
                except SourceError as exc:
                    self.store.audit("fetch_failed", mailbox=state.name, uidvalidity=state.uidvalidity, uids=[uid], error=str(exc))
                    self._hold_unreadable(state, uid, str(exc))
                    raise
        except SourceError as exc:
            if self.writes and len(uids) > 1:
                self.store.audit("fetch_failed", mailbox=state.name, uidvalidity=state.uidvalidity, uids=uids, error=str(exc))
            raise

    def _hold_unreadable(self, state: MailboxState, uid: str, error: str | None = None) -> None:
        """Record a message the server cannot read (its fetch drops the connection) as held, past the checkpoint."""
        key = f"unreadable:{state.name}:{state.uidvalidity}:{uid}"
        if self.store.known([key]):
            return
        message = Message(key=key[:512], mailbox=state.name, uidvalidity=state.uidvalidity, uid=uid, message_id=None,
                          sender=None, subject=None, size=0, seen_at=utcnow(), outcome="review", reasons=["message_unreadable"],
                          endorser=None, folder="review", state="filed", raw=None,
                          error=error or "the server drops the connection when this message is read; it stays in the inbox")
        # No checkpoint move: messages before it in its batch may not be recorded yet.
        self.store.record(message, None, ["message_unreadable"], None)
        log.error("a message the server cannot read is held for review; the inbox goes on past it", extra={"uid": uid})

    def _decide(self, fetched: Fetched, triaged: Triaged | None) -> Item:
        if triaged is None:  # too large to read: held, unread
            reasons, error = ["message_too_large"], f"{fetched.size} bytes, over the limit of {self.max_message_bytes}"
            return self._held(fetched, fetched.head, reasons, error)
        if triaged.error is not None:  # any step failing holds this message, and the rest goes on
            log.error("a message could not be processed; it is held for review", extra={"uid": fetched.uid, "error": triaged.error})
            return self._held(fetched, fetched.raw, ["processing_failed"], triaged.error)
        decision, reply = triaged.decision, triaged.reply
        folder = FOLDER_FOR.get(decision.outcome, "processed")
        note = "dry run: nothing recorded, moved or sent" if self.dry_run else ""
        return Item(fetched, triaged, message_key(triaged.message_id, fetched.raw), folder,
                     Row(fetched.uid, triaged.subject, decision.outcome, decision.reasons, folder,
                         reply.message_id if reply else None, note),
                     review_reasons=decision.reasons if decision.outcome == "review" else None)

    def _held(self, fetched: Fetched, raw: bytes | None, reasons: list[str], error: str) -> Item:
        """A message mailbot holds for review itself (too large, or failing): what its header says, and why."""
        email = parse_email((raw or fetched.head) if raw else fetched.head + b"\r\n\r\n")
        summary = Triaged(email.message_id, email.subject, email.sender.email if email.sender else None, None, None, None, error)
        return Item(fetched, summary, message_key(email.message_id, raw or fetched.head), "review",
                     Row(fetched.uid, email.subject, "review", tuple(reasons), "review", None, error),
                     review_reasons=tuple(reasons), reasons=tuple(reasons), error=error)

    def _failed(self, fetched: Fetched, exc: Exception) -> Item:
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]
        return self._held(fetched, fetched.raw, ["processing_failed"], error)

    def _plan(self, items: list[Item]) -> list[Item]:
        """Against the store, for the whole batch at once: which were seen before, which are second copies within
        the batch, which replies the limit holds (decide/limits.py decides; this only counts)."""
        known = self.store.known([item.key for item in items])
        hour_ago = utcnow() - timedelta(hours=1)
        counts = self.store.reply_counts(sorted({stored_address(i.triaged.reply.to[0].email) for i in items if i.triaged.reply}), hour_ago)
        digests = conversations.recent_digests(self.store, sorted({stored_address(i.triaged.sender) for i in items if i.triaged.sender}), hour_ago)
        limit = ReplyLimit(self.replies_per_hour)
        firsts: dict[str, Item] = {}
        planned: list[Item] = []
        for item in items:
            if item.key in known:
                planned.append(replace(item, known=known[item.key]))
                continue
            if item.key in firsts:
                planned.append(item.as_copy_of(firsts[item.key]))
                continue
            seen = digests.setdefault(stored_address(item.triaged.sender) or "", set())
            repeated = item.triaged.digest in seen
            if item.triaged.digest:
                seen.add(item.triaged.digest)
            reply = item.triaged.reply
            if reply is not None:
                recipient = stored_address(reply.to[0].email)
                if limit.holds(counts.get(recipient, 0), item.triaged.decision, repeated):
                    item = item.reply_held("reply_rate_limited", "reply held: too many automatic replies to this sender this hour")
                else:
                    counts[recipient] = counts.get(recipient, 0) + 1
            firsts[item.key] = item
            planned.append(item)
        return planned

    # -- recording -------------------------------------------------------------------------------------

    def _record(self, state: MailboxState, items: list[Item], checkpoint) -> list[Item]:
        """Record the batch's new messages (whole, or else one at a time); the items as recorded."""
        new = [n for n, item in enumerate(items) if item.known is None and not item.copy]
        recorded = list(items)
        try:
            ids = self.store.record_many([entries(state, items[n], utcnow()) for n in new], checkpoint)
            for n, record_id in zip(new, ids):
                recorded[n] = replace(items[n], record_id=record_id)
        except Exception as exc:  # typically another process recorded one of them first
            log.info("a batch could not be recorded whole; recording its messages one by one",
                     extra={"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})
            for n in new:  # one at a time: another process may have recorded some, and a row may not be writable
                recorded[n] = self._record_one(state, items[n])
            if checkpoint is not None:
                self.store.advance(*checkpoint)
        self._mark_conversations([recorded[n] for n in new])
        return recorded

    def _record_one(self, state: MailboxState, item: Item) -> Item:
        checkpoint = (state.name, state.uidvalidity, item.fetched.order) if item.fetched.order else None
        try:
            record_id = self.store.record(*entries(state, item, utcnow()), checkpoint)
            if record_id is None:
                return replace(item, known=self.store.known([item.key]).get(item.key))
            return replace(item, record_id=record_id)
        except Exception as exc:
            log.exception("a message could not be recorded; it is held for review", extra={"uid": item.fetched.uid})
            failed = self._failed(item.fetched, exc)
            return replace(failed, record_id=self.store.record(*entries(state, failed, utcnow()), checkpoint))

    def _mark_conversations(self, items: list[Item]) -> None:
        """What recorded messages say of earlier ones: a repeat marks the earlier approval asked_again; a bounce of
        mailbot's reply marks the requests whose address failed for good address_bounced (held from provisioning)."""
        repeats = []  # marked together, in one transaction for the batch
        for item in items:
            decision = item.triaged.decision
            if item.record_id is None or decision is None:
                continue
            again = [d.repeat_of for d in decision.requests if d.repeat_of is not None]
            if again:
                repeats.append((again, "asked_again", {"by_message": item.record_id}))
            if decision.bounced and decision.follows is not None:
                bounced = conversations.bounced_requests(self.store, decision.follows, decision.bounced)
                if bounced:
                    conversations.mark(self.store, bounced, "address_bounced", by_message=item.record_id)
                    log.warning("a reply bounced: requests marked address_bounced",
                                extra={"answered_message": decision.follows, "requests": bounced})
        if repeats:
            conversations.mark_each(self.store, repeats)

    # -- filing ----------------------------------------------------------------------------------------

    def _file(self, box: MailSource, state: MailboxState, items: list[Item]) -> list[Row]:
        """One move per folder for the batch; then what was moved is marked filed. The rows of the batch."""
        by_folder: dict[str, list[Item]] = {}
        rows: list[Row] = []
        for item in items:
            known = item.known
            if known is not None and (known.mailbox, known.uidvalidity, known.uid) == (state.name, state.uidvalidity, item.fetched.uid):
                # Not a copy but this very message, decided by another process working the same inbox: that
                # process files it (or, if it stops first, the next pass does). Two MOVEs of one message at
                # once can leave two copies in the folder.
                rows.append(item.as_known(known, "decided by another process").row)
                continue
            if known is not None:
                item = item.as_known(known, "already decided: not answered again")
                self.store.audit("duplicate_filed", known.id, uid=item.fetched.uid, folder=known.folder)
            rows.append(item.row)
            by_folder.setdefault(item.folder, []).append(item)
        filed: list[int] = []
        for folder, group in by_folder.items():
            try:
                box.file_many([item.fetched.uid for item in group], folder)
            except SourceError as exc:
                if not box.alive():
                    raise  # the connection went: the next pass files them (they are recorded)
                log.error("messages could not be filed; they stay in the inbox and are tried again next pass",
                          extra={"folder": folder, "error": str(exc)})
                continue
            # moved, or recorded but no longer in the inbox (someone moved it): filed as far as mailbot is concerned
            filed.extend(item.record_id for item in group if item.record_id is not None)
        self.store.filed_many(filed)
        return rows

    def file_unfiled(self, box: MailSource, state: MailboxState) -> int:
        """File messages decided in an earlier pass that stopped before moving them."""
        count = 0
        for item in self.store.unfiled(state.name):
            uid = item.uid if item.uidvalidity == state.uidvalidity else (box.find(item.message_id) if item.message_id else None)
            if uid is not None and not self._file_one(box, uid, item.folder, item.message_id):
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
                log.error("a reviewed message could not be moved; tried again next pass", extra={"message_row": item.id, "error": str(exc)})
                continue
            self.store.refiled(item.id, moved)

    def _file_one(self, box: MailSource, uid: str, folder: str, message_id: str | None = None) -> bool:
        """Move one message; True when it is out of the inbox. A refusal of this one message is logged and
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
