"""Reads mailbot.toml into frozen, typed settings; a wrong file is a one-line error naming the key."""

from __future__ import annotations

import ipaddress
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    PositiveFloat,
    NonNegativeInt,
    PositiveInt,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from mailbot.errors import ConfigError
from mailbot.resources import shipped
from mailbot.validation import describe, read_toml


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MailboxSettings(_Section):
    address: StrictStr
    display_name: StrictStr = "NHSP Agency Support Team"

    @field_validator("address")
    @classmethod
    def _looks_like_address(cls, value: str) -> str:
        if value.count("@") != 1 or not value.split("@")[1]:
            raise ValueError(f"{value!r} is not an email address")
        return value.strip()


class AuthenticationSettings(_Section):
    trusted_authserv_ids: tuple[StrictStr, ...] = ()
    # The mailbox is on Exchange Online, whose Authentication-Results header carries no authserv-id.
    exchange_online: StrictBool = False


class DirectorySettings(_Section):
    organisations: Path
    people: Path


class PolicySettings(_Section):
    file: Path | None = None  # the access levels and who may endorse them (default: the shipped config/policy.toml)
    reading: Path | None = None  # the cue words and evidence weights (default: config/reading.toml)
    lexicon: Path | None = None  # the word lists, a folder (default: config/lexicon)


class RepliesSettings(_Section):
    templates: Path | None = None


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OAuthSettings(_Section):
    """XOAUTH2: a token from Microsoft's client-credentials flow (msal), or printed by a command."""

    tenant_id: StrictStr | None = None
    client_id: StrictStr | None = None
    client_secret_env: StrictStr | None = None  # the secret comes from the environment
    authority: StrictStr = "https://login.microsoftonline.com"
    scope: StrictStr | None = None  # default: the service's own (IMAP or SMTP) .default scope
    token_command: tuple[StrictStr, ...] | None = None  # e.g. ["oauth2-token", "--for", "imap"]

    @model_validator(mode="after")
    def _one_way(self) -> OAuthSettings:
        msal_keys = (self.tenant_id, self.client_id, self.client_secret_env)
        if self.token_command is None and not all(msal_keys):
            raise ValueError("needs tenant_id, client_id and client_secret_env, or token_command")
        return self


class _Server(_Section):
    host: StrictStr
    port: PositiveInt
    security: Literal["ssl", "starttls", "none"]
    username: StrictStr | None = None
    password_env: StrictStr | None = None  # name of the environment variable holding the password
    oauth: OAuthSettings | None = None
    timeout_seconds: PositiveFloat = 60

    @model_validator(mode="after")
    def _plain_only_on_loopback(self):
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError(f'security = "none" is refused for {self.host}: it is only allowed on loopback')
        if self.password_env and self.oauth:
            raise ValueError("give password_env or oauth, not both")
        return self


class _Folders(_Section):
    folder: StrictStr = "INBOX"
    processed_folder: StrictStr = "Mailbot/Processed"  # decided and answered
    review_folder: StrictStr = "Mailbot/Review"  # held for the support team
    ignored_folder: StrictStr = "Mailbot/Ignored"  # auto-replies, bounces, bulk, our own


class ImapSettings(_Server, _Folders):
    port: PositiveInt = 993
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: StrictStr
    idle: StrictBool = True  # IDLE when the server supports it; polling stays as the fallback

    @model_validator(mode="after")
    def _credentials(self) -> ImapSettings:
        if not self.password_env and not self.oauth:
            raise ValueError("needs password_env or oauth")
        return self


class MaildirSettings(_Folders):
    path: Path


class SmtpSettings(_Server):
    port: PositiveInt = 587
    security: Literal["ssl", "starttls", "none"] = "starttls"


class OutboxSettings(_Section):
    path: Path = Path("var/outbox")


class DatabaseSettings(_Section):
    url: StrictStr = "sqlite:///var/mailbot.db"
    # Set when the file has a [database] section (not a key to write): `mailbot triage` then reads the
    # conversations so far from it, read-only; without one it decides each message on its own.
    in_file: StrictBool = False


class ServiceSettings(_Section):
    poll_interval_seconds: PositiveFloat = 60
    send_interval_seconds: PositiveFloat = 10
    housekeeping_interval_seconds: PositiveFloat = 3600
    batch_size: PositiveInt = 100  # messages fetched, triaged, recorded and filed together
    triage_workers: NonNegativeInt = 0  # processes that triage a batch; 0: one per core (at most 4)
    max_message_bytes: PositiveInt = 25_000_000  # bigger messages are held, unread (message_too_large)
    message_timeout_seconds: PositiveFloat = 10  # a message that takes longer to read is held (processing_timeout)
    replies_per_sender_per_hour: PositiveInt = 5  # beyond this, held (reply_rate_limited), unless distinct and verified
    repeat_window_days: NonNegativeInt = 30  # a person and access approved this recently is not approved again (0: never)
    send_attempts: PositiveInt = 8  # a reply that fails this often is given up (and held)
    retry_max_seconds: PositiveFloat = 900  # cap of the exponential backoff, sending and reconnecting
    log_format: Literal["auto", "json", "text"] = "auto"  # auto: JSON lines unless stderr is a terminal


