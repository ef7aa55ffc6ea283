"""Deciding: the rules composed in the triage contract's order of precedence."""

from __future__ import annotations

from mailbot.decide.authentication import OrganisationalDomains
from mailbot.decide.outcome import Decision, Endorser, RequestDecision
from mailbot.decide.rules import (
    HOLD_RULES,
    IGNORE_RULES,
    REQUEST_OUTCOMES,
    REQUEST_RULES,
    Facts,
    malformed_message,
    unanswerable_sender,
)
from mailbot.directory import Directory
from mailbot.extract import Extraction, RequestedAccess
from mailbot.extract.names import clean_name
from mailbot.parse.message import Email
from mailbot.policy import Policy

__all__ = ["Decider", "Decision", "Endorser", "RequestDecision"]

NOT_ASKED = object()  # decide(): the caller has not asked ignored() yet


class Decider:
    """Decides messages for one configuration."""

    def __init__(self, policy: Policy, directory: Directory, mailbox_address: str, trusted_ids, exchange_online: bool):
        self.policy = policy
        self.directory = directory
        self.mailbox_address = mailbox_address
        self.trusted_ids = frozenset(i.strip().lower() for i in trusted_ids)
        self.exchange_online = exchange_online
        self.psl = OrganisationalDomains()

    def facts(self, email: Email) -> Facts:
        return Facts(email, self.mailbox_address, self.policy, self.directory, self.trusted_ids, self.exchange_online, self.psl)

    def ignored(self, email: Email) -> Decision | None:
        """The decision for a message nobody should answer, or None when it must be read."""
        facts = self.facts(email)
        reasons = tuple(code for code in (rule(facts) for rule in IGNORE_RULES) if code)
        return Decision("ignored", reasons, None, ()) if reasons else None

    def decide(self, email: Email, extraction: Extraction | None, ignored: Decision | None | object = NOT_ASKED) -> Decision:
        """The decision for a message; `ignored` is ignored(email) when the caller has it already (None included)."""
        facts = self.facts(email)
        ignored = self.ignored(email) if ignored is NOT_ASKED else ignored
        if ignored is not None:
            return ignored
        endorser = self.endorser(facts, extraction)
        if malformed_message(facts) or extraction is None:
            return Decision("review", ("malformed_message",), endorser, ())
        requests = extraction.requests
        holds = [code for code in (rule(facts) for rule in HOLD_RULES) if code]
        reasons: list[str] = [] if self._needs_no_endorsement(requests) else list(holds)
        if extraction.topics:
            reasons.append("out_of_scope")
        elif not requests:
            reasons.append("no_request_found")
        elif extraction.cut_short:
            reasons.append("text_too_long")  # more people may be asked for past what was read
        elif extraction.doubts and not self._needs_no_endorsement(requests):
            reasons.append("extraction_uncertain")  # read, but not surely enough to answer alone (public answers aside)
        if reasons:
            held = tuple(RequestDecision(r, "review") for r in requests)
            return Decision("review", tuple(reasons), endorser, held, extraction.topics)
        decided = tuple(self.decide_request(r, facts) for r in requests)
        outcomes = {d.outcome for d in decided}
        outcome = "review" if "review" in outcomes else outcomes.pop() if len(outcomes) == 1 else "partial"
        if outcome != "review" and unanswerable_sender(facts):
            held = tuple(RequestDecision(d.request, "review") for d in decided)
            return Decision("review", ("malformed_message",), endorser, held, extraction.topics)
        return Decision(outcome, (), endorser, decided, extraction.topics, verified=not holds)

    def hold_reasons(self, email: Email) -> list[str]:
        """The reasons a person must vouch for this sender (authentication, directory); empty when verified."""
        facts = self.facts(email)
        return [code for code in (rule(facts) for rule in HOLD_RULES) if code]

    def decide_request(self, request: RequestedAccess, facts: Facts) -> RequestDecision:
        level = self.policy.access.get(request.access or "")
        if level is not None and level.grant == "redirect":
            return RequestDecision(request, "redirected", ("self_service_platform",))
        if level is not None and level.grant == "inform":
            return RequestDecision(request, "informed", ())
        reasons = tuple(code for code in (rule(request, facts) for rule in REQUEST_RULES) if code)
        for outcome, codes in REQUEST_OUTCOMES:
            if codes.intersection(reasons):
                return RequestDecision(request, outcome, reasons)
        return RequestDecision(request, "approved", reasons)

    def _needs_no_endorsement(self, requests: tuple[RequestedAccess, ...]) -> bool:
        """Every request is answered with public information (247 Time, password help)."""
        levels = [self.policy.access.get(r.access or "") for r in requests]
        return bool(levels) and all(level is not None and level.grant != "endorse" for level in levels)

    def endorser(self, facts: Facts, extraction: Extraction | None) -> Endorser | None:
        sender = facts.email.sender
        if sender is None:
            return None
        person = facts.person
        organisation = facts.organisation
        return Endorser(
            email=sender.email,
            name=person.name if person else clean_name(sender.name) if sender.name and "@" not in sender.name else None,
            organisation=organisation.name if organisation else (person.organisation if person else None),
            seniority=person.seniority if person else None,
            source="directory" if person else None,
            stated_title=extraction.stated_title if extraction else None,
            domains=tuple(organisation.domains) if organisation else (),
        )
