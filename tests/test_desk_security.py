"""The review desk's defences, against the real app over a database a real `mailbot run --once` filled:
every route but the login page, /healthz and the stylesheet wants a session; every form wants its CSRF
token; nothing from an email runs in the reviewer's browser or reaches a reply's headers; failed logins
lock the account; sessions expire and end; two reviewers cannot both answer one message."""

from __future__ import annotations

import threading
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update
from starlette.routing import Mount

from desk import (HOSTILE_LINE, REVIEWER, SECOND_REVIEWER, DeskServer, Markup, approved, csrf_token, desk_app, hostile,
                  maildir_mailbox, message_id, mismatch, sign_in, spoof, unknown_endorser)
from mailbot.store import Store, utcnow
from mailbot.store.models import AuditEntry, LoginThrottle, Message, Organisation, Person, Reply, Request, ReviewItem, User, WebSession
from mailbot.web import accounts

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

OPEN = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz"), ("GET", "/static/desk.css")}
REPLY_HEADERS = {
    "from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references", "auto-submitted",
    "x-auto-response-suppress", "mime-version", "content-type", "content-transfer-encoding",
}


@pytest.fixture
def mailbox(tmp_path, sqlite_url):
    """Four held messages (unknown endorser, spoof, domain mismatch, hostile) and one approved, passed once."""
    box = maildir_mailbox(tmp_path, sqlite_url, {
        "1-unknown": unknown_endorser(), "2-spoof": spoof(), "3-mismatch": mismatch(), "4-hostile": hostile(),
        "5-approved": approved("auto-one"),
    })
    box.run_once()
    return box


@pytest.fixture
def desk(mailbox):
    """The desk's app over that database, with two reviewers' accounts."""
    from fastapi.testclient import TestClient

    app, parts = desk_app(mailbox.config)
    for name, password in (REVIEWER, SECOND_REVIEWER):
        accounts.add_user(parts.store, name, password, actor="test")

    def client(host: str = "127.0.0.1", address: str = "testclient") -> TestClient:
        return TestClient(app, base_url=f"http://{host}", client=(address, 50000))

    yield type("Desk", (), {"app": app, "parts": parts, "store": parts.store, "client": staticmethod(client),
                            "ids": mailbox.ids(), "mailbox": mailbox})
    parts.store.close()


def signed_in(desk, who=REVIEWER, address: str = "testclient"):
    client = desk.client(address=address)
    response = sign_in(client, *who)
    assert response.status_code == 303 and response.headers["location"] == "/queue", response.text
    return client


def snapshot(store: Store) -> dict:
    """Everything a request could change, but the sessions' last-seen times."""
    tables = {
        "messages": (Message, ("id", "outcome", "folder", "state", "refile_to", "reasons")),
        "requests": (Request, ("id", "message_id", "name", "email", "access", "outcome", "approved_by", "provisioned_at")),
        "replies": (Reply, ("id", "message_id", "status", "recipient")),
        "review": (ReviewItem, ("id", "message_id", "status", "closed_by", "note")),
        "audit": (AuditEntry, ("id", "actor", "action")),
        "users": (User, ("id", "name", "failed_logins", "locked_until")),
        "people": (Person, ("email", "name", "title", "seniority")),
        "organisations": (Organisation, ("name",)),
    }
    with store.session() as session:
        return {name: sorted(tuple(str(getattr(row, c)) for c in columns) for row in session.scalars(select(model)))
                for name, (model, columns) in tables.items()}


def routes(app):
    """(method, path template, a concrete path) for every route the app serves."""
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            found.append(("GET", route.path + "/{path}", route.path + "/desk.css"))
            continue
        path = route.path
        concrete = path
        for name in getattr(route, "param_convertors", {}):
            concrete = concrete.replace("{" + name + "}", "1")
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path, concrete))
    return found


def a_full_form(token: str = "not-a-token") -> dict:
    """Every field any of the desk's forms has, filled, so a refusal is not a form error."""
    return {"csrf": token, "action": "approve", "count": "1", "name0": "Jane Doe", "email0": "jane.doe@harrowgatenursing.co.uk",
            "access0": "agency_user", "note": "ok", "email": "maria.santos@harrowgatenursing.co.uk", "name": "Maria Santos",
            "title": "Director", "seniority": "director", "password": "x"}


