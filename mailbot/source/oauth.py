"""OAuth2 access tokens for IMAP and SMTP (XOAUTH2): Microsoft's client-credentials flow, or a command."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field

from mailbot.settings import OAuthSettings


class TokenError(Exception):
    """No token could be had; the message says why (never the secret)."""


@dataclass
class TokenSource:
    """Gets and caches a token; renews it a few minutes before it expires."""

    settings: OAuthSettings
    default_scope: str
    _token: str | None = field(default=None, repr=False)
    _expires_at: float = 0.0
    _app: object | None = field(default=None, repr=False)

    @property
    def expires_at(self) -> float:
        return self._expires_at

    def token(self) -> str:
        if self._token and time.time() < self._expires_at - 300:
            return self._token
        if self.settings.token_command:
            self._token, self._expires_at = self._from_command(), time.time() + 600
        else:
            self._token, self._expires_at = self._from_msal()
        return self._token

    def _from_command(self) -> str:
        try:
            done = subprocess.run(list(self.settings.token_command), capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TokenError(f"token command failed: {exc}") from None
        if done.returncode != 0 or not done.stdout.strip():
            raise TokenError(f"token command exited {done.returncode} without a token")
        return done.stdout.strip().splitlines()[0]

    def _from_msal(self) -> tuple[str, float]:
        import msal

        secret = os.environ.get(self.settings.client_secret_env or "")
        if not secret:
            raise TokenError(f"environment variable {self.settings.client_secret_env} (the client secret) is not set")
        if self._app is None:
            self._app = msal.ConfidentialClientApplication(
                self.settings.client_id,
                authority=f"{self.settings.authority.rstrip('/')}/{self.settings.tenant_id}",
                client_credential=secret,
            )
        result = self._app.acquire_token_for_client(scopes=[self.settings.scope or self.default_scope])
        if "access_token" not in result:
            raise TokenError(f"token request refused: {result.get('error')}: {result.get('error_description', '')[:200]}")
        return result["access_token"], time.time() + float(result.get("expires_in", 3600))


def xoauth2_string(username: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (RFC-less, as Google and Microsoft define it)."""
    return f"user={username}\x01auth=Bearer {token}\x01\x01"
