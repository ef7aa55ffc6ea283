"""The database tables: messages seen and decided, their requests, the outbox, review items, the audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Checkpoint(Base):
    """How far mailbot has read a mailbox: its UIDVALIDITY and the last UID decided."""

    __tablename__ = "checkpoints"

    mailbox: Mapped[str] = mapped_column(String(255), primary_key=True)
    uidvalidity: Mapped[str] = mapped_column(String(64))
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Message(Base):
    """A message mailbot has decided, and where it is filed."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)  # its Message-ID, or a hash of its bytes
    mailbox: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[str | None] = mapped_column(String(64))
    uid: Mapped[str | None] = mapped_column(String(255))  # the source's handle: an IMAP UID, a Maildir key
    message_id: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(320), index=True)
    subject: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    outcome: Mapped[str] = mapped_column(String(32), index=True)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    endorser: Mapped[dict | None] = mapped_column(JSON)
    folder: Mapped[str] = mapped_column(String(32))  # processed, review or ignored
    state: Mapped[str] = mapped_column(String(16), index=True)  # decided, then filed
    refile_to: Mapped[str | None] = mapped_column(String(32), index=True)  # a reviewer decided it: move it from review to here
    filed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)  # kept for reviewers until retention purges it
    error: Mapped[str | None] = mapped_column(Text)
    conversation: Mapped[str | None] = mapped_column(String(16), index=True)  # its reference (the subject's [NHSP ref ...])
    follows: Mapped[int | None] = mapped_column(Integer)  # the message whose answer this one follows up
    digest: Mapped[str | None] = mapped_column(String(64))  # of its own words: a near-identical message has the same

    requests: Mapped[list[Request]] = relationship(back_populates="message", order_by="Request.position", cascade="all, delete-orphan")
    reply: Mapped[Reply | None] = relationship(back_populates="message", cascade="all, delete-orphan")
    review: Mapped[ReviewItem | None] = relationship(back_populates="message", cascade="all, delete-orphan")


class Request(Base):
    """One (person, access) pair a message asks for, and its outcome."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320))
    access: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    approved_by: Mapped[str | None] = mapped_column(String(255))  # "mailbot" or the reviewer who approved it
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provisioned_by: Mapped[str | None] = mapped_column(String(255))  # who created the login (the worklist)
    provisioned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warnings: Mapped[list | None] = mapped_column(JSON)  # asked_again, address_bounced (the worklist shows them)

    message: Mapped[Message] = relationship(back_populates="requests")

    # repeat checks and the desk's searches look requests up by address whatever its case (migration 0007)
    __table_args__ = (Index("ix_requests_email_lower", text("lower(email)")),)


class Reply(Base):
    """The outbox: a reply written with its decision, sent later, never twice."""

    __tablename__ = "replies"
    __table_args__ = (Index("ix_replies_due", "status", "next_attempt_at"), Index("ix_replies_recipient", "recipient", "created_at"),
                      Index("ix_replies_rfc_message_id", "rfc_message_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    recipient: Mapped[str] = mapped_column(String(320))  # the sender answered, lower case (rate limits count by it)
    envelope_to: Mapped[list] = mapped_column(JSON)  # every address the reply goes to
    subject: Mapped[str] = mapped_column(Text)
    rfc_message_id: Mapped[str] = mapped_column(String(255))
    template: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)  # the whole message, as sent
    status: Mapped[str] = mapped_column(String(16))  # pending, sending, sent, failed, held
    claimed_by: Mapped[str | None] = mapped_column(String(255))  # "host:pid" of the process sending it
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    message: Mapped[Message] = relationship(back_populates="reply")


class ReviewItem(Base):
    """A message held for the support team, and what they decided."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open, closed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)

    message: Mapped[Message] = relationship(back_populates="review")


class AuditEntry(Base):
    """Who or what changed what, and when."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(255))  # "mailbot" or a reviewer's name
    action: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class DirectoryState(Base):
    """One row: the directory's revision (it goes up with every change), and its last import from CSV files."""

    __tablename__ = "directory_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    imported_fingerprint: Mapped[str | None] = mapped_column(String(128))  # of the config's CSV files, when imported
    imported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # an edit on the desk since that import


class LoginThrottle(Base):
    """Failed sign-ins counted per client address, and per client and account: who must wait, until when."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)  # "client:<address>" or "account:<address>:<name>"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A review-desk account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its hash."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Organisation(Base):
    """An agency of the directory, and its email domains."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    domains: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Person(Base):
    """Someone of an agency who may endorse requests, with their seniority."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    organisation: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    seniority: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Lease(Base):
    """Which node works a mailbox: the holder renews it; when it lapses another node takes it."""

    __tablename__ = "leases"

    mailbox: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
