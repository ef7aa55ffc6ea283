"""The desk's work on the command line, for scripts: `mailbot review list|show|decide`, `directory
import|export`, `worklist export` and `users add`, each as a subprocess against a database a real
`mailbot run --once` filled from a Maildir (replies as .eml files: no servers needed)."""

from __future__ import annotations

import csv
import getpass
import io
import json
import re

import pytest
from sqlalchemy import func, select

from desk import (REVIEWER, TYPO, approved, desk_app, maildir_mailbox, message_id, mismatch, sign_in, spoof,
                  unknown_endorser)
from mailbot.decide.reasons import REASONS
from mailbot.review import worklist
from mailbot.store.models import AuditEntry, Message, Person, Reply, Request, ReviewItem, User
from mailbot.web import accounts
from servers import mailbot, write_config

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

CLI_ACTOR = f"cli:{getpass.getuser()}"
OLIVIA = "Olivia Grant <olivia.grant@harrowgatenursing.co.uk>"
HELD = {"unknown": ["unknown_endorser"], "spoof": ["sender_not_authenticated"], "mismatch": ["email_domain_mismatch"]}


@pytest.fixture
def mailbox(tmp_path, sqlite_url):
    """Three held messages and one approved automatically, passed once."""
    # No repeat window: the worklist's duplicate flags are tested with the same person approved twice (with a
    # window, the second is already_approved instead: tests/test_conversations.py).
    box = maildir_mailbox(tmp_path, sqlite_url, {
        "1-unknown": unknown_endorser(), "2-spoof": spoof(), "3-mismatch": mismatch(), "4-approved": approved("auto-one"),
    }, repeat_window_days=0)
    box.run_once()
    assert sorted(box.folder("review")) == sorted(message_id(t) for t in HELD)
    return box


def listed(box, *args) -> list[dict]:
    run = box.cli("review", "list", "--json", *args)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


# -- list and show -------------------------------------------------------------------------------------


def test_review_list_shows_the_held_messages_oldest_first_with_their_reasons(mailbox):
    ids = mailbox.ids()
    items = listed(mailbox)
    assert [i["id"] for i in items] == sorted(ids[t] for t in HELD), "the held messages, and only those, oldest first"
    assert [i["seen_at"] for i in items] == sorted(i["seen_at"] for i in items)
    by_id = {i["id"]: i for i in items}
    for tag, reasons in HELD.items():
        item = by_id[ids[tag]]
        assert item["reasons"] == reasons, (tag, item)  # a message held by its request alone says why too
    assert by_id[ids["unknown"]]["requests"] == [{"name": "Jane Doe", "email": TYPO, "access": "agency_user"}]
    assert by_id[ids["unknown"]]["organisation"] == "Harrowgate Nursing Ltd"

    assert [i["id"] for i in listed(mailbox, "--reason", "sender_not_authenticated")] == [ids["spoof"]]
    assert [i["id"] for i in listed(mailbox, "--reason", "email_domain_mismatch")] == [ids["mismatch"]]
    assert [i["id"] for i in listed(mailbox, "--address", "SAM.STONE@")] == [ids["mismatch"]]  # a person asked for
    assert [i["id"] for i in listed(mailbox, "--address", "olivia.grant")] == [ids["unknown"]]  # a sender

    table = mailbox.cli("review", "list")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert len(lines) == 3
    for line, tag in zip(lines, sorted(HELD, key=lambda t: ids[t])):
        assert line.split()[0] == str(ids[tag]) and HELD[tag][0] in line, line


