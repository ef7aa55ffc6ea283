"""What the support team does with held messages: the queue, one message, a decision, and its reply."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from mailbot.decide.outcome import Decision, Endorser, RequestDecision
from mailbot.decide.reasons import REASONS
from mailbot.extract import RequestedAccess
from mailbot.parse import Address, Email, parse_email
from mailbot.store import Store, _aware, utcnow
from mailbot.store.models import AuditEntry, Message, Reply, Request, ReviewItem
from mailbot.triage import Triage

ACTIONS = ("approve", "reject", "info", "close")
EXTRA_REASONS = {
    "rejected_by_reviewer": "A reviewer rejected this request.",
    "reviewer_needs_info": "A reviewer asks the sender to confirm the details.",
}


class AlreadyDecided(Exception):
    """Another reviewer decided this message first; nothing was changed."""


class NotFound(Exception):
    pass


def sentence(code: str) -> str:
    return REASONS.get(code) or EXTRA_REASONS.get(code) or code.replace("_", " ")


def held_reasons(review_reasons, requests) -> tuple[str, ...]:
    """Why a message waits: its own reasons, then those of each request still held. A message can be held
    by a request alone (a person's address off the sender's domains) with no reason of its own."""
    codes = list(review_reasons or ())
    for request in requests:
        if request.outcome == "review":
            codes.extend(request.reasons or ())
    return tuple(dict.fromkeys(codes))


@dataclass(frozen=True)
class QueueItem:
    review_id: int
    message_id: int
    seen_at: datetime
    sender: str | None
    subject: str
    organisation: str | None
    stated_title: str | None
    requests: tuple[tuple[str | None, str | None, str | None], ...]
    reasons: tuple[str, ...]

    @property
    def age(self) -> timedelta:
        return utcnow() - _aware(self.seen_at)


@dataclass
class Edit:
    """A request as the reviewer corrected it; a field that is None was not in the form and stays as it is."""

    name: str | None
    email: str | None
    access: str | None


@dataclass(frozen=True)
class Draft:
    """What an action on a held message decides and the reply it sends (None: no reply)."""

    action: str
    outcome: str
    decided: tuple[RequestDecision, ...]
    reply: object | None  # mailbot.reply.Reply
    to_sender: str = ""


def reviewer_paragraph(text: str | None, limit: int = 1000) -> str:
    """A reviewer's paragraph for the sender: plain text, no control characters, lines kept, at most `limit` long."""
    lines = [" ".join("".join(ch if ch.isprintable() else " " for ch in line).split()) for line in (text or "").splitlines()]
    kept = "\n".join(lines).strip()
    while "\n\n\n" in kept:
        kept = kept.replace("\n\n\n", "\n\n")
    return kept[:limit].rstrip()


def edited(current, edits: list[Edit] | None) -> tuple[list[RequestedAccess], list[dict]]:
    """The requests as the reviewer corrected them, and what changed; `current` is the message's stored requests.
    A field that is None was not in the form and stays; a field emptied on the page comes as "" and clears."""
    requests = [RequestedAccess(r.name, r.email, r.access) for r in current]
    changes: list[dict] = []
    for position, edit in enumerate(edits or ()):
        if position >= len(requests):
            if not any((getattr(edit, name) or "").strip() for name in ("name", "email", "access")):
                continue  # a blank row past the message's own requests asks for nobody
            requests.append(RequestedAccess(None, None, None))
            position = len(requests) - 1
        values = {}
        for name in ("name", "email", "access"):
            old = getattr(requests[position], name)
            if getattr(edit, name) is None:
                values[name] = old
                continue
            new = getattr(edit, name).strip() or None
            if new != old:
                changes.append({"request": position, "field": name, "old": old, "new": new})
            values[name] = new
        requests[position] = RequestedAccess(values["name"], values["email"], values["access"])
    return requests, changes


@dataclass
class DecisionResult:
    action: str
    outcome: str
    reply_message_id: str | None
    changes: list[dict] = field(default_factory=list)


