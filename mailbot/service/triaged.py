"""What a pass keeps of one message's triage: small and picklable, so worker processes can make it."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, replace

from mailbot.decide.limits import digest
from mailbot.decide.outcome import Decision
from mailbot.directory import Directory
from mailbot.reply import Reply
from mailbot.settings import Settings
from mailbot.store.conversations import recall_for
from mailbot.triage import Triage, TriageResult, build_triage


@dataclass(frozen=True)
class Triaged:
    """One message's triage as the pass records it."""

    message_id: str | None
    subject: str
    sender: str | None
    decision: Decision | None
    reply: Reply | None
    reply_bytes: bytes | None  # the reply as sent, rendered where the triage ran
    error: str | None = None  # triage itself failed (a bug): the message is held with this
    digest: str | None = None  # of the sender's own words (a near-identical message has the same: limits.digest)


def _summary(result: TriageResult) -> Triaged:
    email, reply = result.email, result.reply
    sender = email.sender.email if email.sender else None
    content = reply.to_bytes() if reply else None
    # The pass needs the reply's envelope and headers, and its bytes as sent: not its text and HTML again (half of
    # what would cross from a worker process).
    slim = replace(reply, text="", html="") if reply else None
    return Triaged(email.message_id, email.subject, sender, result.decision, slim, content, digest=digest(sender, email.body.new_text))


def triage_for_pass(engine: Triage, raw: bytes) -> Triaged:
    """Triage one raw message for the pass; a failure is returned as the error, never raised."""
    try:
        return _summary(engine.run(raw))
    except Exception as exc:  # never lose the message for a bug: it is held with the error
        return Triaged(None, "", None, None, None, None, "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000])


def lost_in_pass(engine: Triage, raw: bytes, why: str) -> Triaged:
    """What the pass records for a message whose worker was killed for overrunning ("overtime") or died."""
    if why == "overtime":
        return _summary(engine.overtime(raw))
    summary = _summary(engine.overtime(raw))
    return Triaged(summary.message_id, summary.subject, summary.sender, None, None, None,
                   "the triage worker died while reading this message")


ALARM_BEFORE = 1.0  # a worker's own alarm rings this long before the budget, at which its parent kills it


def worker_engine(settings: Settings, directory: Directory) -> Triage:
    """How a triage worker process starts: the service's logging, then its own engine, whose alarm rings a second
    before the budget (at the budget, a worker stuck where no signal reaches it is killed by the pass)."""
    from mailbot.service import logs

    logs.setup(settings.service.log_format)
    engine = build_triage(settings, directory, recall_for(settings))
    engine.budget = max(0.5, engine.budget - ALARM_BEFORE)
    return engine


def adopt_directory(engine: Triage, directory: Directory) -> None:
    """A worker (or the pass's own engine) decides with this directory from now on."""
    engine.use_directory(directory)
