"""Reads TOML files and turns what is wrong with them into one line naming the file and key."""

import tomllib
from pathlib import Path

from pydantic import ValidationError

from mailbot.errors import ConfigError


def read_toml(path: Path, what: str) -> dict:
    """The file's table; ConfigError (one line, naming the file) when it cannot be read or parsed."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None

_PLAIN = {
    "extra_forbidden": "unknown key",
    "missing": "missing required key",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "frozen_set_type": "must be a list",
    "literal_error": None,
}


def describe(exc: ValidationError) -> str:
    """The first error as 'key.path: what is wrong' (and how many more there are)."""
    # A misspelt key shows up as an unknown key and a missing one: name what the user wrote first.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = _PLAIN.get(first["type"]) or first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{key}: {message}{more}"
