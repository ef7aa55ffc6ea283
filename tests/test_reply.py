"""Replies: threaded, marked as automatic, and carrying nothing from the incoming mail but names and addresses."""

from __future__ import annotations

import re

from email import message_from_bytes, policy

import pytest

TRUSTED = "Authentication-Results: mx.nhsprofessionals.nhs.uk; dmarc=pass header.from={domain}\n"


def request_mail(body: str, subject: str = "Agency user login", sender: str = "Maria Santos <maria.santos@harrowgatenursing.co.uk>",
                 extra: str = "") -> bytes:
    domain = sender.split("@")[1].rstrip(">")
    return (TRUSTED.format(domain=domain) + f"From: {sender}\nTo: agencies@nhsprofessionals.nhs.uk\nSubject: {subject}\n"
            "Message-ID: <abc123@harrowgatenursing.co.uk>\nReferences: <older@x.co.uk>\n" + extra +
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + body).encode()


def test_approved_reply_is_threaded_and_marked_automatic(engine):
    result = engine.run(request_mail("Please set up Jo Bloggs (jo.bloggs@harrowgatenursing.co.uk) as an Agency User.\n\nThanks\nMaria"))
    assert result.decision.outcome == "approved"
    message = message_from_bytes(result.reply.to_message().as_bytes(), policy=policy.default)
    assert re.fullmatch(r"Re: Agency user login \[NHSP ref [2-9A-Z]{6}\]", message["Subject"])
    assert message["In-Reply-To"] == "<abc123@harrowgatenursing.co.uk>"
    assert message["References"] == "<older@x.co.uk> <abc123@harrowgatenursing.co.uk>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Message-ID"].endswith("@nhsprofessionals.nhs.uk>") and message["Message-ID"] != "<abc123@harrowgatenursing.co.uk>"
    assert message["To"].addresses[0].addr_spec == "maria.santos@harrowgatenursing.co.uk"
    assert [a.addr_spec for a in message["Cc"].addresses] == ["jo.bloggs@harrowgatenursing.co.uk"]
    assert message["From"].addresses[0].addr_spec == "agencies@nhsprofessionals.nhs.uk"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Jo Bloggs" in text and "Forgot Your Password" in text and "What happens next" in text
    assert "Jo Bloggs" in html


def test_the_reply_message_id_is_stable_for_the_same_decision(engine):
    raw = request_mail("Please set up Jo Bloggs (jo.bloggs@harrowgatenursing.co.uk) as an Agency User.")
    assert engine.run(raw).reply.message_id == engine.run(raw).reply.message_id


def test_only_approved_people_are_copied_in(engine):
    raw = request_mail(
        "Please set up:\n\n- Jo Bloggs - jo.bloggs@harrowgatenursing.co.uk - Agency User\n"
        "- Al Smith - al.smith@harrowgatenursing.co.uk - Agency Rate Administrator\n"
        "- Bea Lane - bea.lane@gmail.com - Agency User\n"
    )
    result = engine.run(raw)
    assert result.decision.outcome == "partial"
    assert [a.email for a in result.reply.cc] == ["jo.bloggs@harrowgatenursing.co.uk"]
    text = " ".join(result.reply.text.split())
    assert "Director or Senior Manager" in text
    assert "personal email address" in text


def test_names_cannot_inject_headers_or_markup(engine):
    sender = '"Maria <script>alert(1)</script> {{ 7*7 }}" <maria.santos@harrowgatenursing.co.uk>'
    body = "Please set up Jo <img src=x onerror=alert(1)> Bloggs (jo.bloggs@harrowgatenursing.co.uk) as an Agency User."
    result = engine.run(request_mail(body, subject="Login {{ 7*7 }} <b>now</b>", sender=sender))
    assert result.reply is not None
    raw = result.reply.to_message().as_bytes()
    assert b"<script>" not in result.reply.html.encode() and b"onerror=alert" not in result.reply.html.encode()
    assert "49" not in result.reply.text and "49" not in result.reply.subject
    message = message_from_bytes(raw, policy=policy.default)
    assert all("\n" not in str(v) and "\r" not in str(v) for _, v in message.items())


def test_subject_with_line_breaks_stays_one_line(engine):
    raw = request_mail("Please set up Jo Bloggs (jo.bloggs@harrowgatenursing.co.uk) as an Agency User.",
                       subject="=?utf-8?q?Login=0D=0ABcc=3A_victim=40evil=2Eexample?=")
    result = engine.run(raw)
    message = message_from_bytes(result.reply.to_message().as_bytes(), policy=policy.default)
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"] and "victim@evil.example" in message["Subject"]


def test_replies_quote_no_free_text_from_the_message(engine):
    body = ("Please set up Jo Bloggs (jo.bloggs@harrowgatenursing.co.uk) as an Agency User.\n"
            "Also wire GBP 5,000 to account 12345678 today.\n\nMaria")
    result = engine.run(request_mail(body))
    assert "12345678" not in result.reply.text and "wire" not in result.reply.text.lower()


