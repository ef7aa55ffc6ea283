"""The original of a held message on the desk: its source as plain text, its HTML part served inert (no script, nothing
fetched from anywhere), its attachments as downloads only; and history searched by subject and name too."""

from __future__ import annotations

import pytest

from desk import AUTH_PASS, REVIEWER, desk_app, maildir_mailbox, message_id, sign_in
from mailbot.web import accounts

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

RICH = (
    f"Authentication-Results: {AUTH_PASS}\r\n"
    "From: Olivia Grant <olivia.grant@harrowgatenursing.co.uk>\r\nTo: agencies@nhsprofessionals.nhs.uk\r\n"
    f"Subject: Starters for the Quillfield ward\r\nMessage-ID: {message_id('rich')}\r\nDate: Tue, 22 Apr 2025 08:02:39 +0100\r\n"
    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n"
    "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
    "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease set up Agency User access for Jane Doe, jane.doe@harrowgatenursing.co.uk.\r\n"
    "--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    "<p>Please set up <b>Agency User</b> access for Jane Doe, jane.doe@harrowgatenursing.co.uk.</p>"
    "<script>alert(1)</script><img src=\"https://tracker.example/pixel.png\">\r\n"
    "--inner--\r\n"
    "--outer\r\nContent-Type: text/csv; name=\"starters.csv\"\r\nContent-Disposition: attachment; filename=\"../../starters.csv\"\r\n\r\n"
    "name,email\r\n=cmd|' /C calc'!A0,jane.doe@harrowgatenursing.co.uk\r\n"
    "--outer--\r\n"
).encode()


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("original")
    box = maildir_mailbox(folder, f"sqlite:///{folder / 'mailbot.db'}", {"1-rich": RICH})
    box.run_once()
    assert box.folder("review") == [message_id("rich")]  # Olivia is not in the directory
    app, parts = desk_app(box.config)
    accounts.add_user(parts.store, *REVIEWER, actor="test")
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url="http://127.0.0.1")
    assert sign_in(client, *REVIEWER).status_code == 303
    yield client, box.ids()["rich"]
    parts.store.close()


def test_the_source_is_plain_text_and_the_eml_a_download(desk):
    client, message = desk
    source = client.get(f"/messages/{message}/source")
    assert source.status_code == 200 and source.headers["content-type"].startswith("text/plain")
    assert "Subject: Starters for the Quillfield ward" in source.text and "<script>alert(1)</script>" in source.text
    eml = client.get(f"/messages/{message}/message.eml")
    assert eml.content == RICH and eml.headers["content-type"] == "application/octet-stream"
    assert eml.headers["content-disposition"] == f'attachment; filename="message-{message}.eml"'


def test_the_html_part_is_served_inert(desk):
    client, message = desk
    shown = client.get(f"/messages/{message}/original")
    assert shown.status_code == 200 and "<b>Agency User</b>" in shown.text
    policy = dict(part.strip().split(" ", 1) if " " in part.strip() else (part.strip(), "") for part in
                  shown.headers["content-security-policy"].split(";"))
    assert "sandbox" in policy and policy["default-src"] == "'none'" and policy["img-src"] == "data:"
    assert "script-src" not in policy  # default-src 'none' covers it: the script never runs, the pixel never loads


def test_attachments_are_downloads_whatever_they_claim_and_their_names_are_made_safe(desk):
    client, message = desk
    page = client.get(f"/messages/{message}").text
    assert f"/messages/{message}/attachments/0" in page and f"/messages/{message}/original" in page
    part = client.get(f"/messages/{message}/attachments/0")
    assert part.headers["content-type"] == "application/octet-stream"
    assert part.headers["content-disposition"] == 'attachment; filename=".._.._starters.csv"'
    assert b"=cmd|' /C calc'!A0" in part.content  # the bytes as sent: it is a download, never opened here
    assert client.get(f"/messages/{message}/attachments/1").status_code == 404
    missing = client.get("/messages/99999/source")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"] and "Not found" in missing.text


def test_history_finds_a_message_by_subject_and_by_the_name_asked_for(desk):
    client, message = desk
    for words in ("quillfield", "Jane Doe", "olivia.grant"):
        page = client.get("/history", params={"q": words}).text
        assert f"/messages/{message}" in page, words
    assert f"/messages/{message}" not in client.get("/history", params={"q": "nobody-like-this"}).text
