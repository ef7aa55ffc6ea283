"""Review-desk accounts: argon2 password hashes, sessions that expire, CSRF tokens, lock-out after failures."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from mailbot.store import Store, _aware, utcnow
from mailbot.store.models import AuditEntry, LoginThrottle, User, WebSession

# Failed sign-ins are counted per client address, and per client address and account: a client that fails
# CLIENT_LIMIT times in a WINDOW waits WAIT before it may try again, and after ACCOUNT_LIMIT failures on one
# account it waits before trying that account again. Nothing locks an account for everyone: from another
# client its reviewer still signs in, so a lock-out cannot be used to keep a reviewer off the desk.
ACCOUNT_LIMIT = 5
CLIENT_LIMIT = 20
WINDOW = timedelta(minutes=15)
WAIT = timedelta(minutes=15)
SESSION_IDLE = timedelta(hours=2)
SESSION_MAX = timedelta(hours=12)
_HASHER = PasswordHasher()
# Verified against when the name is unknown: every refusal costs one argon2 verification, as a real check does.
_STAND_IN = _HASHER.hash(secrets.token_urlsafe(16))
# One answer for every refusal: it must not tell whether a name exists or a client must wait.
REFUSED = (f"Wrong name or password, or too many failed attempts: after {ACCOUNT_LIMIT} this browser waits "
           f"{WAIT.seconds // 60} minutes before trying again.")


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


@dataclass(frozen=True)
class Account:
    name: str
    created_at: object
    last_login_at: object | None
    sessions: int  # browsers signed in now


def list_users(store: Store) -> list[Account]:
    """Every review-desk account, by name, with when it last signed in and how many browsers are signed in now."""
    now = utcnow()
    with store.session() as session:
        accounts = []
        for user in session.scalars(select(User).order_by(User.name)):
            live = [s for s in session.scalars(select(WebSession).where(WebSession.user_id == user.id))
                    if _aware(s.last_seen_at) + SESSION_IDLE > now and _aware(s.created_at) + SESSION_MAX > now]
            accounts.append(Account(user.name, user.created_at, user.last_login_at, len(live)))
        return accounts


def remove_user(store: Store, name: str, actor: str = "cli") -> bool:
    """Delete an account and sign out its browsers at once; audited. False when there is no such account."""
    with store.session() as session:
        user = session.scalar(select(User).where(User.name == name.strip()))
        if user is None:
            return False
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        session.delete(user)
        session.add(AuditEntry(at=utcnow(), actor=actor, action="user_removed", detail={"user": user.name}))
    return True


def reset_password(store: Store, name: str, password: str, actor: str = "cli") -> None:
    """A new password for an account: its browsers are signed out and its failed sign-ins forgotten; audited."""
    if len(password) < 10:
        raise ValueError("a password of at least 10 characters is needed")
    with store.session() as session:
        user = session.scalar(select(User).where(User.name == name.strip()))
        if user is None:
            raise ValueError(f"there is no account called {name!r}")
        user.password_hash, user.failed_logins, user.locked_until = _HASHER.hash(password), 0, None
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        session.add(AuditEntry(at=utcnow(), actor=actor, action="user_password_reset", detail={"user": user.name}))


def _throttle_keys(client: str, name: str) -> tuple[str, str]:
    client = (client or "unknown")[:100]
    return f"client:{client}", f"account:{client}:{name[:255]}"


def _waiting(session, keys: tuple[str, ...], now) -> bool:
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).all()
    return any(row.blocked_until is not None and _aware(row.blocked_until) > now for row in rows)


def _count_failure(session, key: str, limit: int, now) -> bool:
    """One more failure for this key; True when it now has to wait."""
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_start=now)
        session.add(row)
    if _aware(row.window_start) + WINDOW <= now:
        row.failures, row.window_start = 0, now
    row.failures += 1
    if row.failures >= limit:
        row.blocked_until, row.failures, row.window_start = now + WAIT, 0, now
        return True
    return False


def log_in(store: Store, name: str, password: str, client: str = "") -> tuple[str, SignedIn]:
    """Check the password; return the new session's cookie token (see _log_in)."""
    try:
        return _log_in(store, name, password, client)
    except IntegrityError:  # two first failures of one client at once both made its counter: count again
        return _log_in(store, name, password, client)


def _log_in(store: Store, name: str, password: str, client: str) -> tuple[str, SignedIn]:
    """Check the password; return the new session's cookie token.

    Every answer costs one argon2 verification, whether the name is unknown, the client must wait, or the
    password is wrong or right, so the time taken tells nothing. Failures are counted per client address and
    per client address and account (see ACCOUNT_LIMIT)."""
    now = utcnow()
    name = name.strip()[:255]
    client_key, account_key = _throttle_keys(client, name)
    with store.session() as session:
        user = session.scalar(select(User).where(User.name == name)) if name else None
        try:
            _HASHER.verify(user.password_hash if user is not None else _STAND_IN, password)
            right = user is not None
        except (VerificationError, InvalidHashError):
            right = False
        if _waiting(session, (client_key, account_key), now):
            signed_in = None
        elif not right:
            # Counted in this transaction, which must commit: raising inside it would roll the count back.
            if _count_failure(session, account_key, ACCOUNT_LIMIT, now) | _count_failure(session, client_key, CLIENT_LIMIT, now):
                session.add(AuditEntry(at=now, actor=name or "?", action="sign_in_throttled",
                                       detail={"client": client[:100], "for_minutes": WAIT.seconds // 60}))
            signed_in = None
        else:
            session.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key))
            user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            session.add(WebSession(id=_digest(token), user_id=user.id, csrf_token=csrf, created_at=now, last_seen_at=now,
                                   expires_at=now + SESSION_MAX))
            session.add(AuditEntry(at=now, actor=user.name, action="logged_in", detail={"client": client[:100]}))
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


def csrf_ok(expected: str | None, given: object) -> bool:
    """Is the form's token the session's? Any other shape of token (absent, not text, not ASCII) is simply wrong."""
    if not expected or not isinstance(given, str) or not given:
        return False
    return secrets.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "surrogatepass"))
