"""The IMAP mail source (imapclient): read without marking seen, file away by MOVE, wait with IDLE."""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import time
from typing import Callable, Iterator

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailbot.settings import ImapSettings
from mailbot.source import Fetched, MailboxState, SourceError
from mailbot.source.oauth import TokenError, TokenSource

log = logging.getLogger(__name__)

_FAILURES = (IMAPClientError, OSError, ssl.SSLError, socket.timeout, TokenError, EOFError)
_FETCH_CHUNK = 50


def connect(settings: ImapSettings, tokens: TokenSource | None) -> IMAPClient:
    """A logged-in client. Raises SourceError with a one-line reason."""
    context = ssl.create_default_context()
    try:
        client = IMAPClient(
            settings.host, port=settings.port, ssl=settings.security == "ssl", ssl_context=context, timeout=settings.timeout_seconds
        )
        if settings.security == "starttls":
            client.starttls(context)
        if settings.oauth is not None:
            client.oauth2_login(settings.username, tokens.token())
        else:
            password = os.environ.get(settings.password_env or "")
            if not password:
                raise SourceError(f"environment variable {settings.password_env} (the IMAP password) is not set", credentials=True)
            client.login(settings.username, password)
        return client
    except SourceError:
        raise
    except _FAILURES as exc:
        refused = isinstance(exc, (LoginError, TokenError))
        raise SourceError(f"IMAP {settings.host}:{settings.port}: {type(exc).__name__}: {exc}", credentials=refused) from None


def capabilities(client: IMAPClient) -> set[str]:
    """The server's capabilities as upper-case text (imapclient gives bytes)."""
    return {(c.decode("ascii", "replace") if isinstance(c, bytes) else str(c)).upper() for c in client.capabilities()}


_COPYUID = re.compile(r"\[COPYUID\s+\d+\s+([\d:,]+)\s+[\d:,]+\]", re.I)


def _copied_uids(answer: bytes | str | None) -> set[int] | None:
    """The source UIDs a COPYUID response code (RFC 4315) names, or None when the answer has none."""
    text = answer.decode(errors="replace") if isinstance(answer, bytes) else answer or ""
    found = _COPYUID.search(text)
    if found is None:
        return None
    uids: set[int] = set()
    for part in found.group(1).split(","):
        low, _, high = part.partition(":")
        first, last = sorted((int(low), int(high or low)))
        uids.update(range(first, last + 1))
    return uids


