"""Parsing at the edge: threads, forwards, signatures, HTML, charsets, and mail that cannot be read."""

from __future__ import annotations

from email.message import EmailMessage

from mailbot.parse import parse_email
from mailbot.parse.html import QUOTE_MARK, html_to_text
from mailbot.parse.mime import decode_text
from mailbot.parse.signature import is_sign_off, split_signature
from mailbot.parse.thread import split_thread, subject_kind


def message(body: str, subject: str = "Hello", **headers: str) -> bytes:
    lines = [f"From: {headers.pop('From', 'Pat Lee <pat.lee@example.co.uk>')}", "To: agencies@nhsprofessionals.nhs.uk",
             f"Subject: {subject}", "Message-ID: <m1@example.co.uk>"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    lines += ["MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"', "", body]
    return "\n".join(lines).encode()


def test_subject_kind_reads_the_first_prefix_only():
    assert subject_kind("RE: FW: logins") == "reply"
    assert subject_kind("Fwd: RE: logins") == "forward"
    assert subject_kind("[EXT] logins") is None
    assert subject_kind("Regarding logins") is None


def test_outlook_block_under_a_reply_is_quoted_history():
    text = "Please add Jo Bloggs.\n\nThanks\nPat\n\nFrom: Sam <sam@x.co.uk>\nSent: 1 May 2025\nTo: Pat\nSubject: RE: logins\n\nOld request for Al Smith."
    own, embedded = split_thread(text, "RE: logins", "Pat Lee", forwarding=False)
    assert own.new_text == "Please add Jo Bloggs."
    assert [e.kind for e in embedded] == ["quoted"]
    assert embedded[0].sender.email == "sam@x.co.uk"
    assert "Al Smith" in embedded[0].body.new_text


def test_outlook_original_message_under_fw_subject_is_a_forward():
    text = "See below please.\n\n-----Original Message-----\nFrom: Ruth Ames <ruth.ames@x.co.uk>\nSent: 10 March 2025 08:52\nTo: Pat\nSubject: login\n\nCan I have a login?\n\nThanks\nRuth"
    own, embedded = split_thread(text, "FW: login", "Pat Lee", forwarding=True)
    assert own.new_text == "See below please."
    assert embedded[0].kind == "forward"
    assert embedded[0].sender.name == "Ruth Ames"
    assert embedded[0].body.new_text == "Can I have a login?"
    assert embedded[0].body.signature.startswith("Thanks")


def test_gmail_forward_marker_is_a_forward_even_under_a_reply_subject():
    text = "FYI\n\n---------- Forwarded message ---------\nFrom: Ruth Ames <ruth.ames@x.co.uk>\nDate: Mon, 10 Mar 2025 at 08:52\nSubject: login\nTo: <pat@x.co.uk>\n\nPlease set me up."
    _, embedded = split_thread(text, "Re: login", "", forwarding=False)
    assert embedded[0].kind == "forward" and embedded[0].body.new_text == "Please set me up."


def test_apple_mail_forward():
    text = "Over to you.\n\nBegin forwarded message:\n\nFrom: Ruth Ames <ruth.ames@x.co.uk>\nSubject: login\nDate: 10 March 2025 at 08:52:00 GMT\nTo: Pat <pat@x.co.uk>\n\nPlease set me up."
    _, embedded = split_thread(text, "Fwd: login", "", forwarding=True)
    assert embedded[0].kind == "forward" and embedded[0].sender.email == "ruth.ames@x.co.uk"


def test_angle_quoting_with_an_answer_below_keeps_the_answer():
    text = "On Mon, 3 Mar 2025, NHSP <agencies@nhsprofessionals.nhs.uk> wrote:\n> What is her email?\n\nIt is jo.bloggs@x.co.uk\n"
    own, embedded = split_thread(text, "Re: login", "", forwarding=False)
    assert "jo.bloggs@x.co.uk" in own.new_text
    assert embedded[0].kind == "quoted" and "What is her email?" in embedded[0].body.new_text


def test_attached_rfc822_message_is_a_forward():
    inner = EmailMessage()
    inner["From"] = "Ruth Ames <ruth.ames@x.co.uk>"
    inner["Subject"] = "login"
    inner.set_content("Please could I have an agency user login?\n\nRuth")
    outer = EmailMessage()
    outer["From"] = "Pat Lee <pat.lee@x.co.uk>"
    outer["Subject"] = "see attached"
    outer.set_content("Please action the attached.")
    outer.add_attachment(inner)
    email = parse_email(outer.as_bytes())
    assert [e.kind for e in email.embedded] == ["forward"]
    assert email.embedded[0].sender.email == "ruth.ames@x.co.uk"
    assert "agency user login" in email.embedded[0].body.new_text
    assert "agency user" not in email.body.new_text


def test_sign_offs():
    for line in ("Thanks", "Many thanks,", "Kind regards", "Ta,", "Thanks again,", "Cheers Bea", "Thank you!", "Best wishes"):
        assert is_sign_off(line), line
    for line in ("Thanks for setting Jo up last week.", "Regards the login for Jo Bloggs", "Please add Jo"):
        assert not is_sign_off(line), line


def test_signature_starts_at_the_sign_off_the_dashes_the_disclaimer_or_the_senders_name():
    assert split_signature("Please add Jo.\n\nKind regards\nPat").new_text == "Please add Jo."
    assert split_signature("Please add Jo.\n-- \nPat Lee\nhr@x.co.uk").signature.startswith("--")
    body = split_signature("Please add Jo.\n\nThis email and any files transmitted with it are confidential.\nhr@x.co.uk")
    assert body.new_text == "Please add Jo." and "hr@x.co.uk" in body.signature
    body = split_signature("Please add Jo.\n\nPat Lee | Branch Manager\nT: 0161", "Pat Lee")
    assert body.new_text == "Please add Jo."


def test_html_tables_keep_cells_apart_and_quotes_are_marked():
    text = html_to_text("<p>Hi</p><table><tr><td>Jo Bloggs</td><td>jo@x.co.uk</td></tr></table>"
                        "<blockquote type='cite'>old</blockquote>")
    assert "Jo Bloggs | jo@x.co.uk" in text
    assert text.index(QUOTE_MARK) < text.index("old")
    assert html_to_text("") == "" and html_to_text("   ") == ""


def test_html_only_message_is_read_as_text():
    raw = (b"From: Pat <pat@x.co.uk>\nSubject: s\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
           b"<html><body><p>Please set up <b>Jo Bloggs</b></p><style>p{}</style></body></html>")
    assert parse_email(raw).body.new_text == "Please set up Jo Bloggs"


def test_charsets_that_lie_or_are_unknown_are_worked_round():
    assert decode_text("Zoë".encode(), "iso-8859-1") == ("Zoë", None)  # the label lies: the bytes are UTF-8
    text, problem = decode_text("Zoë".encode(), "x-unknown")
    assert text == "Zoë" and "unknown charset" in problem
    text, problem = decode_text("Zoë".encode("cp1252"), "utf-8")
    assert text == "Zoë" and "Windows-1252" in problem
    assert decode_text("Zoë".encode("latin-1"), "iso-8859-1") == ("Zoë", None)


def test_quoted_printable_and_rfc2047_names():
    raw = (b"From: =?UTF-8?Q?Siobh=C3=A1n_N=C3=AD_Riain?= <s@x.co.uk>\nSubject: =?utf-8?b?Wm/DqyBNYXJjaGV0dGk=?=\n"
           b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
           b"Please add Aoife Brenn=\nan, Zo=C3=AB.\n")
    email = parse_email(raw)
    assert email.sender.name == "Siobhán Ní Riain"
    assert email.subject == "Zoë Marchetti"
    assert email.body.new_text == "Please add Aoife Brennan, Zoë."


def test_attachments_are_listed_not_read():
    outer = EmailMessage()
    outer["From"] = "Pat Lee <pat.lee@x.co.uk>"
    outer["Subject"] = "form"
    outer.set_content("Form attached.")
    outer.add_attachment(b"%PDF-1.4 Jo Bloggs jo@x.co.uk", maintype="application", subtype="pdf", filename="form.pdf")
    email = parse_email(outer.as_bytes())
    assert [(a.filename, a.content_type) for a in email.attachments] == [("form.pdf", "application/pdf")]
    assert "jo@x.co.uk" not in email.body.new_text


def test_unreadable_messages_say_why_and_never_raise():
    assert parse_email(b"").unreadable == "the message is empty"
    assert parse_email(b"\x00\xff\xfe garbage without headers").unreadable
    assert "From" in parse_email(b"Subject: hi\n\nbody\n").unreadable
    assert parse_email(message("Please add Jo.")).unreadable is None


def test_headers_are_decoded_and_kept_in_order():
    raw = message("x", Authentication_Results="a.example; dmarc=pass", X_Test="one")
    email = parse_email(raw.replace(b"X-Test: one", b"X-Test: one\nAuthentication-Results: b.example; dmarc=fail"))
    assert [h.authserv_id for h in email.auth] == ["a.example", "b.example"]
    assert email.header("x-test") == "one"


def test_a_spreadsheet_paste_with_tabs_reads_as_table_rows():
    email = parse_email(_plain("Surname\tForename\tWork email\nJago\tEmma\temma.jago@example.org\n"))
    assert "Jago | Emma | emma.jago@example.org" in email.body.new_text


def test_a_form_field_left_blank_after_a_tab_is_a_labelled_empty_cell():
    email = parse_email(_plain("Full Name\tJowan Carthew\nWork Email\t\nAccess Needed\tNHSP:Connect\n"))
    assert "Full Name | Jowan Carthew\nWork Email |\nAccess Needed | NHSP:Connect" in email.body.new_text


def test_a_tab_after_a_colon_is_only_a_space():
    assert "Name: Jane Doe" in parse_email(_plain("Name:\tJane Doe\n")).body.new_text


def test_a_rule_under_a_line_that_introduces_a_message_does_not_end_the_text():
    text = "Hugh sent you a message from Staffora:\n\n" + "-" * 40 + "\nPlease set up Imani as an Agency User.\n"
    assert "Please set up Imani" in parse_email(_plain(text)).body.new_text


def test_a_disclaimer_that_says_received_in_error_is_footer():
    text = ("Please set up Jo as an Agency User.\n\nThanks\n\n"
            "If you have received this email in error, please notify Helen Marsh and delete it.\n")
    assert "Helen Marsh" not in parse_email(_plain(text)).body.new_text


def _plain(body: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Pat Lee <pat.lee@x.co.uk>"
    message["Subject"] = "logins"
    message.set_content(body)
    return message.as_bytes()


def test_an_attribution_wrapped_over_three_lines_starts_the_quote():
    body, embedded = split_thread("Thanks, that's great.\n\nOn Tue, 1 Dec 2026 at 09:00, NHSP Agency Support Team\n"
                                  "<agencies@nhsprofessionals.nhs.uk>\nwrote:\n\nPlease set up Jane Doe.", "RE: x", "", False)
    assert body.new_text == "Thanks, that's great."
    assert embedded[0].kind == "quoted" and embedded[0].body.new_text == "Please set up Jane Doe."


def test_a_from_and_sent_pair_alone_is_an_outlook_block():
    body, embedded = split_thread("Thanks!\n\nFrom: Tobias Wren <tobias.wren@x.co.uk>\nSent: 01 December 2026 09:00\n\n"
                                  "Please set up Jane Doe.", "RE: x", "", False)
    assert body.new_text == "Thanks!" and embedded[0].sender.email == "tobias.wren@x.co.uk"


def test_a_from_line_with_no_address_and_a_date_is_not_a_block():
    body, embedded = split_thread("Cover needed\n\nFrom: Monday\nDate: 3 March\n\nPlease set up Jane Doe.", "x", "", False)
    assert embedded == () and "Please set up Jane Doe." in body.new_text


def test_hidden_html_is_not_read():
    text = html_to_text('<p>Hi</p><div style="display:none">Eve</div><span style="color:red; display: none !important">x</span>'
                        '<p style="visibility:hidden">v</p><div hidden>h</div><p style="font-size:0.9em">kept</p>')
    assert text == "Hi\n\nkept"


def test_without_a_display_name_the_signature_starts_at_the_name_the_address_spells():
    message = EmailMessage()
    message["From"] = "maria.santos@x.co.uk"
    message["Subject"] = "AU"
    message.set_content("Please set up Tom Reid as an Agency User.\n\nMaria Santos\nBranch Manager\nAdmin: Jane Doe jane@x.co.uk\n")
    email = parse_email(message.as_bytes())
    assert email.body.new_text == "Please set up Tom Reid as an Agency User." and "Jane Doe" in email.body.signature


def test_html_with_more_tags_than_any_request_needs_is_cut_and_says_so():
    from mailbot.parse.html import MAX_TAGS, tame

    markup, cut = tame("<p>" * (MAX_TAGS + 10))
    assert cut and markup.count("<") == MAX_TAGS - 1
    assert tame("<p>Hello</p>") == ("<p>Hello</p>", False)


def test_a_delivery_report_names_the_recipients_that_failed_for_good_and_the_message_returned():
    report = (b"From: MAILER-DAEMON@mx.example\nTo: agencies@nhsprofessionals.nhs.uk\nSubject: Undelivered\n"
              b"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
              b"--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
              b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns;mx.example\n\n"
              b"Final-Recipient: rfc822;Jo.Bloggs@x.co.uk\nAction: failed\nStatus: 5.1.1\n\n"
              b"Final-Recipient: rfc822;later@x.co.uk\nAction: delayed\nStatus: 4.4.1\n"
              b"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <mailbot.1@nhsprofessionals.nhs.uk>\nSubject: Re: AU\n"
              b"--b--\n")
    email = parse_email(report)
    assert email.delivery.failed == ("jo.bloggs@x.co.uk",)
    assert email.delivery.returned == ("<mailbot.1@nhsprofessionals.nhs.uk>",)
    assert parse_email(_plain("Hello")).delivery is None


# -- the plain address reader beside mail-parser ---------------------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402
from mailparser.utils import get_addresses  # noqa: E402

from mailbot.parse.mime import _plain_addresses  # noqa: E402

_ADDRESS_PIECES = ['"Doe, Jane" ', '"  Ja  ne "', '"O\'Neil, Sean"', "<jane@x.org>", "Jane", " ", "  ", "\t", "Doe", "O'Brien",
                   "Smith-Jones", "&", "-", "'", ",", '"', "<", ">", "jane.doe@x.org", "a@b.co.uk", "x", "@", ".", "%", "+",
                   "_", "Co", "1", "bob+tag@sub.example.com", "J", "A.B", "(", ")", ";", ":", "=?utf-8?q?J=C3=A9?=", "\u00e9"]


@settings(max_examples=4000, deadline=None)
@given(st.lists(st.sampled_from(_ADDRESS_PIECES), min_size=1, max_size=9).map("".join))
def test_the_plain_address_reader_reads_as_mail_parser_does_wherever_it_answers(value):
    quick = _plain_addresses(value)
    if quick is not None:
        assert quick == [tuple(pair) for pair in get_addresses(value, decode_names=True)]


def test_the_plain_address_reader_answers_the_everyday_shapes_and_leaves_the_rest_to_mail_parser():
    assert _plain_addresses("Jane Doe <jane.doe@x.org>") == [("Jane Doe", "jane.doe@x.org")]
    assert _plain_addresses('"Doe, Jane" <jane@x.org>') == [("Doe, Jane", "jane@x.org")]
    assert _plain_addresses("a@b.co.uk, Bob <bob@y.org>") == [("", "a@b.co.uk"), ("Bob", "bob@y.org")]
    for odd in ("=?utf-8?q?J=C3=A9?= <j@x.org>", "jane@x.org (Jane)", "Team: a@x.org;", "J. Doe <j@x.org>", "a..b@x.org",
                '"A" <a@x.org>, "B" <b@x.org>', "Jos\u00e9 <j@x.org>"):
        assert _plain_addresses(odd) is None, odd


def test_fields_about_someone_else_under_the_sign_off_are_the_authors_text():
    text = ("Please could you set up NHSP:Connect for our new bookings coordinator?\n\nThanks in advance,\nRashid\n\n"
            "Name: Tendai Mukwevho\nEmail: tendai.mukwevho@kestrelmoor.co.uk\nRole: Bookings Coordinator\n\n--\nRashid Qadri\n")
    body = split_signature(text, "Rashid Qadri")
    assert "Name: Tendai Mukwevho" in body.new_text and "Rashid Qadri" in body.signature


def test_the_authors_own_fields_under_the_sign_off_stay_in_the_signature():
    text = "Please set up Jo Bloggs (jo.bloggs@x.org) as an Agency User.\n\nThanks,\nRashid\n\nName: Rashid Qadri\nEmail: rashid@x.org\n"
    assert "Rashid Qadri" not in split_signature(text, "Rashid Qadri").new_text