class OpsSettings(_Section):
    """What ops watch and keep: health and metrics, warnings, retention, the lease between nodes."""

    health_host: StrictStr = "127.0.0.1"
    health_port: PositiveInt | None = None  # serve /healthz and /metrics here (from `mailbot run`)
    alert_to: StrictStr | None = None  # ops' address: warned by email once per condition
    secret_expires: date | None = None  # the OAuth client secret's expiry date, from the app registration
    warn_days_before_expiry: PositiveInt = 14
    poll_failures_before_alert: PositiveInt = 5
    poll_stale_seconds: PositiveFloat = 600  # healthy only if a poll succeeded this recently
    outbox_stale_seconds: PositiveFloat = 900  # ... and no reply has waited longer than this
    retention_days: PositiveInt = 90  # message bodies and personal data are purged after this
    lease_seconds: PositiveFloat = 20  # a node that stops renewing loses the mailbox after this
    node_name: StrictStr | None = None  # this node in the lease (default: the host name)


class WebSettings(_Section):
    """The review desk: `mailbot web`, or inside `mailbot run` when enabled."""

    enabled: StrictBool = False  # serve the desk from `mailbot run` too
    host: StrictStr = "127.0.0.1"
    port: PositiveInt = 8025
    # Reverse proxies whose X-Forwarded-For is believed: sign-in throttling counts by the real client's address,
    # so behind a proxy this must name it, or every reviewer shares the proxy's count.
    trusted_proxies: list[StrictStr] = ["127.0.0.1"]


class Settings(_Section):
    """Everything mailbot is configured with, paths already resolved."""

    mailbox: MailboxSettings
    authentication: AuthenticationSettings = AuthenticationSettings()
    directory: DirectorySettings
    policy: PolicySettings = PolicySettings()
    replies: RepliesSettings = RepliesSettings()
    imap: ImapSettings | None = None
    maildir: MaildirSettings | None = None
    smtp: SmtpSettings | None = None
    outbox: OutboxSettings = OutboxSettings()
    database: DatabaseSettings = DatabaseSettings()
    service: ServiceSettings = ServiceSettings()
    web: WebSettings = WebSettings()
    ops: OpsSettings = OpsSettings()

    @model_validator(mode="after")
    def _one_mailbox(self) -> Settings:
        if self.imap is not None and self.maildir is not None:
            raise ValueError("give [imap] or [maildir], not both")
        return self

    @property
    def policy_file(self) -> Path:
        return self.policy.file or shipped("config") / "policy.toml"

    @property
    def reading_file(self) -> Path:
        return self.policy.reading or shipped("config") / "reading.toml"

    @property
    def lexicon_dir(self) -> Path:
        return self.policy.lexicon or shipped("config") / "lexicon"

    @property
    def templates_dir(self) -> Path:
        return self.replies.templates or shipped("templates")


# Paths that must exist (read at start), and paths mailbot creates as it needs them.
_PATH_KEYS = (("directory", "organisations"), ("directory", "people"), ("policy", "file"), ("policy", "reading"),
              ("policy", "lexicon"), ("replies", "templates"))
_MADE_PATHS = (("maildir", "path"), ("outbox", "path"))


def load_settings(path: Path | str) -> Settings:
    """Read and validate a mailbot.toml; raises ConfigError with one line naming the key or file."""
    path = Path(path)
    data = read_toml(path, "config file")
    base = path.resolve().parent
    for section, key in (*_PATH_KEYS, *_MADE_PATHS):
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str):
            data[section][key] = (base / value).resolve()
        elif value is not None:
            raise ConfigError(f"{path}: {section}.{key}: must be a string (a path)")
    if "outbox" not in data:
        data["outbox"] = {"path": (base / "var" / "outbox").resolve()}
    database = data.get("database")
    if isinstance(database, dict):
        database["in_file"] = True
    url = database.get("url", "sqlite:///var/mailbot.db") if isinstance(database, dict) else "sqlite:///var/mailbot.db"
    if isinstance(url, str) and url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        data.setdefault("database", {})["url"] = f"sqlite:///{(base / url[len('sqlite:///'):]).resolve()}"  # relative to the file
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe(exc)}") from None
    for section, key in _PATH_KEYS:
        value = getattr(getattr(settings, section), key)
        if value is not None and not value.exists():
            raise ConfigError(f"{path}: {section}.{key}: no such file: {value}")
    return settings
