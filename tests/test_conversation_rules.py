"""The conversation rules on their own (mailbot.decide.conversation, mailbot.decide.limits): references, what a
follow-up completes, acknowledgements, repeats and the reply limit, one small case each."""

from __future__ import annotations

from datetime import datetime, timezone

from mailbot.decide.conversation import (
    Approval,
    Earlier,
    EarlierRequest,
    already_approved,
    asks_nothing,
    complete,
    new_reference,
    reference_in,
    with_reference,
)
from mailbot.decide.limits import ReplyLimit, digest
from mailbot.decide.outcome import Decision, RequestDecision
from mailbot.extract import Details, Extraction, RequestedAccess

H = "harrowgatenursing.co.uk"
WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def forms(name: str) -> frozenset[str]:
    return frozenset({name.lower()})


def earlier(*requests: EarlierRequest) -> Earlier:
    return Earlier("ABC234", 1, f"maria.santos@{H}", "Harrowgate Nursing Ltd", requests, WHEN)


def pending(name=None, email=None, access="agency_user", reasons=("missing_work_email",), id=1) -> EarlierRequest:
    return EarlierRequest(id, name, email, access, "needs_info", reasons)


# -- references ---------------------------------------------------------------------------------------------------


def test_a_reference_is_six_unambiguous_characters_and_the_same_for_the_same_key():
    ref = new_reference("<a@x>")
    assert ref == new_reference("<a@x>") and ref != new_reference("<b@x>")
    assert len(ref) == 6 and not set(ref) & set("01OI")


def test_a_reference_is_read_back_from_a_reply_subject_whatever_the_prefixes():
    subject = with_reference("Re: Agency User", "7K3QX2")
    assert subject == "Re: Agency User [NHSP ref 7K3QX2]"
    assert reference_in(f"RE: FW: {subject}") == "7K3QX2"
    assert with_reference(subject, "7K3QX2") == subject  # never twice
    assert reference_in("Re: Agency User") is None and reference_in("[NHSP ref 0O1I00]") is None


# -- what a follow-up completes -----------------------------------------------------------------------------------


def test_the_only_address_given_completes_the_only_request_that_lacked_one():
    details = Details(addresses=((None, f"jane.doe@{H}"),))
    assert complete(earlier(pending("Jane Doe")), Extraction(), details, forms) == (RequestedAccess("Jane Doe", f"jane.doe@{H}", "agency_user"),)


def test_of_two_requests_lacking_addresses_each_gets_the_one_that_spells_its_name():
    details = Details(addresses=((None, f"tom.reid@{H}"), (None, f"jane.doe@{H}")))
    found = complete(earlier(pending("Jane Doe", id=1), pending("Tom Reid", id=2)), Extraction(), details, forms)
    assert [(r.name, r.email) for r in found] == [("Jane Doe", f"jane.doe@{H}"), ("Tom Reid", f"tom.reid@{H}")]


def test_an_address_that_spells_neither_of_two_names_completes_nothing():
    details = Details(addresses=((None, f"office@{H}"),))
    found = complete(earlier(pending("Jane Doe", id=1), pending("Tom Reid", id=2)), Extraction(), details, forms)
    assert [r.email for r in found] == [None, None]


def test_a_full_name_completes_a_first_name():
    details = Details(names=("Jane Doe",))
    item = pending("Jane", f"jane.doe@{H}", reasons=("missing_full_name",))
    assert complete(earlier(item), Extraction(), details, forms) == (RequestedAccess("Jane Doe", f"jane.doe@{H}", "agency_user"),)


def test_the_access_named_completes_a_request_that_did_not_say():
    item = pending("Ravi Chandran", f"ravi.chandran@{H}", access=None, reasons=("access_level_unclear",))
    found = complete(earlier(item), Extraction(), Details(accesses=("agency_user", "nhsp_connect")), forms)
    assert [r.access for r in found] == ["agency_user", "nhsp_connect"]


def test_a_restated_request_is_the_pending_one_and_a_new_one_is_added():
    extraction = Extraction(requests=(RequestedAccess("Jane Doe", f"jane.doe@{H}", "agency_user"),
                                      RequestedAccess("Tom Reid", f"tom.reid@{H}", "nhsp_connect")))
    found = complete(earlier(pending("Jane Doe")), extraction, Details(), forms)
    assert found == (RequestedAccess("Jane Doe", f"jane.doe@{H}", "agency_user"), RequestedAccess("Tom Reid", f"tom.reid@{H}", "nhsp_connect"))


def test_requests_decided_before_are_not_decided_again():
    done = EarlierRequest(2, "Tom Reid", f"tom.reid@{H}", "agency_user", "approved", ())
    assert complete(earlier(done), Extraction(), Details(addresses=((None, f"x@{H}"),)), forms) == ()


def test_asking_nothing_and_giving_nothing_is_an_acknowledgement():
    assert asks_nothing(Extraction(), Details())
    assert not asks_nothing(Extraction(), Details(asks=True))
    assert not asks_nothing(Extraction(), Details(addresses=((None, f"x@{H}"),)))
    assert not asks_nothing(Extraction(topics=("invoicing",)), Details())


# -- repeats and the reply limit -----------------------------------------------------------------------------------


def decision(*items: RequestDecision, verified=True, follows=None) -> Decision:
    return Decision("approved", (), None, items, verified=verified, follows=follows)


def test_a_request_approved_lately_is_informed_already_approved_and_others_stay():
    jane = RequestDecision(RequestedAccess("Jane Doe", f"Jane.Doe@{H}", "agency_user"), "approved")
    tom = RequestDecision(RequestedAccess("Tom Reid", f"tom.reid@{H}", "agency_user"), "approved")
    decided = already_approved(decision(jane, tom), {(f"jane.doe@{H}", "agency_user"): Approval(7, WHEN)})
    assert decided.outcome == "partial"
    assert [(d.outcome, d.reasons, d.repeat_of, d.approved_at) for d in decided.requests] == [
        ("informed", ("already_approved",), 7, WHEN), ("approved", (), None, None)]


def test_another_access_for_the_same_person_is_no_repeat():
    connect = RequestDecision(RequestedAccess("Jane Doe", f"jane.doe@{H}", "nhsp_connect"), "approved")
    assert already_approved(decision(connect), {(f"jane.doe@{H}", "agency_user"): Approval(7, WHEN)}).outcome == "approved"


def test_the_reply_limit_answers_distinct_verified_mail_and_holds_what_looks_like_a_loop():
    limit = ReplyLimit(per_hour=5, ceiling=4)
    assert not limit.holds(4, decision(verified=False), repeated=True)  # under the limit: anything
    assert not limit.holds(5, decision(), repeated=False)  # a busy manager
    assert limit.holds(5, decision(verified=False), repeated=False)  # nobody verified the sender
    assert limit.holds(5, decision(), repeated=True)  # the same words again
    assert limit.holds(5, decision(follows=3), repeated=False)  # answering mailbot's own reply, past the limit
    assert limit.holds(20, decision(), repeated=False)  # a runaway stops at the ceiling


def test_a_digest_ignores_spacing_and_case_but_not_the_words_or_the_sender():
    assert digest("A@x", "Please set up  Jo\nBloggs") == digest("a@x", "please set up jo bloggs")
    assert digest("a@x", "Please set up Jo") != digest("a@x", "Please set up Al")
    assert digest("a@x", "Hi") != digest("b@x", "Hi")
