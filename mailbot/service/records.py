"""What a pass keeps of one message on its way (a frozen Item, replaced at each step) and the rows the store writes for it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from mailbot.service.triaged import Triaged
from mailbot.source import Fetched, MailboxState
from mailbot.store import Message


def stored_address(address: str | None, lower: bool = True) -> str | None:
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


@dataclass(frozen=True)
class Item:
    """One message of a batch on its way: decided, to be recorded (unless seen before) and filed.
    Each step returns a new Item (dataclasses.replace); none rewrites one in place."""

    fetched: Fetched
    triaged: Triaged  # its triage (for a message mailbot holds itself: only what its header says)
    key: str
    folder: str
    row: Row
    reply_status: str = "pending"
    review_reasons: tuple[str, ...] | None = None
    reasons: tuple[str, ...] | None = None  # a hold mailbot itself decided (too large, failed): its reasons
    error: str | None = None
    known: Message | None = None  # recorded before: a copy (or this very message, by another process)
    record_id: int | None = None
    copy: bool = False  # a second copy of a message earlier in the same batch: filed like it, not recorded

    def as_known(self, known: Message | None, note: str) -> Item:
        """Decided before (by `known`): reported as it was decided then, filed where it went."""
        if known is None:
            return replace(self, known=known)
        return replace(self, known=known, folder=known.folder,
                       row=Row(self.row.uid, self.row.subject, known.outcome, tuple(known.reasons), known.folder, None, note))

    def as_copy_of(self, first: Item) -> Item:
        """A second copy of `first` in the same batch: filed like it, not recorded or answered."""
        return replace(self, copy=True, known=None, folder=first.folder,
                       row=Row(self.row.uid, self.row.subject, first.row.outcome, first.row.reasons, first.folder, None,
                               "already decided: not answered again"))

    def reply_held(self, reason: str, note: str) -> Item:
        """Its reply held for a person (the rate limit): the message goes to review, the reply waits there."""
        return replace(self, reply_status="held", folder="review", review_reasons=(reason,),
                       row=Row(self.row.uid, self.row.subject, self.row.outcome, (reason,), "review", None, note))


def entries(state: MailboxState, item: Item, now: datetime) -> tuple[dict, dict | None, list[str] | None]:
    """What the store records of one message: its row (with its requests), its reply's, its review reasons."""
    message = message_row(state, item, now)
    reply = item.triaged.reply
    reply_row = None
    if reply is not None:
        reply_row = {"recipient": stored_address(reply.to[0].email), "envelope_to": [a.email for a in (*reply.to, *reply.cc)],
                     "subject": reply.subject, "rfc_message_id": reply.message_id, "template": reply.template,
                     "content": item.triaged.reply_bytes or reply.to_bytes(), "status": item.reply_status, "attempts": 0,
                     "next_attempt_at": now, "created_at": now}
    return message, reply_row, None if item.review_reasons is None else list(item.review_reasons)


def message_row(state: MailboxState, item: Item, now: datetime) -> dict:
    decision = item.triaged.decision
    endorser = decision.endorser if decision else None
    triaged, fetched = item.triaged, item.fetched
    return {
        "key": item.key, "mailbox": state.name, "uidvalidity": state.uidvalidity, "uid": fetched.uid,
        "message_id": triaged.message_id, "sender": stored_address(triaged.sender), "subject": triaged.subject[:2000],
        "size": fetched.size, "seen_at": now, "outcome": "review" if decision is None else decision.outcome,
        "reasons": list(item.reasons) if item.reasons is not None else list(decision.reasons),
        "endorser": None if endorser is None else {
            "email": endorser.email, "name": endorser.name, "organisation": endorser.organisation,
            "seniority": endorser.seniority, "source": endorser.source, "stated_title": endorser.stated_title},
        "folder": item.folder, "state": "decided", "raw": fetched.raw, "error": item.error,
        "conversation": decision.conversation if decision else None, "follows": decision.follows if decision else None,
        "digest": triaged.digest,
        "requests": [] if decision is None else [
            {"position": n, "name": request.request.name, "email": stored_address(request.request.email, lower=False),
             "access": request.request.access, "outcome": request.outcome, "reasons": list(request.reasons),
             "approved_by": "mailbot" if request.outcome == "approved" else None,
             "approved_at": now if request.outcome == "approved" else None}
            for n, request in enumerate(decision.requests)
        ],
    }
