"""What ops see of a running service, in one place: health, metrics, warnings, retention and the mailbox's lease."""

from __future__ import annotations

import logging
from datetime import timedelta

from mailbot.service.alerts import Alerts
from mailbot.service.health import HealthState, check
from mailbot.service.inbox import PassReport
from mailbot.service.lease import MailboxLease
from mailbot.service.metrics import Metrics
from mailbot.service.outbox import SendReport
from mailbot.service.retention import purge
from mailbot.service.wiring import Parts
from mailbot.store import utcnow

log = logging.getLogger(__name__)

# The conditions ops are warned of (logged as errors, shown on /healthz and the desk's dashboard, emailed once).
POLLS_FAILING = "polls_failing"
CREDENTIALS_REFUSED = "credentials_refused"
SECRET_EXPIRING = "secret_expiring"


def mailbox_name(parts: Parts) -> str:
    """The mailbox this service works, as its lease names it (one lease per mailbox)."""
    settings = parts.settings
    if settings.imap is not None:
        return f"imap://{settings.imap.username}@{settings.imap.host}:{settings.imap.port}/{settings.imap.folder}"
    return f"maildir:{settings.maildir.path.resolve()}"


class Operations:
    """The service's hooks call these; /healthz, /metrics and the dashboard read them."""

    def __init__(self, parts: Parts):
        self.parts = parts
        self.settings = parts.settings.ops
        self.health = HealthState()
        self.metrics = Metrics(parts.store, self.health, self._token_expiry)
        self.alerts = Alerts(parts.store, parts.new_sender() if self.settings.alert_to else None, self.settings.alert_to,
                             parts.settings.mailbox.address)
        self.lease = MailboxLease(parts.store, mailbox_name(parts), parts.me, self.settings.lease_seconds)
        self.server = None

    # -- the monitor server ------------------------------------------------------------------------

    def start(self) -> None:
        """Serve /healthz and /metrics when [ops] health_port is set."""
        if self.settings.health_port is None:
            return
        from mailbot.service.monitor import serve

        self.server = serve(self.settings.health_host, self.settings.health_port, self.healthz, self.metrics.text)
        log.info("health and metrics served", extra={"url": f"http://{self.settings.health_host}:{self.settings.health_port}/healthz"})

    def stop(self) -> None:
        self.lease.release()
        if self.server is not None:
            self.server.shutdown()
            self.server = None

    def healthz(self) -> tuple[bool, dict]:
        ok, checks = check(self.health, self.parts.store, self.settings.poll_stale_seconds, self.settings.outbox_stale_seconds,
                           self.settings.secret_expires, self.settings.warn_days_before_expiry)
        try:
            warnings = self.alerts.active()
        except Exception:  # the database check above says so already
            warnings = {}
        checks["warnings"] = {"ok": True, "detail": "; ".join(warnings.values()) or "none", "active": sorted(warnings)}
        return ok, checks

    # -- the lease ---------------------------------------------------------------------------------

    def may_work(self) -> bool:
        """Hold (or renew) the mailbox's lease: True when this node works the mailbox, False standing by."""
        held = self.lease.hold()
        self.health.standby = not held
        return held

    # -- what the jobs report ----------------------------------------------------------------------

    def pass_done(self, report: PassReport, seconds: float) -> None:
        self.health.poll_ok()
        self.metrics.poll_duration.observe(seconds)
        for row in report.rows:
            self.metrics.messages.labels(outcome=row.outcome).inc()
        self.alerts.clear(POLLS_FAILING)
        self.alerts.clear(CREDENTIALS_REFUSED)

    def pass_failed(self, error: str, credentials: bool) -> None:
        self.health.poll_failed(error, credentials)
        self.metrics.reconnects.inc()
        try:
            if credentials:
                self.alerts.raise_(CREDENTIALS_REFUSED, f"the mailbox refused mailbot's credentials: {error}")
            if self.health.poll_failures >= self.settings.poll_failures_before_alert:
                self.alerts.raise_(POLLS_FAILING, f"{self.health.poll_failures} polls in a row have failed: {error}")
        except Exception:  # the database is out of reach too: the log and /healthz say so
            log.exception("the warning could not be recorded")

    def sent(self, report: SendReport) -> None:
        self.metrics.replies_sent.inc(report.sent)
        self.metrics.send_failures.inc(report.retrying + report.given_up)

    def housekeeping(self) -> None:
        """Purge what the retention window says, and warn of a client secret about to expire."""
        purged = purge(self.parts.store, self.settings.retention_days)
        if purged["messages"]:
            log.info("retention: purged the bodies and personal data of old messages",
                     extra={"older_than_days": self.settings.retention_days, **purged})
        expires = self.settings.secret_expires
        if expires is not None:
            days = (expires - utcnow().date()).days
            if days <= self.settings.warn_days_before_expiry:
                when = "has expired" if days < 0 else f"expires in {days} day{'s' if days != 1 else ''} ({expires:%Y-%m-%d})"
                self.alerts.raise_(SECRET_EXPIRING, f"the OAuth client secret {when}: make a new one in the app registration")
            else:
                self.alerts.clear(SECRET_EXPIRING)

    def _token_expiry(self) -> float | None:
        """When the current OAuth token or the client secret expires (seconds since the epoch), the sooner."""
        moments = [t.expires_at for t in (self.parts.imap_tokens, self.parts.smtp_tokens) if t is not None and t.expires_at]
        if self.settings.secret_expires is not None:
            from datetime import datetime, time, timezone

            moments.append(datetime.combine(self.settings.secret_expires, time(), timezone.utc).timestamp())
        return min(moments) if moments else None

    @property
    def renew_every(self) -> timedelta:
        """How often the lease is renewed: well within its life."""
        return timedelta(seconds=max(1.0, self.settings.lease_seconds / 4))