DIRECTORY_FILES = {
    "organisations": ("organisations.csv", b"organisation,domains\nEvil Ltd,evil.example\n", "text/csv"),
    "people": ("people.csv", b"email,name,organisation,title,seniority\nmallory@evil.example,Mallory,Evil Ltd,Director,director\n", "text/csv"),
}


# -- without a session ---------------------------------------------------------------------------------


def test_every_route_without_a_session_is_refused(desk):
    served = routes(desk.app)
    assert {(m, p) for m, p, _ in served} >= OPEN, "the login page, /healthz or the stylesheet moved"
    guarded = [(m, p, c) for m, p, c in served if (m, p) not in OPEN]
    assert len(guarded) >= 12, guarded  # queue, message, decide, history, directory (3), worklist (3), dashboard, logout, /
    other = signed_in(desk, SECOND_REVIEWER)  # a real token, from someone else's session
    token = csrf_token(other.get("/queue").text)
    before = snapshot(desk.store)
    for cookies in ({}, {"mailbot_session": "forged-or-expired"}):
        client = desk.client()
        for name, value in cookies.items():
            client.cookies.set(name, value)
        for method, path, concrete in guarded:
            if method == "GET":
                response = client.get(concrete, follow_redirects=False)
                assert response.status_code in (303, 302, 307, 403), (path, response.status_code)
                if response.status_code != 403:
                    assert urlsplit(response.headers["location"]).path == "/login", (path, response.headers)
            else:
                files = DIRECTORY_FILES if "import" in path else None
                response = client.request(method, concrete, data=a_full_form(token), files=files, follow_redirects=False)
                assert response.status_code == 403, (method, path, response.status_code, response.text[:200])
            body = response.text
            assert len(body) < 100 and "<html" not in body.lower() and "<table" not in body.lower(), (path, body[:200])
            assert "Held for review" not in body and "Jane Doe" not in body, path
    assert snapshot(desk.store) == before, "a refused request changed something"