class ReviewDesk:
    """The desk's operations; each one transaction, each audited."""

    def __init__(self, store: Store, triage: Triage, replies_per_hour: int = 5):
        self.store = store
        self.triage = triage
        self.replies_per_hour = replies_per_hour

    # -- the queue ---------------------------------------------------------------------------------

    def queue(self, reason: str | None = None, address: str | None = None) -> list[QueueItem]:
        """Held messages, oldest first; filtered by a reason and by any address (sender or person asked for)."""
        with self.store.session() as session:
            query = select(ReviewItem, Message).join(Message, ReviewItem.message_id == Message.id).where(ReviewItem.status == "open")
            if address:
                like = f"%{address.strip().lower()}%"
                people = select(Request.message_id).where(func.lower(Request.email).like(like))
                query = query.where(or_(func.lower(Message.sender).like(like), Message.id.in_(people)))
            items = []
            for review, message in session.execute(query.order_by(Message.seen_at, Message.id)):
                reasons = held_reasons(review.reasons, message.requests)
                if reason and reason not in reasons:
                    continue
                endorser = message.endorser or {}
                items.append(QueueItem(
                    review.id, message.id, message.seen_at, message.sender, message.subject or "", endorser.get("organisation"),
                    endorser.get("stated_title"), tuple((r.name, r.email, r.access) for r in message.requests), reasons))
            return items

    def reasons_waiting(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.queue():
            for code in item.reasons:
                counts[code] = counts.get(code, 0) + 1
        return counts

    def message(self, message_id: int) -> tuple[Message, ReviewItem | None, list[AuditEntry]]:
        with self.store.session() as session:
            message = session.get(Message, message_id)
            if message is None:
                raise NotFound(message_id)
            _ = message.requests, message.reply  # load them while the session is open
            review = session.scalar(select(ReviewItem).where(ReviewItem.message_id == message_id))
            audit = list(session.scalars(select(AuditEntry).where(AuditEntry.message_id == message_id).order_by(AuditEntry.at, AuditEntry.id)))
            return message, review, audit

    def email(self, message: Message) -> Email:
        """The message as parsed, or what the database keeps of it when its body is gone."""
        if message.raw:
            return parse_email(message.raw)
        return Email(message_id=message.message_id, subject=message.subject or "",
                     sender=Address("", message.sender) if message.sender else None)

    # -- deciding ----------------------------------------------------------------------------------

    def decide(self, message_id: int, action: str, actor: str, note: str = "", edits: list[Edit] | None = None,
               to_sender: str = "") -> DecisionResult:
        """Approve, reject, ask for information or close; the reply goes through the outbox. `to_sender` is the
        reviewer's own paragraph for a rejection or a request for information (the only free text ever sent).

        The first reviewer to decide wins: a second is refused with AlreadyDecided and changes nothing.
        """
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        now = utcnow()
        with self.store.session() as session:
            message = session.get(Message, message_id)
            if message is None:
                raise NotFound(message_id)
            claimed = session.execute(
                update(ReviewItem).where(ReviewItem.message_id == message_id, ReviewItem.status == "open")
                .values(status="closed", closed_at=now, closed_by=actor, note=note or None)
            )
            if claimed.rowcount != 1:
                raise AlreadyDecided(message_id)
            requests, changes = edited(message.requests, edits)
            for position, request in enumerate(requests):
                if position >= len(message.requests):
                    message.requests.append(Request(position=position, outcome="review", reasons=[]))
                row = message.requests[position]
                row.name, row.email, row.access = request.name, request.email, request.access
            draft = self.draft(message, action, requests, to_sender)
            reply_id = None
            if draft.reply is not None:
                reply_id = draft.reply.message_id
                self._queue_reply(session, message, draft.reply, now)
            for request, item in zip(message.requests, draft.decided):
                request.outcome, request.reasons = item.outcome, list(item.reasons)
                if item.outcome == "approved" and request.approved_by is None:
                    request.approved_by, request.approved_at = actor, now
            previous = message.outcome
            message.outcome, message.folder, message.refile_to = draft.outcome, "processed", "processed"
            session.add(AuditEntry(at=now, actor=actor, action="review_decided", message_id=message.id, detail={
                "action": action, "outcome": draft.outcome, "was": previous, "note": note or None, "changes": changes,
                "reply": reply_id, "to_sender": draft.to_sender or None}))
        return DecisionResult(action, draft.outcome, reply_id, changes)

    def preview(self, message_id: int, action: str, edits: list[Edit] | None = None, to_sender: str = "") -> Draft:
        """What deciding so would send, rendered by the same templates, changing nothing."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        with self.store.session() as session:
            message = session.get(Message, message_id)
            if message is None:
                raise NotFound(message_id)
            requests, _changes = edited(message.requests, edits)
            return self.draft(message, action, requests, to_sender)

    def draft(self, message: Message, action: str, requests: list[RequestedAccess], to_sender: str = "") -> Draft:
        """The decision and reply an action gives these requests (the message's own, or as the reviewer corrected them)."""
        email = self.email(message)
        decided = self._rerun(requests, email, action)
        outcome = _combined(decided) if action != "close" else "closed"
        paragraph = reviewer_paragraph(to_sender) if action in ("reject", "info") else ""
        reply = None
        if action != "close" and email.sender is not None:
            # An approval is the reviewer's word for the sender; otherwise the reply is as careful as
            # mailbot's own with a sender nobody verified (no echoed subject or names, nobody copied in).
            verified = action == "approve" or not self.triage.decider.hold_reasons(email)
            organisation = self.triage.decider.facts(email).organisation  # its domains: the only ones copied in
            endorser = _endorser(message)
            if endorser is not None:
                endorser = replace(endorser, domains=tuple(organisation.domains) if organisation else ())
            decision = Decision(outcome, (), endorser, tuple(decided), verified=verified,
                                conversation=message.conversation)  # the reply keeps the conversation's reference
            reply = self.triage.renderer.render(email, decision, key=f"review:{message.id}", note=paragraph)
        return Draft(action, outcome, tuple(decided), reply, paragraph)

    def _rerun(self, requests: list[RequestedAccess], email: Email, action: str) -> list[RequestDecision]:
        """The rules again on the (edited) requests; the reviewer's action decides what they may not. A rejection or a
        request for information carries why the sender was held (not authenticated, unknown), so the reply says it."""
        decider = self.triage.decider
        facts = decider.facts(email)
        held = tuple(decider.hold_reasons(email)) if action in ("reject", "info") else ()
        decided = []
        for asked in requests:
            item = decider.decide_request(asked, facts)
            if action == "approve" and item.outcome in ("review", "rejected"):
                item = RequestDecision(asked, "approved", item.reasons)  # the reviewer vouches for it
            elif action == "reject" and item.outcome not in ("redirected", "informed"):
                item = RequestDecision(asked, "rejected", (*held, *item.reasons, "rejected_by_reviewer"))
            elif action == "info" and item.outcome not in ("redirected", "informed"):
                missing = (*held, *(r for r in item.reasons if r != "email_domain_mismatch")) or ("reviewer_needs_info",)
                item = RequestDecision(asked, "needs_info", tuple(dict.fromkeys(missing)))
            decided.append(item)
        return decided

    def _queue_reply(self, session, message: Message, reply, now: datetime) -> None:
        """Into the outbox, threaded like an automatic reply, within the same per-sender limit."""
        recipient = reply.to[0].email.lower()[:320]
        window = now - timedelta(hours=1)
        recent = session.scalars(select(Reply.created_at).where(Reply.recipient == recipient, Reply.created_at >= window,
                                                              Reply.status != "held", Reply.message_id != message.id)).all()
        due = now
        if len(recent) >= self.replies_per_hour:  # over the limit: it waits until the oldest leaves the hour
            due = min(_aware(t) for t in recent) + timedelta(hours=1)
        content = reply.to_bytes()
        envelope = [a.email for a in (*reply.to, *reply.cc)]
        row = session.scalar(select(Reply).where(Reply.message_id == message.id))
        if row is None:
            row = Reply(message_id=message.id)
            session.add(row)
        row.recipient, row.envelope_to, row.subject, row.rfc_message_id = recipient, envelope, reply.subject, reply.message_id
        row.template, row.content, row.status, row.attempts = reply.template, content, "pending", 0
        row.next_attempt_at, row.created_at, row.last_error, row.claimed_by, row.sent_at = due, now, None, None, None


def _combined(decided: list[RequestDecision]) -> str:
    outcomes = {d.outcome for d in decided}
    if not outcomes:
        return "closed"
    return outcomes.pop() if len(outcomes) == 1 else "partial"


def _endorser(message: Message) -> Endorser | None:
    data = message.endorser
    if not data:
        return None
    return Endorser(data.get("email") or message.sender or "", data.get("name"), data.get("organisation"),
                    data.get("seniority"), data.get("source"), data.get("stated_title"))