def test_review_show_prints_the_sender_the_reasons_the_requests_the_text_and_the_history(mailbox):
    ids = mailbox.ids()
    run = mailbox.cli("review", "show", str(ids["unknown"]))
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "olivia.grant@harrowgatenursing.co.uk" in out
    assert f"unknown_endorser: {REASONS['unknown_endorser']}" in out
    assert f"Jane Doe <{TYPO}> agency_user" in out
    assert "Please could you set up NHSP:Online Agency User access for Jane Doe" in out
    assert "review: open" in out and "mailbot  decided" in out

    held_by_request = mailbox.cli("review", "show", str(ids["mismatch"]))
    assert f"email_domain_mismatch: {REASONS['email_domain_mismatch']}" in held_by_request.stdout

    missing = mailbox.cli("review", "show", "999999")
    assert missing.returncode != 0 and "no message 999999" in missing.stderr
    assert "Traceback" not in missing.stderr


# -- decide --------------------------------------------------------------------------------------------


DECISIONS = [
    # action, message, outcome, the reply's opening (None: no reply), to, cc
    # the typo'd address is on no domain of the sender's organisation: never copied in, even when a reviewer approves
    ("approve", "unknown", "approved", "We have accepted this request", ["olivia.grant@harrowgatenursing.co.uk"], []),
    ("reject", "spoof", "rejected", "We cannot accept this request", ["maria.santos@harrowgatenursing.co.uk"], []),
    ("info", "mismatch", "needs_info", "We need a little more information", ["maria.santos@harrowgatenursing.co.uk"], []),
    ("close", "mismatch", "closed", None, None, None),
]


@pytest.mark.parametrize("action, tag, outcome, says, to, cc", DECISIONS, ids=[d[0] for d in DECISIONS])
def test_review_decide_does_what_the_desk_does(mailbox, action, tag, outcome, says, to, cc):
    ids = mailbox.ids()
    message = ids[tag]
    run = mailbox.cli("review", "decide", str(message), action, "--note", f"by the script: {action}")
    assert run.returncode == 0, run.stderr
    assert f"message {message}: {action} -> {outcome}" in run.stdout

    store = mailbox.store()
    try:
        with store.session() as session:
            row = session.get(Message, message)
            assert (row.outcome, row.folder, row.refile_to) == (outcome, "processed", "processed")
            review = session.scalar(select(ReviewItem).where(ReviewItem.message_id == message))
            assert (review.status, review.closed_by, review.note) == ("closed", CLI_ACTOR, f"by the script: {action}")
            [entry] = session.scalars(select(AuditEntry).where(AuditEntry.message_id == message, AuditEntry.action == "review_decided"))
            assert entry.actor == CLI_ACTOR
            assert (entry.detail["action"], entry.detail["outcome"], entry.detail["note"]) == (action, outcome, f"by the script: {action}")
            reply = session.scalar(select(Reply).where(Reply.message_id == message))
            if says is None:
                assert reply is None and entry.detail["reply"] is None
            else:
                assert reply.status == "pending" and entry.detail["reply"] == reply.rfc_message_id  # queued, not yet sent
            if outcome == "approved":
                assert [(r.approved_by, r.outcome) for r in row.requests] == [(CLI_ACTOR, "approved")]
    finally:
        store.close()
    assert list(mailbox.replies()) == [message_id("auto-one")], "the CLI queues; the service sends"

    # A second decision, of any kind, is refused and changes nothing.
    again = mailbox.cli("review", "decide", str(message), "approve" if action != "approve" else "reject")
    assert again.returncode != 0 and "decided already" in again.stderr, (again.stdout, again.stderr)

    # The next pass sends the reply, threaded, and moves the message out of the review folder.
    mailbox.run_once()
    replies = mailbox.replies()
    del replies[message_id("auto-one")]
    if says is None:
        assert replies == {}
    else:
        assert list(replies) == [message_id(tag)]
        [reply] = replies[message_id(tag)]
        assert [a.addr_spec for a in reply["To"].addresses] == to
        assert ([a.addr_spec for a in reply["Cc"].addresses] if reply["Cc"] else []) == cc
        assert message_id(tag) in str(reply["References"]).split() and str(reply["Subject"]).startswith("Re:")
        assert says in " ".join(reply.get_body(("plain",)).get_content().split())
    assert message_id(tag) in mailbox.folder("processed") and message_id(tag) not in mailbox.folder("review")
    store = mailbox.store()
    try:
        with store.session() as session:
            assert session.get(Message, message).refile_to is None
            actions = session.scalars(select(AuditEntry.action).where(AuditEntry.message_id == message)).all()
            assert actions.count("review_decided") == 1 and "refiled" in actions
            assert session.scalar(select(func.count(Reply.id)).where(Reply.message_id == message)) == (0 if says is None else 1)
    finally:
        store.close()
    assert len(listed(mailbox)) == 2


