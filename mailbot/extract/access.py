"""Finds where a text names an access level, a platform, or what an access is for, by the policy's phrases."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from mailbot.extract.rules import one_pattern
from mailbot.policy import Policy

PLATFORM = "platform:"
_NEGATED = re.compile(
    r"(?:\bnot|\bno|n't\s+(?:need|want|require)|\bwithout|\binstead\s+of|\brather\s+than|\bexcept)\s+(?:\w+\s+){0,2}$", re.I)


class How(str, enum.Enum):
    NAMED = "named"  # "Agency User", "ARA"
    PLATFORM = "platform"  # "NHSP:Online": its default level, unless a level of it is named or described
    PURPOSE = "purpose"  # "so she can manage our rate cards"


@dataclass(frozen=True, slots=True)
class AccessMention:
    start: int
    end: int
    access: str  # an access id, or "platform:<id>"
    how: How
    negated: bool  # "not ARA", "instead of Agency User"


def _alternatives(named: list[tuple[str, tuple[str, ...]]]) -> tuple[re.Pattern, dict[str, str]]:
    groups = {f"g{n}": key for n, (key, _) in enumerate(named)}
    pattern = "|".join(f"(?P<g{n}>{one_pattern(list(phrases))})" for n, (_, phrases) in enumerate(named) if phrases)
    return re.compile(pattern or r"(?!x)x", re.I), groups


@dataclass(frozen=True)
class AccessFinder:
    """The policy's phrases in one pattern (a named group per access id or platform), and its purposes in another."""

    names: re.Pattern
    name_groups: dict[str, str]
    purposes: re.Pattern
    purpose_groups: dict[str, str]

    @classmethod
    def from_policy(cls, policy: Policy) -> AccessFinder:
        named = [(key, level.phrases) for key, level in policy.access.items()]
        named += [(PLATFORM + key, platform.phrases) for key, platform in policy.platforms.items()]
        purposes = [(key, level.purposes) for key, level in policy.access.items()]
        return cls(*_alternatives(named), *_alternatives(purposes))

    def named(self, text: str) -> bool:
        """Does the text name any access or platform at all? (One search, before reading each unit.)"""
        return bool(self.names.search(text))

    def find(self, text: str) -> list[AccessMention]:
        """Every access, platform and purpose the text mentions, in order."""
        found = []
        for pattern, groups, how in ((self.names, self.name_groups, None), (self.purposes, self.purpose_groups, How.PURPOSE)):
            for match in pattern.finditer(text):
                key = groups[match.lastgroup]
                kind = how or (How.PLATFORM if key.startswith(PLATFORM) else How.NAMED)
                negated = bool(_NEGATED.search(text[max(0, match.start() - 40): match.start()]))
                found.append(AccessMention(match.start(), match.end(), key, kind, negated))
        return sorted(found, key=lambda m: m.start)


def resolve(mentions: list[AccessMention], policy: Policy) -> list[str]:
    """The access levels a group of mentions asks for, in order: named levels; a platform means its default level
    unless one of its levels is named or described; purposes count where no level is named."""
    named = [m.access for m in mentions if m.how == How.NAMED]
    platforms = [m.access[len(PLATFORM):] for m in mentions if m.how == How.PLATFORM]
    purposes = [m.access for m in mentions if m.how == How.PURPOSE]
    levels: list[str] = list(named)
    for key in platforms:
        platform = policy.platforms[key]
        if any(level in platform.levels for level in named):
            continue
        described = [p for p in purposes if p in platform.levels]
        levels.extend(described or [platform.default])
    if not named:
        levels.extend(p for p in purposes if not any(p in policy.platforms[k].levels for k in platforms))
    return list(dict.fromkeys(levels))
