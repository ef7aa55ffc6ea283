"""Is the sender who the From header says? Read from the topmost trusted Authentication-Results header."""

from __future__ import annotations

import re

from publicsuffixlist import PublicSuffixList

from mailbot.parse.message import AuthHeader, Email


_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}+\.)*+[a-z0-9-]{1,63}+$")


def trusted_header(email: Email, trusted_ids: frozenset[str], exchange_online: bool) -> AuthHeader | None:
    """The header that counts: the topmost one added by a trusted server.

    On Exchange Online the topmost header carries no authserv-id; it counts only when it is
    the topmost header of all, which is where Exchange stamps its own.
    """
    for position, header in enumerate(email.auth):
        if header.authserv_id is not None and header.authserv_id in trusted_ids:
            return header
        if header.authserv_id is None and exchange_online and position == 0:
            return header
    return None


class OrganisationalDomains:
    """The organisational domain of a name (RFC 7489), by the public suffix list, loaded when first needed."""

    def __init__(self) -> None:
        self._list: PublicSuffixList | None = None

    def of(self, domain: str) -> str | None:
        if self._list is None:
            self._list = PublicSuffixList()
        return self._list.privatesuffix(domain)


def aligned(domain: str | None, from_domain: str, psl: OrganisationalDomains) -> bool:
    """Relaxed alignment (RFC 7489): both domains share one organisational domain."""
    if not domain or not from_domain:
        return False
    domain, from_domain = domain.lower(), from_domain.lower()
    if domain == from_domain:
        return True
    organisational = psl.of(domain)
    return organisational is not None and organisational == psl.of(from_domain)


def sender_authenticated(email: Email, trusted_ids: frozenset[str], exchange_online: bool, psl: OrganisationalDomains) -> bool:
    """Authenticated, strictly (the triage contract's fine print), by the header that counts:

    - a From with more than one address, or with invisible characters in it, never is;
    - a dmarc=fail (or any DMARC verdict but pass and none) is a failure, whatever else the header says;
    - a dmarc=pass counts only when its header.from is the From domain;
    - an aligned dkim=pass counts only where DMARC gave no verdict (dmarc=none, or no DMARC result)."""
    header = trusted_header(email, trusted_ids, exchange_online)
    if header is None or email.sender is None or email.sender_doubts:
        return False
    from_domain = email.sender.domain
    dmarc = [r for r in header.results if r.method == "dmarc"]
    if any(r.result not in ("pass", "none") for r in dmarc):
        return False
    if any(r.result == "pass" and r.get("header.from") == from_domain for r in dmarc):
        return True
    if any(r.result == "pass" for r in dmarc):
        return False  # a pass for another domain, or naming none: not a pass for this From
    for result in header.results:
        if result.method == "dkim" and result.result == "pass" and aligned(_signer(result), from_domain, psl):
            return True
    return False


def _signer(result) -> str | None:
    """The signing domain of a DKIM result: header.d, a plain domain (never "evil.example@..."), or header.i's
    domain (its part after the @)."""
    domain = result.get("header.d")
    if domain is None and result.get("header.i"):
        domain = result.get("header.i").rpartition("@")[2]
    return domain if domain and _DOMAIN.match(domain) else None
