"""How many automatic replies one sender gets: a guard against loops that does not make a busy manager wait."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from mailbot.decide.outcome import Decision

_SPACE = re.compile(r"\s++")


@dataclass(frozen=True, slots=True)
class ReplyLimit:
    """Replies to one sender in an hour: up to `per_hour` for anything; past it, distinct requests from a verified
    sender are still answered, up to `per_hour * ceiling` (a runaway of distinct messages stops there too)."""

    per_hour: int
    ceiling: int = 4

    def holds(self, sent_last_hour: int, decision: Decision, repeated: bool) -> bool:
        """Is this reply held for a person (reply_rate_limited)? Past the limit, what looks like a loop is held: a
        sender nobody verified, a near-identical message, or a message answering mailbot's own reply."""
        if sent_last_hour < self.per_hour:
            return False
        if not decision.verified or repeated or decision.follows is not None:
            return True
        return sent_last_hour >= self.per_hour * self.ceiling


def digest(sender: str | None, text: str) -> str:
    """The same words from the same sender (whatever the spacing, case, quoting or subject) give the same digest."""
    plain = _SPACE.sub(" ", text.lower()).strip()[:20_000]
    return hashlib.sha256(f"{(sender or '').lower()}\n{plain}".encode("utf-8", "replace")).hexdigest()
