"""One node works a mailbox: a lease row in the shared database, renewed by its holder, taken when it lapses."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mailbot.store import Store, utcnow
from mailbot.store.models import AuditEntry, Lease

log = logging.getLogger(__name__)


class MailboxLease:
    """The lease on one mailbox for this node.

    The holder renews it well before it expires; a node that cannot renew (it died, or lost the
    database) stops working the mailbox, and after `seconds` another node takes it. Clocks are the
    nodes' own UTC clocks: keep them in time (NTP). Scale out to many mailboxes with one lease each.
    """

    def __init__(self, store: Store, mailbox: str, holder: str, seconds: float):
        self.store = store
        self.mailbox = mailbox
        self.holder = holder
        self.seconds = seconds
        self.held = False

    def hold(self) -> bool:
        """Renew the lease, or take it if it is free or has lapsed. Returns whether this node holds it."""
        now = utcnow()
        until = now + timedelta(seconds=self.seconds)
        try:
            with self.store.session() as session:
                renewed = session.execute(
                    update(Lease).where(Lease.mailbox == self.mailbox, Lease.holder == self.holder).values(expires_at=until)
                ).rowcount
                taken = 0
                if not renewed:
                    taken = session.execute(
                        update(Lease).where(Lease.mailbox == self.mailbox, Lease.expires_at < now)
                        .values(holder=self.holder, acquired_at=now, expires_at=until)
                    ).rowcount
                    if not taken:
                        insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
                        created = session.execute(
                            insert(Lease).values(mailbox=self.mailbox, holder=self.holder, acquired_at=now, expires_at=until)
                            .on_conflict_do_nothing(index_elements=["mailbox"]).returning(Lease.mailbox)
                        ).scalar()
                        taken = int(created is not None)  # (rowcount is not to be trusted here on every driver)
                    if taken:
                        session.add(AuditEntry(at=now, actor=self.holder, action="lease_taken", detail={"mailbox": self.mailbox}))
        except Exception as exc:  # the database is out of reach: this node must not work the mailbox
            if self.held:
                log.error("the lease could not be renewed; standing by", extra={"error": str(exc).splitlines()[0] if str(exc) else ""})
            self.held = False
            return False
        was = self.held
        self.held = bool(renewed or taken)
        if self.held and not was:
            log.info("this node now works the mailbox", extra={"mailbox": self.mailbox, "node": self.holder})
        elif was and not self.held:
            log.warning("another node took the mailbox; standing by", extra={"mailbox": self.mailbox})
        return self.held

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
