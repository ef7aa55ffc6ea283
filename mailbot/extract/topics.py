"""Says whether a piece of text asks for password help, or raises a matter mailbot does not handle."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.extract.access import AccessFinder
from mailbot.extract.rules import Cue, CueSet, ReadingRules
from mailbot.policy import Policy

_SENTENCE = re.compile(r"(?<=[.!?])\s++")


@dataclass(frozen=True)
class TopicFinder:
    """The policy's out-of-scope topics, and the reading rules' password words."""

    topics: tuple[tuple[str, re.Pattern], ...]
    any_topic: re.Pattern
    rules: ReadingRules
    access: AccessFinder

    @classmethod
    def from_policy(cls, policy: Policy, rules: ReadingRules, access: AccessFinder) -> TopicFinder:
        topics = tuple((name, re.compile(pattern, re.I)) for name, pattern in policy.out_of_scope.items())
        return cls(topics, re.compile("|".join(f"(?:{p.pattern})" for _, p in topics) or r"(?!x)x", re.I), rules, access)

    def asks_password_help(self, text: str | CueSet) -> bool:
        """Does this sentence (or the cues read from it) ask how to create, reset or receive a password (or say a
        login fails)?"""
        cues = text if isinstance(text, CueSet) else self.rules.present(text)
        return Cue.PASSWORD in cues and Cue.PASSWORD_TROUBLE in cues and Cue.PASSWORD_PLAN not in cues

    def first_person(self, text: str) -> bool:
        return self.rules.has(Cue.FIRST_PERSON, text)

    def _after_access(self, window: str) -> bool:
        """Does the window end "<an access> ... for the ..." (the matter is what that access is for)?"""
        named = [m for m in self.access.find(window) if m.how.value != "purpose"]
        return bool(named) and bool(self.rules.context["purpose_after_access"].match(window[named[-1].end:]))

    def raised(self, text: str) -> list[str]:
        """Topics a text raises as a matter of its own: not as what someone's access is for ("will be looking after
        our invoices", "set up on 247 Time for the Ninewells timesheets"), nor as a job title ("Bookings Coordinator")."""
        found: list[str] = []
        if not self.any_topic.search(text):  # most text raises none: one search says so
            return found
        purpose_before = self.rules.context["purpose_before"]
        title_after = self.rules.context["job_title_after"]
        for sentence in _SENTENCE.split(text):
            purposes = [(m.start, m.end) for m in self.access.find(sentence) if m.how.value == "purpose"]
            if self.rules.has(Cue.CAPABILITY, sentence) or self.asks_password_help(sentence):
                continue
            for name, pattern in self.topics:
                for match in pattern.finditer(sentence):
                    if any(start <= match.start() < end for start, end in purposes):
                        continue  # "the booking reports": what Agency User is for, not a booking query
                    window = sentence[max(0, match.start() - 120): match.start()]
                    if title_after.match(sentence[match.end():]) or purpose_before.search(window) or self._after_access(window):
                        continue
                    if name not in found:
                        found.append(name)
                    break
        return found
