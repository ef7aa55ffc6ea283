"""Real servers for the service tests: a throwaway Dovecot (IMAP), an in-process aiosmtpd (SMTP),
a fresh PostgreSQL database, and a mailbot.toml pointing at them. Nothing here is a mock."""

from __future__ import annotations

import email
import email.policy
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

DOVECOT = Path("/usr/sbin/dovecot")
DOVEADM = Path("/usr/bin/doveadm")
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"

IMAP_PASSWORD_ENV = "MAILBOT_TEST_IMAP_PASSWORD"
POSTGRES_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


class ServerUnavailable(Exception):
    """A server the tests need could not be had here (the fixture skips, or fails under CI)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def header_message_id(raw: bytes) -> str | None:
    """A message's own (top-level) Message-ID, as written."""
    parsed = email.message_from_bytes(raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0] + b"\n\n", policy=email.policy.compat32)
    value = parsed.get("Message-ID")
    return " ".join(str(value).split()) if value else None


# -- Dovecot -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImapUser:
    name: str
    password: str


@dataclass(frozen=True)
class StoredMessage:
    uid: int
    message_id: str | None
    flags: tuple[bytes, ...]
    raw: bytes


_DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
default_internal_user = {internal_user}
default_login_user = {login_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
  # no growing delay for an address after failed logins: the tests log in wrongly on purpose
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
auth_failure_delay = 0
protocol imap {{
  mail_max_userip_connections = 200
}}
"""


class Dovecot:
    """One throwaway Dovecot on a free loopback port; a user (and so a mailbox) per test.

    Users come from a passwd-file written before the start: Dovecot rereads that file at most
    once a second, so a line added just now may not be seen yet; the pool avoids the wait, and
    `add_user` past the pool appends lines and waits until a login works.
    """

    POOL = 400
    DELIMITER = "."

    def __init__(self) -> None:
        if not DOVECOT.exists():
            raise ServerUnavailable(f"{DOVECOT} not found: `make test` installs Debian's dovecot-imapd")
        # Not under pytest's tmp dirs: those are private to the user running the tests (0700),
        # and Dovecot's mail processes run as the `dovecot` user. A short path also keeps the
        # unix sockets in base_dir under the length limit.
        self.root = Path(tempfile.mkdtemp(prefix="mbdv-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.config = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self.passwd = self.root / "passwd"
        self._users: list[ImapUser] = []
        self._given = 0
        self._lock = threading.Lock()
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("dovecot")
                pwd.getpwnam("dovenull")
            except KeyError as exc:
                raise ServerUnavailable(f"the dovecot/dovenull users are missing: {exc}") from None
            internal, login, mail_user, mail_group = "dovecot", "dovenull", "dovecot", "dovecot"
        else:  # a rootless Dovecot: every process and every mailbox belongs to whoever runs the tests
            me = pwd.getpwuid(os.geteuid()).pw_name
            internal = login = mail_user = me
            mail_group = str(os.getegid())
        for sub in ("mail", "home"):
            (self.root / sub).mkdir()
            if os.geteuid() == 0:
                shutil.chown(self.root / sub, "dovecot", "dovecot")
        self.config.write_text(_DOVECOT_CONF.format(root=self.root, port=self.port, internal_user=internal,
                                                    login_user=login, mail_user=mail_user, mail_group=mail_group))
        self._add_lines(self.POOL)

    def _add_lines(self, count: int) -> None:
        start = len(self._users)
        new = [ImapUser(f"t{start + n:04d}-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex) for n in range(count)]
        with self.passwd.open("a") as f:
            f.writelines(f"{u.name}:{{PLAIN}}{u.password}\n" for u in new)
        self._users.extend(new)

    # -- running ---------------------------------------------------------------------------------

    def start(self, timeout: float = 15) -> None:
        # Dovecot forks into the background; its output goes to a file, or the daemon would keep a pipe open.
        with (self.root / "start.out").open("w+") as out:
            done = subprocess.run([str(DOVECOT), "-c", str(self.config)], stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=timeout)
            out.seek(0)
            said = out.read().strip()
        if done.returncode != 0:
            raise ServerUnavailable(f"dovecot did not start: {said}\n{self.log_tail()}")
        _wait(lambda: port_open(self.port), timeout, f"dovecot on 127.0.0.1:{self.port}\n{self.log_tail()}")

    def _master_pid(self) -> int | None:
        try:
            return int((self.root / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self._master_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return not _zombie(pid)

    def _processes(self) -> list[int]:
        """The master and every process under it."""
        master = self._master_pid()
        if master is None:
            return []
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [master]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def stop(self, hard: bool = False, timeout: float = 15) -> None:
        """Stop the server: SIGTERM to the master (a clean shutdown, about 2.5 s), or with `hard`,
        SIGKILL to the master and all its processes at once (a crash)."""
        pid = self._master_pid()
        if pid is None or not self.running():
            return
        for victim in self._processes() if hard else [pid]:
            try:
                os.kill(victim, signal.SIGKILL if hard else signal.SIGTERM)
            except ProcessLookupError:
                pass

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return _zombie(pid)

        _wait(lambda: gone() and not port_open(self.port), timeout, "dovecot to stop")
        if hard:  # a master killed outright leaves its pid file, and maybe a zombie nobody reaps under that pid
            (self.root / "run" / "master.pid").unlink(missing_ok=True)

    @contextmanager
    def down(self, hard: bool = False) -> Iterator[None]:
        """The server stopped for the body of the block, started again after it."""
        self.stop(hard)
        try:
            yield
        finally:
            self.start()

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- users and their mailboxes ---------------------------------------------------------------

    def add_user(self) -> ImapUser:
        with self._lock:
            if self._given >= len(self._users):
                self._add_lines(1)
                user = self._users[self._given]
                self._given += 1
                _wait(lambda: self._can_login(user), 5, f"dovecot to read {user.name} from its passwd-file")
                return user
            user = self._users[self._given]
            self._given += 1
            return user

    def _can_login(self, user: ImapUser) -> bool:
        from imapclient import IMAPClient
        from imapclient.exceptions import LoginError

        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=5)
        try:
            client.login(user.name, user.password)
            return True
        except LoginError:
            return False
        finally:
            try:
                client.logout()
            except Exception:
                client.shutdown()

    @contextmanager
    def client(self, user: ImapUser):
        """A logged-in imapclient session as that user."""
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        try:
            client.login(user.name, user.password)
            yield client
        finally:
            try:
                client.logout()
            except Exception:
                client.shutdown()

    def folder(self, path: str) -> str:
        """A config folder path ('Mailbot/Processed') as this server names it."""
        return self.DELIMITER.join(p for p in path.split("/") if p)

    def append(self, user: ImapUser, messages: bytes | list[bytes], folder: str = "INBOX", flags: tuple[bytes, ...] = ()) -> list[int]:
        """APPEND raw messages (in order) to a folder; returns their UIDs."""
        if isinstance(messages, bytes):
            messages = [messages]
        uids = []
        with self.client(user) as client:
            name = self.folder(folder)
            if not client.folder_exists(name):
                client.create_folder(name)
            for raw in messages:
                answer = client.append(name, raw, flags=flags)
                uids.append(_appended_uid(answer))
        return uids

    def messages(self, user: ImapUser, folder: str = "INBOX") -> list[StoredMessage]:
        """What a folder holds (UID order), read with BODY.PEEK so nothing is marked seen; [] when it does not exist."""
        with self.client(user) as client:
            name = self.folder(folder)
            if not client.folder_exists(name):
                return []
            client.select_folder(name, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return []
            data = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"])
        return [StoredMessage(uid, header_message_id(data[uid][b"BODY[]"]), tuple(data[uid][b"FLAGS"]), data[uid][b"BODY[]"])
                for uid in sorted(data)]

    def message_ids(self, user: ImapUser, folder: str = "INBOX") -> list[str | None]:
        return [m.message_id for m in self.messages(user, folder)]

    def folders(self, user: ImapUser) -> list[str]:
        with self.client(user) as client:
            return sorted(name for _flags, _delimiter, name in client.list_folders())

    def status(self, user: ImapUser, folder: str = "INBOX") -> dict:
        with self.client(user) as client:
            answer = client.folder_status(self.folder(folder), ["MESSAGES", "UIDNEXT", "UIDVALIDITY"])
        return {k.decode(): v for k, v in answer.items()}

    def uidvalidity(self, user: ImapUser, folder: str = "INBOX") -> int:
        return self.status(user, folder)["UIDVALIDITY"]

    def set_uidvalidity(self, user: ImapUser, value: int, folder: str = "INBOX") -> None:
        """Give a folder a new UIDVALIDITY (what a server does when it rebuilds a mailbox): the
        messages stay, their UIDs are only meaningful with the new number."""
        done = subprocess.run(
            [str(DOVEADM), "-c", str(self.config), "mailbox", "update", "-u", user.name, "--uid-validity", str(value),
             self.folder(folder)],
            capture_output=True, text=True, timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm mailbox update failed: {done.stderr.strip()}")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _appended_uid(answer: bytes) -> int:
    """The UID from APPEND's [APPENDUID validity uid] response code (UIDPLUS)."""
    text = answer.decode() if isinstance(answer, bytes) else str(answer)
    if "APPENDUID" in text:
        return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])
    return 0


