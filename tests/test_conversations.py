"""Conversations end to end (the service contract): `mailbot run --once` against a real Dovecot and a real SMTP
server (aiosmtpd), with SQLite. A manager answers mailbot's question, says thanks, asks again; a reply bounces;
someone of another agency replies to the thread; and `mailbot triage` decides each as the service did."""

from __future__ import annotations

import csv
import io
import json
import re
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from desk import csrf_token, desk_app, sign_in
from servers import mailbot, write_config

OURS = "agencies@nhsprofessionals.nhs.uk"
MARIA = "Maria Santos <maria.santos@harrowgatenursing.co.uk>"
TOBIAS = "Tobias Wren <tobias.wren@harrowgatenursing.co.uk>"  # her organisation's director
GWEN = "Gwen Talbot <gwen.talbot@bramblewick.co.uk>"  # another agency
REF = re.compile(r"\[NHSP ref ([2-9A-Z]{6})\]")
FOLDERS = {"processed": "Mailbot/Processed", "review": "Mailbot/Review", "ignored": "Mailbot/Ignored"}
REVIEWER = ("rita.reviewer", "correct horse battery staple")


def auth(domain: str) -> str:
    return f"mx.nhsprofessionals.nhs.uk; dkim=pass header.d={domain} header.s=s1; dmarc=pass header.from={domain}"


