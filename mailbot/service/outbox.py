"""Sends what the outbox holds: each reply claimed, sent, then marked; failures retried with backoff."""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta

from mailbot.send import MailSender, SendError
from mailbot.store import Store, utcnow

log = logging.getLogger(__name__)


def process_name(node: str | None = None) -> str:
    """Who claims a reply or holds a lease: this node (the host, unless [ops] node_name says) and process."""
    return f"{node or socket.gethostname()}:{os.getpid()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    given_up: int = 0
    error: str | None = None  # why sending stopped early (the server could not be reached)


class OutboxSender:
    """Drains the outbox through one sender."""

    def __init__(self, store: Store, sender: MailSender, envelope_from: str, attempts: int, retry_max_seconds: float,
                 me: str | None = None):
        self.store = store
        self.sender = sender
        self.envelope_from = envelope_from
        self.attempts = attempts
        self.retry_max_seconds = retry_max_seconds
        self.me = me or process_name()
        self.should_stop = lambda: False  # asked between replies: stop cleanly

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.retry_max_seconds, 15 * 2 ** max(0, attempts - 1)))

    def release_stale(self, of: str | None = None) -> int:
        """Replies left 'sending' by a process that died go back to the outbox; `of`: every claim of that process
        (a node whose lease lapsed and was taken over), else those of dead processes of this node, and any older
        than ten minutes."""
        released = self.store.release_stale_sending(self.me, pid_alive, timedelta(minutes=10), of)
        if released:
            log.warning("replies left half-sent by a stopped process will be sent again (a recipient may get one twice)",
                        extra={"replies": released})
        return released

    def drain(self) -> SendReport:
        report = SendReport()
        sent = None  # the reply just sent: marked sent in the transaction that claims the next
        try:
            while not self.should_stop():
                job = self.store.claim_reply(self.me, sent)
                sent = None
                if job is None:
                    break
                try:
                    self.sender.send(self.envelope_from, job.envelope_to, job.content)
                except SendError as exc:
                    if exc.permanent or job.attempts >= self.attempts:
                        self.store.reply_failed(job.id, str(exc), None)
                        report.given_up += 1
                        log.error("a reply could not be sent and is given up", extra={"reply": job.id, "error": str(exc)})
                        continue
                    self.store.reply_failed(job.id, str(exc), utcnow() + self.backoff(job.attempts))
                    report.retrying += 1
                    report.error = str(exc)
                    log.warning("sending failed; will try again", extra={"reply": job.id, "error": str(exc), "attempts": job.attempts})
                    break  # the server is likely down: the rest wait for the next round
                sent = job
                report.sent += 1
        finally:
            if sent is not None:
                self.store.reply_sent(sent)
            self.sender.close()
        return report


class BackgroundDrain:
    """Drains the outbox on a thread of its own: at once when kicked (a decision just written), else every
    `every` seconds. Each reply is claimed in the store before it is sent, so any number of processes (the
    service, the desk) may drain one outbox and none sends a reply another has claimed."""

    def __init__(self, outbox: OutboxSender, every: float = 5.0):
        self.outbox = outbox
        self.every = every
        self._wake = threading.Event()
        self._stopping = threading.Event()
        outbox.should_stop = self._stopping.is_set
        self._thread = threading.Thread(target=self._run, name="desk-outbox", daemon=True)

    def start(self) -> BackgroundDrain:
        self._thread.start()
        return self

    def kick(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.outbox.release_stale()
                report = self.outbox.drain()
                if report.sent or report.retrying or report.given_up:
                    log.info("outbox", extra={"sent": report.sent, "retrying": report.retrying, "given_up": report.given_up})
            except Exception:  # the database or the server went away: the next round tries again
                log.exception("sending stopped; tried again shortly")
            self._wake.wait(timeout=self.every)
            self._wake.clear()
