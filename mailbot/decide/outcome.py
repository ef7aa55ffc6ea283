"""The frozen values a decision is made of: the endorser, each request's outcome, the message's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailbot.extract import RequestedAccess


@dataclass(frozen=True, slots=True)
class Endorser:
    """Who sent the message, and what the directory (only the directory) says of them."""

    email: str
    name: str | None
    organisation: str | None
    seniority: str | None
    source: str | None  # "directory" when the sender is listed in people.csv
    stated_title: str | None
    domains: tuple[str, ...] = ()  # the organisation's email domains: the only ones a reply may copy in


@dataclass(frozen=True, slots=True)
class RequestDecision:
    request: RequestedAccess
    outcome: str
    reasons: tuple[str, ...] = ()
    approved_at: datetime | None = None  # already_approved: when it was approved before
    repeat_of: int | None = None  # already_approved: the store's id of that earlier request (marked asked_again)


@dataclass(frozen=True)
class Decision:
    outcome: str
    reasons: tuple[str, ...]
    endorser: Endorser | None
    requests: tuple[RequestDecision, ...]
    topics: tuple[str, ...] = ()
    # The sender is authenticated and in the directory: the reply may echo their subject and
    # name and copy in the people it concerns. Public answers to anyone else carry none of that.
    verified: bool = False
    conversation: str | None = None  # the conversation's reference, carried in the reply's subject
    follows: int | None = None  # the store's id of the message whose answer this one follows up (or bounces)
    bounced: tuple[str, ...] = ()  # a bounce of mailbot's reply: the addresses that failed for good

    @property
    def answered(self) -> bool:
        """Does this decision send a reply?"""
        return self.outcome not in ("ignored", "review")
