"""Reads Authentication-Results headers (RFC 8601, and Exchange Online's form without an authserv-id)."""

from __future__ import annotations

import re

import authres

from mailbot.parse.message import AuthHeader, AuthResult

_COMMENT = re.compile(r"\([^()]*\)")
_PLACEHOLDER = "authserv-id.missing.invalid"


def _first_clause(value: str) -> str:
    text = value
    for _ in range(5):  # comments may nest
        text = _COMMENT.sub(" ", text)
    return text.split(";", 1)[0].strip()


def parse_auth_results(value: str) -> AuthHeader | None:
    """One header's value as an AuthHeader, or None when it cannot be read at all."""
    value = " ".join((value or "").split())
    if not value:
        return None
    authserv_id: str | None
    if "=" in _first_clause(value):  # Exchange Online: results with no authserv-id before them
        authserv_id, text = None, f"{_PLACEHOLDER}; {value}"
    else:
        authserv_id, text = None, value
    try:
        parsed = authres.AuthenticationResultsHeader.parse_value(text)
    except Exception:
        return _lenient(value)
    if text is value:
        authserv_id = str(parsed.authserv_id or "").strip().lower() or None
    results = []
    for result in parsed.results:
        properties = tuple(
            (f"{p.type}.{p.name}".lower(), str(p.value or "").strip().strip('"').lower()) for p in result.properties
        )
        results.append(AuthResult(str(result.method).lower(), str(result.result).lower(), properties))
    return AuthHeader(authserv_id, tuple(results))


_RESINFO = re.compile(r"^\s*([\w.-]+)(?:/\d+)?\s*=\s*([\w-]+)(.*)$", re.S)
_PROPERTY = re.compile(r"([\w-]+)\.([\w-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)")


def _lenient(value: str) -> AuthHeader | None:
    """A forgiving reading for headers the strict grammar refuses (some servers write odd ones)."""
    clauses = [c.strip() for c in _COMMENT.sub(" ", value).split(";")]
    if not clauses:
        return None
    authserv_id = None
    if "=" not in clauses[0]:
        authserv_id = clauses[0].split()[0].lower() if clauses[0].split() else None
        clauses = clauses[1:]
    results = []
    for clause in clauses:
        match = _RESINFO.match(clause)
        if not match:
            continue
        properties = tuple(
            (f"{t}.{n}".lower(), v.strip('"').lower()) for t, n, v in _PROPERTY.findall(match.group(3))
        )
        results.append(AuthResult(match.group(1).lower(), match.group(2).lower(), properties))
    if authserv_id is None and not results:
        return None
    return AuthHeader(authserv_id, tuple(results))
