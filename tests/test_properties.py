"""Properties that hold for any input: parsing and triage never raise, decisions stay in the contract,
replies go to the sender only, and text from a message reaches reply headers only as one clean line."""

from __future__ import annotations

import base64
import email.policy
import json
import re
import unicodedata
from email import message_from_bytes
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from conftest import DATA, shared_path
from mailbot.parse import Email, parse_email
from mailbot.report import as_contract

MESSAGE_OUTCOMES = {"approved", "rejected", "needs_info", "redirected", "informed", "partial", "review", "ignored"}
REQUEST_OUTCOMES = {"approved", "rejected", "needs_info", "redirected", "informed", "review"}

FAST = settings(
    max_examples=60,
    deadline=None,
    report_multiple_bugs=False,  # one shrunk failure per test keeps a failing run fast
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# A few public messages of different shapes: plain, multipart/alternative, QP + RFC 2047, base64,
# HTML only, an attachment, an Outlook forward, a reply over a thread, password help, a bounce.
SEED_NAMES = (
    "001-au-by-branch-manager.eml",
    "002-ara-by-director-disclaimer-addresses.eml",
    "003-ara-by-regional-manager-rfc2047-from.eml",
    "006-numbered-list-non-ascii-base64.eml",
    "007-html-only-table-four-people.eml",
    "010-forwarded-outlook-request.eml",
    "011-reply-above-old-quoted-thread.eml",
    "013-ara-with-pdf-attachment.eml",
    "019-manager-au-and-ara-partial.eml",
    "025-au-plus-247-time-partial.eml",
    "027-never-received-password-email.eml",
    "038-bounce-delivery-status.eml",
)


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    """Real messages to mutate: the chosen public ones (skipped where ../shared is absent) and tests/data's."""
    found = sorted(DATA.rglob("*.eml"))
    try:
        public = shared_path("corpus", "public")
    except pytest.skip.Exception:
        if not found:
            raise
    else:
        found.extend(public / name for name in SEED_NAMES if (public / name).is_file())
    if not found:
        pytest.skip("no real messages to mutate")
    return _Seeds(path.read_bytes() for path in found)


class _Seeds(list):
    """The seed messages, shown briefly in Hypothesis's failure reports (the drawn one is shown in full)."""

    def __repr__(self) -> str:
        return f"<{len(self)} seed messages>"


# -- the invariants every triage result must keep --------------------------------------------------


def check_result(result) -> None:
    decision, reply, parsed = result.decision, result.reply, result.email
    assert isinstance(parsed, Email)
    assert decision.outcome in MESSAGE_OUTCOMES, decision.outcome
    for item in decision.requests:
        assert item.outcome in REQUEST_OUTCOMES, item.outcome
    if decision.outcome == "ignored":
        assert decision.requests == () and reply is None
    elif decision.outcome == "review":
        assert reply is None
    else:
        assert reply is not None, (
            f"outcome {decision.outcome!r} must send exactly one reply, but none is rendered "
            f"(From {parsed.sender!r})"
        )
        assert parsed.sender is not None
        assert [a.email for a in reply.to] == [parsed.sender.email]
        assert decision.endorser is not None and decision.endorser.email == parsed.sender.email
    # The contract object is always serialisable as one JSON line.
    line = json.dumps(as_contract("x.eml", result), ensure_ascii=False)
    assert "\n" not in line


# -- arbitrary bytes ------------------------------------------------------------------------------

header_like = st.builds(
    lambda headers, body: (b"".join(headers) + b"\n" + body),
    st.lists(
        st.sampled_from(
            [
                b"From: Pat <pat@harrowgatenursing.co.uk>\n",
                b"From: =?utf-8?b?\xff\xfe?= <x@y>\n",
                b"From: <>\n",
                b"To: agencies@nhsprofessionals.nhs.uk\n",
                b"Subject: =?x-unknown?q?Agency_User?=\n",
                b"Content-Type: multipart/mixed; boundary=\"b\"\n",
                b"Content-Type: text/plain; charset=\"_iso-2022-jp$ESC\"\n",
                b"Content-Transfer-Encoding: base64\n",
                b"Content-Transfer-Encoding: quoted-printable\n",
                b"Authentication-Results: mx.nhsprofessionals.nhs.uk; dmarc=pass (a;b(c)) header.from=x\n",
                b"Auto-Submitted: no\n",
                b"MIME-Version: 1.0\n",
            ]
        ),
        max_size=8,
    ),
    st.binary(max_size=400),
)


@FAST
@given(raw=st.binary(max_size=2000) | header_like)
def test_parse_email_never_raises_and_returns_an_email(raw):
    parsed = parse_email(raw)
    assert isinstance(parsed, Email)
    if not raw.strip():
        assert parsed.unreadable


@FAST
@given(raw=st.binary(max_size=2000) | header_like)
@example(raw=b"")
@example(raw=b"\x00\r\n\r\n")
@example(raw=b"From: a@b.example\n\n")
def test_triage_never_raises_on_arbitrary_bytes(engine, raw):
    check_result(engine.run(raw))


# -- mutated real messages ------------------------------------------------------------------------


def _header_end(raw: bytes) -> int:
    match = re.search(rb"\r?\n\r?\n", raw)
    return match.start() if match else len(raw)


def _mutate(raw: bytes, data) -> bytes:
    kind = data.draw(
        st.sampled_from(
            ["truncate", "flip", "insert", "dup_header", "del_header", "control", "charset", "boundary", "crlf"]
        ),
        label="mutation",
    )
    n = len(raw)
    if kind == "truncate":
        return raw[: data.draw(st.integers(0, n))]
    if kind == "flip":
        at = data.draw(st.integers(0, max(n - 1, 0)))
        return raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255))]) + raw[at + 1 :] if n else raw
    if kind == "insert":
        at = data.draw(st.integers(0, n))
        return raw[:at] + data.draw(st.binary(min_size=1, max_size=40)) + raw[at:]
    if kind == "control":
        for _ in range(data.draw(st.integers(1, 6))):
            at = data.draw(st.integers(0, len(raw)))
            raw = raw[:at] + data.draw(st.sampled_from([b"\r", b"\n", b"\x00", b"\r\n", b"\n\n", b"\x00\x00"])) + raw[at:]
        return raw
    if kind == "crlf":
        return raw.replace(b"\n", b"\r\n")
    header, body = raw[: _header_end(raw)], raw[_header_end(raw) :]
    lines = header.split(b"\n")
    if kind in ("dup_header", "del_header") and lines:
        i = data.draw(st.integers(0, len(lines) - 1))
        if kind == "dup_header":
            lines.insert(data.draw(st.integers(0, len(lines))), lines[i])
        else:
            del lines[i]
        return b"\n".join(lines) + body
    if kind == "charset":
        garbage = data.draw(st.sampled_from([b"x-unknown", b"_iso-2022-jp$ESC", b"utf-7", b"\"\"", b"utf-16", b"\xff\xfe", b"unicode-1-1-utf-7", b"rot13", b"idna"]))
        return re.sub(rb'charset="?[^";\s]*"?', b"charset=" + garbage.replace(b"\\", b""), raw, flags=re.I)
    if kind == "boundary":
        how = data.draw(st.sampled_from(["rename", "drop_closing", "drop_param", "cut_line"]))
        match = re.search(rb'boundary="?([^";\s]+)"?', raw, re.I)
        if match is None:
            return raw + b"\n--unterminated\n"
        boundary = match.group(1)
        if how == "rename":
            return raw[: match.start(1)] + b"other" + raw[match.end(1) :]
        if how == "drop_closing":
            return raw.replace(b"--" + boundary + b"--", b"")
        if how == "drop_param":
            return raw[: match.start()] + raw[match.end() :]
        return raw.replace(b"--" + boundary + b"\n", b"--" + boundary[: len(boundary) // 2] + b"\n", 1)
    return raw


@FAST
@given(data=st.data())
def test_triage_never_raises_on_mutated_real_messages(engine, seeds, data):
    raw = data.draw(st.sampled_from(seeds), label="seed")
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        raw = _mutate(raw, data)
    check_result(engine.run(raw))


@pytest.mark.parametrize("header", ["Message-ID", "In-Reply-To", "References"])
def test_stray_8bit_byte_in_a_message_id_header_does_not_make_the_message_unreadable(engine, header):
    """One raw byte in an identifier header leaves From, Subject and body perfectly readable."""
    raw = build_request("Maria Santos", "Jane Doe")
    if header == "Message-ID":
        raw = raw.replace(b"Message-ID: <prop.1@", b"Message-ID: <prop.\xe9@")
    else:
        raw = raw.replace(b"To: ", f"{header}: <old.\xe9@harrowgatenursing.co.uk>\r\nTo: ".encode("latin-1"), 1)
    parsed = parse_email(raw)
    assert parsed.unreadable is None, parsed.unreadable
    assert parsed.sender is not None and parsed.sender.email == SENDER
    result = engine.run(raw)
    assert result.decision.outcome == "approved", (result.decision.outcome, result.decision.reasons)


def test_unmutated_seeds_are_answered_or_held(engine, seeds):
    """The seeds themselves satisfy the invariants (and at least one of them is answered)."""
    outcomes = []
    for raw in seeds:
        result = engine.run(raw)
        check_result(result)
        outcomes.append(result.decision.outcome)
    assert any(outcome not in ("ignored", "review") for outcome in outcomes), outcomes


# -- text from the message in reply headers --------------------------------------------------------

# tests/data/mailbot.toml trusts mx.nhsprofessionals.nhs.uk; people.csv lists Maria Santos,
# Branch Manager (manager) of Harrowgate Nursing Ltd (harrowgatenursing.co.uk harrowgate-care.com).
SENDER = "maria.santos@harrowgatenursing.co.uk"
REQUESTER = "jane.doe@harrowgatenursing.co.uk"
AUTH = (
    "mx.nhsprofessionals.nhs.uk; spf=pass smtp.mailfrom=harrowgatenursing.co.uk;"
    " dkim=pass header.d=harrowgatenursing.co.uk header.s=s1; dmarc=pass header.from=harrowgatenursing.co.uk"
)
REPLY_HEADERS = {
    "from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references", "auto-submitted",
    "x-auto-response-suppress", "mime-version", "content-type", "content-transfer-encoding",
}
NASTY = [
    "{{ 7*7 }}",
    "<script>alert(1)</script>",
    "Mallory\r\nBcc: evil@attacker.example",
    "Eve\nX-Injected: yes",
    "Trudy\r\n\r\nbody injection",
    "a\x00b\x0bc\x1bd\x7fe",
    "{% raw %}{{ 7*7 }}{% endraw %}",
    "${7*7} #{7*7} {{7*7}}",
    "\u202eevil\u2028line\u2029para",
    "Santos, Maria",
    "x" * 300,
]


def _encoded_word(text: str) -> str:
    """RFC 2047 B-encoding: the way CR, LF and anything else really reach a header's decoded value."""
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii") + "?="


def build_request(display_name: str, requester_name: str, subject: str = "Agency User access") -> bytes:
    """An authenticated Agency User request from a listed manager for one colleague on the same domain."""
    message = EmailMessage()
    message["Authentication-Results"] = AUTH
    message["To"] = "agencies@nhsprofessionals.nhs.uk"
    message["Message-ID"] = "<prop.1@harrowgatenursing.co.uk>"
    message["Date"] = "Tue, 22 Apr 2025 08:02:39 +0100"
    message.set_content(
        "Hello,\n\n"
        f"Please could you set up NHSP:Online Agency User access for {requester_name}, {REQUESTER}, "
        "who has just joined our team.\n\n"
        "Kind regards\nMaria Santos\nBranch Manager\nHarrowgate Nursing Ltd\n"
    )
    # From and Subject go in raw: EmailMessage refuses CR/LF in them, an encoded word carries them anyway.
    raw = message.as_bytes(policy=email.policy.SMTP)
    head = f"From: {_encoded_word(display_name)} <{SENDER}>\r\nSubject: {_encoded_word(subject)}\r\n".encode("ascii")
    return head + raw


def _is_clean_line(text: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)


def check_reply_headers(result, inputs: tuple[str, ...]) -> None:
    reply = result.reply
    if reply is None:
        return
    for address in (*reply.to, *reply.cc):
        assert _is_clean_line(address.name), f"display name {address.name!r} is not one clean line"
        assert address.name == " ".join(address.name.split())
    assert _is_clean_line(reply.subject) and reply.subject == " ".join(reply.subject.split())
    rendered = reply.to_message(date="Tue, 22 Apr 2025 08:05:00 +0000")
    wire = rendered.as_bytes()
    reparsed = message_from_bytes(wire, policy=email.policy.default)
    names = {name.lower() for name in reparsed.keys()}
    assert names <= REPLY_HEADERS, f"unexpected reply headers {sorted(names - REPLY_HEADERS)}"
    assert [a.addr_spec for a in reparsed["To"].addresses] == [SENDER]
    if "Cc" in reparsed:
        assert {a.addr_spec for a in reparsed["Cc"].addresses} <= {REQUESTER}
    for name, value in reparsed.items():
        assert _is_clean_line(str(value)), f"reply header {name} is not one clean line: {str(value)!r}"
    # Templates are rendered from files, never from message text: nothing the sender wrote is evaluated.
    texts = (reply.text, reply.html, reply.subject, *(a.name for a in (*reply.to, *reply.cc)))
    if not any("49" in i for i in inputs):
        assert not any("49" in t for t in texts), "a template expression from the message was evaluated"
    assert "<script" not in reply.html.lower(), "HTML from the message reached the HTML reply unescaped"


def test_benign_request_is_approved_with_cc_to_requester(engine):
    """The builder makes a message the engine approves; the injection tests below start from it."""
    result = engine.run(build_request("Maria Santos", "Jane Doe"))
    assert result.decision.outcome == "approved", result.decision
    assert [a.email for a in result.reply.to] == [SENDER]
    assert [a.email for a in result.reply.cc] == [REQUESTER]
    check_reply_headers(result, ("Maria Santos", "Jane Doe"))


@pytest.mark.parametrize("nasty", NASTY)
def test_nasty_display_name_requester_and_subject_stay_clean(engine, nasty):
    # An address in the body is another person asked for (Mallory's would be a domain mismatch, held
    # for review): the requester's name keeps the nasty text but not its "@".
    # A requester's name broken by a line ("Jane Mallory<CR><LF>Bcc: ... Doe") may leave the reader unsure whose the
    # address is: then it holds the message, with its reason. The sender's name and the subject never do.
    for requester in (f"Jane {nasty.replace('@', ' ')} Doe", "Jane Doe"):
        result = engine.run(build_request(f"Maria {nasty} Santos", requester, f"Access {nasty}"))
        check_result(result)
        if requester != "Jane Doe" and result.reply is None:
            assert result.decision.outcome == "review" and "extraction_uncertain" in result.decision.reasons, result.decision
            continue
        assert result.decision.outcome not in ("ignored", "review"), result.decision
        check_reply_headers(result, (nasty,))
        reply = result.reply
        assert "Bcc" not in reply.to_message().keys()
        assert not any("49" in t for t in (reply.text, reply.html, reply.subject, reply.to[0].name))


def test_template_syntax_in_names_is_not_rendered(engine):
    result = engine.run(build_request("Maria {{ 7*7 }} Santos", "Jane Doe", "AU {{ 7*7 }}"))
    reply = result.reply
    assert reply is not None
    assert "{{ 7*7 }}" in reply.subject and "49" not in reply.subject
    assert "{{ 7*7 }}" in reply.to[0].name and "49" not in reply.to[0].name


@pytest.mark.parametrize("control", ["\x85", "\x80", "\x9b"])
def test_c1_controls_and_next_line_do_not_reach_reply_headers(engine, control):
    """U+0085 (NEL) is a line break and U+0080-U+009F are control characters: not one clean line."""
    result = engine.run(build_request(f"Maria{control}Bcc: x Santos", "Jane Doe", f"Access{control}Bcc: x"))
    reply = result.reply
    assert reply is not None
    assert len(reply.subject.splitlines()) == 1 and control not in reply.subject, repr(reply.subject)
    assert control not in reply.to[0].name, repr(reply.to[0].name)


unicode_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
spiked = st.builds(lambda a, b, c: a + b + c, unicode_text, st.sampled_from(["", *NASTY]), unicode_text)


@FAST
@given(display=spiked, requester=spiked, subject=spiked)
def test_arbitrary_names_reach_reply_headers_only_as_one_clean_line(engine, display, requester, subject):
    result = engine.run(build_request(display, requester, subject))
    check_result(result)
    # Whatever the names, the sender is a listed, authenticated manager asking for Agency User:
    # the message is answered (approved, or needs_info when the name is unusable), unless the
    # requester text holds an address of its own (another person, on another domain: review), or the
    # reader doubts whose the address is (the sender's own name given for it, say): held, saying so.
    if "@" not in requester:
        assert result.decision.outcome != "ignored", result.decision.reasons
        assert result.decision.outcome != "review" or result.decision.reasons == ("extraction_uncertain",), result.decision.reasons
    check_reply_headers(result, (display, requester, subject))


# -- anyone may ask for password help, and is answered at the From address ------------------------

local_parts = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,20}\Z")


@FAST
@given(local=local_parts, domain=st.sampled_from(["example.com", "corriebank-hp.co.uk", "localhost", "mail.internal"]))
@example(local="nadia", domain="example.com")
@example(local="nadia", domain="localhost")
@example(local="josé", domain="example.com")
def test_password_help_from_any_address_is_answered_at_that_address(engine, local, domain):
    assume(".." not in local and not local.endswith("."))
    address = f"{local}@{domain}"
    raw = (
        f"From: Nadia Brennan <{address}>\nTo: agencies@nhsprofessionals.nhs.uk\nSubject: password\n"
        "Message-ID: <pw.1@example.com>\n\nHello,\n\nHow do I create a password for NHSP Online? "
        "I never received the email.\n\nThanks\nNadia Brennan\n"
    ).encode()
    result = engine.run(raw)
    check_result(result)
    if domain == "localhost" or not local.isascii():
        # No reply can be sent there (no public domain, or an SMTPUTF8 address): held, saying why.
        assert result.decision.outcome == "review" and "malformed_message" in result.decision.reasons, result.decision
        assert result.reply is None
        return
    assert result.decision.outcome == "informed", result.decision
