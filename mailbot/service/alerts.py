"""Warnings before failure: a condition raised is logged, recorded and emailed to ops once, until it clears."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import select

from mailbot.send import MailSender, SendError
from mailbot.store import Store, utcnow
from mailbot.store.models import AuditEntry

log = logging.getLogger(__name__)


def active_warnings(store: Store) -> dict[str, str]:
    """The conditions raised and not cleared, with their text, from the audit trail (any process may ask)."""
    with store.session() as session:
        entries = session.execute(select(AuditEntry.action, AuditEntry.detail)
                                  .where(AuditEntry.action.in_(("alert_raised", "alert_cleared"))).order_by(AuditEntry.id)).all()
    state: dict[str, str] = {}
    for action, detail in entries:
        condition = detail.get("condition", "")
        if action == "alert_raised":
            state[condition] = detail.get("text", "")
        else:
            state.pop(condition, None)
    return state


class Alerts:
    """Conditions such as credentials_expiring or polls_failing; each emailed once while it lasts."""

    def __init__(self, store: Store, sender: MailSender | None, to: str | None, mailbox: str):
        self.store = store
        self.sender = sender
        self.to = to
        self.mailbox = mailbox

    def active(self) -> dict[str, str]:
        """Conditions raised and not cleared, with their text (read by the dashboard and /healthz)."""
        return active_warnings(self.store)

    def raise_(self, condition: str, text: str) -> bool:
        """Raise a condition; True when it is new (then it is logged as an error and emailed)."""
        if condition in self.active():
            return False
        log.error(text, extra={"alert": condition})
        emailed = self._email(condition, text)
        self.store.audit("alert_raised", condition=condition, text=text, emailed=emailed)
        return True

    def clear(self, condition: str) -> None:
        if condition in self.active():
            log.info("resolved", extra={"alert": condition})
            self.store.audit("alert_cleared", condition=condition)

    def _email(self, condition: str, text: str) -> bool:
        if not self.to or self.sender is None:
            return False
        message = EmailMessage()
        message["From"] = self.mailbox
        message["To"] = self.to
        message["Subject"] = f"mailbot warning: {condition.replace('_', ' ')}"
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.mailbox.rsplit("@", 1)[-1])
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(f"{text}\n\nmailbot will not repeat this warning until the condition clears.\n"
                            f"Raised at {utcnow():%Y-%m-%d %H:%M} UTC.\n")
        try:
            self.sender.send(self.mailbox, (self.to,), message.as_bytes())
            return True
        except SendError as exc:
            log.error("the warning could not be emailed", extra={"alert": condition, "error": str(exc)})
            return False
        finally:
            self.sender.close()
