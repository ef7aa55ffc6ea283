"""Says whether a piece of text asks for password help or raises a matter mailbot does not handle."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.policy import Policy

_PASSWORD = re.compile(
    r"\bpass\s?words?\b|\bpasscode\b|\blog-?in details\b|\b(?:can'?t|cannot|unable to|couldn'?t)\s+(?:log|sign|get)\s*(?:in|on)\b"
    r"|\blocked\s+(?:me\s+)?out\b|\baccount\s+(?:is\s+|has\s+been\s+|got\s+)?locked\b|\bunlock\b",
    re.I,
)
_HELP = re.compile(
    r"forg[oe]t|\breset|\block|\bnever\s+(?:received|got|had|been sent)|\bha(?:ve|s)n'?t\s+(?:received|got|had|been sent)"
    r"|\bnot\s+(?:been\s+)?(?:received|sent)|\bdidn'?t\s+(?:receive|get)|\bno\s+password|\bhow\s+(?:do|can|to|should|would|does)"
    r"|\bset\s+(?:one|it|a\s+password|my\s+password)\s+up|\bcreate|\bdon'?t\s+know|\bno\s+idea|\binvalid|\bexpired"
    r"|\bnot\s+working|\bisn'?t\s+working|\bdoesn'?t\s+work|\bwon'?t\s+(?:let|work|accept)|\bcan'?t|\bcannot|\bunable"
    r"|\bhelp|\?|\bneeds?\s+(?:a|her|his|my|their)\s+(?:new\s+)?password",
    re.I,
)
_NOT_HELP = re.compile(r"\bwill\s+(?:then\s+)?(?:receive|create|set|get|be\s+able|need)\b", re.I)
_FIRST_PERSON = re.compile(r"\b(?:i|i'?m|i'?ve|i'?d|me|my|myself|mine)\b", re.I)
_CAPABILITY = re.compile(
    r"\b(?:able\s+to|look(?:s|ing|ed)?\s+after|handl(?:e|es|ing)|manag(?:e|es|ing)|responsible\s+for|in\s+charge\s+of"
    r"|deal(?:s|ing)?\s+with|tak(?:e|es|en|ing)\s+over|took\s+over|oversee(?:s|ing)?|view(?:s|ing)?|upload(?:s|ing|ed)?"
    r"|see\s+(?:the|our|their|her|his)"
    r"|so\s+(?:s?he|they)\s+can|for\s+(?:her|his|their)\s+role)\b",
    re.I,
)
_JOB_TITLE_AFTER = re.compile(
    r"^\s*(?:co-?ordinator|manager|assistant|administrator|clerk|officer|team|lead|consultant|department|dept|controller)s?\b",
    re.I,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# "set up on 247 Time for the Ninewells timesheets": the matter is what the access is for, not a question of its own.
_PURPOSE_BEFORE = re.compile(
    r"\b(?:access|set\s+up|setup|log-?ins?|log\s+in|accounts?|time|connect|online|user|admin(?:istrator)?)\b[^.?!]{0,60}"
    r"\bfor\s+(?:the|our|their|her|his|its|all|any)\s+(?:[\w'’-]+\s+){0,3}$",
    re.I,
)


def asks_password_help(text: str) -> bool:
    """Does this sentence ask how to create, reset or receive a password (or say a login fails)?"""
    return bool(_PASSWORD.search(text) and _HELP.search(text) and not _NOT_HELP.search(text))


def mentions_password(text: str) -> bool:
    """Does the text speak of passwords or logging in at all? (A cheap test before asks_password_help.)"""
    return bool(_PASSWORD.search(text))


def first_person(text: str) -> bool:
    return bool(_FIRST_PERSON.search(text))


@dataclass(frozen=True)
class TopicFinder:
    """The out-of-scope topics of the policy, compiled."""

    topics: tuple[tuple[str, re.Pattern], ...]
    any_topic: re.Pattern

    @classmethod
    def from_policy(cls, policy: Policy) -> TopicFinder:
        topics = tuple((name, re.compile(pattern, re.I)) for name, pattern in policy.out_of_scope.items())
        return cls(topics, re.compile("|".join(f"(?:{p.pattern})" for _, p in topics) or r"(?!x)x", re.I))

    def raised(self, text: str) -> list[str]:
        """Topics a text raises as a matter of its own (not as what someone's access is for)."""
        found: list[str] = []
        if not self.any_topic.search(text):  # most text raises none: one search says so
            return found
        for sentence in _SENTENCE.split(text):
            if _CAPABILITY.search(sentence) or asks_password_help(sentence):
                continue
            for name, pattern in self.topics:
                for match in pattern.finditer(sentence):
                    if not _JOB_TITLE_AFTER.match(sentence[match.end() :]) and not _PURPOSE_BEFORE.search(
                        sentence[max(0, match.start() - 120) : match.start()]
                    ):
                        if name not in found:
                            found.append(name)
                        break
        return found
