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
    """All the policy's phrases in one pattern, a named group per access id (or 'platform:<id>')."""

    pattern: re.Pattern
    groups: dict[str, str]  # group name -> access id

    @classmethod
    def from_policy(cls, policy: Policy) -> AccessFinder:
        named = [(key, level.phrases) for key, level in policy.access.items() if level.phrases]
        named += [(PLATFORM + key, platform.phrases) for key, platform in policy.platforms.items()]
        groups = {f"g{number}": key for number, (key, _) in enumerate(named)}
        alternatives = [f"(?P<g{number}>{'|'.join(f'(?:{p})' for p in phrases)})" for number, (_, phrases) in enumerate(named)]
        return cls(re.compile("|".join(alternatives) or r"(?!x)x", re.I), groups)

    @property
    def any_access(self) -> re.Pattern:
        return self.pattern

    def mentions(self, text: str) -> list[tuple[int, str]]:
        """(position, access id) for each access level or platform the text names, not negated."""
        return [
            (match.start(), self.groups[match.lastgroup])
            for match in self.pattern.finditer(text)
            if not _NEGATED.search(text[max(0, match.start() - 40) : match.start()])
        ]


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
