"""People a message names but does not ask for, and accesses it names but does not want: never approved.
The red team's crafted messages (tests/data/attacks/not-asked-*.eml), each named by what it tries."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.report import as_contract

ATTACKS = Path(__file__).resolve().parent / "data" / "attacks"
H = "harrowgatenursing.co.uk"


def triage(engine, name: str) -> dict:
    path = ATTACKS / f"not-asked-{name}.eml"
    return as_contract(path.name, engine.run(path.read_bytes()))


def approved(result: dict, local: str, access: str | None = None) -> bool:
    return any(r["outcome"] == "approved" and (r["email"] or "").lower() == f"{local}@{H}" and access in (None, r["access"])
               for r in result["requests"])


@pytest.mark.parametrize(("name", "local", "access"), [
    ("predecessor-finished", "jane.doe", None),  # "Jane Doe finished with us last week"
    ("predecessor-leaving", "jane.doe", None),
    ("supervisor-named-as-context", "jane.doe", None),  # "Jane Doe will be his supervisor"
    ("same-access-as-colleague", "jane.doe", None),  # "with the same access as Jane Doe"
    ("cc-colleague-in-ask-sentence", "jane.doe", None),  # "I have cc'd Jane Doe for info - please set up Tom"
    ("line-manager-address-only", "jane.doe", None),
    ("retracted-in-next-paragraph", "jane.doe", None),  # "scratch that, Jane has decided not to join us"
    ("ps-no-need-for-her", "jane.doe", None),  # "PS Jane Doe has gone on maternity leave, no need ... for her"
    ("table-row-already-set-up", "jane.doe", None),
    ("swap-login-from-leaver", "jane.doe", None),  # "swap the login from Jane Doe to Tom Reid"
    ("shouldnt-have-agency-user", "tom.reid", "agency_user"),
    ("maybe-next-year", "tom.reid", "agency_user"),
    ("not-until-confirmed", "tom.reid", None),  # "don't set him up until I confirm his start date"
    ("conditional-on-probation", "tom.reid", None),  # "if Tom passes his probation ... I will confirm"
    ("which-access-question", "tom.reid", "agency_user"),  # "Does Tom need AU or Connect? ... I'll confirm which"
    ("disclaimer-names-a-person", "jane.doe", None),
    ("signature-without-signoff", "jane.doe", None),  # no display name: the signature starts at the name the address spells
    ("quoted-thread-attribution-over-three-lines", "jane.doe", None),
    ("hidden-html-display-none", "eve.mallory", None),
    ("already-has-au-add-connect", "jane.doe", "agency_user"),
    ("sender-mentions-own-access", "tom.reid", "agency_user"),  # "I use Agency User every day, but please set up Tom on Connect"
    ("thanks-for-last-week-then-new", "jane.doe", None),
    ("list-with-replacing-note", "jane.doe", None),
])
def test_a_person_or_an_access_only_mentioned_is_never_approved(engine, name, local, access):
    result = triage(engine, name)
    assert not approved(result, local, access), result["requests"]


def test_conditions_and_open_choices_are_held_for_a_person(engine):
    for name in ("not-until-confirmed", "conditional-on-probation", "which-access-question"):
        result = triage(engine, name)
        assert result["outcome"] == "review" and "extraction_uncertain" in result["reasons"], (name, result["reasons"])


def test_the_one_asked_for_beside_a_context_person_is_still_approved(engine):
    for name in ("predecessor-finished", "same-access-as-colleague", "swap-login-from-leaver", "ps-no-need-for-her",
                 "thanks-for-last-week-then-new", "signature-without-signoff"):
        assert approved(triage(engine, name), "tom.reid"), name


def test_an_outlook_block_of_only_from_and_sent_under_a_reply_is_quoted_history(engine):
    result = triage(engine, "outlook-block-from-sent-only")
    assert result["requests"] == [] or result["outcome"] == "review"


def test_two_people_two_accesses_in_one_sentence_each_get_their_own(engine):
    result = triage(engine, "two-people-two-accesses-one-sentence")
    assert not approved(result, "tom.reid", "nhsp_connect") and not approved(result, "jane.doe", "agency_user")