def mail(tag: str, body: str, subject: str = "Agency User access", sender: str = MARIA, headers: str = "") -> bytes:
    domain = sender.rsplit("@", 1)[1].rstrip(">")
    return (f"Authentication-Results: {auth(domain)}\r\nFrom: {sender}\r\nTo: {OURS}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{tag}@{domain}>\r\nDate: Thu, 03 Dec 2026 09:00:00 +0000\r\n{headers}"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode("utf-8")


def answer_to(reply, tag: str, body: str, sender: str = MARIA, threaded: bool = True) -> bytes:
    """A reply to mailbot's reply, as a mail client writes it: Re: its subject, the quote below; In-Reply-To and
    References unless the client drops them (threaded=False)."""
    quoted = "\r\n".join("> " + line for line in reply.get_body(("plain",)).get_content().splitlines())
    headers = f"In-Reply-To: {reply['Message-ID']}\r\nReferences: {reply['References']} {reply['Message-ID']}\r\n" if threaded else ""
    return mail(tag, f"{body}\r\n\r\nOn Thu, 3 Dec 2026, NHSP Agency Support Team wrote:\r\n{quoted}\r\n", f"RE: {reply['Subject']}",
                sender, headers)


def bounce_of(reply, address: str) -> bytes:
    """A delivery status notification (RFC 3464) returning mailbot's reply: the address failed for good."""
    return (f"From: Mail Delivery System <MAILER-DAEMON@mx.harrowgatenursing.co.uk>\r\nTo: {OURS}\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-{address}@mx.harrowgatenursing.co.uk>\r\n"
            "Date: Thu, 03 Dec 2026 09:05:00 +0000\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered to one or more recipients.\r\n"
            "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.harrowgatenursing.co.uk\r\n\r\n"
            f"Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 <{address}>: Recipient address rejected\r\n"
            f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {reply['Message-ID']}\r\nSubject: {reply['Subject']}\r\n"
            "--b--\r\n").encode("utf-8")


class Box:
    """The mailbox, the SMTP server and the service's config for one test."""

    def __init__(self, tmp_path: Path, dovecot, user, smtp, database_url: str):
        self.dovecot, self.user, self.smtp, self.database = dovecot, user, smtp, database_url
        self.config, self.env = write_config(tmp_path / "config", database_url, dovecot=dovecot, user=user, smtp=smtp)
        self.files = tmp_path / "sent"
        self.files.mkdir()

    def deliver(self, *messages: bytes) -> None:
        for raw in messages:  # kept as files too, for `mailbot triage` to decide them again
            (self.files / f"{len(list(self.files.iterdir())):03d}.eml").write_bytes(raw)
        self.dovecot.append(self.user, list(messages))

    def run(self):
        run = mailbot("run", "--once", "--config", self.config, env=self.env)
        assert run.returncode == 0, run.stderr
        return run

    def replies(self) -> list:
        return [e.message for e in self.smtp.envelopes()]

    def reply_to(self, tag: str):
        found = [r for r in self.replies() if tag in str(r["In-Reply-To"])]
        assert len(found) == 1, [str(r["In-Reply-To"]) for r in self.replies()]
        return found[0]

    def folder(self, name: str) -> list[str]:
        return self.dovecot.message_ids(self.user, FOLDERS[name])

    def worklist(self) -> list[dict]:
        run = mailbot("worklist", "export", "--config", self.config, env=self.env)
        assert run.returncode == 0, run.stderr
        return list(csv.DictReader(io.StringIO(run.stdout)))

    def triage(self) -> dict[str, dict]:
        run = mailbot("triage", "--config", self.config, "--json", *sorted(self.files.iterdir()), env=self.env)
        assert run.returncode == 0, run.stderr
        return {line["message_id"]: line for line in map(json.loads, run.stdout.splitlines())}


@pytest.fixture
def box(tmp_path, dovecot, imap_user, smtp_server, sqlite_url):
    return Box(tmp_path, dovecot, imap_user, smtp_server, sqlite_url)


def body_of(reply) -> str:
    return reply.get_body(("plain",)).get_content()


def test_the_managers_answer_with_the_missing_address_completes_the_request(box):
    box.deliver(mail("ask", "Hello,\r\n\r\nPlease could you set up Jane Doe as an Agency User? She starts on Monday.\r\n\r\nThanks\r\nMaria"))
    box.run()
    asked = box.reply_to("ask")
    assert "email address is missing" in body_of(asked) or "missing" in body_of(asked).lower()
    reference = REF.search(asked["Subject"]).group(1)

    box.deliver(answer_to(asked, "answer", "Sorry! Her email is jane.doe@harrowgatenursing.co.uk\r\n\r\nMaria"))
    box.run()
    approved = box.reply_to("answer")
    assert "We have accepted this request" in body_of(approved) and "jane.doe@harrowgatenursing.co.uk" in body_of(approved)
    assert REF.search(approved["Subject"]).group(1) == reference  # the same thread
    assert "<ask@harrowgatenursing.co.uk>" in str(approved["References"]) and "<answer@harrowgatenursing.co.uk>" in str(approved["References"])
    assert box.folder("review") == []
    [row] = box.worklist()
    assert (row["name"], row["work_email"], row["access"], row["warnings"]) == ("Jane Doe", "jane.doe@harrowgatenursing.co.uk", "agency_user", "")


def test_an_answer_without_in_reply_to_is_found_by_the_reference_in_its_subject(box):
    box.deliver(mail("ask2", "Please set up Ravi Chandran (ravi.chandran@harrowgatenursing.co.uk) with a login please.", "New starter"))
    box.run()
    asked = box.reply_to("ask2")
    assert "which access is needed" in body_of(asked)
    box.deliver(answer_to(asked, "which", "Agency User please.", threaded=False))  # the client dropped the headers
    box.run()
    assert "We have accepted this request" in body_of(box.reply_to("which"))
    assert [(r["name"], r["access"]) for r in box.worklist()] == [("Ravi Chandran", "agency_user")]
    assert box.folder("review") == []


def test_a_thank_you_is_ignored_with_no_reply_and_nothing_held(box):
    box.deliver(mail("ok", "Please set up Jo Bloggs (jo.bloggs@harrowgatenursing.co.uk) as an Agency User.\r\n\r\nMaria"))
    box.run()
    approved = box.reply_to("ok")
    box.smtp.clear()
    box.deliver(answer_to(approved, "thanks", "Thanks so much, all sorted!\r\n\r\nMaria"))
    box.run()
    assert box.smtp.envelopes() == []
    assert box.folder("review") == [] and "<thanks@harrowgatenursing.co.uk>" in box.folder("ignored")
    decided = box.triage()["<thanks@harrowgatenursing.co.uk>"]
    assert (decided["outcome"], decided["reasons"], decided["reply"]) == ("ignored", ["acknowledgement"], None)


def test_the_same_request_again_is_already_approved_and_the_worklist_item_says_asked_again(box):
    request = "Please set up Jo Bloggs (jo.bloggs@harrowgatenursing.co.uk) as an Agency User.\r\n\r\nMaria"
    box.deliver(mail("first", request))
    box.run()
    box.deliver(mail("again", "Hi, just checking - could you set up Jo Bloggs (jo.bloggs@harrowgatenursing.co.uk) "
                              "as an Agency User please?\r\n\r\nMaria"))
    box.run()
    again = box.reply_to("again")
    assert "already accepted" in body_of(again) and "nothing more to do" in body_of(again)
    [row] = box.worklist()
    assert row["work_email"] == "jo.bloggs@harrowgatenursing.co.uk" and row["warnings"] == "asked_again"
    decided = box.triage()["<again@harrowgatenursing.co.uk>"]
    assert decided["outcome"] == "informed" and decided["requests"][0]["reasons"] == ["already_approved"]


def test_a_bounce_of_the_approval_marks_the_request_and_holds_it_from_provisioning(box, tmp_path):
    box.deliver(mail("bounced", "Please set up Jo Bloggs (jo.bloggs@harrowgatenursing.co.uk) as an Agency User.\r\n\r\nMaria"))
    box.run()
    approval = box.reply_to("bounced")
    assert "jo.bloggs@harrowgatenursing.co.uk" in str(approval["Cc"])
    box.smtp.clear()
    box.deliver(bounce_of(approval, "jo.bloggs@harrowgatenursing.co.uk"))
    box.run()
    assert box.smtp.envelopes() == []  # a bounce is never answered
    [row] = box.worklist()
    assert row["warnings"] == "address_bounced"

    # The desk shows it, refuses "done" until someone has checked the address, then lets it through.
    created = mailbot("users", "add", REVIEWER[0], "--password-stdin", "--config", box.config, env=box.env, input=REVIEWER[1] + "\n")
    assert created.returncode == 0, created.stderr
    app, parts = desk_app(box.config)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert sign_in(client, *REVIEWER).status_code == 303
        page = client.get("/worklist")
        assert "reply bounced: check the address" in page.text
        token = csrf_token(page.text)
        request_id = int(re.search(r'action="/worklist/(\d+)/checked"', page.text).group(1))
        client.post(f"/worklist/{request_id}/done", data={"csrf": token})
        assert box.worklist()[0]["warnings"] == "address_bounced"  # not done: nobody has looked
        client.post(f"/worklist/{request_id}/checked", data={"csrf": token})
        assert box.worklist()[0]["warnings"] == ""
        assert "Done</button>" in client.get("/worklist").text
    parts.store.close()


def test_an_answer_from_another_agency_is_a_new_message(box):
    box.deliver(mail("mine", "Please could you set up Jane Doe as an Agency User?\r\n\r\nMaria"))
    box.run()
    asked = box.reply_to("mine")
    box.deliver(answer_to(asked, "theirs", "Her email is jane.doe@bramblewick.co.uk", sender=GWEN))
    box.run()
    decided = box.triage()["<theirs@bramblewick.co.uk>"]
    assert decided["outcome"] == "review" and decided["reasons"] == ["no_request_found"]  # read alone: it asks nothing
    assert "<theirs@bramblewick.co.uk>" in box.folder("review")
    assert box.worklist() == []


def test_a_colleague_of_the_same_agency_may_answer_for_the_sender(box):
    box.deliver(mail("colleague", "Please could you set up Jane Doe as an Agency User?\r\n\r\nMaria"))
    box.run()
    asked = box.reply_to("colleague")
    box.deliver(answer_to(asked, "director", "Maria is out today: it's jane.doe@harrowgatenursing.co.uk\r\n\r\nTobias", sender=TOBIAS))
    box.run()
    assert "We have accepted this request" in body_of(box.reply_to("director"))


def test_triage_with_the_database_decides_each_message_as_the_service_did(box):
    box.deliver(mail("t1", "Please could you set up Jane Doe as an Agency User?\r\n\r\nMaria"))
    box.run()
    asked = box.reply_to("t1")
    box.deliver(answer_to(asked, "t2", "Her email is jane.doe@harrowgatenursing.co.uk"))
    box.run()
    approved = box.reply_to("t2")
    box.deliver(answer_to(approved, "t3", "Brilliant, thank you!"),
                mail("t4", "Please set up Jane Doe (jane.doe@harrowgatenursing.co.uk) as an Agency User.\r\n\r\nMaria"))
    box.run()
    from sqlalchemy import select

    from mailbot.store import Message, Store

    store = Store(box.database)
    with store.session() as session:
        service = {m.message_id: (m.outcome, sorted(m.reasons), sorted((r.email or "", r.access or "", r.outcome) for r in m.requests))
                   for m in session.scalars(select(Message))}
    store.close()
    triaged = box.triage()
    assert set(triaged) == set(service)
    for message_id, result in triaged.items():
        assert (result["outcome"], sorted(result["reasons"]),
                sorted((r["email"] or "", r["access"] or "", r["outcome"]) for r in result["requests"])) == service[message_id], message_id
    assert [service[f"<t{n}@harrowgatenursing.co.uk>"][0] for n in (1, 2, 3, 4)] == ["needs_info", "approved", "ignored", "informed"]
