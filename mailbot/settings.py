"""Reads mailbot.toml into frozen, typed settings; a wrong file is a one-line error naming the key."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError, field_validator

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
    file: Path | None = None


class RepliesSettings(_Section):
    templates: Path | None = None


class Settings(_Section):
    """Everything mailbot is configured with, paths already resolved."""

    mailbox: MailboxSettings
    authentication: AuthenticationSettings = AuthenticationSettings()
    directory: DirectorySettings
    policy: PolicySettings = PolicySettings()
    replies: RepliesSettings = RepliesSettings()

    @property
    def policy_file(self) -> Path:
        return self.policy.file or shipped("config") / "policy.toml"

    @property
    def templates_dir(self) -> Path:
        return self.replies.templates or shipped("templates")


_PATH_KEYS = (("directory", "organisations"), ("directory", "people"), ("policy", "file"), ("replies", "templates"))


def load_settings(path: Path | str) -> Settings:
    """Read and validate a mailbot.toml; raises ConfigError with one line naming the key or file."""
    path = Path(path)
    data = read_toml(path, "config file")
    base = path.resolve().parent
    for section, key in _PATH_KEYS:
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str):
            data[section][key] = base / value
        elif value is not None:
            raise ConfigError(f"{path}: {section}.{key}: must be a string (a path)")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe(exc)}") from None
    for section, key in _PATH_KEYS:
        value = getattr(getattr(settings, section), key)
        if value is not None and not value.exists():
            raise ConfigError(f"{path}: {section}.{key}: no such file: {value}")
    return settings
