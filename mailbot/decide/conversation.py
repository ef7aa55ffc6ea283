"""Conversations: what a follow-up to mailbot's own reply completes, acknowledges or repeats (the service contract)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, Sequence

from mailbot.decide.outcome import Decision, RequestDecision
from mailbot.decide.rules import Facts, sender_not_authenticated
from mailbot.extract import Details, Extraction, RequestedAccess
from mailbot.extract.names import Forms, is_full_name, same_person, spelling

# The short reference mailbot puts in its replies' subjects, for mail clients that drop In-Reply-To and References:
# six characters of an alphabet with no 0/O or 1/I to misread.
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_REF = re.compile(r"\[NHSP ref ([2-9A-HJ-NP-Z]{6})\]", re.I)
ASKED = frozenset({"missing_work_email", "missing_full_name", "access_level_unclear"})  # what a follow-up can complete


@dataclass(frozen=True, slots=True)
class EarlierRequest:
    """A request of the conversation so far, as decided then."""

    id: int
    name: str | None
    email: str | None
    access: str | None
    outcome: str
    reasons: tuple[str, ...]

    @property
    def pending(self) -> bool:
        """Did mailbot ask for something it still needs (an address, a full name, which access)?"""
        return self.outcome == "needs_info" and bool(ASKED.intersection(self.reasons))


@dataclass(frozen=True)
class Earlier:
    """The conversation a message follows up: mailbot's reply it answers, and what that reply decided."""

    conversation: str  # its reference
    message: int  # the store's id of the message mailbot answered
    sender: str | None
    organisation: str | None
    requests: tuple[EarlierRequest, ...]
    answered_at: datetime

    @property
    def pending(self) -> tuple[EarlierRequest, ...]:
        return tuple(r for r in self.requests if r.pending)


@dataclass(frozen=True, slots=True)
class Approval:
    """A person and access approved before: when, and the store's id of that request (marked asked_again)."""

    request: int
    at: datetime


class Recall(Protocol):
    """What triage may read of the conversations so far (the store, read-only)."""

    def earlier(self, message_ids: Sequence[str], ref: str | None) -> Earlier | None: ...

    def approvals(self, pairs: Sequence[tuple[str, str]], since: datetime, besides: str | None) -> dict[tuple[str, str], Approval]: ...


def new_reference(key: str) -> str:
    """A conversation's reference, made from its first message's key: short, stable, and the same every run."""
    number = int.from_bytes(hashlib.sha256(key.encode("utf-8", "replace")).digest()[:8], "big")
    return "".join(_ALPHABET[(number >> (5 * i)) & 31] for i in range(6))


def reference_in(subject: str) -> str | None:
    """The reference a subject carries ("Re: Agency User [NHSP ref 7K3QX2]"), upper case, or None."""
    found = _REF.search(subject or "")
    return found.group(1).upper() if found else None


def with_reference(subject: str, reference: str) -> str:
    """The subject with the conversation's reference once, at the end."""
    return f"{_REF.sub('', subject).rstrip()} [NHSP ref {reference}]"


def continues(earlier: Earlier, facts: Facts) -> bool:
    """Only the same sender, or an authenticated sender of the same organisation, continues a conversation."""
    sender = facts.email.sender
    if sender is None or facts.email.sender_doubts:
        return False
    if earlier.sender and sender.key == earlier.sender.lower():
        return True
    organisation = facts.organisation
    return (organisation is not None and earlier.organisation == organisation.name
            and sender_not_authenticated(facts) is None)


def complete(earlier: Earlier, extraction: Extraction, details: Details, forms: Forms) -> tuple[RequestedAccess, ...]:
    """The requests of a follow-up: the pending ones, completed by what its new text gives (a work address, a full
    name, which access), then whatever it newly asks for. A request it restates is the pending one, completed."""
    pending = list(earlier.pending)
    completed: list[RequestedAccess] = []
    new = list(extraction.requests)
    for item in pending:
        restated = next((r for r in new if _same(item, r)), None)
        if restated is not None:
            new.remove(restated)
        name = item.name if is_full_name(item.name) else (restated.name if restated and is_full_name(restated.name) else None)
        email = item.email or (restated.email if restated else None)
        accesses = [item.access] if item.access else ([restated.access] if restated and restated.access else [])
        if email is None:
            email = _address_for(item, details, pending, forms)
        if name is None:
            name = _name_for(item, email, details, pending, forms) or item.name
        if not accesses:
            accesses = list(details.accesses) if len([p for p in pending if not p.access]) == 1 else []
        for access in accesses or [None]:
            completed.append(RequestedAccess(name, email, access))
    return (*completed, *new)


def asks_nothing(extraction: Extraction, details: Details) -> bool:
    """A follow-up that asks for nothing and gives nothing: an acknowledgement ("thanks, all sorted")."""
    return not extraction.requests and not extraction.topics and not details.addresses and not details.accesses and not details.asks


def already_approved(decision: Decision, approvals: dict[tuple[str, str], Approval]) -> Decision:
    """A request approved within the repeat window is not approved again: informed, already_approved."""
    if not approvals:
        return decision
    decided = []
    for item in decision.requests:
        key = ((item.request.email or "").lower(), item.request.access or "")
        found = approvals.get(key)
        if item.outcome == "approved" and found is not None:
            item = RequestDecision(item.request, "informed", ("already_approved",), approved_at=found.at, repeat_of=found.request)
        decided.append(item)
    outcomes = {d.outcome for d in decided}
    outcome = "review" if "review" in outcomes else outcomes.pop() if len(outcomes) == 1 else "partial"
    return replace(decision, outcome=outcome, requests=tuple(decided))


def _same(item: EarlierRequest, request: RequestedAccess) -> bool:
    if item.email and request.email and item.email.lower() == request.email.lower():
        return item.access is None or request.access in (None, item.access)
    return bool(item.name and request.name and same_person(item.name, request.name)) and request.access in (None, item.access)


def _address_for(item: EarlierRequest, details: Details, pending: list[EarlierRequest], forms: Forms) -> str | None:
    """The address the follow-up gives for a request that lacked one: the one that spells its name, or the only one
    given for the only request that lacked one."""
    if item.name:
        spelled = [a for _, a in details.addresses if spelling(item.name, a, forms) >= 1]
        if len(spelled) == 1:
            return spelled[0]
    lacking = [p for p in pending if not p.email]
    return details.addresses[0][1] if len(lacking) == 1 and len(details.addresses) == 1 else None


def _name_for(item: EarlierRequest, email: str | None, details: Details, pending: list[EarlierRequest],
              forms: Forms) -> str | None:
    """The full name the follow-up gives for a request that lacked one: the one its address spells, or that starts
    with the first name it had, or the only one given for the only such request."""
    names = [n for n in details.names if is_full_name(n)]
    if email:
        spelled = [n for n in names if spelling(n, email, forms) >= 1]
        if len(spelled) == 1:
            return spelled[0]
    if item.name:
        first = [n for n in names if same_person(item.name, n)]
        if len(first) == 1:
            return first[0]
    lacking = [p for p in pending if not is_full_name(p.name)]
    return names[0] if len(lacking) == 1 and len(names) == 1 else None
