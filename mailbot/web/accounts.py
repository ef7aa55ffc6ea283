"""Review-desk accounts: argon2 password hashes, sessions that expire, CSRF tokens, lock-out after failures."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from mailbot.store import Store, _aware, utcnow
from mailbot.store.models import AuditEntry, User, WebSession

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
SESSION_IDLE = timedelta(hours=2)
SESSION_MAX = timedelta(hours=12)
_HASHER = PasswordHasher()
# One answer for every refusal: it must not tell whether a name exists or an account is locked.
REFUSED = f"Wrong name or password, or too many failed attempts: after {MAX_FAILURES} an account waits {LOCK_FOR.seconds // 60} minutes."


class LoginRefused(Exception):
    """Wrong name or password, or the account is locked; the message never says which of name or password."""


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    name: str
    csrf_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(store: Store, name: str, password: str, actor: str = "cli") -> None:
    name = name.strip()
    if not name or len(password) < 10:
        raise ValueError("a name, and a password of at least 10 characters, are needed")
    with store.session() as session:
        if session.scalar(select(User).where(User.name == name)) is not None:
            raise ValueError(f"there is already an account called {name!r}")
        session.add(User(name=name, password_hash=_HASHER.hash(password), created_at=utcnow(), failed_logins=0))
        session.add(AuditEntry(at=utcnow(), actor=actor, action="user_added", detail={"user": name}))


def log_in(store: Store, name: str, password: str) -> tuple[str, SignedIn]:
    """Check the password; return the new session's cookie token. Five failures lock the account for a while."""
    now = utcnow()
    with store.session() as session:
        user = session.scalar(select(User).where(User.name == name.strip()).with_for_update())
        if user is None:
            _HASHER.hash(password)  # take as long as a real check: do not tell names apart by timing
            raise LoginRefused(REFUSED)
        if user.locked_until is not None and _aware(user.locked_until) > now:
            raise LoginRefused(REFUSED)
        try:
            _HASHER.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            # Counted in this transaction, which must commit: raising inside it would roll the count back.
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until, user.failed_logins = now + LOCK_FOR, 0
                session.add(AuditEntry(at=now, actor=user.name, action="account_locked", detail={"for_minutes": LOCK_FOR.seconds // 60}))
            signed_in = None
        else:
            user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            session.add(WebSession(id=_digest(token), user_id=user.id, csrf_token=csrf, created_at=now, last_seen_at=now,
                                   expires_at=now + SESSION_MAX))
            session.add(AuditEntry(at=now, actor=user.name, action="logged_in", detail={}))
            signed_in = SignedIn(user.id, user.name, csrf)
    if signed_in is None:
        raise LoginRefused(REFUSED)
    return token, signed_in


def session_for(store: Store, token: str | None) -> SignedIn | None:
    """The signed-in user of a cookie, or None (unknown, expired, or idle too long)."""
    if not token:
        return None
    now = utcnow()
    with store.session() as session:
        row = session.get(WebSession, _digest(token))
        if row is None:
            return None
        if _aware(row.expires_at) <= now or _aware(row.last_seen_at) + SESSION_IDLE <= now:
            session.delete(row)
            return None
        row.last_seen_at = now
        user = session.get(User, row.user_id)
        return SignedIn(user.id, user.name, row.csrf_token) if user else None


def log_out(store: Store, token: str | None) -> None:
    if token:
        with store.session() as session:
            session.execute(delete(WebSession).where(WebSession.id == _digest(token)))


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(expected, given)