# -- SMTP ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps every envelope it receives.

    `refuse` set to an SMTP reply ('451 4.3.0 try later') makes it refuse each message with it.
    """

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.received: list[Envelope] = []
        self.refuse: str | None = None
        self._lock = threading.Lock()
        self._controller = None

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        if self.refuse:
            return self.refuse
        with self._lock:
            self.received.append(Envelope(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content)))
        return "250 OK"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        if self._controller is not None:
            return
        controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    @contextmanager
    def down(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()

    def envelopes(self) -> list[Envelope]:
        with self._lock:
            return list(self.received)

    def clear(self) -> None:
        with self._lock:
            self.received.clear()


# -- PostgreSQL ----------------------------------------------------------------------------------------


class PostgresDatabase:
    """A database of its own on the local PostgreSQL, dropped afterwards."""

    def __init__(self) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise ServerUnavailable(f"psycopg is not installed: {exc}") from None
        self.name = f"mailbot_test_{uuid.uuid4().hex[:12]}"
        try:
            with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{self.name}"')
        except psycopg.OperationalError as exc:
            raise ServerUnavailable(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {str(exc).strip().splitlines()[0]}") from None
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- mailbot.toml for a test ---------------------------------------------------------------------------


def write_config(
    folder: Path,
    database_url: str,
    *,
    dovecot: Dovecot | None = None,
    user: ImapUser | None = None,
    smtp: SmtpSink | None = None,
    smtp_port: int | None = None,
    maildir: Path | None = None,
    outbox: Path | None = None,
    service: dict | None = None,
    directories: tuple[Path, ...] = (DATA,),
    imap_extra: dict | None = None,
    ops: dict | None = None,
    extra: str = "",
) -> tuple[Path, dict[str, str]]:
    """Write folder/mailbot.toml for a test; returns its path and the environment to run mailbot with
    (the IMAP password under the env var the file names).

    The directory CSVs are those in tests/data, with the rows of any further `directories` added.
    The [service] intervals are short; `service` overrides any of its keys. `extra` is more TOML, as it is.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("organisations.csv", "people.csv"):
        lines: list[str] = []
        for source in directories:
            rows = (source / name).read_text(encoding="utf-8").splitlines()
            lines.extend(rows if not lines else rows[1:])
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = {
        "poll_interval_seconds": 1,
        "send_interval_seconds": 1,
        "housekeeping_interval_seconds": 60,
        "batch_size": 10,
        "retry_max_seconds": 2,
    }
    settings.update(service or {})
    text = [
        "[mailbox]",
        'address = "agencies@nhsprofessionals.nhs.uk"',
        "",
        "[authentication]",
        'trusted_authserv_ids = ["mx.nhsprofessionals.nhs.uk"]',
        "",
        "[directory]",
        'organisations = "organisations.csv"',
        'people = "people.csv"',
        "",
    ]
    env: dict[str, str] = {}
    if dovecot is not None:
        assert user is not None, "an [imap] section needs a user"
        imap = {"host": "127.0.0.1", "port": dovecot.port, "security": "none", "username": user.name,
                "password_env": IMAP_PASSWORD_ENV, "timeout_seconds": 10}
        imap.update(imap_extra or {})
        text += ["[imap]", *(f"{k} = {_toml(v)}" for k, v in imap.items()), ""]
        env[IMAP_PASSWORD_ENV] = user.password
    if maildir is not None:
        text += ["[maildir]", f"path = {_toml(str(maildir))}", ""]
    if smtp is not None or smtp_port is not None:
        port = smtp.port if smtp is not None else smtp_port
        text += ["[smtp]", 'host = "127.0.0.1"', f"port = {port}", 'security = "none"', "timeout_seconds = 10", ""]
    text += ["[outbox]", f"path = {_toml(str(outbox or folder / 'outbox'))}", ""]
    text += ["[database]", f"url = {_toml(database_url)}", ""]
    text += ["[service]", *(f"{k} = {_toml(v)}" for k, v in settings.items()), ""]
    if ops:
        text += ["[ops]", *(f"{k} = {_toml(v)}" for k, v in ops.items()), ""]
    text.append(extra)
    path = folder / "mailbot.toml"
    path.write_text("\n".join(text), encoding="utf-8")
    return path, env


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def mailbot(*args: str | Path, env: dict | None = None, cwd: Path = ROOT, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
    """`python -m mailbot ARGS` in a subprocess, as ops would run it (stdin closed, or `input` on it; output captured)."""
    environment = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG" and not k.startswith("MAILBOT_TEST_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mailbot", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", cwd=cwd, env=environment, timeout=timeout,
        **({"input": input} if input is not None else {"stdin": subprocess.DEVNULL}),
    )
