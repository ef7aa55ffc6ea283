"""The rules: each answers one question about a message or a request and names its reason code.

A rule returns its reason code when it applies, else None. The order of the tuples at the end
is the order the triage contract gives them in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from mailbot.decide.authentication import OrganisationalDomains, sender_authenticated
from mailbot.directory import Directory, Organisation, Person
from mailbot.extract import RequestedAccess
from mailbot.extract.names import is_full_name
from mailbot.parse.message import Email
from mailbot.policy import Policy

_AUTO_SUBJECT = re.compile(r"^\s*(?:automatic reply|auto-?reply|autoreply|out of (?:the )?office(?: reply)?|auto response)\s*:", re.I)
_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|maildaemon|mailerdaemon)$", re.I)


@dataclass(frozen=True)
class Facts:
    """What the rules may read: the message, what was extracted, and the configured world."""

    email: Email
    mailbox_address: str
    policy: Policy
    directory: Directory
    trusted_ids: frozenset[str]
    exchange_online: bool
    psl: OrganisationalDomains

    @property
    def person(self) -> Person | None:
        """The sender's directory entry; never for a From that cannot be taken at its word (sender_doubts)."""
        if self.email.sender is None or self.email.sender_doubts:
            return None
        return self.directory.person(self.email.sender.email)

    @property
    def organisation(self) -> Organisation | None:
        person = self.person
        if person is not None:
            named = self.directory.organisation_named(person.organisation)
            if named is not None:
                return named
        return self.directory.organisation_for(self.email.sender.email if self.email.sender else None)


# -- messages that are not answered at all (RFC 3834) ----------------------------------------------


def auto_submitted(facts: Facts) -> str | None:
    """Sent by a machine: Auto-Submitted other than 'no', one of the policy's marker headers (X-Autoreply,
    Exchange's X-MS-Exchange-Inbox-Rules-Loop...), X-Auto-Response-Suppress asking responders like mailbot not to
    answer, or Precedence: auto_reply."""
    email = facts.email
    markers = facts.policy.automatic_mail
    value = (email.header("auto-submitted") or "").split(";")[0].strip().lower()
    precedence = (email.header("precedence") or "").strip().lower()
    marked = any(email.header(name) is not None for name in markers.headers)
    suppress = {v.strip().lower() for v in (email.header("x-auto-response-suppress") or "").split(",")}
    if value and value != "no" or marked or precedence in markers.precedence or suppress & set(markers.suppress_values):
        return "auto_submitted"
    if _AUTO_SUBJECT.match(email.subject) or email.report_type == "disposition-notification":
        return "auto_submitted"
    return None


def bounce(facts: Facts) -> str | None:
    """A delivery status notification, or mail from a mailer daemon or postmaster, or with a null return path."""
    email = facts.email
    local = email.sender.email.split("@")[0] if email.sender else ""
    if email.report_type == "delivery-status" or _DAEMON.match(local):
        return "bounce"
    if email.return_path is not None and email.return_path.strip() in ("<>", ""):
        return "bounce"
    return None


def bulk_or_list(facts: Facts) -> str | None:
    """Bulk or list mail: Precedence bulk/list/junk, or List-Id / List-Unsubscribe."""
    email = facts.email
    precedence = (email.header("precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk") or email.header("list-id") is not None or email.header("list-unsubscribe") is not None:
        return "bulk_or_list"
    return None


def own_message(facts: Facts) -> str | None:
    """Sent from the mailbox's own address, with or without a +tag (agencies+x@...): answering it would loop."""
    sender = facts.email.sender
    if sender is None or "@" not in sender.key:
        return None
    local, _, domain = sender.key.rpartition("@")
    own_local, _, own_domain = facts.mailbox_address.lower().rpartition("@")
    return "own_message" if domain == own_domain and local.split("+", 1)[0] == own_local else None


# -- messages held for a person -------------------------------------------------------------------


def malformed_message(facts: Facts) -> str | None:
    """The message could not be read well enough to decide."""
    return "malformed_message" if facts.email.unreadable else None


def unanswerable_sender(facts: Facts) -> str | None:
    """The From address is not one a reply can be sent to (checked only when a reply would go)."""
    sender = facts.email.sender
    try:
        validate_email(sender.email if sender else "", check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return "malformed_message"
    return None


def sender_not_authenticated(facts: Facts) -> str | None:
    """No trusted Authentication-Results header shows DMARC pass or aligned DKIM pass."""
    ok = sender_authenticated(facts.email, facts.trusted_ids, facts.exchange_online, facts.psl)
    return None if ok else "sender_not_authenticated"


def unknown_organisation(facts: Facts) -> str | None:
    """The sender's domain belongs to no organisation in the directory."""
    return "unknown_organisation" if facts.organisation is None else None


def unknown_endorser(facts: Facts) -> str | None:
    """The organisation is known but the sender is not in the directory."""
    return "unknown_endorser" if facts.organisation is not None and facts.person is None else None


# -- each request ---------------------------------------------------------------------------------


def missing_full_name(request: RequestedAccess, facts: Facts) -> str | None:
    """No name, or a single name, for the person."""
    return None if is_full_name(request.name) else "missing_full_name"


def missing_work_email(request: RequestedAccess, facts: Facts) -> str | None:
    """No email address for the person."""
    return None if request.email else "missing_work_email"


def not_a_work_email(request: RequestedAccess, facts: Facts) -> str | None:
    """The person's address is on a personal mail service."""
    if not request.email:
        return None
    domain = request.email.lower().rsplit("@", 1)[-1]
    return "not_a_work_email" if domain in facts.policy.personal_mail_domains else None


def access_level_unclear(request: RequestedAccess, facts: Facts) -> str | None:
    """The message does not say which access is wanted."""
    return "access_level_unclear" if request.access is None else None


def email_domain_mismatch(request: RequestedAccess, facts: Facts) -> str | None:
    """The person's address is not on a domain of the endorser's organisation."""
    organisation = facts.organisation
    if not request.email or organisation is None:
        return None
    domain = request.email.lower().rsplit("@", 1)[-1]
    return None if domain in organisation.domains else "email_domain_mismatch"


def endorser_not_senior_enough(request: RequestedAccess, facts: Facts) -> str | None:
    """The endorser's seniority is below the access level's minimum."""
    level = facts.policy.access.get(request.access or "")
    if level is None or level.grant != "endorse":
        return None
    person = facts.person
    return None if facts.policy.may_endorse(person.seniority if person else None, request.access) else "endorser_not_senior_enough"


IGNORE_RULES = (auto_submitted, bounce, bulk_or_list, own_message)
HOLD_RULES = (sender_not_authenticated, unknown_organisation, unknown_endorser)
REQUEST_RULES = (
    missing_full_name,
    missing_work_email,
    not_a_work_email,
    access_level_unclear,
    email_domain_mismatch,
    endorser_not_senior_enough,
)
# What each request-level reason makes of the request, strongest first.
REQUEST_OUTCOMES = (
    ("needs_info", frozenset({"missing_full_name", "missing_work_email", "not_a_work_email", "access_level_unclear"})),
    ("review", frozenset({"email_domain_mismatch"})),
    ("rejected", frozenset({"endorser_not_senior_enough"})),
)
