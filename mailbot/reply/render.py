"""Renders a decision into a complete, threaded reply; only names and addresses come from the incoming mail."""

from __future__ import annotations

import hashlib
import re
import textwrap
from dataclasses import dataclass
from email import charset as _charsets
from email import policy as _policies
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailbot.decide.conversation import with_reference
from mailbot.decide.outcome import Decision, RequestDecision
from mailbot.parse.message import Address, Email
from mailbot.policy import Policy

_UTF8 = _charsets.Charset("utf-8")
_UTF8.body_encoding = _charsets.QP  # readable on the wire, safe for any line length


class _Wire(_policies.Compat32):
    """compat32 with CRLF line ends, and a short one-line ASCII header written as it is: the same bytes the
    general folding gives it (which builds a Header object for every header, most of a reply's cost)."""

    def fold_binary(self, name, value):
        if isinstance(value, str) and value.isascii() and len(name) + 2 + len(value) <= self.max_line_length \
                and "\n" not in value and "\r" not in value:
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_WIRE = _Wire(linesep="\r\n")
ORDER = ("approved", "already_approved", "rejected", "needs_info", "redirected", "informed")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
_PREFIXES = re.compile(r"^\s*+(?:\[?(?:re|aw|sv|antw|fw|fwd|wg|tr|rv)\s*+(?:\[\d++\]\s*+)?:\s*+)++", re.I)
# Why a reviewer rejected a request, in the reply: the reason the message was held, not a seniority sentence for
# everything. Rejections mailbot makes alone keep the endorser sentence (endorser_not_senior_enough).
_WHY = {
    "sender_not_authenticated": "We could not confirm that this email was sent from your organisation's email system, so we cannot act on it. If you sent it, please send the request again from your work email account.",
    "unknown_organisation": "Your email address is not on the email domain of an agency registered with NHSP, so we cannot act on it. Please send the request from your work email address at the agency.",
    "unknown_endorser": "We could not find you in our records as a manager of the agency. Please ask a manager known to NHSP to send the request, or contact us to be added.",
    "email_domain_mismatch": "The person's email address is not on your agency's email domain; NHSP needs their work email address at the agency.",
    "not_a_work_email": "The person's address is a personal email address; NHSP needs their work email address at the agency.",
    "missing_work_email": "The request does not give the person's work email address.",
    "missing_full_name": "The request does not give the person's full name.",
}

_DETAILS = frozenset({"missing_full_name", "missing_work_email", "not_a_work_email", "access_level_unclear", "reviewer_needs_info"})

_MISSING = {
    "sender_not_authenticated": "Please send the request again from your work email account: we could not confirm that this email came from your organisation's email system.",
    "unknown_organisation": "Please send the request from your work email address at the agency: we cannot act on requests from other addresses.",
    "unknown_endorser": "Please tell us your job title at the agency, or ask a manager known to NHSP to confirm the request.",
    "missing_full_name": "Please send the person's full name (first name and surname).",
    "missing_work_email": "Please send the person's work email address.",
    "not_a_work_email": "This is a personal email address; please send the person's work email address instead.",
    "reviewer_needs_info": "Please reply from a manager's work email address confirming the person's full name, work email address and the access they need.",
    "access_level_unclear": None,  # filled in from the policy's list of access levels
    "endorser_not_senior_enough": None,  # filled in from the access level's endorsers
}


