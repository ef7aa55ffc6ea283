"""The review desk's tests share these: held messages of each kind, a Maildir passed once by the real
service, the desk app over its database, and signing in. Nothing here is a mock."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from html.parser import HTMLParser
from pathlib import Path

import httpx
from sqlalchemy import select

from mailbot.store import Message, Store
from servers import ROOT, free_port, header_message_id, mailbot, write_config

OURS = "agencies@nhsprofessionals.nhs.uk"
AUTH_PASS = ("mx.nhsprofessionals.nhs.uk; dkim=pass header.d=harrowgatenursing.co.uk header.s=s1; "
             "dmarc=pass header.from=harrowgatenursing.co.uk")
AUTH_FAIL = ("mx.nhsprofessionals.nhs.uk; spf=fail smtp.mailfrom=harrowgatenursing.co.uk; dkim=none; "
             "dmarc=fail (p=quarantine) header.from=harrowgatenursing.co.uk")
FOLDERS = {"processed": ".Mailbot.Processed", "review": ".Mailbot.Review", "ignored": ".Mailbot.Ignored"}

REVIEWER = ("rita.reviewer", "correct horse battery staple")
SECOND_REVIEWER = ("sam.second", "another long pass phrase")

TYPO = "jane.doe@harowgatenursing.co.uk"  # one "r" short: not the agency's domain
CORRECTED = "jane.doe@harrowgatenursing.co.uk"


def message_id(tag: str) -> str:
    return f"<{tag}@harrowgatenursing.co.uk>"


def encoded_word(text: str) -> str:
    """RFC 2047 B-encoding: how CR, LF and markup really reach a header's decoded value."""
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def mail(tag: str, sender: str, subject: str, body: str, auth: str = AUTH_PASS) -> bytes:
    return (
        f"Authentication-Results: {auth}\r\n"
        f"From: {sender}\r\n"
        f"To: {OURS}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {message_id(tag)}\r\n"
        "Date: Tue, 22 Apr 2025 08:02:39 +0100\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"\r\n{body}"
    ).encode("utf-8")


def unknown_endorser(tag: str = "unknown") -> bytes:
    """Authenticated, from Harrowgate's domain, but Olivia is not in the directory: held
    (unknown_endorser). The address she gives for Jane has a typo a reviewer corrects."""
    return mail(tag, "Olivia Grant <olivia.grant@harrowgatenursing.co.uk>", "Agency User access for Jane Doe",
                f"Hello,\r\n\r\nPlease could you set up NHSP:Online Agency User access for Jane Doe, {TYPO}.\r\n\r\n"
                "Kind regards\r\nOlivia Grant\r\nBranch Manager\r\nHarrowgate Nursing Ltd\r\n")


def spoof(tag: str = "spoof") -> bytes:
    """Maria Santos (listed) by name, but DMARC failed: held (sender_not_authenticated)."""
    return mail(tag, "Maria Santos <maria.santos@harrowgatenursing.co.uk>", "URGENT rate admin",
                "Set up Rex Vane as Agency Rate Administrator today, rex.vane@harrowgatenursing.co.uk.\r\n\r\nMaria\r\n",
                auth=AUTH_FAIL)


def mismatch(tag: str = "mismatch") -> bytes:
    """Maria, authenticated, asks for someone at a domain not her agency's: held (email_domain_mismatch)."""
    return mail(tag, "Maria Santos <maria.santos@harrowgatenursing.co.uk>", "Agency User for Sam Stone",
                "Hello,\r\n\r\nPlease set up Agency User access for Sam Stone, sam.stone@stoneworks.example.com.\r\n\r\n"
                "Kind regards\r\nMaria Santos\r\nBranch Manager\r\n")


def approved(tag: str, name: str = "Jo Bloggs", address: str = "jo.bloggs@harrowgatenursing.co.uk",
             sender: str = "Maria Santos <maria.santos@harrowgatenursing.co.uk>") -> bytes:
    """Maria, authenticated and listed, asks for a colleague on her domain: approved automatically."""
    return mail(tag, sender, f"Agency User access {tag}",
                f"Hello,\r\n\r\nPlease could you set up NHSP:Online Agency User access for {name}, {address}.\r\n\r\n"
                "Kind regards\r\nMaria Santos\r\nBranch Manager\r\nHarrowgate Nursing Ltd\r\n")


HOSTILE_NAME = "Eve <script>alert(1)</script> {{ 7*7 }}\r\nBcc: victim@evil.example"
HOSTILE_SUBJECT = "Access <img src=x onerror=alert(1)> {{ 7*7 }}\r\nBcc: victim@evil.example"
HOSTILE_LINE = "Hello <script>alert(1)</script> and <img src=x onerror=alert(1)>, template {{ 7*7 }} here."


