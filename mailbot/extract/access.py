"""Finds where a text names an access level or a platform, using the phrases in the policy table."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.policy import Policy

PLATFORM = "platform:"
_NEGATED = re.compile(
    r"(?:\bnot|\bno|n't\s+(?:need|want|require)|\bwithout|\binstead\s+of|\brather\s+than|\bexcept)\s+(?:\w+\s+){0,2}$",
    re.I,
)


@dataclass(frozen=True)
class AccessFinder:
    """Compiled phrases: access id (or 'platform:<id>') and its pattern."""

    patterns: tuple[tuple[str, re.Pattern], ...]
    any_access: re.Pattern

    @classmethod
    def from_policy(cls, policy: Policy) -> AccessFinder:
        patterns = [
            (key, re.compile("|".join(f"(?:{p})" for p in level.phrases), re.I))
            for key, level in policy.access.items()
            if level.phrases
        ]
        patterns += [
            (PLATFORM + key, re.compile("|".join(f"(?:{p})" for p in platform.phrases), re.I))
            for key, platform in policy.platforms.items()
        ]
        return cls(tuple(patterns), re.compile("|".join(f"(?:{p.pattern})" for _, p in patterns) or r"(?!x)x", re.I))

    def mentions(self, text: str) -> list[tuple[int, str]]:
        """(position, access id) for each access level or platform the text names, not negated."""
        found: list[tuple[int, str]] = []
        if not self.any_access.search(text):
            return found
        for key, pattern in self.patterns:
            for match in pattern.finditer(text):
                if not _NEGATED.search(text[max(0, match.start() - 40) : match.start()]):
                    found.append((match.start(), key))
        return sorted(found)


def resolve_platforms(accesses: list[str], policy: Policy) -> list[str]:
    """Replace a bare platform mention by its default level unless a level of it is named too."""
    resolved: list[str] = []
    for access in accesses:
        if access.startswith(PLATFORM):
            platform = policy.platforms[access[len(PLATFORM) :]]
            if not any(level in accesses for level in platform.levels):
                access = platform.default
            else:
                continue
        if access not in resolved:
            resolved.append(access)
    return resolved
