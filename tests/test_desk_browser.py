"""The review desk in a real browser (Playwright driving Debian's Chromium) against `mailbot web` served on
loopback, over a mailbox in a real Dovecot passed by `mailbot run --once`, replies at a real SMTP server.

A reviewer signs in, sees the held messages with their reasons, corrects a requester's address and
approves, rejects another, looks at the dashboard, the worklist (and its CSV), the history and the
directory. Screenshots of every page go to tmp_path/screens and bench/out/screens (git-ignored)."""

from __future__ import annotations

import re

import csv
import io
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, _unavailable
from desk import (CORRECTED, HOSTILE_LINE, REVIEWER, TYPO, DeskServer, approved, hostile, message_id, mismatch, spoof,
                  unknown_endorser)
from mailbot.decide.reasons import REASONS
from servers import mailbot, write_config

from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (the browser fixture is conftest's: one Playwright a session)
VIEWPORT = {"width": 1366, "height": 900}  # a support team's laptop
SCREENS_FOR_OWNER = ROOT / "bench" / "out" / "screens"
PROCESSED, REVIEW = "Mailbot/Processed", "Mailbot/Review"
OURS = "agencies@nhsprofessionals.nhs.uk"


@pytest.fixture
def served(tmp_path, dovecot, imap_user, smtp_server, sqlite_url):
    """The held messages in Dovecot, passed once; a reviewer's account; `mailbot web` on a free loopback port."""
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server,
                               service={"replies_per_sender_per_hour": 1000})
    dovecot.append(imap_user, [approved("auto-one"), approved("auto-kim", "Kim Lee", "kim.lee@harrowgatenursing.co.uk"),
                               unknown_endorser(), spoof(), mismatch(), hostile()])
    first = mailbot("run", "--once", "--config", config, env=env)
    assert first.returncode == 0, first.stderr
    assert sorted(dovecot.message_ids(imap_user, REVIEW)) == sorted(message_id(t) for t in ("unknown", "spoof", "mismatch", "hostile"))
    created = mailbot("users", "add", REVIEWER[0], "--password-stdin", "--config", config, env=env, input=REVIEWER[1] + "\n")
    assert created.returncode == 0, created.stderr
    with DeskServer(config, env) as server:
        yield {"config": config, "env": env, "server": server}