def hostile(tag: str = "hostile") -> bytes:
    """Markup, template syntax and CR/LF header injection in the sender's name, the subject (both as
    encoded words, the way they really reach a decoded header) and the body. Eve is not in the
    directory: held (unknown_endorser)."""
    return (
        f"Authentication-Results: {AUTH_PASS}\r\n"
        f"From: {encoded_word(HOSTILE_NAME)} <eve.hacker@harrowgatenursing.co.uk>\r\n"
        f"To: {OURS}\r\n"
        f"Subject: {encoded_word(HOSTILE_SUBJECT)} =?utf-8?q?and=0D=0ABcc=3A_victim=40evil=2Eexample?=\r\n"
        f"Message-ID: {message_id(tag)}\r\n"
        "Date: Tue, 22 Apr 2025 08:02:39 +0100\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{HOSTILE_LINE}\r\n\r\n"
        "Please could you set up NHSP:Online Agency User access for Jo Bloggs, jo.bloggs@harrowgatenursing.co.uk.\r\n\r\n"
        "Kind regards\r\nEve\r\nBranch Manager\r\n"
    ).encode("utf-8")


# -- a Maildir, passed once ---------------------------------------------------------------------------


@dataclass
class Mailbox:
    config: Path
    env: dict
    maildir: Path
    outbox: Path
    database_url: str

    def deliver(self, messages: dict[str, bytes]) -> None:
        for name, raw in messages.items():
            (self.maildir / "new" / name).write_bytes(raw)

    def run_once(self):
        run = mailbot("run", "--once", "--config", self.config, env=self.env)
        assert run.returncode == 0, run.stderr
        return run

    def cli(self, *args, **kwargs):
        return mailbot(*args, "--config", self.config, env=self.env, **kwargs)

    def folder(self, name: str) -> list[str | None]:
        """The Message-IDs filed in a folder (processed, review, ignored)."""
        found = []
        for sub in ("cur", "new"):
            path = self.maildir / FOLDERS[name] / sub
            if path.is_dir():
                found.extend(header_message_id(entry.read_bytes()) for entry in sorted(path.iterdir()))
        return sorted(found, key=str)

    def replies(self) -> dict[str, object]:
        """The replies written to the file outbox, by the Message-ID they answer."""
        found = {}
        for path in sorted(self.outbox.glob("*.eml")):
            reply = message_from_bytes(path.read_bytes(), policy=email_policy.default)
            found.setdefault(" ".join(str(reply["In-Reply-To"]).split()), []).append(reply)
        return found

    def store(self) -> Store:
        return Store(self.database_url)

    def ids(self) -> dict[str, int]:
        """The database's id of each message, by its tag (the Message-ID's local part)."""
        store = self.store()
        try:
            with store.session() as session:
                return {m.message_id.strip("<>").split("@")[0]: m.id for m in session.scalars(select(Message)) if m.message_id}
        finally:
            store.close()


def maildir_mailbox(folder: Path, database_url: str, messages: dict[str, bytes], **service) -> Mailbox:
    """A Maildir with these messages in new/ and a config replying into a file outbox; not yet passed."""
    maildir, outbox = folder / "mail", folder / "outbox"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    config, env = write_config(folder / "config", database_url, maildir=maildir, outbox=outbox,
                               service={"replies_per_sender_per_hour": 1000, **service})
    box = Mailbox(config, env, maildir, outbox, database_url)
    box.deliver(messages)
    return box


# -- the desk, in process ------------------------------------------------------------------------------


def desk_app(config: Path, host: str | None = None):
    """The desk's FastAPI app over a config, as `mailbot web` builds it; and its parts."""
    from mailbot.resources import shipped
    from mailbot.service.wiring import build
    from mailbot.settings import load_settings
    from mailbot.web.app import create_app

    parts = build(load_settings(config))
    parts.store.upgrade()
    parts.sync_directory()
    return create_app(parts, parts.settings.replies.templates or shipped("templates"), host=host), parts


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client, name: str, password: str):
    """The login form as a browser fills it: GET /login (its token and cookie), then POST."""
    form = client.get("/login")
    assert form.status_code == 200
    return client.post("/login", data={"name": name, "password": password, "csrf": csrf_token(form.text)},
                       follow_redirects=False)


class Markup(HTMLParser):
    """What a page really is to a browser: its elements, their attributes, and its text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def live_code(self) -> list[str]:
        """Anything that would run or load: script elements, on* handlers, images, javascript: URLs."""
        found = []
        for tag, attrs in self.tags:
            if tag in ("script", "img", "iframe", "object", "embed"):
                found.append(f"<{tag}>")
            for name, value in attrs.items():
                if name.startswith("on"):
                    found.append(f"<{tag} {name}=>")
                if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith("javascript:"):
                    found.append(f"<{tag} {name}={value}>")
        return found


# -- the desk, served ----------------------------------------------------------------------------------


class DeskServer:
    """`mailbot web --config ... --port FREE` in a subprocess, as ops start it; ready when /healthz answers."""

    def __init__(self, config: Path, env: dict, host: str = "127.0.0.1"):
        self.config, self.env, self.host = config, env, host
        self.port = free_port()
        self.url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = config.parent / f"web-{self.port}.log"

    def __enter__(self) -> DeskServer:
        environment = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG" and not k.startswith("MAILBOT_TEST_")}
        environment.update(self.env)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailbot", "web", "--config", str(self.config), "--host", self.host, "--port", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=environment, cwd=ROOT)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mailbot web exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise TimeoutError(f"mailbot web did not answer /healthz within 30 s:\n{self.output()}")
            time.sleep(0.1)

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
