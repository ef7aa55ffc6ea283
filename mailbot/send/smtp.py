"""The SMTP sender (smtplib): SSL, STARTTLS or plain on loopback; password or XOAUTH2; one connection reused."""

from __future__ import annotations

import base64
import logging
import os
import smtplib
import socket
import ssl

from mailbot.send import SendError
from mailbot.settings import SmtpSettings
from mailbot.source.oauth import TokenError, TokenSource, xoauth2_string

log = logging.getLogger(__name__)


class SmtpSender:
    def __init__(self, settings: SmtpSettings, tokens: TokenSource | None = None):
        self.settings = settings
        self.tokens = tokens
        self.connection: smtplib.SMTP | None = None
        self._context: ssl.SSLContext | None = None

    def _tls(self) -> ssl.SSLContext:
        """The TLS context, made once: loading the system's CA certificates costs tens of milliseconds a time."""
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def connect(self) -> smtplib.SMTP:
        settings = self.settings
        try:
            if settings.security == "ssl":
                connection = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_seconds, context=self._tls())
            else:
                connection = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
            connection.ehlo()
            if settings.security == "starttls":
                connection.starttls(context=self._tls())
                connection.ehlo()
            if settings.oauth is not None:
                token = self.tokens.token()
                initial = base64.b64encode(xoauth2_string(settings.username or "", token).encode()).decode()
                code, reply = connection.docmd("AUTH", f"XOAUTH2 {initial}")
                if code != 235:
                    raise SendError(f"SMTP XOAUTH2 refused: {code} {reply.decode(errors='replace')[:200]}", permanent=False)
            elif settings.username:
                password = os.environ.get(settings.password_env or "")
                if not password:
                    raise SendError(f"environment variable {settings.password_env} (the SMTP password) is not set")
                connection.login(settings.username, password)
            return connection
        except SendError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"SMTP login refused: {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError, socket.timeout, ssl.SSLError, TokenError) as exc:
            raise SendError(f"SMTP {settings.host}:{settings.port}: {type(exc).__name__}: {exc}") from None

    def send(self, sender: str, recipients: tuple[str, ...], content: bytes) -> None:
        for attempt in (1, 2):  # a connection kept open may have been dropped by the server
            if self.connection is None:
                self.connection = self.connect()
            try:
                refused = self.connection.sendmail(sender, list(recipients), content)
                if refused:
                    log.warning("some recipients were refused", extra={"refused": sorted(refused)})
                return
            except smtplib.SMTPRecipientsRefused as exc:
                raise SendError(f"every recipient refused: {sorted(exc.recipients)}", permanent=True) from None
            except smtplib.SMTPResponseException as exc:
                self.close()
                raise SendError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=500 <= exc.smtp_code < 600) from None
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self.close()
                if attempt == 2:
                    raise SendError(f"SMTP connection lost: {exc}") from None

    def check(self) -> None:
        """Connect and log in, then let go: for check-config."""
        connection = self.connect()
        connection.quit()

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except Exception:
                pass
            self.connection = None
