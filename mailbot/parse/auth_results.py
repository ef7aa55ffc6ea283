"""Reads Authentication-Results headers (RFC 8601, and Exchange Online's form without an authserv-id).

A small scanner rather than a grammar library: it runs on every message, and the full
grammar parsers cost more per header than parsing the whole message does.
"""

from __future__ import annotations

import re

from mailbot.parse.message import AuthHeader, AuthResult

# Matched at a position in the clause (no ^: that would only ever match at its start); possessive where runs meet,
# and each starts only where its first run starts ((?<!...)), so that no pattern rescans a run from every character.
_METHOD = re.compile(r"(?<![\sA-Za-z0-9_.-])\s*+([A-Za-z0-9_.-]++)\s*+(?:/\s*+\d++\s*+)?=\s*+([A-Za-z0-9_.-]++)\s*+")
_REASON = re.compile(r"reason\s*+=\s*+(\"(?:[^\"\\]|\\.)*+\"|[^\s;]++)\s*+", re.I)
_PROPERTY = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_-]++)\s*+\.\s*+([A-Za-z0-9_-]++)\s*+=\s*+(\"(?:[^\"\\]|\\.)*+\"|[^\s;\"]*+)\s*+")
_OTHER = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]++)\s*+=\s*+(\"(?:[^\"\\]|\\.)*+\"|[^\s;]*+)\s*+")  # action=none and the like
_WORD = re.compile(r"(?<!\S)\S++\s*+")


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
    """Split on semicolons that are not inside a quoted string (the first clause is left as it is)."""
    if '"' not in value:
        first, *rest = value.split(";")
        return [first, *(c.strip() for c in rest)]
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
    clauses[0] = value.split(";", 1)[0] if clauses else ""
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
    position = match.end()
    properties: list[tuple[str, str]] = []
    while position < len(clause):  # by position, not by slicing: a long clause is read once
        for pattern in (_REASON, _PROPERTY, _OTHER, _WORD):  # a word none of them reads is skipped
            found = pattern.match(clause, position)
            if found and found.end() > position:
                if pattern is _PROPERTY:
                    properties.append((f"{found.group(1)}.{found.group(2)}".lower(), _unquote(found.group(3))))
                position = found.end()
                break
        else:
            break
    return AuthResult(method, result, tuple(properties))


# The authserv-id as a trusted server writes it: a host name, perhaps a version after it. Anything else (an RFC
# 2047 encoded word, a control or invisible character, a quoted string) is kept as it is, and matches no trusted id.
_AUTHSERV_ID = re.compile(r"^[ \t]*+([A-Za-z0-9][A-Za-z0-9._-]{0,253}+)(?:[ \t]++[0-9]{1,9}+)?[ \t]*+$")
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")


def parse_auth_results(value: str) -> AuthHeader | None:
    """One header's value, as received (unfolded, nothing decoded or removed), as an AuthHeader; None when nothing
    in it can be read. The authserv-id is kept exactly: only a plain host name can equal a trusted one."""
    raw = _UNFOLD.sub("", value or "")
    text = _without_comments(raw)
    clauses = _clauses(text)
    if not clauses or not any(c.strip(" \t") for c in clauses):
        return None
    first = clauses[0]
    if "=" in first and "=?" not in first:  # Exchange Online: results with no authserv-id before them
        authserv_id = None
    else:
        plain = _AUTHSERV_ID.match(first)
        authserv_id = plain.group(1).lower() if plain else (first.strip(" \t") or "?")
        clauses = clauses[1:]
    results = tuple(r for r in (_result(c) for c in clauses if c and c.lower() != "none") if r)
    if authserv_id is None and not results:
        return None
    return AuthHeader(authserv_id, results)