def test_review_decide_refuses_an_unknown_message_or_action(mailbox):
    missing = mailbox.cli("review", "decide", "999999", "approve")
    assert missing.returncode != 0 and "no message 999999" in missing.stderr
    wrong = mailbox.cli("review", "decide", str(mailbox.ids()["spoof"]), "delete")
    assert wrong.returncode != 0
    assert len(listed(mailbox)) == 3, "nothing was decided"


def test_a_message_mailbot_answered_itself_cannot_be_decided_again(mailbox):
    answered = mailbox.ids()["auto-one"]
    run = mailbox.cli("review", "decide", str(answered), "reject")
    assert run.returncode != 0
    store = mailbox.store()
    try:
        with store.session() as session:
            assert session.get(Message, answered).outcome == "approved"
            assert session.scalar(select(func.count(Reply.id)).where(Reply.message_id == answered)) == 1
    finally:
        store.close()


# -- the directory -------------------------------------------------------------------------------------

NEW_ORGANISATIONS = "organisation,domains\nHarrowgate Nursing Ltd,harrowgatenursing.co.uk harrowgate-care.com\nWrenfield Nursing Ltd,wrenfieldnursing.co.uk\n"
NEW_PEOPLE = (
    "email,name,organisation,title,seniority\n"
    "maria.santos@harrowgatenursing.co.uk,Maria Santos,Harrowgate Nursing Ltd,Branch Manager,manager\n"
    "olivia.grant@harrowgatenursing.co.uk,Olivia Grant,Harrowgate Nursing Ltd,Operations Director,director\n"
    "nia.hughes@wrenfieldnursing.co.uk,Nia Hughes,Wrenfield Nursing Ltd,Branch Manager,manager\n"
)


def _rows(text: str) -> set[tuple[str, ...]]:
    return {tuple(row) for row in csv.reader(io.StringIO(text))}


def test_directory_import_replaces_the_directory_and_export_writes_what_triage_accepts(mailbox, tmp_path):
    (tmp_path / "new").mkdir()
    organisations, people = tmp_path / "new" / "organisations.csv", tmp_path / "new" / "people.csv"
    organisations.write_text(NEW_ORGANISATIONS, encoding="utf-8")
    people.write_text(NEW_PEOPLE, encoding="utf-8")
    run = mailbox.cli("directory", "import", "--organisations", organisations, "--people", people)
    assert run.returncode == 0, run.stderr
    assert "2 organisations" in run.stdout and "3 people" in run.stdout

    store = mailbox.store()
    try:
        with store.session() as session:
            assert sorted(session.scalars(select(Person.email))) == sorted(
                ["maria.santos@harrowgatenursing.co.uk", "olivia.grant@harrowgatenursing.co.uk", "nia.hughes@wrenfieldnursing.co.uk"])
            entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "directory_imported").order_by(AuditEntry.id.desc())).first()
            assert entry.actor == CLI_ACTOR
            assert (entry.detail["people"], len(entry.detail["added"]), len(entry.detail["removed"])) == (3, 2, 9), entry.detail
            assert str(people) in entry.detail["source"]
    finally:
        store.close()

    exported = tmp_path / "exported"
    run = mailbox.cli("directory", "export", exported)
    assert run.returncode == 0, run.stderr
    assert _rows((exported / "organisations.csv").read_text(encoding="utf-8")) == _rows(NEW_ORGANISATIONS)
    assert _rows((exported / "people.csv").read_text(encoding="utf-8")) == _rows(NEW_PEOPLE)

    # `mailbot triage` takes the exported files as its directory: Olivia is now a known director.
    config, _ = write_config(tmp_path / "triage", "sqlite:///" + str(tmp_path / "unused.db"), maildir=tmp_path / "unused-mail",
                             directories=(exported,))
    (tmp_path / "olivia.eml").write_bytes(approved("olivia-again", sender=OLIVIA))
    (tmp_path / "tobias.eml").write_bytes(approved("tobias", sender="Tobias Wren <tobias.wren@harrowgatenursing.co.uk>"))
    triaged = mailbot("triage", "--config", config, "--json", tmp_path / "olivia.eml", tmp_path / "tobias.eml")
    assert triaged.returncode == 0, triaged.stderr
    decided = {json.loads(line)["message_id"]: json.loads(line) for line in triaged.stdout.splitlines()}
    assert decided[message_id("olivia-again")]["outcome"] != "review"
    assert decided[message_id("olivia-again")]["endorser"]["source"] == "directory"
    assert decided[message_id("tobias")]["reasons"] == ["unknown_endorser"]  # no longer listed

    # The service decides with the imported directory too (the config's files have not changed).
    mailbox.deliver({"5-olivia": approved("olivia-service", sender=OLIVIA)})
    mailbox.run_once()
    assert message_id("olivia-service") in mailbox.folder("processed")