class ImapSource:
    """One IMAP session on the configured inbox."""

    def __init__(self, settings: ImapSettings, tokens: TokenSource | None = None, readonly: bool = False):
        self.settings = settings
        self.readonly = readonly
        self.client = connect(settings, tokens)
        try:
            self.capabilities = capabilities(self.client)
            self.folders = {name: self._server_name(getattr(settings, f"{name}_folder")) for name in ("processed", "review", "ignored")}
            self.created = [] if readonly else self.ensure_folders()
            self._selected = self.client.select_folder(settings.folder, readonly=readonly)
        except _FAILURES as exc:
            self.close()
            raise SourceError(f"IMAP: {type(exc).__name__}: {exc}") from None
        self.name = f"imap://{settings.username}@{settings.host}:{settings.port}/{settings.folder}"
        # The inbox as of its last SELECT in this session (state() reads it again only when something came).
        self._state: MailboxState | None = MailboxState(self.name, str(self._selected[b"UIDVALIDITY"]),
                                                        int(self._selected.get(b"UIDNEXT", 0)))

    def _server_name(self, path: str) -> str:
        """A folder path written with '/' in the config, in the server's own hierarchy."""
        prefix, delimiter = "", "/"
        try:
            personal = self.client.namespace().personal
            if personal:
                prefix, delimiter = personal[0][0] or "", personal[0][1] or "/"
        except IMAPClientError:
            folders = self.client.list_folders(pattern="INBOX")
            if folders and folders[0][1]:
                delimiter = folders[0][1].decode() if isinstance(folders[0][1], bytes) else folders[0][1]
        if isinstance(delimiter, bytes):
            delimiter = delimiter.decode()
        parts = [p for p in path.split("/") if p]
        name = delimiter.join(parts)
        return name if not prefix or name.upper().startswith(prefix.upper()) else prefix + name

    def ensure_folders(self) -> list[str]:
        """Create the filing folders that are missing; returns the ones created."""
        created = []
        for name in self.folders.values():
            if not self.client.folder_exists(name):
                try:
                    self.client.create_folder(name)
                except IMAPClientError:
                    if not self.client.folder_exists(name):
                        raise
                    continue  # another process working the same mailbox made it just now
                created.append(name)
        return created

    def state(self) -> MailboxState:
        """The inbox's UIDVALIDITY and UIDNEXT. The inbox stays selected between passes: while nothing has
        come since the last SELECT, a NOOP and a UID SEARCH (cheap whatever the folder's size) answer for
        it; a new SELECT, which costs Dovecot time in proportion to the folder's size, only when it has."""
        with _Guard("select"):
            if self._state is not None and self._unchanged(self._state):
                return self._state
            selected = self.client.select_folder(self.settings.folder, readonly=self.readonly)
            self._selected = selected
        self._state = MailboxState(self.name, str(selected[b"UIDVALIDITY"]), int(selected.get(b"UIDNEXT", 0)))
        return self._state

    def _unchanged(self, known: MailboxState) -> bool:
        """Has no message come into the selected inbox since `known` was read? (A new UIDVALIDITY ends the
        session on Dovecot; a server that announces one instead gets a new SELECT.)"""
        if not known.uidnext:
            return False
        _, responses = self.client.noop()  # brings the selected mailbox up to date
        for response in responses:
            if len(response) > 1 and response[0] == b"OK" and isinstance(response[1], bytes) and b"[UIDVALIDITY" in response[1].upper():
                return False
        # "UID n:*" always matches the newest message even when its UID is below n.
        return not [u for u in self.client.search(["UID", f"{known.uidnext}:*"]) if u >= known.uidnext]

    def waiting(self, after: int | None) -> list[str]:
        with _Guard("search"):
            if after:
                # "UID n:*" always matches the newest message even when its UID is below n.
                uids = [u for u in self.client.search(["UNDELETED", "UID", f"{after + 1}:*"]) if u > after]
            else:
                uids = self.client.search(["UNDELETED"])
        return [str(u) for u in sorted(uids)]

    def fetch(self, uids: list[str], max_bytes: int) -> Iterator[Fetched]:
        numbers = [int(u) for u in uids]
        for start in range(0, len(numbers), _FETCH_CHUNK):
            chunk = numbers[start : start + _FETCH_CHUNK]
            with _Guard("fetch"):
                sizes = {uid: data.get(b"RFC822.SIZE", 0) for uid, data in self.client.fetch(chunk, ["RFC822.SIZE"]).items()}
                small = [u for u in chunk if u in sizes and sizes[u] <= max_bytes]
                large = [u for u in chunk if u in sizes and sizes[u] > max_bytes]
                bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
                heads = self.client.fetch(large, ["BODY.PEEK[HEADER]"]) if large else {}
            for uid in chunk:
                # A message moved away meanwhile (by a person, or another process) comes back as NIL: it is
                # not in the inbox any more, and not an empty message to decide.
                if uid in bodies:
                    if bodies[uid].get(b"BODY[]") is not None:
                        yield Fetched(str(uid), uid, bodies[uid][b"BODY[]"], sizes[uid])
                elif uid in heads:
                    if heads[uid].get(b"BODY[HEADER]") is not None:
                        yield Fetched(str(uid), uid, None, sizes[uid], heads[uid][b"BODY[HEADER]"])

    def file(self, uid: str, folder: str, message_id: str | None = None) -> bool:
        target = self.folders[folder]
        number = int(uid)
        with _Guard("file"):
            if number not in self.client.search(["UID", str(number)]):
                return False  # filed already (a pass that stopped between moving and recording it)
            if message_id and self._moved_already(number, target, message_id):
                # A MOVE cut short (the server died in it) can leave the message in both folders: finish that
                # move by taking it out of the inbox, rather than copying it into the folder a second time.
                self.client.add_flags([number], [b"\\Deleted"], silent=True)
                if "UIDPLUS" in self.capabilities:
                    self.client.uid_expunge([number])
                else:
                    self.client.expunge()
                return True
            try:
                if "MOVE" in self.capabilities:
                    self.client.move([number], target)
                else:
                    self.client.copy([number], target)
                    self.client.add_flags([number], [b"\\Deleted"], silent=True)
                    if "UIDPLUS" in self.capabilities:
                        self.client.uid_expunge([number])
                    else:
                        self.client.expunge()
            except IMAPClientError as exc:
                if "EXPUNGEISSUED" in str(exc).upper():
                    return False  # moved away since the search (by a person, or another process)
                raise
        return True

    def file_many(self, uids: list[str], folder: str) -> list[str]:
        """One MOVE (or COPY, STORE and UID EXPUNGE) for the lot: a single message's MOVE costs the server a
        sync of its own. A refusal of the set is retried message by message, so one cannot hold the rest."""
        if len(uids) == 1:
            return uids if self.file(uids[0], folder) else []
        target = self.folders[folder]
        numbers = [int(u) for u in uids]
        if not numbers:
            return []
        with _Guard("file"):
            # UID MOVE passes over UIDs that are gone (moved away meanwhile): no SEARCH for them first.
            try:
                answer = self._move(numbers, target)
            except IMAPClientError:
                if not self.alive():
                    raise
                return [str(n) for n in numbers if self.file(str(n), folder)]
        moved = _copied_uids(answer)  # the server says which it moved (UIDPLUS); else all of them, presumably
        return [str(n) for n in numbers if moved is None or n in moved]

    def _move(self, numbers: list[int], target: str) -> bytes | str | None:
        if "MOVE" in self.capabilities:
            return self.client.move(numbers, target)
        else:
            answer = self.client.copy(numbers, target)
            self.client.add_flags(numbers, [b"\\Deleted"], silent=True)
            if "UIDPLUS" in self.capabilities:
                self.client.uid_expunge(numbers)
            else:
                self.client.expunge()
            return answer

    def _moved_already(self, number: int, target: str, message_id: str) -> bool:
        """Does the folder hold this inbox message already: the same Message-ID, size and arrival time?"""
        mine = self.client.fetch([number], ["RFC822.SIZE", "INTERNALDATE"]).get(number)
        if not mine:
            return False
        self._state = None  # another folder is selected for a while: the next state() SELECTs the inbox again
        self.client.select_folder(target, readonly=True)
        try:
            found = self.client.search(["HEADER", "Message-ID", message_id])
            copies = list(self.client.fetch(found, ["RFC822.SIZE", "INTERNALDATE"]).values()) if found else []
        finally:
            self.client.select_folder(self.settings.folder, readonly=self.readonly)
        return any(copy.get(b"RFC822.SIZE") == mine.get(b"RFC822.SIZE") and copy.get(b"INTERNALDATE") == mine.get(b"INTERNALDATE")
                   for copy in copies)

    def find(self, message_id: str) -> str | None:
        with _Guard("search"):
            found = self.client.search(["UNDELETED", "HEADER", "Message-ID", message_id])
        return str(found[0]) if found else None

    def refile(self, uid: str | None, message_id: str | None, from_folder: str, to_folder: str) -> bool:
        if not message_id:
            return False  # its UID changed when it was filed; without a Message-ID it cannot be found again
        with _Guard("refile"):
            self._state = None  # another folder is selected for a while: the next state() SELECTs the inbox again
            self.client.select_folder(self.folders[from_folder])
            try:
                found = self.client.search(["UNDELETED", "HEADER", "Message-ID", message_id])
                if found:
                    if "MOVE" in self.capabilities:
                        self.client.move(found, self.folders[to_folder])
                    else:
                        self.client.copy(found, self.folders[to_folder])
                        self.client.add_flags(found, [b"\\Deleted"], silent=True)
                        self.client.uid_expunge(found) if "UIDPLUS" in self.capabilities else self.client.expunge()
            finally:
                self.client.select_folder(self.settings.folder, readonly=self.readonly)
        return bool(found)

    def alive(self) -> bool:
        try:
            self.client.noop()
            return True
        except _FAILURES:
            return False

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:  # the connection may be gone already
            try:
                self.client.shutdown()
            except Exception:
                pass