def test_the_login_page_healthz_and_the_stylesheet_are_open(desk):
    client = desk.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    css = client.get("/static/desk.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and "body" in css.text
    login = client.get("/login")
    assert login.status_code == 200 and 'type="password"' in login.text
    assert "Held for review" not in login.text and "rita" not in login.text  # nothing of the desk


# -- CSRF ----------------------------------------------------------------------------------------------


def test_a_form_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(desk):
    client = signed_in(desk)
    page = client.get(f"/messages/{desk.ids['unknown']}")
    assert page.status_code == 200
    right = csrf_token(page.text)
    theirs = csrf_token(signed_in(desk, SECOND_REVIEWER).get("/queue").text)
    assert theirs != right
    posts = [(m, p, c.replace("/1/", f"/{desk.ids['unknown']}/")) for m, p, c in routes(desk.app) if m == "POST" and p != "/login"]
    assert {p for _, p, _ in posts} >= {"/messages/{message_id}/decide", "/logout", "/directory/import",
                                        "/directory/people/edit", "/worklist/{request_id}/done"}
    with desk.store.session() as session:  # an approved request of the worklist, for its Done button
        request_id = session.scalar(select(Request.id).where(Request.approved_by == "mailbot"))
    before = snapshot(desk.store)
    for method, path, concrete in posts:
        concrete = concrete.replace("/worklist/1/", f"/worklist/{request_id}/")
        files = DIRECTORY_FILES if "import" in path else None
        for token in (None, "", "wrong-token", right[:-1], theirs, right[:-1] + "é", "€" * 43, "\x00" + right[1:], right + " "):
            form = a_full_form()
            if token is None:
                del form["csrf"]
            else:
                form["csrf"] = token
            response = client.request(method, concrete, data=form, files=files, follow_redirects=False)
            assert response.status_code == 403, (path, token, response.status_code)
            assert "<table" not in response.text
    assert snapshot(desk.store) == before, "a post refused for its token changed something"
    assert client.get("/queue").status_code == 200, "the refusals should not have ended the session"

    # The same post with the right token is obeyed: it was the token that was refused.
    decided = client.post(f"/messages/{desk.ids['unknown']}/decide",
                          data={**a_full_form(right), "action": "close", "count": "0"}, follow_redirects=False)
    assert decided.status_code == 303 and decided.headers["location"].startswith("/queue"), decided.text
    with desk.store.session() as session:
        assert session.scalar(select(ReviewItem.status).where(ReviewItem.message_id == desk.ids["unknown"])) == "closed"


def test_the_login_form_wants_its_token_too(desk):
    client = desk.client()
    client.get("/login")
    for token in ("", "wrong", "é" * 32, "\u202e" + "x" * 31):  # any shape of wrong token is a 403, never a 500
        response = client.post("/login", data={"name": REVIEWER[0], "password": REVIEWER[1], "csrf": token}, follow_redirects=False)
        assert response.status_code == 403, (token, response.status_code)
    client.get("/login")  # its cookie, but the token left out of the form
    response = client.post("/login", data={"name": REVIEWER[0], "password": REVIEWER[1]}, follow_redirects=False)
    assert response.status_code == 403 and "mailbot_session" not in response.headers.get("set-cookie", "")
    other = desk.client()  # the form's token without the cookie that goes with it
    token = csrf_token(client.get("/login").text)
    response = other.post("/login", data={"name": REVIEWER[0], "password": REVIEWER[1], "csrf": token}, follow_redirects=False)
    assert response.status_code == 403 and "mailbot_session" not in response.headers.get("set-cookie", "")


# -- what an email carries stays text ------------------------------------------------------------------


def test_markup_template_syntax_and_header_injection_in_a_message_stay_inert(desk):
    client = signed_in(desk)
    hostile_id = desk.ids["hostile"]

    queue = client.get("/queue")
    assert queue.status_code == 200
    shown = Markup(queue.text)
    assert shown.live_code() == [], shown.live_code()
    assert "<img src=x onerror=alert(1)> {{ 7*7 }}" in shown.text  # the subject, as text
    assert f'href="/messages/{hostile_id}"' in queue.text

    page = client.get(f"/messages/{hostile_id}")
    assert page.status_code == 200
    shown = Markup(page.text)
    assert shown.live_code() == [], shown.live_code()
    text = " ".join(shown.text.split())
    assert " ".join(HOSTILE_LINE.split()) in text, "the body should be shown as it was written"
    assert "<img src=x onerror=alert(1)> {{ 7*7 }}" in text
    assert "template 49 here" not in text and "Access <img src=x onerror=alert(1)> 49" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # escaped in the HTML itself
    assert "Eve <script>alert(1)</script> {{ 7*7 }} Bcc: victim@evil.example <eve.hacker@harrowgatenursing.co.uk>" in text

    # Values that come back from the address bar are text too.
    for path in ('/queue?q="><script>alert(1)</script>', "/queue?notice=<script>alert(1)</script>",
                 f"/messages/{hostile_id}?notice=<img src=x onerror=alert(1)>", "/history?q=<script>alert(1)</script>"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert Markup(response.text).live_code() == [], path
    login = desk.client().get("/login?notice=<script>alert(1)</script>")
    assert Markup(login.text).live_code() == [] and "script" not in Markup(login.text).text

    # Approved, with a hostile note: the reply's headers are mailbot's own, one clean line each.
    token = csrf_token(page.text)
    decided = client.post(f"/messages/{hostile_id}/decide", data={
        "csrf": token, "action": "approve", "count": "1", "name0": "Jo Bloggs", "email0": "jo.bloggs@harrowgatenursing.co.uk",
        "access0": "agency_user", "note": '"><img src=x onerror=alert(3)> {{ 7*7 }}'}, follow_redirects=False)
    assert decided.status_code == 303 and decided.headers["location"].startswith("/queue"), decided.text
    after = client.get(f"/messages/{hostile_id}")
    assert Markup(after.text).live_code() == [] and "{{ 7*7 }}" in Markup(after.text).text
    with desk.store.session() as session:
        reply = session.scalar(select(Reply).where(Reply.message_id == hostile_id))
        content, envelope = reply.content, list(reply.envelope_to)
    assert sorted(envelope) == ["eve.hacker@harrowgatenursing.co.uk", "jo.bloggs@harrowgatenursing.co.uk"]
    message = message_from_bytes(content, policy=email_policy.default)
    names = {name.lower() for name in message.keys()}
    assert names <= REPLY_HEADERS, f"unexpected reply headers {sorted(names - REPLY_HEADERS)}"
    assert message["Bcc"] is None
    for name, value in message.items():
        assert "\r" not in str(value) and "\n" not in str(value), (name, str(value))
        assert "49" not in str(value) or name.lower() in ("message-id", "date", "content-type"), (name, str(value))
    head = content.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert all(line[:1] in (" ", "\t") or ":" in line for line in head.split("\r\n")), head
    assert not any(line.lower().startswith("bcc:") for line in head.split("\r\n")), head
    to_and_cc = [a.addr_spec for h in ("To", "Cc") if message[h] for a in message[h].addresses]
    assert "victim@evil.example" not in to_and_cc
    assert " ".join(str(message["In-Reply-To"]).split()) == message_id("hostile")
    html = message.get_body(("html",)).get_content()
    assert Markup(html).live_code() == [], "markup from the message reached the reply's HTML"
    assert "49" not in message.get_body(("plain",)).get_content()


def test_a_damaged_decision_form_is_refused_and_blank_rows_add_nobody(desk):
    client = signed_in(desk)
    message = desk.ids["spoof"]
    token = csrf_token(client.get(f"/messages/{message}").text)
    before = snapshot(desk.store)
    for count in ("abc", "-1", "1e9", "100000"):
        response = client.post(f"/messages/{message}/decide", data={"csrf": token, "action": "close", "count": count},
                               follow_redirects=False)
        assert response.status_code == 303 and urlsplit(response.headers["location"]).path == f"/messages/{message}", (count, response.status_code)
        assert parse_qs(urlsplit(response.headers["location"]).query) == {"notice": ["form_damaged"]}
        assert "damaged" in Markup(client.get(response.headers["location"]).text).text
    assert snapshot(desk.store) == before
    # More rows than the message has, all blank (an old page, a forged form): nobody is added.
    decided = client.post(f"/messages/{message}/decide", data={"csrf": token, "action": "close", "count": "40"}, follow_redirects=False)
    assert decided.status_code == 303 and urlsplit(decided.headers["location"]).path == "/queue"
    with desk.store.session() as session:
        assert [(r.name, r.email) for r in session.scalars(select(Request).where(Request.message_id == message))] == [
            ("Rex Vane", "rex.vane@harrowgatenursing.co.uk")]


# -- signing in ----------------------------------------------------------------------------------------


def test_five_wrong_passwords_make_that_client_wait_for_that_account(desk):
    name, password = REVIEWER
    client = desk.client(address="192.0.2.66")
    for attempt in range(5):
        response = sign_in(client, name, f"wrong password {attempt}")
        assert response.status_code == 303 and urlsplit(response.headers["location"]).path == "/login"
        assert "mailbot_session" not in response.headers.get("set-cookie", "")
    refused = sign_in(client, name, password)  # the right one, now
    assert refused.status_code == 303 and urlsplit(refused.headers["location"]).path == "/login"
    assert "mailbot_session" not in refused.headers.get("set-cookie", "")
    assert parse_qs(urlsplit(refused.headers["location"]).query) == {"notice": ["refused"]}  # a code, never text
    said = Markup(client.get(refused.headers["location"]).text).text
    assert "too many failed attempts" in said, said  # the one answer to every refusal: it does not say "locked"
    assert client.get("/queue", follow_redirects=False).status_code == 303
    with desk.store.session() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "sign_in_throttled", AuditEntry.actor == name)) is not None
    signed_in(desk, SECOND_REVIEWER, address="192.0.2.66")  # another account from that client is not held up
    # The lock-out is no weapon: from the reviewer's own client, the right password still signs in.
    signed_in(desk, REVIEWER, address="198.51.100.7")

    # For a while, not for ever.
    with desk.store.session() as session:
        session.execute(update(LoginThrottle).values(blocked_until=utcnow() - timedelta(seconds=1)))
    signed_in(desk, REVIEWER, address="192.0.2.66")


