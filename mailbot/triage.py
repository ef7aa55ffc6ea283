"""One message's way through mailbot's brain: parse, extract, decide, render the reply."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from mailbot.budget import Overtime, time_budget
from mailbot.decide import Decider, Decision
from mailbot.decide import conversation
from mailbot.decide.conversation import Recall
from mailbot.directory import Directory, load_directory
from mailbot.extract import Extraction, Extractor
from mailbot.extract.lexicon import Lexicon
from mailbot.extract.rules import load_reading
from mailbot.parse import Address, Email, parse_email
from mailbot.policy import Policy, load_policy
from mailbot.reply import Reply, ReplyRenderer
from mailbot.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TriageResult:
    email: Email
    extraction: Extraction | None
    decision: Decision
    reply: Reply | None


class Triage:
    """The triage pipeline for one configuration; build it once, run it on many messages."""

    def __init__(self, settings: Settings, policy: Policy, directory: Directory, html: bool = True, recall: Recall | None = None):
        self.settings = settings
        self.recall = recall  # the conversations so far (read-only), or None: each message decided on its own
        self.repeat_window = timedelta(days=settings.service.repeat_window_days)
        self.html = html  # render the replies' HTML part too (the CLI's JSON needs only the text)
        self.policy = policy
        self.directory = directory
        mailbox = settings.mailbox
        self.lexicon = Lexicon.load(settings.lexicon_dir)
        self.extractor = Extractor(policy, mailbox.address, load_reading(settings.reading_file),
                                   self.lexicon.with_organisations(_organisation_names(directory)))
        self.decider = Decider(
            policy, directory, mailbox.address, settings.authentication.trusted_authserv_ids, settings.authentication.exchange_online
        )
        self.renderer = ReplyRenderer(settings.templates_dir, policy, Address(mailbox.display_name, mailbox.address))
        self.budget = settings.service.message_timeout_seconds  # seconds one message may take to read
        self.max_bytes = settings.service.max_message_bytes  # bigger messages are held unread, as the service holds them

    def use_directory(self, directory: Directory) -> None:
        """Decide with another directory from now on (the service reads it from the database)."""
        self.directory = directory
        self.decider.directory = directory
        self.extractor.use_lexicon(self.lexicon.with_organisations(_organisation_names(directory)))

    @classmethod
    def from_settings(cls, settings: Settings, html: bool = True, recall: Recall | None = None) -> Triage:
        policy = load_policy(settings.policy_file)
        directory = load_directory(settings.directory.organisations, settings.directory.people, policy.seniority_ranks)
        return cls(settings, policy, directory, html, recall)

    def run(self, raw: bytes, key: str = "") -> TriageResult:
        """Triage one raw message within the time budget. Never raises for any input: what cannot be read is
        held for review, and what takes too long to read is held with processing_timeout."""
        if len(raw) > self.max_bytes:
            return self.held_unread(raw, "message_too_large")
        try:
            with time_budget(self.budget):
                return self._run(raw, key)
        except Overtime:
            log.error("a message took longer than %s s to read; it is held for review", self.budget)
            return self.overtime(raw)

    def overtime(self, raw: bytes) -> TriageResult:
        """The result for a message that took too long to read: held, with what its header says of it."""
        return self.held_unread(raw, "processing_timeout")

    def held_unread(self, raw: bytes, reason: str) -> TriageResult:
        """A message held for review without reading its body: what its header says of it, and why."""
        email = parse_email(_head(raw))
        decision = Decision("review", (reason,), self.decider.endorser(self.decider.facts(email), None), ())
        return TriageResult(email, None, decision, None)

    def _run(self, raw: bytes, key: str) -> TriageResult:
        email = parse_email(raw)
        if not key and email.message_id is None:
            key = hashlib.sha256(raw).hexdigest()
        extraction = None
        ignored = self.decider.ignored(email)
        earlier = self._earlier(email)
        follows = earlier if earlier is not None and conversation.continues(earlier, self.decider.facts(email)) else None
        if not email.unreadable and ignored is None:
            try:
                extraction = self.extractor.extract(email)
                if follows is not None:
                    details = self.extractor.details(email)
                    if not follows.pending and conversation.asks_nothing(extraction, details):
                        ignored = Decision("ignored", ("acknowledgement",), None, ())
                    else:
                        extraction = replace(extraction, requests=conversation.complete(
                            follows, extraction, details, self.extractor.lexicon.forms_of))
            except Exception:  # a bug must hold one message, not stop the mailbox
                log.exception("extraction failed for %s", email.message_id)
                email = _with_problem(email, "mailbot could not read the requests in this message")
        decision = self.decider.decide(email, extraction, ignored)
        decision = self._repeats(decision, email.message_id)
        linked = follows if follows is not None else earlier if email.delivery is not None else None  # a bounce of our reply
        decision = replace(decision, follows=linked.message if linked else None,
                           conversation=linked.conversation if linked and linked.conversation else
                           conversation.new_reference(email.message_id or key),
                           bounced=email.delivery.failed if email.delivery is not None and linked is not None else ())
        try:
            reply = self.renderer.render(email, decision, key, html=self.html)
        except Exception:
            log.exception("reply could not be rendered for %s", email.message_id)
            decision = Decision("review", ("malformed_message",), decision.endorser, decision.requests, decision.topics)
            reply = None
        return TriageResult(email, extraction, decision, reply)


    def _earlier(self, email: Email) -> conversation.Earlier | None:
        """The conversation this message follows (by the reply it names, or the reference in its subject); a bounce's
        returned message names the reply it bounces."""
        if self.recall is None or email.unreadable:
            return None
        ids = [*(email.delivery.returned if email.delivery else ()), *filter(None, (email.in_reply_to,)), *reversed(email.references)]
        try:
            return self.recall.earlier(ids, conversation.reference_in(email.subject))
        except Exception:  # the store unreachable: decided on its own, as without one
            log.exception("the conversation of %s could not be read; deciding it on its own", email.message_id)
            return None

    def _repeats(self, decision: Decision, message_id: str | None) -> Decision:
        """Requests approved within the repeat window are not approved again (already_approved)."""
        pairs = [(d.request.email, d.request.access) for d in decision.requests if d.outcome == "approved" and d.request.email]
        if self.recall is None or not pairs or not self.repeat_window:
            return decision
        try:
            approvals = self.recall.approvals(pairs, datetime.now(timezone.utc) - self.repeat_window, message_id)
        except Exception:
            log.exception("earlier approvals could not be read; deciding without them")
            return decision
        return conversation.already_approved(decision, approvals)


def build_triage(settings: Settings, directory: Directory, recall: Recall | None = None) -> Triage:
    """A triage engine for these settings deciding with this directory (how a worker process builds its own)."""
    engine = Triage.from_settings(settings, recall=recall)
    engine.use_directory(directory)
    return engine


def _organisation_names(directory: Directory) -> list[str]:
    return sorted({o.name for o in directory.organisations.values()})


def _head(raw: bytes, limit: int = 65_536) -> bytes:
    """A message's header block alone (at most `limit` bytes of it), to say who sent a message not read."""
    head = raw[:limit]
    for end in (b"\r\n\r\n", b"\n\n"):
        if end in head:
            head = head.split(end, 1)[0]
            break
    return head + b"\n\n"


def _with_problem(email: Email, problem: str) -> Email:
    return replace(email, unreadable=problem, problems=(*email.problems, problem))
