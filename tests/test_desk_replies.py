"""What the desk's replies say: the real reason for the decision taken, the reviewer's own paragraph (and only
theirs), and a preview that is the reply a decision then sends. A Maildir passed once by the real service."""

from __future__ import annotations

import pytest

from desk import AUTH_PASS, approved, desk_app, mail, maildir_mailbox, message_id, mismatch, spoof, unknown_endorser
from mailbot.review import ReviewDesk

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

SENIORITY = "This access must be requested by"
GENERIC = "NHSP needs the person's full name and work email address"


def personal(tag: str = "gmail") -> bytes:
    """A manager writing from her personal address (authenticated for gmail.com): held, the domain is no agency's."""
    return mail(tag, "Pat Jones <pat.jones.nursing@gmail.com>", "Agency User for Jo Bloggs",
                "Hello,\r\n\r\nPlease set up NHSP:Online Agency User access for Jo Bloggs, jo.bloggs@harrowgatenursing.co.uk.\r\n\r\n"
                "Thanks\r\nPat Jones\r\nBranch Manager, Harrowgate Nursing\r\n",
                auth="mx.nhsprofessionals.nhs.uk; dkim=pass header.d=gmail.com; dmarc=pass header.from=gmail.com")


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """Passed once for the module: the tests preview (which changes nothing); one decides, on a message of its own."""
    tmp_path = tmp_path_factory.mktemp("held")
    box = maildir_mailbox(tmp_path, f"sqlite:///{tmp_path / 'mailbot.db'}", {"1-unknown": unknown_endorser(), "2-spoof": spoof(), "3-mismatch": mismatch(),
                                                 "4-gmail": personal(), "5-auto": approved("auto-one")})
    box.run_once()
    assert set(box.folder("review")) == {message_id(t) for t in ("unknown", "spoof", "mismatch", "gmail")}
    app, parts = desk_app(box.config)
    yield ReviewDesk(parts.store, parts.triage), box.ids()
    parts.store.close()


def _text(draft) -> str:
    return " ".join(draft.reply.to_message().get_payload()[0].get_payload(decode=True).decode("utf-8").split())


@pytest.mark.parametrize("tag, says", [
    ("spoof", "could not confirm that this email was sent from your organisation's email system"),
    ("unknown", "could not find you in our records as a manager of the agency"),
    ("mismatch", "not on your agency's email domain"),
    ("gmail", "not on the email domain of an agency registered with NHSP"),
])
def test_a_rejection_on_the_desk_says_why_the_message_was_held(held, tag, says):
    desk, ids = held
    draft = desk.preview(ids[tag], "reject")
    assert draft.outcome == "rejected"
    text = _text(draft)
    assert says in text, text
    assert SENIORITY not in text, "the seniority sentence is not the reason here"


def test_a_rejection_for_seniority_still_names_who_may_ask(held):
    desk, ids = held
    from mailbot.extract import RequestedAccess
    from mailbot.store.models import Message

    with desk.store.session() as session:  # the spoof's sender asked for ARA; as Agency User it is a plain rejection
        message = session.get(Message, ids["mismatch"])
        draft = desk.draft(message, "reject", [RequestedAccess("Sam Stone", "sam.stone@harrowgatenursing.co.uk", "agency_rate_administrator")])
    text = _text(draft)
    assert f"{SENIORITY} a Director or Senior Manager" in text, text


def test_asking_a_personal_address_for_information_asks_only_for_the_work_address(held):
    desk, ids = held
    draft = desk.preview(ids["gmail"], "info")
    text = _text(draft)
    assert draft.outcome == "needs_info"
    assert "send the request from your work email address at the agency" in text, text
    assert GENERIC not in text, "she gave the full name, the work address and the access already"
    assert "Please send the person's full name" not in text and "Please send the person's work email" not in text


def test_asking_for_information_about_a_missing_detail_still_asks_for_it(held):
    desk, ids = held
    from mailbot.extract import RequestedAccess
    from mailbot.store.models import Message

    with desk.store.session() as session:
        message = session.get(Message, ids["unknown"])
        draft = desk.draft(message, "info", [RequestedAccess("Jane", None, "agency_user")])
    text = _text(draft)
    assert "Please send the person's work email address." in text and "full name" in text and GENERIC in text


def test_the_reviewers_paragraph_goes_with_a_rejection_or_a_question_and_never_with_an_approval(held):
    desk, ids = held
    paragraph = "We rang your office on Tuesday.\n\nPlease ask <b>Maria</b> to send it from her own account."
    for action in ("reject", "info"):
        draft = desk.preview(ids["spoof"], action, to_sender=paragraph)
        text = draft.reply.text
        assert "We rang your office on Tuesday." in text and "Please ask <b>Maria</b> to send it" in text
        assert "Please ask &lt;b&gt;Maria&lt;/b&gt;" in draft.reply.html and "<b>Maria</b>" not in draft.reply.html
    approval = desk.preview(ids["unknown"], "approve", to_sender=paragraph)
    assert "We rang your office" not in approval.reply.text and "We rang your office" not in approval.reply.html


def test_the_paragraph_is_one_plain_block_of_text_however_it_is_sent(held):
    desk, ids = held
    draft = desk.preview(ids["spoof"], "reject", to_sender="Line one\r\nBcc: x@evil.example\x00\x1b[31m" + "y" * 5000)
    text = draft.reply.text
    assert "\x00" not in text and "\x1b" not in text and "y" * 1001 not in text
    message = draft.reply.to_message()
    assert message["Bcc"] is None and "x@evil.example" not in str(message["To"]) + str(message["Cc"] or "")


def test_the_preview_is_the_reply_the_decision_sends(held):
    desk, ids = held
    from mailbot.store.models import Reply

    preview = desk.preview(ids["spoof"], "reject", to_sender="Sent by hand.")
    result = desk.decide(ids["spoof"], "reject", "rita", "spoofed", to_sender="Sent by hand.")
    with desk.store.session() as session:
        reply = session.query(Reply).filter(Reply.message_id == ids["spoof"]).one()
        sent = reply.content.decode("utf-8", "replace")
    assert result.outcome == preview.outcome == "rejected"
    assert reply.subject == preview.reply.subject and reply.envelope_to == [a.email for a in (*preview.reply.to, *preview.reply.cc)]
    assert "Sent by hand." in sent