def test_one_client_guessing_at_many_accounts_is_made_to_wait(desk):
    client = desk.client(address="203.0.113.9")
    for attempt in range(accounts.CLIENT_LIMIT):
        sign_in(client, f"someone-{attempt % 7}", f"guess {attempt}")
    refused = sign_in(client, *REVIEWER)  # even the right password, from this client, for a while
    assert parse_qs(urlsplit(refused.headers["location"]).query) == {"notice": ["refused"]}
    signed_in(desk, REVIEWER, address="198.51.100.8")


def test_locked_wrong_and_unknown_take_the_same_time_to_answer(desk):
    """Every answer costs one argon2 verification: the time says nothing of which refusal it is."""
    import time

    def answer_time(client, name, password) -> float:
        form = client.get("/login")
        started = time.perf_counter()
        client.post("/login", data={"name": name, "password": password, "csrf": csrf_token(form.text)}, follow_redirects=False)
        return time.perf_counter() - started

    waiting = desk.client(address="192.0.2.77")
    for attempt in range(accounts.ACCOUNT_LIMIT):
        sign_in(waiting, REVIEWER[0], f"wrong {attempt}")
    fresh = desk.client(address="192.0.2.78")
    times = {
        "waiting": sorted(answer_time(waiting, REVIEWER[0], "wrong again") for _ in range(3))[1],
        "wrong": sorted(answer_time(fresh, REVIEWER[0], f"wrong {n}") for n in range(3))[1],
        "unknown": sorted(answer_time(fresh, f"nobody{n}", "whatever") for n in range(3))[1],
    }
    fastest, slowest = min(times.values()), max(times.values())
    assert fastest > 0.02, times  # an argon2 verification each, not a shortcut
    assert slowest < 2 * fastest, times


