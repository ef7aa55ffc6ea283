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

_DAEMON = re.compile(r"^(?:mailer[-_]?daemon|postmaster|mail[-_]?daemon|microsoftexchange[0-9a-f]{32})$", re.I)


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


def _first_word(value: str | None) -> str:
    """A header's value without its comment or parameters: "no (sent by a person)" -> "no"."""
    return re.split(r"[\s;(]", (value or "").strip(), maxsplit=1)[0].lower()


def auto_submitted(facts: Facts) -> str | None:
    """Sent by a machine: any Auto-Submitted other than 'no', one of the policy's marker headers (X-Autoreply,
    Exchange's X-MS-Exchange-Inbox-Rules-Loop...), X-Auto-Response-Suppress asking responders like mailbot not to
    answer, Precedence: auto_reply, or an automatic subject (out of office, read receipt)."""
    email = facts.email
    markers = facts.policy.automatic_mail
    values = {_first_word(v) for v in email.headers.get("auto-submitted", ())} - {""}
    precedence = _first_word(email.header("precedence"))
    marked = any(email.header(name) is not None for name in markers.headers)
    suppress = {v.strip().lower() for v in (email.header("x-auto-response-suppress") or "").split(",")}
    if values - {"no"} or marked or precedence in markers.precedence or suppress & set(markers.suppress_values):
        return "auto_submitted"
    prefix = email.subject.split(":", 1)[0].strip().lower() if ":" in email.subject else ""
    if prefix in markers.subjects or email.report_type == "disposition-notification":
        return "auto_submitted"
    return None


def bounce(facts: Facts) -> str | None:
    """A delivery status notification (a report, or any message carrying a delivery-status part), or mail from a
    mailer daemon, a postmaster or Exchange's own mailbox, or with a null return path."""
    email = facts.email
    local = email.sender.email.split("@")[0] if email.sender else ""
    statuses = ("message/delivery-status", "message/global-delivery-status")
    if email.report_type == "delivery-status" or _DAEMON.match(local) or any(a.content_type in statuses for a in email.attachments):
        return "bounce"
    if email.return_path is not None and email.return_path.strip() in ("<>", ""):
        return "bounce"
    return None


def bulk_or_list(facts: Facts) -> str | None:
    """Bulk or list mail: Precedence bulk/list/junk, or a mailing list's headers (List-Id, List-Unsubscribe, ...)."""
    email = facts.email
    precedence = _first_word(email.header("precedence"))
    if precedence in ("bulk", "list", "junk") or any(email.header(name) is not None for name in facts.policy.automatic_mail.list_headers):
        return "bulk_or_list"
    return None


def own_message(facts: Facts) -> str | None:
    """Sent from the mailbox's own address, with or without a +tag (agencies+x@...): answering it would loop."""
    sender = facts.email.sender
    if sender is None or "@" not in sender.key:
        return None
    local, _, domain = sender.key.rpartition("@")
    own_local, _, own_domain = facts.mailbox_address.lower().rpartition("@")
    if domain == own_domain and local.strip('"').split("+", 1)[0] == own_local:  # "agencies"@, agencies+tag@
        return "own_message"
    marker = facts.policy.automatic_mail.own_reply_marker
    body = facts.email.body
    if marker and marker in " ".join(f"{body.new_text} {body.signature}".split()):
        return "own_message"  # mailbot's own answer coming back (a helpdesk echoing it), not a question
    return None


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
