"""The desk for a working day, in Debian's Chromium: every page at a phone's width (390x844) and a laptop's
(1366x768) without sideways scrolling; a reviewer who previews, writes a sentence, rejects a spoof, teaches the
directory a new manager and approves her request, whose next message mailbot then decides alone; and a decision
made with the keyboard only. Screenshots go to bench/out/screens/day-*.png for a person to look at."""

from __future__ import annotations

import re

from sqlalchemy import select

from desk import REVIEWER, approved, message_id
from mailbot.store import Message, Store
from servers import mailbot
from test_desk_browser import SCREENS_FOR_OWNER, _replies_to, served  # noqa: F401 (a fixture)

PHONE, LAPTOP = {"width": 390, "height": 844}, {"width": 1366, "height": 768}
OLIVIA = "Olivia Grant <olivia.grant@harrowgatenursing.co.uk>"


def _ids(sqlite_url: str) -> dict[str, int]:
    store = Store(sqlite_url)
    try:
        with store.session() as session:
            return {m.message_id.strip("<>").split("@")[0]: m.id for m in session.scalars(select(Message)) if m.message_id}
    finally:
        store.close()


def _sign_in(page, url: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#name", REVIEWER[0])
    page.fill("#password", REVIEWER[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/queue")


def _sideways(page) -> int:
    """How far the page is wider than the window (0: it does not scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _shot(page, name: str) -> None:
    SCREENS_FOR_OWNER.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS_FOR_OWNER / f"day-{name}.png"), full_page=True)


def test_every_page_fits_a_phone_and_a_laptop(browser, served, sqlite_url):
    url, ids = served["server"].url, _ids(sqlite_url)
    pages = {"queue": "/queue", "message": f"/messages/{ids['unknown']}", "hostile": f"/messages/{ids['hostile']}",
             "decided": f"/messages/{ids['auto-one']}", "history": "/history", "worklist": "/worklist",
             "directory": "/directory", "dashboard": "/dashboard", "missing": "/messages/999999"}
    for size, viewport in (("phone", PHONE), ("laptop", LAPTOP)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.goto(f"{url}/login")
        assert _sideways(page) <= 0, (size, "login")
        _shot(page, f"{size}-login")
        _sign_in(page, url)
        for name, path in pages.items():
            page.goto(f"{url}{path}")
            assert _sideways(page) <= 0, (size, name, _sideways(page))
            _shot(page, f"{size}-{name}")
        nav = page.locator("header.top nav")
        if size == "phone":  # the navigation folds behind Menu, and opens without scripts
            assert not nav.is_visible()
            page.click("label.menu-button")
            assert nav.is_visible()
            _shot(page, "phone-menu-open")
            page.click("header.top nav >> text=Worklist")
            page.wait_for_url(f"{url}/worklist")
        else:
            assert nav.is_visible() and not page.locator("label.menu-button").is_visible()
        # the queue's rows are cards on a phone: each cell says what it is
        page.goto(f"{url}/queue")
        first_cell = page.locator("table.queue tbody tr").first.locator("td").first
        label = first_cell.evaluate("cell => getComputedStyle(cell, '::before').content")
        assert (label == '"Waiting"') == (size == "phone"), (size, label)
        context.close()


def test_a_reviewer_previews_writes_to_the_sender_and_teaches_the_directory(browser, served, dovecot, imap_user, smtp_server, sqlite_url):
    url, ids = served["server"].url, _ids(sqlite_url)
    page = browser.new_context(viewport=LAPTOP).new_page()
    _sign_in(page, url)

    # The spoof: a sentence for the sender, previewed, then the rejection sent with it.
    page.goto(f"{url}/messages/{ids['spoof']}")
    sentence = "We rang Maria on 01234 567890: she did not send this."
    page.fill("#to_sender", sentence)
    page.click("button[formaction$='/preview'][value=reject]")
    preview = page.locator("#preview").inner_text()
    assert sentence in preview and "could not confirm that this email was sent from your organisation" in " ".join(preview.split())
    assert "must be requested by" not in preview
    assert page.input_value("#to_sender") == sentence  # the form kept what was typed
    _shot(page, "laptop-preview")
    page.click("button[value=reject]:not([formaction])")
    page.wait_for_url(f"{url}/queue?*")

    # Olivia: not in the directory. Added from her message, the rules now approve; the reviewer approves.
    page.goto(f"{url}/messages/{ids['unknown']}")
    before = " ".join(page.locator("main").inner_text().split())
    assert "would decide: review: The sender's agency is known, but the sender is not in the directory." in before, before
    page.click("details.add-sender summary")
    assert page.input_value("#add-name") == "Olivia Grant"
    page.fill("#add-title", "Operations Director")
    page.select_option("#add-seniority", "director")
    page.click("details.add-sender button[type=submit]")
    page.wait_for_url(re.compile(r".*/messages/\d+\?notice=person_added"))
    body = " ".join(page.locator("main").inner_text().split())
    # known now: what still holds it is the requester's address (a typo of the agency's domain), for the reviewer
    assert "Olivia Grant, Operations Director" in body, body
    assert "would decide: review: The person's address is not on a domain of the sender's agency." in body, body
    page.fill("input[name=email0]", "jane.doe@harrowgatenursing.co.uk")
    page.click("button[formaction$='/preview'][value=approve]")
    assert "We have accepted this request" in " ".join(page.locator("#preview").inner_text().split())
    page.click("button[value=approve]:not([formaction])")
    page.wait_for_url(f"{url}/queue?*")

    # The desk sent both (mailbot web drains the outbox itself), each once.
    import time
    deadline = time.monotonic() + 15
    while not (_replies_to(smtp_server, "spoof") and _replies_to(smtp_server, "unknown")) and time.monotonic() < deadline:
        time.sleep(0.2)
    [rejection] = _replies_to(smtp_server, "spoof")
    assert sentence in " ".join(rejection.message.get_body(("plain",)).get_content().split())
    [approval] = _replies_to(smtp_server, "unknown")
    assert "jane.doe@harrowgatenursing.co.uk" in approval.rcpt_tos

    # Her next request is decided by mailbot alone.
    dovecot.append(imap_user, [approved("olivia-next", "Kit Marsh", "kit.marsh@harrowgatenursing.co.uk", sender=OLIVIA)])
    run = mailbot("run", "--once", "--config", served["config"], env=served["env"])
    assert run.returncode == 0, run.stderr
    assert message_id("olivia-next") in dovecot.message_ids(imap_user, "Mailbot/Processed")
    [answer] = _replies_to(smtp_server, "olivia-next")
    assert "We have accepted this request" in " ".join(answer.message.get_body(("plain",)).get_content().split())

    # The directory page shows her, with the change audited, and downloads as CSV.
    page.goto(f"{url}/directory")
    assert "olivia.grant@harrowgatenursing.co.uk" in page.locator("main").inner_text()
    with page.expect_download() as download:
        page.click("a[href='/directory/people.csv']")
    people = open(download.value.path(), encoding="utf-8").read()
    assert "olivia.grant@harrowgatenursing.co.uk,Olivia Grant,Harrowgate Nursing Ltd,Operations Director,director" in people
    page.goto(f"{url}/messages/{ids['unknown']}")
    assert "The reply" in page.locator("#sent-reply").inner_text()


def _alt(page, cdp, letter: str) -> None:
    """Alt+letter as a real keyboard sends it to Chromium: key down, the character, key up. (Playwright's
    keyboard.press sends no character event while Alt is held, and Chromium's access keys act on that event.)"""
    code, virtual = f"Key{letter.upper()}", ord(letter.upper())
    cdp.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", "modifiers": 1, "key": letter, "code": code, "windowsVirtualKeyCode": virtual})
    cdp.send("Input.dispatchKeyEvent", {"type": "char", "modifiers": 1, "text": letter, "unmodifiedText": letter, "key": letter, "code": code})
    cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", "modifiers": 1, "key": letter, "code": code, "windowsVirtualKeyCode": virtual})


def test_a_decision_with_the_keyboard_only(browser, served, sqlite_url):
    url, ids = served["server"].url, _ids(sqlite_url)
    page = browser.new_context(viewport=LAPTOP).new_page()
    cdp = page.context.new_cdp_session(page)
    _sign_in(page, url)
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to the main content"
    _alt(page, cdp, "n")  # the first held message
    page.wait_for_url(f"{url}/messages/*")
    first = page.url
    _alt(page, cdp, "n")  # the next one
    page.wait_for_url(lambda u: u != first and "/messages/" in u)
    _alt(page, cdp, "p")  # and back
    page.wait_for_url(first)
    _alt(page, cdp, "i")  # ask for information
    page.wait_for_url(f"{url}/queue?*")
    assert "needs info" in page.locator(".notice.ok").inner_text()
    # focus is on the next message waiting, not lost at the top of the page
    assert page.evaluate("document.activeElement.classList.contains('subject')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/messages/*")
    assert page.url != first