def test_four_wrong_passwords_then_the_right_one_signs_in_and_counts_again_from_nothing(desk):
    client = desk.client()
    for attempt in range(4):
        sign_in(client, REVIEWER[0], f"wrong {attempt}")
    signed_in(desk, REVIEWER)
    for attempt in range(4):
        sign_in(client, REVIEWER[0], f"wrong again {attempt}")
    signed_in(desk, REVIEWER)


def test_an_unknown_name_is_told_the_same_as_a_wrong_password(desk):
    client = desk.client()
    unknown = sign_in(client, "nobody-here", "whatever it is")
    wrong = sign_in(client, REVIEWER[0], "whatever it is")
    assert unknown.headers["location"] == wrong.headers["location"]


# -- headers and cookies -------------------------------------------------------------------------------


def _csp(response) -> dict[str, list[str]]:
    policy = {}
    for part in response.headers["content-security-policy"].split(";"):
        words = part.split()
        if words:
            policy[words[0].lower()] = [w.lower() for w in words[1:]]
    return policy


def test_security_headers_on_every_kind_of_response(desk):
    client = signed_in(desk)
    anonymous = desk.client()
    responses = {
        "login": anonymous.get("/login"), "healthz": anonymous.get("/healthz"), "css": anonymous.get("/static/desk.css"),
        "refused GET": anonymous.get("/queue", follow_redirects=False), "refused POST": anonymous.post("/logout"),
        "queue": client.get("/queue"), "message": client.get(f"/messages/{desk.ids['spoof']}"),
        "missing": client.get("/messages/999999"), "no such path": client.get("/no-such-page"),
        "dashboard": client.get("/dashboard"), "csv": client.get("/worklist.csv"),
        "bad token": client.post("/logout", data={"csrf": "wrong"}),
    }
    assert responses["missing"].status_code == 404
    for what, response in responses.items():
        headers = response.headers
        assert headers.get("x-frame-options") == "DENY", what
        assert headers.get("x-content-type-options") == "nosniff", what
        policy = _csp(response)
        assert not any("'unsafe-inline'" in v or "'unsafe-eval'" in v for v in policy.values()), (what, policy)
        scripts = policy.get("script-src", policy.get("default-src"))
        assert scripts is not None, (what, "no script-src and no default-src: scripts are unrestricted")
        assert scripts == ["'none'"] or not {"*", "data:", "http:", "https:", "'unsafe-inline'", "'unsafe-hashes'"} & set(scripts), (what, scripts)
        assert policy.get("frame-ancestors") == ["'none'"], what
    for page in ("login", "queue", "message", "dashboard"):
        assert "<script" not in responses[page].text.lower() and " style=" not in responses[page].text, page