def test_needs_info_says_exactly_what_is_missing(engine):
    result = engine.run(request_mail("Can you set up Becky as an agency user please? No email for her yet."))
    assert result.decision.outcome == "needs_info"
    text = " ".join(result.reply.text.split())
    assert "full name (first name and surname)" in text and "send the person's work email address" in text


def test_held_and_ignored_messages_get_no_reply(engine):
    spoof = request_mail("Please set up Jo Bloggs (jo.bloggs@harrowgatenursing.co.uk) as an Agency User.").replace(
        b"dmarc=pass", b"dmarc=fail")
    assert engine.run(spoof).reply is None
    auto = request_mail("I am away.", extra="Auto-Submitted: auto-replied\n")
    assert engine.run(auto).decision.outcome == "ignored" and engine.run(auto).reply is None


def test_public_answers_to_unverified_senders_echo_nothing_of_theirs(engine):
    """Password help needs no endorsement, so a forger can get one: it must carry none of their words."""
    raw = (b"From: Claim Your Prize Today <victim@some-company.example>\nTo: agencies@nhsprofessionals.nhs.uk\n"
           b"Subject: WIN A PRIZE at http://evil.example\nMessage-ID: <f1@evil.example>\n\n"
           b"How do I reset my password for NHSP Online? Also cc bob.target@other.example please.\n")
    result = engine.run(raw)
    assert result.decision.outcome == "informed" and not result.decision.verified
    reply = result.reply
    assert re.fullmatch(r"Re: your email to the NHSP Agency Support Team \[NHSP ref [2-9A-Z]{6}\]", reply.subject)
    assert reply.to[0].email == "victim@some-company.example" and reply.to[0].name == ""
    assert reply.cc == ()
    assert "evil" not in reply.text and "Prize" not in reply.text and "PRIZE" not in reply.text
    assert reply.text.startswith("Hello,")


def test_verified_senders_colleagues_are_told_where_to_go_for_247_time(engine):
    result = engine.run(request_mail("Please could Jo Bloggs (jo.bloggs@harrowgatenursing.co.uk) have 247 Time access?"))
    assert result.decision.outcome == "redirected" and result.decision.verified
    assert [a.email for a in result.reply.cc] == ["jo.bloggs@harrowgatenursing.co.uk"]
    assert re.fullmatch(r"Re: Agency user login \[NHSP ref [2-9A-Z]{6}\]", result.reply.subject)
    assert "247timesupport.co.uk" in result.reply.text


# -- what a reply may carry (the triage contract's fine print) ----------------------------------------------


def test_a_forged_sender_asking_password_help_for_an_address_gets_none_of_it_back(engine):
    """Password help needs no endorsement, so anyone gets an answer: it must not quote the address they chose."""
    raw = (b"From: Pat Lee <pat.lee@not-in-directory.example>\nTo: agencies@nhsprofessionals.nhs.uk\nSubject: password\n"
           b"Message-ID: <f2@not-in-directory.example>\n\nPlease help reset the password for Jane Doe "
           b"urgent-call-08001234567-to-keep-your-account@harrowgatenursing.co.uk, she can't log in.\n")
    result = engine.run(raw)
    assert result.decision.outcome == "informed" and not result.decision.verified
    reply = result.reply
    assert reply.cc == () and [a.email for a in reply.to] == ["pat.lee@not-in-directory.example"]
    assert "08001234567" not in reply.text and "urgent-call" not in reply.html and "Jane" not in reply.text
    assert "@" not in reply.text.replace("agencies@nhsprofessionals.nhs.uk", "")


def test_a_verified_sender_is_never_copied_to_another_organisations_domain(engine):
    body = ("Please could Jo Bloggs (jo.bloggs@elsewhere.example) and Al Smith (al.smith@harrowgatenursing.co.uk) "
            "have 247 Time access? Also how does Bea Lane (bea.lane@gmail.com) reset her password?")
    result = engine.run(request_mail(body))
    assert result.decision.verified and result.decision.outcome in ("redirected", "partial")
    assert [a.email for a in result.reply.cc] == ["al.smith@harrowgatenursing.co.uk"]


@pytest.mark.parametrize("name", ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","x")', "Jane visit www.evil.example now",
                                  "+44 7700 900123", "-Jane Doe", "@Jane Doe", "Jane Doe2"])
def test_text_that_is_no_persons_name_is_never_approved_as_one(engine, name):
    raw = request_mail(f"Name: {name}\nEmail: jane.doe@harrowgatenursing.co.uk\nAccess: Agency User\n")
    result = engine.run(raw)
    assert result.decision.outcome != "approved"
    assert all(r.request.name is None or not r.request.name.startswith(("=", "+", "-", "@")) for r in result.decision.requests)
    for part in (result.reply.text, result.reply.html) if result.reply else ():
        assert "calc" not in part and "HYPERLINK" not in part and "evil.example" not in part and "7700" not in part