class _Guard:
    """Turns the client's many failures into SourceError, naming the operation."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, value, _traceback):
        if value is not None and isinstance(value, _FAILURES):
            raise SourceError(f"IMAP {self.what}: {type(value).__name__}: {value}") from None
        return False


class ImapWatcher:
    """A second connection that waits in IDLE and says when the inbox may have changed."""

    def __init__(self, settings: ImapSettings, tokens: TokenSource | None = None):
        self.settings = settings
        self.tokens = tokens
        self.client: IMAPClient | None = None

    def supported(self) -> bool:
        self._ensure()
        return "IDLE" in capabilities(self.client)

    def _ensure(self) -> None:
        if self.client is None:
            self.client = connect(self.settings, self.tokens)
            with _Guard("select"):
                self.client.select_folder(self.settings.folder, readonly=True)

    def wait(self, timeout: float, stop: Callable[[], bool] = lambda: False) -> bool:
        """Block up to `timeout` seconds (less once `stop()` says so, looked at every second); True when the
        server announced new or removed messages, or when this wait opened the connection: what came before
        IDLE began is never announced, so the caller should look."""
        fresh = self.client is None
        self._ensure()
        deadline = time.monotonic() + timeout
        responses: list = []
        with _Guard("idle"):
            self.client.idle()
            try:
                while not responses and not stop() and (left := deadline - time.monotonic()) > 0:
                    responses = self.client.idle_check(timeout=min(1.0, left))
            finally:
                # What the server said between the last check and DONE counts too (dropping it loses a new message
                # until the next one arrives, or the next poll).
                responses = [*responses, *self.client.idle_done()[1]]
        return fresh or any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT", b"EXPUNGE") for r in responses)

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:
                pass
            self.client = None