def test_a_directory_import_with_a_bad_row_changes_nothing(mailbox, tmp_path):
    organisations, people = tmp_path / "organisations.csv", tmp_path / "people.csv"
    organisations.write_text(NEW_ORGANISATIONS, encoding="utf-8")
    people.write_text(NEW_PEOPLE + "x@harrowgatenursing.co.uk,X,Harrowgate Nursing Ltd,Boss,emperor\n", encoding="utf-8")
    before = mailbox.cli("directory", "export", tmp_path / "before")
    run = mailbox.cli("directory", "import", "--organisations", organisations, "--people", people)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    after = mailbox.cli("directory", "export", tmp_path / "after")
    assert before.returncode == after.returncode == 0
    for name in ("organisations.csv", "people.csv"):
        assert (tmp_path / "before" / name).read_text() == (tmp_path / "after" / name).read_text()


# -- the worklist --------------------------------------------------------------------------------------


def _worklist(box) -> list[dict]:
    run = box.cli("worklist", "export")
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert run.stdout.splitlines()[0] == ("name,work_email,organisation,access,endorser,approved_at,approved_by,duplicate_of,warnings,"
                                          "access_label")
    return rows


def test_worklist_export_prints_the_open_approved_requests_with_duplicates_flagged(mailbox):
    mailbox.deliver({"5-again": approved("auto-two"),  # Jo Bloggs again, for the same access: a duplicate
                     "6-kim": approved("auto-kim", "Kim Lee", "kim.lee@harrowgatenursing.co.uk")})
    mailbox.run_once()
    decided = mailbox.cli("review", "decide", str(mailbox.ids()["unknown"]), "approve")
    assert decided.returncode == 0, decided.stderr

    rows = _worklist(mailbox)
    assert sorted((r["name"], r["work_email"], r["approved_by"]) for r in rows) == sorted([
        ("Jo Bloggs", "jo.bloggs@harrowgatenursing.co.uk", "mailbot"),
        ("Jo Bloggs", "jo.bloggs@harrowgatenursing.co.uk", "mailbot"),
        ("Kim Lee", "kim.lee@harrowgatenursing.co.uk", "mailbot"),
        ("Jane Doe", TYPO, CLI_ACTOR),
    ])
    assert all(r["organisation"] == "Harrowgate Nursing Ltd" and r["access"] == "agency_user" and r["approved_at"] for r in rows)
    # readable: the label beside the id, the time in ISO 8601 with its zone, to the second
    assert all(r["access_label"] == "NHSP:Online Agency User (AU)" for r in rows), rows
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", r["approved_at"]) for r in rows), rows
    jo = [r for r in rows if r["name"] == "Jo Bloggs"]
    assert [bool(r["duplicate_of"]) for r in jo] == [False, True], "the second request for Jo is a duplicate of the first"
    assert all(not r["duplicate_of"] for r in rows if r["name"] != "Jo Bloggs")
    jane = next(r for r in rows if r["name"] == "Jane Doe")
    assert jane["endorser"] == "olivia.grant@harrowgatenursing.co.uk"

    # Done ones leave the list; a repeat of a done one stays flagged.
    store = mailbox.store()
    try:
        with store.session() as session:
            first_jo = int(jo[1]["duplicate_of"])
            kim = session.scalar(select(Request.id).where(Request.name == "Kim Lee"))
        assert worklist.mark_done(store, first_jo, "rita") and worklist.mark_done(store, kim, "rita")
        assert not worklist.mark_done(store, kim, "rita"), "marked done twice"
    finally:
        store.close()
    rows = _worklist(mailbox)
    assert sorted(r["name"] for r in rows) == ["Jane Doe", "Jo Bloggs"]
    assert next(r for r in rows if r["name"] == "Jo Bloggs")["duplicate_of"] == str(first_jo)


