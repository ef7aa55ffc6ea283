"""Turns a pydantic validation failure into one line naming the key."""

from pydantic import ValidationError

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
