"""What a forger or a broken message can do, decided as the triage contract's fine print says: authentication
strictly, what a reply may carry, what is a name, loops, invisible characters, RFC 2231 parameters.

Each message is a real .eml file in tests/data/attacks, named by what is odd about it."""

from __future__ import annotations

import re

from pathlib import Path

import pytest

from mailbot.report import as_contract

ATTACKS = Path(__file__).resolve().parent / "data" / "attacks"


def triage(engine, name: str) -> dict:
    path = ATTACKS / f"{name}.eml"
    return as_contract(path.name, engine.run(path.read_bytes()))


def held_unauthenticated(result: dict) -> None:
    assert result["outcome"] == "review", result
    assert "sender_not_authenticated" in result["reasons"], result["reasons"]
    assert result["reply"] is None


# -- authentication, strictly --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "authserv-id-rfc2047-encoded",  # decoded, it would read as the trusted server's own
    "authserv-id-with-a-control-character",  # cleaned, likewise
    "authserv-id-with-a-zero-width-space",
])
def test_an_authserv_id_is_compared_exactly_as_the_header_carries_it(engine, name):
    held_unauthenticated(triage(engine, name))


def test_a_dmarc_fail_is_a_failure_whatever_else_the_trusted_header_says(engine):
    held_unauthenticated(triage(engine, "dmarc-fail-and-dmarc-pass-in-the-trusted-header"))


def test_a_dmarc_fail_is_not_overridden_by_relaxed_dkim_alignment(engine):
    held_unauthenticated(triage(engine, "dmarc-fail-reject-strict-with-relaxed-aligned-dkim-pass"))


def test_aligned_dkim_counts_only_where_dmarc_gave_no_verdict(engine):
    assert triage(engine, "dmarc-none-with-aligned-dkim-pass")["outcome"] == "approved"  # no verdict: DKIM decides
    held_unauthenticated(triage(engine, "dmarc-temperror-with-aligned-dkim-pass"))
    held_unauthenticated(triage(engine, "dmarc-pass-for-another-domain-with-aligned-dkim"))


def test_a_dmarc_pass_counts_only_for_the_from_domain_it_names(engine):
    held_unauthenticated(triage(engine, "dmarc-pass-naming-no-header-from"))


@pytest.mark.parametrize("name", ["dmarc-pass-naming-no-header-from-on-two-from-addresses", "two-from-addresses-with-dmarc-pass",
                                  "two-from-headers"])
def test_a_from_with_more_than_one_address_is_never_authenticated_nor_a_directory_person(engine, name):
    result = triage(engine, name)
    held_unauthenticated(result)
    assert result["endorser"]["seniority"] is None and result["endorser"]["source"] is None


@pytest.mark.parametrize("name", ["from-address-with-a-zero-width-space", "from-address-with-a-right-to-left-override"])
def test_invisible_characters_never_clean_an_address_into_the_directors(engine, name):
    result = triage(engine, name)
    held_unauthenticated(result)
    endorser = result["endorser"]
    assert endorser["email"] != "tobias.wren@harrowgatenursing.co.uk"  # shown as it came, visibly marked
    assert "\ufffd" in endorser["email"]
    assert endorser["seniority"] is None and endorser["source"] is None and endorser["organisation"] is None
    assert all(r["outcome"] == "review" for r in result["requests"])


# -- what a reply may carry --------------------------------------------------------------------------------


def test_a_reply_to_an_unauthenticated_sender_carries_no_address_from_the_message(engine):
    result = triage(engine, "forged-password-help-for-a-phone-number-address")
    assert result["outcome"] == "informed"  # password help is public: answered, but with nothing of theirs
    reply = result["reply"]
    assert reply["cc"] == [] and reply["to"] == ["maria.santos@harrowgatenursing.co.uk"]
    assert "08001234567" not in reply["body"] and "urgent-call" not in reply["body"]
    assert re.fullmatch(r"Re: your email to the NHSP Agency Support Team \[NHSP ref [2-9A-Z]{6}\]", reply["subject"])


def test_requesters_are_copied_only_on_the_endorsers_organisations_domains(engine):
    result = triage(engine, "247-time-for-people-on-three-domains")
    assert result["outcome"] == "redirected"
    assert result["reply"]["cc"] == ["al.smith@harrowgatenursing.co.uk"]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_formula_or_a_web_address_is_not_a_name(engine, n):
    result = triage(engine, f"formula-or-link-as-a-name-{n}")
    assert result["outcome"] == "needs_info", result
    [request] = result["requests"]
    assert "missing_full_name" in request["reasons"]  # at most a first name is left of it ("Jane visit www...")
    assert request["name"] is None or " " not in request["name"] and request["name"].isalpha()
    body = result["reply"]["body"]
    assert "calc" not in body and "HYPERLINK" not in body and "evil" not in body


# -- loops ----------------------------------------------------------------------------------------------------


def test_the_mailbox_address_with_a_plus_tag_is_the_mailbox_itself(engine):
    result = triage(engine, "own-address-with-a-plus-tag")
    assert (result["outcome"], result["reasons"], result["reply"]) == ("ignored", ["own_message"], None)


@pytest.mark.parametrize("name", ["exchange-auto-reply-marked-only-by-x-auto-response-suppress", "exchange-inbox-rule-loop-header"])
def test_microsofts_automatic_markers_are_recognised(engine, name):
    result = triage(engine, name)
    assert (result["outcome"], result["reasons"], result["reply"]) == ("ignored", ["auto_submitted"], None)


def test_a_person_asking_only_that_out_of_office_replies_be_suppressed_is_answered(engine):
    assert triage(engine, "x-auto-response-suppress-oof-only-from-a-person")["outcome"] == "approved"


# -- RFC 2231 parameters ---------------------------------------------------------------------------------------


def test_an_rfc2231_charset_is_read_not_fatal(engine):
    result = triage(engine, "rfc2231-charset-parameter")
    assert result["outcome"] == "approved", result


def test_rfc2231_continued_parameters_on_list_mail_are_read_and_the_list_mail_ignored(engine):
    result = triage(engine, "rfc2231-continued-parameters-on-a-signed-list-mail")
    assert (result["outcome"], result["reasons"]) == ("ignored", ["bulk_or_list"])
