"""Sender authentication: RFC 8601 headers, the topmost trusted one, DMARC or aligned DKIM."""

from __future__ import annotations

import pytest

from mailbot.decide.authentication import OrganisationalDomains, aligned, sender_authenticated, trusted_header
from mailbot.parse import parse_email
from mailbot.parse.auth_results import parse_auth_results

TRUSTED = frozenset({"mx.nhsprofessionals.nhs.uk"})


@pytest.fixture(scope="module")
def psl() -> OrganisationalDomains:
    return OrganisationalDomains()


def mail(*auth_headers: str, sender: str = "pat@agency.co.uk") -> bytes:
    headers = "".join(f"Authentication-Results: {h}\n" for h in auth_headers)
    return f"{headers}From: Pat <{sender}>\nSubject: x\n\nbody\n".encode()


def test_comments_may_hold_semicolons_and_methods_may_repeat():
    header = parse_auth_results(
        "mx.nhsprofessionals.nhs.uk; dkim=fail (bad; sig) header.d=a.co.uk; dkim=pass (ok; 2048-bit) header.d=agency.co.uk; dmarc=none"
    )
    assert header.authserv_id == "mx.nhsprofessionals.nhs.uk"
    assert [(r.method, r.result, r.get("header.d")) for r in header.results] == [
        ("dkim", "fail", "a.co.uk"), ("dkim", "pass", "agency.co.uk"), ("dmarc", "none", None)]


def test_exchange_online_form_has_no_authserv_id():
    header = parse_auth_results(
        "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=agency.co.uk; dkim=pass (signature was verified) "
        "header.d=agency.co.uk;dmarc=pass action=none header.from=agency.co.uk;compauth=pass reason=100"
    )
    assert header.authserv_id is None
    assert ("dmarc", "pass") in [(r.method, r.result) for r in header.results]


def test_unreadable_header_is_read_leniently_or_dropped():
    assert parse_auth_results("") is None
    header = parse_auth_results("mx.nhsprofessionals.nhs.uk; dmarc=pass header.from=agency.co.uk; junk junk")
    assert header.authserv_id == "mx.nhsprofessionals.nhs.uk" and header.results[0].result == "pass"


def test_dmarc_pass_from_a_trusted_server(psl):
    email = parse_email(mail("mx.nhsprofessionals.nhs.uk; dmarc=pass header.from=agency.co.uk"))
    assert sender_authenticated(email, TRUSTED, False, psl)


def test_dmarc_pass_for_another_domain_does_not_count(psl):
    email = parse_email(mail("mx.nhsprofessionals.nhs.uk; dmarc=pass header.from=other.co.uk"))
    assert not sender_authenticated(email, TRUSTED, False, psl)


def test_untrusted_server_does_not_count(psl):
    email = parse_email(mail("mail.attacker.example; dmarc=pass header.from=agency.co.uk"))
    assert not sender_authenticated(email, TRUSTED, False, psl)


def test_only_the_topmost_trusted_header_counts(psl):
    forged_below = parse_email(mail(
        "mx.nhsprofessionals.nhs.uk; dmarc=fail header.from=agency.co.uk",
        "mx.nhsprofessionals.nhs.uk; dmarc=pass header.from=agency.co.uk",
    ))
    assert not sender_authenticated(forged_below, TRUSTED, False, psl)
    untrusted_on_top = parse_email(mail(
        "mail.attacker.example; dmarc=fail",
        "mx.nhsprofessionals.nhs.uk; dmarc=pass header.from=agency.co.uk",
    ))
    assert sender_authenticated(untrusted_on_top, TRUSTED, False, psl)


def test_trusted_ids_compare_case_insensitively(psl):
    email = parse_email(mail("MX.NHSProfessionals.NHS.uk; dmarc=pass header.from=agency.co.uk"))
    assert trusted_header(email, TRUSTED, False) is not None


def test_dkim_pass_must_be_aligned(psl):
    aligned_sub = parse_email(mail("mx.nhsprofessionals.nhs.uk; dkim=pass header.d=mail.agency.co.uk; dmarc=none"))
    assert sender_authenticated(aligned_sub, TRUSTED, False, psl)
    crm = parse_email(mail("mx.nhsprofessionals.nhs.uk; dkim=pass header.d=crm.example.com; dmarc=none"))
    assert not sender_authenticated(crm, TRUSTED, False, psl)


def test_relaxed_alignment_stops_at_the_public_suffix(psl):
    assert aligned("mail.agency.co.uk", "agency.co.uk", psl)
    assert aligned("agency.co.uk", "eu.agency.co.uk", psl)
    assert not aligned("co.uk", "agency.co.uk", psl)
    assert not aligned("other.co.uk", "agency.co.uk", psl)


def test_exchange_online_header_counts_only_when_configured_and_topmost(psl):
    eop = "spf=pass smtp.mailfrom=agency.co.uk; dkim=none; dmarc=pass action=none header.from=agency.co.uk"
    email = parse_email(mail(eop))
    assert not sender_authenticated(email, TRUSTED, False, psl)
    assert sender_authenticated(email, TRUSTED, True, psl)
    lower_down = parse_email(mail("mx.other.example; dmarc=fail", eop))
    assert not sender_authenticated(lower_down, TRUSTED, True, psl)


def test_no_header_means_not_authenticated(psl):
    assert not sender_authenticated(parse_email(mail()), TRUSTED, True, psl)


@pytest.mark.parametrize(
    "value, authserv_id, results",
    [  # examples from RFC 8601 appendix B
        ("example.com; none", "example.com", []),
        ("example.com; spf=pass smtp.mailfrom=example.net", "example.com", [("spf", "pass", {"smtp.mailfrom": "example.net"})]),
        (
            'example.com 1; dkim=pass reason="good signature" header.i=@mail-router.example.net; '
            'dkim=fail reason="bad signature" header.i=@newyork.example.com',
            "example.com",
            [("dkim", "pass", {"header.i": "@mail-router.example.net"}), ("dkim", "fail", {"header.i": "@newyork.example.com"})],
        ),
        (
            "foo.example.net (foobar) 1 (baz); dkim (Because I like it) / 1 (One yay) = (wait for it) fail "
            "policy (A dot can go here) . (like that) expired (this surprised me) = (as I wasn't expecting it) 1362471462",
            "foo.example.net",
            [("dkim", "fail", {"policy.expired": "1362471462"})],
        ),
    ],
)
def test_rfc_8601_examples(value, authserv_id, results):
    header = parse_auth_results(value)
    assert header.authserv_id == authserv_id
    assert [(r.method, r.result, dict(r.properties)) for r in header.results] == results
