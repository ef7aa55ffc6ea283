"""The service: a pass now (--once) or on a schedule with IDLE, sending the outbox, stopping cleanly."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from mailbot.service.inbox import InboxPass, PassReport
from mailbot.service.outbox import OutboxSender, SendReport
from mailbot.service.wiring import Parts
from mailbot.source import MailSource, SourceError

log = logging.getLogger(__name__)
PROGRESS_FROM = 30


@dataclass
class OnceResult:
    report: PassReport = field(default_factory=PassReport)
    sent: SendReport | None = None
    error: str | None = None  # the one-line reason the mailbox or the SMTP server could not be reached


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


def _progress(total: int):
    """A progress bar on stderr for a large backlog, when a person is watching."""
    if total <= PROGRESS_FROM or not sys.stderr.isatty():
        return lambda: None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    bar.start()
    task = bar.add_task("messages", total=total)

    def advance() -> None:
        bar.advance(task)
        if bar.tasks[0].completed >= total:
            bar.stop()

    return advance


class _Sending:
    """A thread that drains the outbox while a pass records replies, then once more at the end."""

    def __init__(self, outbox: OutboxSender):
        self.outbox = outbox
        self.report = SendReport()
        self.wake = threading.Event()
        self.done = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self.thread.start()

    def kick(self) -> None:
        self.wake.set()

    def _run(self) -> None:
        try:
            while True:
                self.wake.wait(timeout=1.0)
                self.wake.clear()
                finishing = self.done.is_set()
                part = self.outbox.drain()
                self.report.sent += part.sent
                self.report.retrying += part.retrying
                self.report.given_up += part.given_up
                self.report.error = part.error or self.report.error
                if finishing or part.error:
                    return  # done, or the server is down: the rest wait for the next pass
        except BaseException as exc:  # handed to finish()
            self.failure = exc

    def finish(self) -> SendReport:
        self.done.set()
        self.wake.set()
        self.thread.join()
        if self.failure is not None:
            raise self.failure
        return self.report


class Service:
    def __init__(self, parts: Parts, dry_run: bool = False):
        self.parts = parts
        self.dry_run = dry_run
        service = parts.settings.service
        # A dry run still reads the store, where there is one, to see duplicates and rate limits.
        store = parts.store if not dry_run or parts.store.readable() else None
        self.inbox = InboxPass(parts.triage, store, service.batch_size, service.max_message_bytes,
                               service.replies_per_sender_per_hour, dry_run, parts.triage_workers,
                               directory_now=parts.directory_now if store is not None else None)
        self.outbox = OutboxSender(parts.store, parts.sender, parts.settings.mailbox.address, service.send_attempts,
                                   service.retry_max_seconds, parts.me)
        self.stopping = threading.Event()
        self.inbox.should_stop = self.stopping.is_set
        self.outbox.should_stop = self.stopping.is_set
        self._session: MailSource | None = None
        self._lock = threading.Lock()  # one pass at a time
        self._send_lock = threading.Lock()  # one drain at a time
        self._failures = 0
        self.scheduler = None
        self.ops = None  # health, metrics, warnings, retention and the lease: for the long-running service

    # -- one pass ------------------------------------------------------------------------------------

    def once(self) -> OnceResult:
        result = OnceResult()
        if not self.dry_run:
            try:
                self.parts.store.upgrade()
            except Exception as exc:  # the database cannot be reached or written
                result.error = f"database: {type(exc).__name__}: {_first_line(exc)}"
                return result
        if not self.dry_run:
            try:
                self._sync_directory()
            except Exception as exc:
                result.error = f"directory: {type(exc).__name__}: {_first_line(exc)}"
                return result
        try:
            box = self.parts.open_source(self.dry_run)
        except SourceError as exc:
            result.error = str(exc)
            return result
        sending = None
        if not self.dry_run:
            self.outbox.release_stale()
            sending = _Sending(self.outbox)  # replies go out while the pass goes on: SMTP waits overlap the work
            self.inbox.on_batch = sending.kick
        try:
            result.report = self.inbox.run(box, _progress)
        except SourceError as exc:
            result.error = str(exc)
        except Exception as exc:  # the database went away mid-pass, or the like: one line, not a traceback
            log.exception("the pass stopped")
            result.error = f"the pass stopped: {type(exc).__name__}: {_first_line(exc)}"
        finally:
            box.close()
            self.inbox.on_batch = lambda: None
            self.inbox.pool.close()
        if sending is not None:
            try:
                result.sent = sending.finish()
            except Exception as exc:
                log.exception("sending stopped")
                result.error = result.error or f"sending stopped: {type(exc).__name__}: {_first_line(exc)}"
                return result
            if result.sent.error and not result.error:
                result.error = f"replies wait in the outbox: {result.sent.error}"
        return result

    # -- the long-running service --------------------------------------------------------------------

    def forever(self) -> None:
        from apscheduler.schedulers.blocking import BlockingScheduler

        from mailbot.service.operations import Operations

        settings = self.parts.settings.service
        self.parts.store.upgrade()
        self.outbox.release_stale()
        self.ops = Operations(self.parts)
        working = lambda: not self.stopping.is_set() and self.ops.lease.held  # noqa: E731
        self.inbox.should_stop = self.outbox.should_stop = lambda: not working()  # lost the lease: stop at once
        self.ops.may_work()
        now = datetime.now(timezone.utc)
        self.scheduler = BlockingScheduler(timezone=timezone.utc)
        self.scheduler.add_job(self.renew_lease, "interval", seconds=self.ops.renew_every.total_seconds(), id="lease",
                               max_instances=1, coalesce=True)
        self.scheduler.add_job(self.poll, "interval", seconds=settings.poll_interval_seconds, id="poll", next_run_time=now,
                               max_instances=1, coalesce=True)
        self.scheduler.add_job(self.send, "interval", seconds=settings.send_interval_seconds, id="send", next_run_time=now,
                               max_instances=1, coalesce=True)
        self.scheduler.add_job(self.housekeeping, "interval", seconds=settings.housekeeping_interval_seconds, id="housekeeping",
                               next_run_time=now + timedelta(seconds=min(60, settings.housekeeping_interval_seconds)),
                               max_instances=1, coalesce=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        watcher = self._start_watcher()
        desk = self._start_desk()
        self.ops.start()
        log.info("mailbot started", extra={"mailbox": self._mailbox_name(), "replies_to": self.parts.replies_go_to,
                                           "standing_by": not self.ops.lease.held})
        try:
            self.scheduler.start()
        finally:
            self.stopping.set()
            for lock in (self._lock, self._send_lock):  # let the message and the reply in hand finish
                if lock.acquire(timeout=120):
                    lock.release()
            if watcher is not None:
                watcher.join(timeout=5)
            if desk is not None:
                desk.should_exit = True
            self._drop_session()
            self.inbox.pool.close()
            self.ops.stop()  # gives up the lease: a standby takes over at once
            log.info("mailbot stopped")

    def _mailbox_name(self) -> str:
        settings = self.parts.settings
        return f"imap://{settings.imap.host}/{settings.imap.folder}" if settings.imap else f"maildir:{settings.maildir.path}"

    def _on_signal(self, signum, _frame) -> None:
        log.info("stopping: finishing the message in hand", extra={"signal": signal.Signals(signum).name})
        self.stopping.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _sync_directory(self) -> None:
        self.parts.sync_directory()  # each batch then asks for the directory as it is (InboxPass.directory_now)

    def _drop_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def renew_lease(self) -> None:
        """Hold the mailbox's lease; a node that has just taken it over starts work at once."""
        was = self.ops.lease.held
        if self.ops.may_work() and not was:
            if self.ops.lease.taken_from:  # that node is gone: the reply it had in hand goes back to the outbox
                self.outbox.release_stale(of=self.ops.lease.taken_from)
            self._kick("poll")
            self._kick("send")

    def poll(self) -> None:
        """Read the inbox now (on schedule, or when IDLE says something arrived)."""
        if self.stopping.is_set() or not self._lock.acquire(blocking=False):
            return  # stopping, or a pass is under way already
        try:
            if self.ops is not None and not self.ops.lease.held:
                self._drop_session()  # standing by: another node works the mailbox
                return
            started = time.monotonic()
            self._sync_directory()
            if self._session is None:
                self._session = self.parts.open_source(False)
            report = self.inbox.run(self._session, _progress)
            self._failures = 0
            if self.ops is not None:
                self.ops.pass_done(report, time.monotonic() - started)
            if report.rows:
                log.info("pass done", extra={"messages": len(report.rows), "replies": report.replies})
            if report.replies:
                self._kick("send")
        except Exception as exc:  # the mailbox (or the database) could not be reached: try again, backing off
            self._drop_session()
            self._failures += 1
            delay = min(self.parts.settings.service.retry_max_seconds, 2 ** min(self._failures, 16))
            error = str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {_first_line(exc)}"
            if isinstance(exc, SourceError):
                log.error("the mailbox could not be read; trying again", extra={"error": error, "retry_in_seconds": delay})
            else:
                log.exception("the pass stopped; trying again", extra={"retry_in_seconds": delay})
            if self.ops is not None:
                self.ops.pass_failed(error, getattr(exc, "credentials", False))
            self._kick("poll", delay)
        finally:
            self._lock.release()

    def send(self) -> None:
        if self.stopping.is_set() or (self.ops is not None and not self.ops.lease.held):
            return
        if not self._send_lock.acquire(blocking=False):
            return
        try:
            report = self.outbox.drain()
        except Exception:  # the database went away: the next round tries again
            log.exception("sending stopped")
            return
        finally:
            self._send_lock.release()
        if self.ops is not None:
            self.ops.sent(report)
        if report.sent or report.retrying or report.given_up:
            log.info("outbox", extra={"sent": report.sent, "retrying": report.retrying, "given_up": report.given_up})

    def housekeeping(self) -> None:
        if self.ops is not None and not self.ops.lease.held:
            return
        try:
            self.outbox.release_stale()
            if self.ops is not None:
                self.ops.housekeeping()
        except Exception:
            log.exception("housekeeping failed; it runs again at its next turn")

    def _kick(self, job: str, delay: float = 0) -> None:
        if self.scheduler is not None and self.scheduler.running and not self.stopping.is_set():
            try:
                self.scheduler.modify_job(job, next_run_time=datetime.now(timezone.utc) + timedelta(seconds=delay))
            except Exception:  # the scheduler is shutting down
                pass

    def _start_desk(self):
        """Serve the review desk from this process too, when [web] enabled says so."""
        web = self.parts.settings.web
        if not web.enabled:
            return None
        import uvicorn

        from mailbot.resources import shipped
        from mailbot.web.app import create_app

        app = create_app(self.parts, self.parts.settings.replies.templates or shipped("templates"), decided=lambda: self._kick("send"))
        server = uvicorn.Server(uvicorn.Config(app, host=web.host, port=web.port, log_level="warning", access_log=False,
                                               proxy_headers=True, forwarded_allow_ips=web.trusted_proxies))
        threading.Thread(target=server.run, name="review-desk", daemon=True).start()
        log.info("review desk started", extra={"url": f"http://{web.host}:{web.port}/"})
        return server

    def _start_watcher(self) -> threading.Thread | None:
        imap = self.parts.settings.imap
        if imap is None or not imap.idle:
            return None
        thread = threading.Thread(target=self._watch, name="imap-idle", daemon=True)
        thread.start()
        return thread

    def _watch(self) -> None:
        """Wait in IDLE on a second connection; a change triggers a pass at once."""
        from mailbot.source.imap import ImapWatcher

        watcher = ImapWatcher(self.parts.settings.imap, self.parts.imap_tokens)
        failures = 0
        while not self.stopping.is_set():
            try:
                if not watcher.supported():
                    log.info("the IMAP server has no IDLE; polling only")
                    return
                if watcher.wait(min(self.parts.settings.service.poll_interval_seconds, 600), self.stopping.is_set):
                    self._kick("poll")
                failures = 0
            except SourceError as exc:
                watcher.close()
                failures += 1
                delay = min(self.parts.settings.service.retry_max_seconds, 2 ** min(failures, 16))
                log.warning("IDLE connection lost; reconnecting", extra={"error": str(exc), "retry_in_seconds": delay})
                self.stopping.wait(delay)
        watcher.close()