def test_worklist_export_of_an_empty_worklist_is_just_the_header(tmp_path, sqlite_url):
    box = maildir_mailbox(tmp_path, sqlite_url, {"1-spoof": spoof()})
    box.run_once()
    assert _worklist(box) == []


# -- accounts ------------------------------------------------------------------------------------------


def test_users_add_creates_an_account_that_can_sign_in(mailbox):
    from fastapi.testclient import TestClient

    name, password = REVIEWER
    run = mailbox.cli("users", "add", name, "--password-stdin", input=password + "\n")
    assert run.returncode == 0, run.stderr
    assert password not in run.stdout + run.stderr
    store = mailbox.store()
    try:
        with store.session() as session:
            user = session.scalar(select(User).where(User.name == name))
            assert user.password_hash.startswith("$argon2") and password not in user.password_hash
            entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "user_added"))
            assert entry.actor == CLI_ACTOR and entry.detail == {"user": name}
    finally:
        store.close()

    app, parts = desk_app(mailbox.config)
    try:
        client = TestClient(app, base_url="http://127.0.0.1")
        signed = sign_in(client, name, password)
        assert signed.status_code == 303 and signed.headers["location"] == "/queue"
        assert "Held for review" in client.get("/queue").text
        assert sign_in(TestClient(app, base_url="http://127.0.0.1"), name, password + "x").headers["location"].startswith("/login")
    finally:
        parts.store.close()


def test_users_add_refuses_a_short_password_and_an_existing_name(mailbox):
    short = mailbox.cli("users", "add", "shorty", "--password-stdin", input="tooshort\n")
    assert short.returncode != 0 and "at least 10 characters" in short.stderr
    first = mailbox.cli("users", "add", "rita", "--password-stdin", input="first password here\n")
    assert first.returncode == 0, first.stderr
    again = mailbox.cli("users", "add", "rita", "--password-stdin", input="second password here\n")
    assert again.returncode != 0 and "already" in again.stderr
    store = mailbox.store()
    try:
        with store.session() as session:
            assert sorted(session.scalars(select(User.name))) == ["rita"]
        accounts.log_in(store, "rita", "first password here")  # the first password still stands
        with pytest.raises(accounts.LoginRefused):
            accounts.log_in(store, "rita", "second password here")
    finally:
        store.close()