class Screens:
    """Full-page screenshots, numbered in the order taken, kept for a person to look at."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.count = page, folder, 0
        folder.mkdir(parents=True, exist_ok=True)
        SCREENS_FOR_OWNER.mkdir(parents=True, exist_ok=True)
        for old in SCREENS_FOR_OWNER.glob("[0-9][0-9]-*.png"):  # this test's own from an earlier run (others run beside it)
            old.unlink(missing_ok=True)

    def take(self, name: str) -> None:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        shutil.copy(path, SCREENS_FOR_OWNER / path.name)


def _replies_to(smtp_server, tag: str):
    return [e for e in smtp_server.envelopes() if " ".join(str(e.message["In-Reply-To"]).split()) == message_id(tag)]


def _run_once(served):
    run = mailbot("run", "--once", "--config", served["config"], env=served["env"])
    assert run.returncode == 0, run.stderr


def test_a_reviewer_works_the_queue_in_a_browser(browser, served, dovecot, imap_user, smtp_server, tmp_path):
    url = served["server"].url
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []  # CSP refusals, script errors, dialogs: none of them should happen
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") and "favicon.ico" not in (m.location or {}).get("url", "") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    screens = Screens(page, tmp_path / "screens")
    print(f"\nscreenshots: {screens.folder} (copied to {SCREENS_FOR_OWNER})")

    # Signing in.
    page.goto(f"{url}/queue")
    assert page.url.endswith("/login")
    screens.take("login")
    page.fill("#name", REVIEWER[0])
    page.fill("#password", REVIEWER[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/queue")

    # The queue: four held messages, each with its reasons in plain words.
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == 4
    expected = {"Agency User access for Jane Doe": REASONS["unknown_endorser"], "URGENT rate admin": REASONS["sender_not_authenticated"],
                "Agency User for Sam Stone": REASONS["email_domain_mismatch"]}
    for subject, sentence in expected.items():
        row = rows.filter(has_text=subject)
        assert row.count() == 1, subject
        assert sentence in row.inner_text(), (subject, row.inner_text())
    assert "Harrowgate Nursing Ltd" in rows.filter(has_text="Jane Doe").inner_text()
    assert TYPO in rows.filter(has_text="Jane Doe").inner_text()
    screens.take("queue")

    # Filters: by reason, by any address.
    page.select_option("#reason", "sender_not_authenticated")
    page.click("form.filters button[type=submit]")
    assert rows.count() == 1 and "URGENT rate admin" in rows.inner_text()
    page.fill("#q", "sam.stone")
    page.select_option("#reason", "")
    page.click("form.filters button[type=submit]")
    assert rows.count() == 1 and "Sam Stone" in rows.inner_text()
    page.goto(f"{url}/queue")

    # One message: correct the requester's address, approve.
    page.click("text=Agency User access for Jane Doe")
    page.wait_for_url(f"{url}/messages/*")
    body = page.locator("main").inner_text()
    assert "Olivia Grant" in body and "olivia.grant@harrowgatenursing.co.uk" in body
    assert REASONS["unknown_endorser"] in body and "authenticated" in body
    assert "Not in the directory" in body and "Harrowgate Nursing Ltd" in body
    assert page.input_value("input[name=email0]") == TYPO and page.input_value("input[name=name0]") == "Jane Doe"
    screens.take("message")
    page.fill("input[name=email0]", CORRECTED)
    page.fill("#note", "Rang Olivia: she started as operations director on Monday; the address had a typo.")
    page.click("button[value=approve]")
    page.wait_for_url(f"{url}/queue?*")
    notice = page.locator(".notice.ok").inner_text()
    assert "approved" in notice, notice  # "its reply is in the outbox" unless the desk has sent it already
    assert rows.count() == 3
    screens.take("queue-after-approval")

    # Reject another.
    page.click("text=URGENT rate admin")
    page.wait_for_url(f"{url}/messages/*")
    assert "not authenticated" in page.locator("main").inner_text()
    page.fill("#note", "DMARC failed and Maria did not send it: spoofed.")
    page.click("button[value=reject]")
    page.wait_for_url(f"{url}/queue?*")
    assert "rejected" in page.locator(".notice.ok").inner_text()
    assert rows.count() == 2

    # The desk sends both replies itself (or the next pass does), and the pass moves both messages out of the review folder.
    _run_once(served)
    [approval] = _replies_to(smtp_server, "unknown")
    reply = approval.message
    assert approval.mail_from == OURS
    assert sorted(approval.rcpt_tos) == sorted(["olivia.grant@harrowgatenursing.co.uk", CORRECTED])
    assert [a.addr_spec for a in reply["To"].addresses] == ["olivia.grant@harrowgatenursing.co.uk"]
    assert [a.addr_spec for a in reply["Cc"].addresses] == [CORRECTED]
    assert " ".join(str(reply["In-Reply-To"]).split()) == message_id("unknown")
    assert message_id("unknown") in str(reply["References"]).split()
    assert re.fullmatch(r"Re: Agency User access for Jane Doe \[NHSP ref [2-9A-Z]{6}\]", str(reply["Subject"]))
    text = reply.get_body(("plain",)).get_content()
    assert CORRECTED in text and TYPO not in text and "We have accepted this request" in " ".join(text.split())
    assert TYPO not in approval.content.decode("utf-8", "replace")

    [rejection] = _replies_to(smtp_server, "spoof")
    assert rejection.rcpt_tos == ("maria.santos@harrowgatenursing.co.uk",)
    assert " ".join(str(rejection.message["In-Reply-To"]).split()) == message_id("spoof")
    assert rejection.message["Cc"] is None
    assert "We cannot accept this request" in " ".join(rejection.message.get_body(("plain",)).get_content().split())

    processed = dovecot.message_ids(imap_user, PROCESSED)
    assert message_id("unknown") in processed and message_id("spoof") in processed
    assert sorted(dovecot.message_ids(imap_user, REVIEW)) == sorted([message_id("mismatch"), message_id("hostile")])

    # The decided message keeps its record.
    page.goto(f"{url}/history?q=jane.doe")
    assert page.locator("tbody tr").count() == 1
    screens.take("history")
    page.click("text=Agency User access for Jane Doe")
    record = page.locator("main").inner_text()
    assert f"Decided by {REVIEWER[0]}" in record and "review decided" in record and "refiled" in record
    screens.take("message-decided")

    # The dashboard.
    page.goto(f"{url}/dashboard")
    chart = page.locator("svg.chart")
    assert chart.count() == 1 and chart.is_visible()
    assert chart.locator("rect").count() >= 2  # today's bars, by outcome
    tiles = page.locator(".tiles").inner_text()
    assert "held for review" in tiles and "replies sent" in tiles
    assert page.locator(".tile .big").first.inner_text() == "2"
    screens.take("dashboard")

    # The worklist: the approved request with the corrected address; its CSV.
    page.goto(f"{url}/worklist")
    jane = page.locator("table.worklist tbody tr", has_text="Jane Doe")
    assert jane.count() == 1 and CORRECTED in jane.inner_text() and REVIEWER[0] in jane.inner_text()
    assert page.locator("table.worklist tbody tr", has_text="Jo Bloggs").count() == 1
    screens.take("worklist")
    with page.expect_download() as download:
        page.click("text=Download CSV")
    saved = Path(download.value.path())
    assert download.value.suggested_filename.endswith(".csv")
    rows_csv = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    [jane_row] = [r for r in rows_csv if r["name"] == "Jane Doe"]
    assert (jane_row["work_email"], jane_row["approved_by"], jane_row["access"]) == (CORRECTED, REVIEWER[0], "agency_user")
    assert {r["name"] for r in rows_csv} == {"Jane Doe", "Jo Bloggs", "Kim Lee"}
    jane.locator("button", has_text="Done").click()
    page.wait_for_url(f"{url}/worklist?*")
    assert page.locator("table.worklist tbody tr", has_text="Jane Doe").count() == 0  # off the list to do
    assert page.locator("details.done tbody tr", has_text="Jane Doe").count() == 1  # among the done, with an undo

    # The directory.
    page.goto(f"{url}/directory")
    assert page.locator("table.people tbody tr").count() == 10
    screens.take("directory")

    # The hostile message: shown as text, nothing runs.
    page.goto(f"{url}/queue")
    page.locator("a.subject", has_text="{{ 7*7 }}").click()
    page.wait_for_url(f"{url}/messages/*")
    assert " ".join(HOSTILE_LINE.split()) in " ".join(page.locator("pre.mail").first.inner_text().split())
    assert page.locator("main script, main img").count() == 0
    screens.take("message-hostile")

    # Signing out.
    page.click("text=Sign out")
    page.wait_for_url(f"{url}/login")
    page.goto(f"{url}/queue")
    assert page.url.endswith("/login")

    assert problems == [] and failed == [], (problems, failed)
    context.close()
    assert screens.count >= 8