def _cookie(response, name: str) -> str:
    found = [value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}=")]
    assert found, f"no {name} cookie set"
    return found[0]


def test_the_session_cookie_is_httponly_samesite_and_secure_off_loopback(desk, mailbox):
    from fastapi.testclient import TestClient

    local = sign_in(desk.client(), *REVIEWER)
    cookie = _cookie(local, "mailbot_session").lower()
    assert "httponly" in cookie and ("samesite=strict" in cookie or "samesite=lax" in cookie), cookie
    assert "secure" not in cookie.replace("samesite", ""), "plain http on loopback cannot keep a Secure cookie"

    for host in ("0.0.0.0", "192.0.2.10", "desk.nhsprofessionals.nhs.uk"):
        app, parts = desk_app(mailbox.config, host=host)
        try:
            client = TestClient(app, base_url="https://127.0.0.1")
            form = client.get("/login")
            assert "secure" in _cookie(form, "mailbot_login_csrf").lower().replace("samesite", "")
            response = client.post("/login", data={"name": REVIEWER[0], "password": REVIEWER[1], "csrf": csrf_token(form.text)},
                                   follow_redirects=False)
            assert response.status_code == 303, response.text
            cookie = _cookie(response, "mailbot_session").lower()
            assert "httponly" in cookie and "samesite=strict" in cookie and "; secure" in cookie, (host, cookie)
        finally:
            parts.store.close()


def test_mailbot_web_listening_off_loopback_sets_secure_cookies(mailbox):
    store = mailbox.store()
    try:
        store.upgrade()
        accounts.add_user(store, *REVIEWER, actor="test")
    finally:
        store.close()
    with DeskServer(mailbox.config, mailbox.env, host="0.0.0.0") as server:
        form = httpx.get(f"{server.url}/login")
        login_cookie = _cookie(form, "mailbot_login_csrf")
        assert "; secure" in login_cookie.lower(), login_cookie
        response = httpx.post(f"{server.url}/login", headers={"cookie": login_cookie.split(";")[0]},
                              data={"name": REVIEWER[0], "password": REVIEWER[1], "csrf": csrf_token(form.text)})
        assert response.status_code == 303 and response.headers["location"] == "/queue", response.text
        cookie = _cookie(response, "mailbot_session").lower()
        assert "; secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie, cookie


# -- sessions ------------------------------------------------------------------------------------------


def _age_sessions(store: Store, **values) -> None:
    with store.session() as session:
        session.execute(update(WebSession).values(**values))


@pytest.mark.parametrize("how", ["expired", "idle"])
def test_an_old_session_is_refused(desk, how):
    client = signed_in(desk)
    page = client.get("/queue")
    assert page.status_code == 200
    token = csrf_token(page.text)
    now = utcnow()
    if how == "expired":  # past its 12 hours, however busy
        _age_sessions(desk.store, created_at=now - timedelta(hours=13), expires_at=now - timedelta(minutes=1))
    else:  # nothing done for longer than the idle limit
        _age_sessions(desk.store, last_seen_at=now - accounts.SESSION_IDLE - timedelta(minutes=1))
    response = client.get("/queue", follow_redirects=False)
    assert response.status_code == 303 and urlsplit(response.headers["location"]).path == "/login"
    before = snapshot(desk.store)
    refused = client.post(f"/messages/{desk.ids['spoof']}/decide", data={"csrf": token, "action": "approve", "count": "0"},
                          follow_redirects=False)
    assert refused.status_code == 403
    assert snapshot(desk.store) == before
    with desk.store.session() as session:
        assert session.scalar(select(WebSession.id)) is None, "an expired session should be gone from the database"


def test_logout_ends_the_session(desk):
    client = signed_in(desk)
    cookie = client.cookies.get("mailbot_session")
    token = csrf_token(client.get("/queue").text)
    out = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and urlsplit(out.headers["location"]).path == "/login"
    with desk.store.session() as session:
        assert session.scalar(select(WebSession.id)) is None
    replay = desk.client()  # the old cookie, kept by someone, is worth nothing now
    replay.cookies.set("mailbot_session", cookie)
    assert replay.get("/queue", follow_redirects=False).status_code == 303
    assert replay.post("/logout", data={"csrf": token}).status_code == 403


