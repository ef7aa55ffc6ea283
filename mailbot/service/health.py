"""Is the service healthy? The last poll, the outbox, the credentials; each check with its reason."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from mailbot.store import Store, _aware, utcnow
from mailbot.store.models import Reply, ReviewItem


@dataclass
class HealthState:
    """What the running service reports about itself (updated by its jobs, read by /healthz)."""

    started_at: datetime = field(default_factory=utcnow)
    last_poll_ok_at: datetime | None = None
    last_poll_error: str | None = None
    poll_failures: int = 0  # in a row
    credentials_error: str | None = None
    standby: bool = False  # another node holds the mailbox's lease
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def poll_ok(self) -> None:
        with self.lock:
            self.last_poll_ok_at, self.last_poll_error, self.poll_failures = utcnow(), None, 0
            self.credentials_error = None

    def poll_failed(self, error: str, credentials: bool = False) -> None:
        with self.lock:
            self.last_poll_error, self.poll_failures = error, self.poll_failures + 1
            if credentials:
                self.credentials_error = error


def outbox_state(store: Store) -> tuple[int, timedelta | None, int]:
    """(replies waiting, how long the oldest has waited, replies given up)."""
    with store.session() as session:
        waiting, oldest = session.execute(
            select(func.count(Reply.id), func.min(Reply.created_at)).where(Reply.status.in_(("pending", "sending")))).one()
        failed = session.scalar(select(func.count(Reply.id)).where(Reply.status == "failed"))
    return waiting, (utcnow() - _aware(oldest)) if oldest else None, failed


def review_state(store: Store) -> tuple[int, timedelta | None]:
    with store.session() as session:
        count, oldest = session.execute(
            select(func.count(ReviewItem.id), func.min(ReviewItem.created_at)).where(ReviewItem.status == "open")).one()
    return count, (utcnow() - _aware(oldest)) if oldest else None


def check(state: HealthState, store: Store, poll_stale: float, outbox_stale: float, secret_expires: date | None,
          warn_days: int) -> tuple[bool, dict]:
    """(healthy, checks): healthy only when the last poll succeeded recently, the outbox drains, credentials hold."""
    now = utcnow()
    checks: dict[str, dict] = {}
    if state.standby:
        checks["poll"] = {"ok": True, "detail": "standing by: another node works the mailbox"}
    elif state.last_poll_ok_at is None:
        grace = (now - state.started_at).total_seconds() < poll_stale
        checks["poll"] = {"ok": grace and state.last_poll_error is None,
                          "detail": state.last_poll_error or "no poll has succeeded yet"}
    else:
        age = (now - state.last_poll_ok_at).total_seconds()
        checks["poll"] = {"ok": age < poll_stale, "detail": f"last good poll {age:.0f} s ago"
                          + (f"; failing since: {state.last_poll_error}" if state.last_poll_error else "")}
    try:
        waiting, oldest, failed = outbox_state(store)
        stuck = oldest is not None and oldest.total_seconds() > outbox_stale
        checks["outbox"] = {"ok": not stuck, "detail": f"{waiting} waiting"
                            + (f", oldest {oldest.total_seconds():.0f} s" if oldest else "") + f", {failed} given up"}
        checks["database"] = {"ok": True, "detail": "reachable"}
    except Exception as exc:
        checks["database"] = {"ok": False, "detail": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    days_left = (secret_expires - now.date()).days if secret_expires else None
    credentials_ok = state.credentials_error is None and (days_left is None or days_left > 0)
    detail = state.credentials_error or ("accepted" if days_left is None else f"client secret expires in {days_left} days")
    checks["credentials"] = {"ok": credentials_ok, "detail": detail,
                             "expiring": days_left is not None and days_left <= warn_days}
    return all(c["ok"] for c in checks.values()), checks
