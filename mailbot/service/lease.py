"""One node works a mailbox: a lease row in the shared database, renewed by its holder, taken when it lapses."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mailbot.service.outbox import pid_alive
from mailbot.store import Store, _aware, utcnow
from mailbot.store.models import AuditEntry, Lease

log = logging.getLogger(__name__)


class MailboxLease:
    """The lease on one mailbox for this node.

    The holder renews it well before it expires; a node that cannot renew (it died, or lost the
    database) stops working the mailbox, and after `seconds` another node takes it. Clocks are the
    nodes' own UTC clocks: keep them in time (NTP). Scale out to many mailboxes with one lease each.
    """

    def __init__(self, store: Store, mailbox: str, holder: str, seconds: float, alive: Callable[[int], bool] = pid_alive):
        self.store = store
        self.alive = alive  # is a process of this host (by pid) still running?
        self.mailbox = mailbox
        self.holder = holder
        self.seconds = seconds
        self.held = False
        self.taken_from: str | None = None  # the holder whose lease this node took over (lapsed, or dead), when it did

    def hold(self) -> bool:
        """Renew the lease, or take it if it is free or has lapsed. Returns whether this node holds it."""
        now = utcnow()
        until = now + timedelta(seconds=self.seconds)
        try:
            with self.store.session() as session:
                renewed = session.execute(
                    update(Lease).where(Lease.mailbox == self.mailbox, Lease.holder == self.holder).values(expires_at=until)
                ).rowcount
                taken, previous = 0, None
                if not renewed:
                    current = session.execute(select(Lease.holder, Lease.expires_at).where(Lease.mailbox == self.mailbox)).first()
                    # A lease that lapsed, or that a dead process of this host holds (it crashed, and systemd started
                    # us again: no need to wait for it to lapse), is taken: a conditional update, so one node wins.
                    if current is not None and (_aware(current.expires_at) < now or self._dead_here(current.holder)):
                        taken = session.execute(
                            update(Lease).where(Lease.mailbox == self.mailbox, Lease.holder == current.holder,
                                                Lease.expires_at == current.expires_at)
                            .values(holder=self.holder, acquired_at=now, expires_at=until)
                        ).rowcount
                        previous = current.holder if taken else None
                    elif current is None:
                        insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
                        created = session.execute(
                            insert(Lease).values(mailbox=self.mailbox, holder=self.holder, acquired_at=now, expires_at=until)
                            .on_conflict_do_nothing(index_elements=["mailbox"]).returning(Lease.mailbox)
                        ).scalar()
                        taken = int(created is not None)  # (rowcount is not to be trusted here on every driver)
                    if taken:
                        session.add(AuditEntry(at=now, actor=self.holder, action="lease_taken",
                                               detail={"mailbox": self.mailbox, "from": previous}))
        except Exception as exc:  # the database is out of reach: this node must not work the mailbox
            if self.held:
                log.error("the lease could not be renewed; standing by", extra={"error": str(exc).splitlines()[0] if str(exc) else ""})
            self.held = False
            return False
        was = self.held
        self.held = bool(renewed or taken)
        self.taken_from = previous if taken else None
        if self.held and not was:
            log.info("this node now works the mailbox", extra={"mailbox": self.mailbox, "node": self.holder})
        elif was and not self.held:
            log.warning("another node took the mailbox; standing by", extra={"mailbox": self.mailbox})
        return self.held

    def _dead_here(self, holder: str) -> bool:
        """Is this holder ("host:pid") a process of this host that is no longer running?"""
        host, _, pid = holder.rpartition(":")
        return host == self.holder.rpartition(":")[0] and pid.isdigit() and int(pid) != os.getpid() and not self.alive(int(pid))

    def release(self) -> None:
        """Give the lease up at a clean stop, so a standby takes over at once."""
        if not self.held:
            return
        try:
            with self.store.session() as session:
                session.execute(update(Lease).where(Lease.mailbox == self.mailbox, Lease.holder == self.holder)
                                .values(expires_at=utcnow() - timedelta(seconds=1)))
        except Exception:
            pass
        self.held = False