# -- two reviewers at once -----------------------------------------------------------------------------


@pytest.fixture
def live_desk(tmp_path, database_url):
    """`mailbot web` as a subprocess on a free port, over a database a real pass filled (SQLite, then PostgreSQL)."""
    box = maildir_mailbox(tmp_path, database_url, {f"{n}-held": unknown_endorser(f"race-{n}") for n in range(4)})
    box.run_once()
    for name, password in (REVIEWER, SECOND_REVIEWER):
        created = box.cli("users", "add", name, "--password-stdin", input=password + "\n")
        assert created.returncode == 0, created.stderr
    with DeskServer(box.config, box.env) as server:
        yield box, server


def _browser(server, who) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=True)
    form = client.get("/login")
    signed = client.post("/login", data={"name": who[0], "password": who[1], "csrf": csrf_token(form.text)})
    assert signed.status_code == 200 and "Held for review" in signed.text, signed.text[:300]
    return client


def test_two_reviewers_deciding_one_message_at_once_send_one_reply(live_desk):
    box, server = live_desk
    reviewers = [_browser(server, REVIEWER), _browser(server, SECOND_REVIEWER)]
    ids = box.ids()
    for n in range(4):
        message = ids[f"race-{n}"]
        tokens = [csrf_token(c.get(f"/messages/{message}").text) for c in reviewers]
        start = threading.Barrier(2)
        answers: list = [None, None]

        def decide(k: int) -> None:
            start.wait()
            answers[k] = reviewers[k].post(f"/messages/{message}/decide", follow_redirects=False, data={
                "csrf": tokens[k], "action": ("approve", "reject")[k], "count": "0", "note": f"reviewer {k}"})

        threads = [threading.Thread(target=decide, args=(k,)) for k in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert all(a is not None for a in answers), "a reviewer got no answer"
        places = sorted(urlsplit(a.headers["location"]).path for a in answers)
        assert [a.status_code for a in answers] == [303, 303], [a.text[:200] for a in answers]
        assert places == ["/messages/" + str(message), "/queue"], places
        loser = next(a for a in answers if urlsplit(a.headers["location"]).path != "/queue")
        told = parse_qs(urlsplit(loser.headers["location"]).query)
        assert told == {"notice": ["decided_already"]}, told
        winner = answers.index(next(a for a in answers if a is not loser))
        shown = reviewers[1 - winner].get(loser.headers["location"]).text
        assert "decided this message first" in shown
        store = box.store()
        try:
            with store.session() as session:
                assert session.scalar(select(Reply.id).where(Reply.message_id == message)) is not None
                assert len(session.scalars(select(Reply).where(Reply.message_id == message)).all()) == 1
                decided = session.scalars(select(AuditEntry).where(AuditEntry.message_id == message,
                                                                   AuditEntry.action == "review_decided")).all()
                assert [d.actor for d in decided] == [(REVIEWER, SECOND_REVIEWER)[winner][0]]
                assert session.scalar(select(ReviewItem.note).where(ReviewItem.message_id == message)) == f"reviewer {winner}"
        finally:
            store.close()
    box.run_once()
    replies = box.replies()
    assert sorted(replies) == sorted(message_id(f"race-{n}") for n in range(4))
    assert all(len(v) == 1 for v in replies.values())
    assert sorted(box.folder("processed")) == sorted(message_id(f"race-{n}") for n in range(4)) and box.folder("review") == []


def test_a_warning_for_ops_is_on_the_dashboard_until_it_clears_and_its_text_stays_inert(desk):
    from mailbot.service.alerts import Alerts

    alerts = Alerts(desk.store, None, None, "agencies@nhsprofessionals.nhs.uk")
    client = signed_in(desk)
    assert "Warnings for ops" not in client.get("/dashboard").text
    alerts.raise_("polls_failing", "5 polls in a row have failed: IMAP <script>alert(1)</script> refused")
    page = client.get("/dashboard").text
    assert "Warnings for ops" in page and "5 polls in a row have failed" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    alerts.clear("polls_failing")
    assert "Warnings for ops" not in client.get("/dashboard").text
