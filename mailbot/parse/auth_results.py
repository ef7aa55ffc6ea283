"""Reads Authentication-Results headers (RFC 8601, and Exchange Online's form without an authserv-id).

A small scanner rather than a grammar library: it runs on every message, and the full
grammar parsers cost more per header than parsing the whole message does.
"""

from __future__ import annotations

import re

from mailbot.parse.message import AuthHeader, AuthResult

_METHOD = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:/\s*\d+\s*)?=\s*([A-Za-z0-9_.-]+)\s*")
_REASON = re.compile(r"^reason\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^\s;]+)\s*", re.I)
_PROPERTY = re.compile(r"^([A-Za-z0-9_-]+)\s*\.\s*([A-Za-z0-9_-]+)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^\s;\"]*)\s*")
_OTHER = re.compile(r"^([A-Za-z0-9_.-]+)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^\s;]*)\s*")  # action=none and the like


_COMMENT = re.compile(r"\([^()\\]*\)")


def _without_comments(value: str) -> str:
    """The header with its (possibly nested) comments blanked out; quoted strings are kept whole."""
    if '"' not in value and "\\" not in value:  # the common case: innermost comments out, until none is left
        for _ in range(10):
            value, count = _COMMENT.subn(" ", value)
            if not count:
                return value
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            quoted = char == '"'
            out.append(char)
    return "".join(out)


def _clauses(value: str) -> list[str]:
    """Split on semicolons that are not inside a quoted string."""
    if '"' not in value:
        return [c.strip() for c in value.split(";")]
    clauses, current, quoted = [], [], False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            clauses.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    clauses.append("".join(current).strip())
    return clauses


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return value.strip().lower()


def _result(clause: str) -> AuthResult | None:
    match = _METHOD.match(clause)
    if not match:
        return None
    method, result = match.group(1).lower(), match.group(2).lower()
    rest = clause[match.end() :]
    properties: list[tuple[str, str]] = []
    while rest:
        for pattern in (_REASON, _PROPERTY, _OTHER):
            found = pattern.match(rest)
            if found:
                if pattern is _PROPERTY:
                    properties.append((f"{found.group(1)}.{found.group(2)}".lower(), _unquote(found.group(3))))
                rest = rest[found.end() :]
                break
        else:
            rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""  # skip a word we cannot read
    return AuthResult(method, result, tuple(properties))


def parse_auth_results(value: str) -> AuthHeader | None:
    """One header's value as an AuthHeader, or None when nothing in it can be read."""
    text = _without_comments(" ".join((value or "").split()))
    clauses = _clauses(text)
    if not clauses or not any(clauses):
        return None
    first = clauses[0]
    if "=" in first:  # Exchange Online: results with no authserv-id before them
        authserv_id = None
    else:
        words = first.split()
        authserv_id = _unquote(words[0]) if words else None
        clauses = clauses[1:]
    results = tuple(r for r in (_result(c) for c in clauses if c and c.lower() != "none") if r)
    if authserv_id is None and not results:
        return None
    return AuthHeader(authserv_id, results)