def safe_text(value: str | None, limit: int = 100) -> str:
    """A name or subject fit to put in a reply: one line, no control characters, not too long."""
    text = " ".join(_UNSAFE.sub(" ", value or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_address(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if _ADDRESS.match(value) and len(value) <= 254 else None


@dataclass(frozen=True)
class Reply:
    """A reply ready to send: headers, a text body and an HTML alternative."""

    template: str
    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    text: str
    html: str
    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]

    def to_message(self, date: str | None = None) -> Message:
        """The reply as a MIME message: a text part and, when rendered, an HTML alternative.

        Built with the standard library's classic MIME classes, which serialise several times faster
        than EmailMessage's; every header value was made one line, without control characters, above.
        """
        text = MIMEText(self.text, "plain", _UTF8)
        if self.html:
            # Both parts are quoted-printable, where "=_" cannot occur: a boundary starting so is safe as it stands,
            # and the generator need not search the parts for it (a regular expression compiled per message).
            message: Message = MIMEMultipart("alternative", boundary="=_mailbot_" + hashlib.sha1(self.message_id.encode()).hexdigest())
            message.attach(text)
            message.attach(MIMEText(self.html, "html", _UTF8))
        else:
            message = text
        message["From"] = _header_address(self.sender)
        message["To"] = ", ".join(_header_address(a) for a in self.to)
        if self.cc:
            message["Cc"] = ", ".join(_header_address(a) for a in self.cc)
        message["Subject"] = str(Header(self.subject, "utf-8")) if not self.subject.isascii() else self.subject
        message["Date"] = date or formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = self.message_id
        if self.in_reply_to:
            message["In-Reply-To"] = self.in_reply_to
        if self.references:
            message["References"] = " ".join(self.references)
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
        return message

    def to_bytes(self, date: str | None = None) -> bytes:
        """The reply as sent: CRLF line ends."""
        return self.to_message(date).as_bytes(policy=_WIRE)


def _header_address(address: Address) -> str:
    """'Name <addr>', the name RFC 2047-encoded when it is not ASCII (and quoted when it must be)."""
    return formataddr((safe_text(address.name, 80), address.email), charset="utf-8")


class ReplyRenderer:
    """Renders replies from the templates folder, by one policy, as one mailbox."""

    def __init__(self, templates: Path, policy: Policy, mailbox: Address):
        self.policy = policy
        self.mailbox = mailbox
        self.env = Environment(
            loader=FileSystemLoader(str(templates)),
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,  # the templates are read once: no file check at every reply
        )

    def render(self, email: Email, decision: Decision, key: str = "", html: bool = True, note: str = "") -> Reply | None:
        """The reply a decision sends, or None when it sends nothing (ignored, held for review).

        With html=False the HTML alternative is left empty (for reports that show only the text). `note` is a
        reviewer's own paragraph (never anything from a message), put after the answer as plain text.
        """
        if not decision.answered or email.sender is None or safe_address(email.sender.email) is None:
            return None
        template = decision.outcome
        groups: dict[str, list[dict]] = {outcome: [] for outcome in ORDER}
        for item in decision.requests:
            group = "already_approved" if "already_approved" in item.reasons else item.outcome
            groups[group].append(self._request_context(item, email, decision.verified))
        subject = self._subject(email, decision.verified)
        if decision.conversation:
            subject = with_reference(subject, decision.conversation)
        known_name = decision.endorser.name if decision.endorser and decision.verified else ""
        greeting_name = safe_text(known_name or "", 60).split(" ")[0]
        context = {
            "greeting": f"Dear {greeting_name}," if greeting_name else "Hello,",
            "groups": groups,
            "order": ORDER,
            "password": self.policy.password,
            "support": self.policy.support,
            "subject": subject,
            "note": note,
        }
        text = self.env.get_template(f"{template}.txt.j2").render(context)
        html_part = self.env.get_template(f"{template}.html.j2").render(context) if html else ""
        to = (Address(safe_text(email.sender.name, 80) if decision.verified else "", email.sender.email),)
        cc = self._cc(decision, email)
        references = tuple(dict.fromkeys((*email.references[-9:], *(() if email.message_id is None else (email.message_id,)))))
        return Reply(
            template=template,
            sender=self.mailbox,
            to=to,
            cc=cc,
            subject=subject,
            text=_tidy(text),
            html=html_part,
            message_id=self._message_id(email, template, key),
            in_reply_to=email.message_id,
            references=references,
        )

    def _request_context(self, item: RequestDecision, email: Email, verified: bool) -> dict:
        """What a template may say of one request. For a sender nobody verified, nothing the message says: neither
        the name nor the address it gives (an attacker's words, sent in NHSP's name, would make mailbot a relay)."""
        request = item.request
        level = self.policy.access.get(request.access or "")
        missing = []
        for reason in item.reasons:
            if reason == "access_level_unclear":
                choices = [lvl.label for lvl in self.policy.access.values() if lvl.grant == "endorse"]
                missing.append(f"Please tell us which access is needed: {', '.join(choices[:-1])} or {choices[-1]}.")
            elif reason == "endorser_not_senior_enough" and level is not None:
                missing.append(f"Note that this access must be requested by {level.endorsed_by}.")
            elif _MISSING.get(reason):
                missing.append(_MISSING[reason])
        return {
            "name": (safe_text(request.name) or None) if verified else None,
            "is_sender": bool(request.email and email.sender and request.email.lower() == email.sender.key),
            "email": safe_address(request.email) if verified else None,
            "access_label": level.label if level else None,
            "endorsed_by": level.endorsed_by if level else None,
            "redirect_url": level.redirect_url if level else None,
            "redirect_name": level.redirect_name if level else None,
            "missing": missing,
            "why": [_WHY[r] for r in item.reasons if r in _WHY] if "rejected_by_reviewer" in item.reasons else [],
            "reviewed": "rejected_by_reviewer" in item.reasons,
            "reasons": list(item.reasons),  # codes only
            "asks_details": bool(_DETAILS.intersection(item.reasons)),
            "approved_on": f"{item.approved_at:%-d %B %Y}" if item.approved_at else None,
        }

    def _cc(self, decision: Decision, email: Email) -> tuple[Address, ...]:
        """The people a verified sender asked for are told too, where the answer concerns them, and only at an
        address on one of the sender's organisation's domains, whatever the outcome.

        Addresses found in mail from anyone else, or on any other domain, are never written to: that would make
        mailbot a relay. Needs-info and rejections go to the sender only.
        """
        if not decision.verified or decision.endorser is None:
            return ()
        domains = {d.lower() for d in decision.endorser.domains}
        seen = {email.sender.key, self.mailbox.key}
        cc = []
        for item in decision.requests:
            address = safe_address(item.request.email)
            if address is None or address.lower().rsplit("@", 1)[-1] not in domains:
                continue
            if item.outcome in ("approved", "redirected", "informed") and address.lower() not in seen:
                seen.add(address.lower())
                cc.append(Address(safe_text(item.request.name, 80), address))
        return tuple(cc)

    def _subject(self, email: Email, verified: bool) -> str:
        """'Re:' and the sender's subject; a sender nobody has verified gets a fixed subject instead."""
        original = safe_text(_PREFIXES.sub("", email.subject or ""), 150) if verified else ""
        return f"Re: {original}" if original else "Re: your email to the NHSP Agency Support Team"

    def _message_id(self, email: Email, template: str, key: str) -> str:
        seed = f"{email.message_id or ''}|{key}|{template}".encode("utf-8", "replace")
        digest = hashlib.sha256(seed).hexdigest()[:24]
        return f"<mailbot.{digest}@{self.mailbox.domain or 'localhost'}>"


def _tidy(text: str, width: int = 76) -> str:
    """Collapse the blank lines template blocks leave behind and wrap long lines, keeping their indent."""
    lines = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line.rstrip())
            continue
        indent = line[: len(line) - len(line.lstrip())]
        hanging = indent + ("  " if line.lstrip().startswith("- ") else "")
        lines.extend(textwrap.wrap(line.strip(), width, initial_indent=indent, subsequent_indent=hanging, break_long_words=False, break_on_hyphens=False))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
