"""The rules of NHSP's quick guide as a frozen table: access levels, who may endorse them, replies' facts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from mailbot.errors import ConfigError
from mailbot.validation import describe, read_toml


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_patterns(patterns: tuple[str, ...]) -> tuple[str, ...]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad pattern {pattern!r}: {exc}") from None
    return patterns


class AccessLevel(_Frozen):
    """One kind of access: how it is granted and who may endorse it."""

    label: str
    grant: Literal["endorse", "redirect", "inform"]
    minimum_seniority: str | None = None
    endorsed_by: str | None = None
    redirect_url: str | None = None
    redirect_name: str | None = None
    phrases: tuple[str, ...] = ()

    _check = field_validator("phrases")(_check_patterns)

    @model_validator(mode="after")
    def _grant_needs(self) -> AccessLevel:
        if self.grant == "endorse" and not (self.minimum_seniority and self.endorsed_by):
            raise ValueError("an endorsed access level needs minimum_seniority and endorsed_by")
        if self.grant == "redirect" and not (self.redirect_url and self.redirect_name):
            raise ValueError("a redirected access level needs redirect_url and redirect_name")
        return self


class Platform(_Frozen):
    """A platform that, named without a level, means its default level."""

    label: str
    phrases: tuple[str, ...]
    levels: tuple[str, ...]
    default: str

    _check = field_validator("phrases")(_check_patterns)


class PasswordHelp(_Frozen):
    login_url: str
    steps: tuple[str, ...]


class Support(_Frozen):
    team: str
    email: str
    phone: str
    hours: str
    handles: str


class Policy(_Frozen):
    """The whole policy table, as loaded from config/policy.toml."""

    seniority_ranks: tuple[str, ...]
    access: dict[str, AccessLevel]
    platforms: dict[str, Platform] = {}
    password: PasswordHelp
    support: Support
    out_of_scope: dict[str, str] = {}
    personal_mail_domains: frozenset[str] = frozenset()

    @field_validator("out_of_scope")
    @classmethod
    def _topics_compile(cls, topics: dict[str, str]) -> dict[str, str]:
        _check_patterns(tuple(topics.values()))
        return topics

    @field_validator("personal_mail_domains", mode="before")
    @classmethod
    def _lower_domains(cls, domains: object) -> object:
        if isinstance(domains, list):
            return frozenset(str(d).strip().lower() for d in domains)
        return domains

    @model_validator(mode="after")
    def _ranks_and_levels_exist(self) -> Policy:
        for key, level in self.access.items():
            if level.minimum_seniority and level.minimum_seniority not in self.seniority_ranks:
                raise ValueError(
                    f"access.{key}.minimum_seniority: {level.minimum_seniority!r} is not one of "
                    f"seniority_ranks {list(self.seniority_ranks)}"
                )
        for key, platform in self.platforms.items():
            for level in (*platform.levels, platform.default):
                if level not in self.access:
                    raise ValueError(f"platforms.{key}: unknown access level {level!r}")
        return self

    def rank(self, seniority: str | None) -> int:
        """Position of a seniority in the ranks; -1 for none or unknown."""
        try:
            return self.seniority_ranks.index(seniority) if seniority else -1
        except ValueError:
            return -1

    def may_endorse(self, seniority: str | None, access: str) -> bool:
        level = self.access[access]
        return self.rank(seniority) >= self.rank(level.minimum_seniority)


def load_policy(path: Path) -> Policy:
    data = read_toml(path, "policy file")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"policy file {path}: {describe(exc)}") from None
