"""`mailbot web` sends what the desk decides: within seconds, with no `mailbot run` at all, and exactly once when a
service drains the same outbox beside it. Real Dovecot, real aiosmtpd, `mailbot web` and `mailbot run` as processes."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import select

from desk import REVIEWER, DeskServer, csrf_token, message_id, sign_in, spoof, unknown_endorser
from servers import mailbot, write_config
from test_desk_browser import _replies_to
from test_resilience import Running

from mailbot.store import Message, Store


def _wait_for(condition, seconds: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.1)
    return time.monotonic() - started


def _decide(client: httpx.Client, message: int, action: str, note: str) -> None:
    token = csrf_token(client.get(f"/messages/{message}").text)
    answer = client.post(f"/messages/{message}/decide", data={"csrf": token, "action": action, "count": "0", "note": note},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/queue"), answer.text


def test_the_desk_alone_sends_its_decisions_and_never_twice_beside_the_service(tmp_path, dovecot, imap_user, smtp_server, sqlite_url):
    config, env = write_config(tmp_path / "config", sqlite_url, dovecot=dovecot, user=imap_user, smtp=smtp_server,
                               service={"replies_per_sender_per_hour": 1000, "send_interval_seconds": 1})
    dovecot.append(imap_user, [unknown_endorser(), spoof()])
    assert mailbot("run", "--once", "--config", config, env=env).returncode == 0
    assert mailbot("users", "add", REVIEWER[0], "--password-stdin", "--config", config, env=env,
                   input=REVIEWER[1] + "\n").returncode == 0
    with Store(sqlite_url).session() as session:
        ids = {m.message_id: m.id for m in session.scalars(select(Message))}
    assert not smtp_server.envelopes()

    with DeskServer(config, env) as server:
        assert f"http://127.0.0.1:{server.port}/" in server.output()  # it says where it is
        client = httpx.Client(base_url=server.url)
        assert sign_in(client, *REVIEWER).status_code == 303

        # Only the desk runs: the rejection it writes is sent from the desk's own process, within seconds.
        _decide(client, ids[message_id("spoof")], "reject", "Maria did not send this: spoofed.")
        took = _wait_for(lambda: _replies_to(smtp_server, "spoof"), 10)
        print(f"\nthe desk's reply reached SMTP {took:.2f} s after the decision")

        # A service starts beside it, draining the same outbox: the next decision is still sent once.
        service = Running(config, env, tmp_path / "run.log")
        try:
            _wait_for(lambda: "started" in service.text() or "pass" in service.text(), 30)
            _decide(client, ids[message_id("unknown")], "reject", "Olivia is not in the directory; we rang the agency.")
            _wait_for(lambda: _replies_to(smtp_server, "unknown"), 10)
            time.sleep(4)  # a few more rounds of both drains
        finally:
            service.terminate()
    assert len(_replies_to(smtp_server, "spoof")) == 1
    assert len(_replies_to(smtp_server, "unknown")) == 1
    assert len(smtp_server.envelopes()) == 2