def test_users_list_remove_and_reset_password(mailbox):
    from fastapi.testclient import TestClient

    for name, password in (REVIEWER, ("sam.second", "another long pass phrase")):
        assert mailbox.cli("users", "add", name, "--password-stdin", input=password + "\n").returncode == 0
    app, parts = desk_app(mailbox.config)
    try:
        rita = TestClient(app, base_url="http://127.0.0.1")
        assert sign_in(rita, *REVIEWER).status_code == 303
        listed_now = mailbox.cli("users", "list")
        assert listed_now.returncode == 0, listed_now.stderr
        lines = listed_now.stdout.splitlines()
        assert [line.split("\t")[0] for line in lines] == sorted([REVIEWER[0], "sam.second"])
        assert "signed in now: 1" in next(line for line in lines if line.startswith(REVIEWER[0]))
        assert "last sign-in never" in next(line for line in lines if line.startswith("sam.second"))

        # A new password: the old one and the browser signed in with it are refused from now on.
        reset = mailbox.cli("users", "reset-password", REVIEWER[0], "--password-stdin", input="a brand new pass phrase\n")
        assert reset.returncode == 0, reset.stderr
        assert "a brand new pass phrase" not in reset.stdout + reset.stderr
        assert rita.get("/queue", follow_redirects=False).status_code == 303  # sent to sign in again
        assert sign_in(TestClient(app, base_url="http://127.0.0.1"), *REVIEWER).headers["location"].startswith("/login")
        assert sign_in(TestClient(app, base_url="http://127.0.0.1"), REVIEWER[0], "a brand new pass phrase").headers["location"] == "/queue"
        short = mailbox.cli("users", "reset-password", REVIEWER[0], "--password-stdin", input="short\n")
        assert short.returncode != 0 and "at least 10 characters" in short.stderr

        # Removed: gone from the list, its browsers signed out, its name free; an unknown name is a clear error.
        sam = TestClient(app, base_url="http://127.0.0.1")
        assert sign_in(sam, "sam.second", "another long pass phrase").status_code == 303
        assert mailbox.cli("users", "remove", "sam.second").returncode == 0
        assert sam.get("/queue", follow_redirects=False).status_code == 303
        assert [line.split("\t")[0] for line in mailbox.cli("users", "list").stdout.splitlines()] == [REVIEWER[0]]
        unknown = mailbox.cli("users", "remove", "nobody")
        assert unknown.returncode == 2 and "no account called 'nobody'" in unknown.stderr
        with parts.store.session() as session:
            actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.action.like("user_%")))]
        assert actions.count("user_password_reset") == 1 and actions.count("user_removed") == 1
    finally:
        parts.store.close()


def test_a_login_marked_done_by_mistake_goes_back_on_the_worklist(mailbox):
    from fastapi.testclient import TestClient

    from desk import csrf_token

    assert mailbox.cli("users", "add", REVIEWER[0], "--password-stdin", input=REVIEWER[1] + "\n").returncode == 0
    app, parts = desk_app(mailbox.config)
    try:
        client = TestClient(app, base_url="http://127.0.0.1")
        assert sign_in(client, *REVIEWER).status_code == 303
        [item] = worklist.open_items(parts.store)
        token = csrf_token(client.get("/worklist").text)
        assert client.post(f"/worklist/{item.request_id}/done", data={"csrf": token}, follow_redirects=False).status_code == 303
        assert worklist.open_items(parts.store) == []
        page = client.get("/worklist").text
        assert "Marked done in the last 7 days (1)" in page and f"/worklist/{item.request_id}/undo" in page
        undone = client.post(f"/worklist/{item.request_id}/undo", data={"csrf": token}, follow_redirects=False)
        assert undone.headers["location"] == "/worklist?notice=undone"
        assert [i.request_id for i in worklist.open_items(parts.store)] == [item.request_id]
        again = client.post(f"/worklist/{item.request_id}/undo", data={"csrf": token}, follow_redirects=False)
        assert again.headers["location"] == "/worklist?notice=nothing_changed"  # not done: nothing to undo
        refused = client.post(f"/worklist/{item.request_id}/undo", data={"csrf": "wrong"}, follow_redirects=False)
        assert refused.status_code == 403
        with parts.store.session() as session:
            [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "login_unmarked")).all()
            assert entry.actor == REVIEWER[0] and entry.detail["was"]["by"] == REVIEWER[0]
    finally:
        parts.store.close()
