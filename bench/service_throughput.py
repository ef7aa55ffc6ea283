"""Service benchmark: `mailbot run --once` draining a Dovecot backlog against a bare pipeline, and the idle poll.

Goals (from issue 3): a backlog of 3,000 messages in Dovecot drained end to end (fetch, decide, record,
reply over SMTP, file away) at no less than half the throughput of a bare pipeline doing only the
unavoidable work on the same messages in the same run, with the peak memory of the mailbot process
under 200 MB; and an idle poll whose cost does not grow with the folder's size (20,000 messages
against 200).

    .venv/bin/python bench/service_throughput.py [--count 3000] [--rounds 3] [--big 20000] [--small 200] [--polls 600] [--history 20000]

It starts a throwaway Dovecot and an aiosmtpd sink (tests/servers.py), and builds N distinct messages
(cycling through tests/data/cases*/, config/demo/inbox/ and ../shared/corpus/public/ when present, each
copy with its own Message-ID). Every mailbox is a fresh Dovecot user whose Maildir is written straight
to disk (files named as Dovecot's own delivery names them, with S= and W= sizes), then SELECTed once,
untimed, so Dovecot has indexed it before either contender touches it.

1. Drain, alternating A, B, A, B, ... each on a freshly loaded mailbox:
   A  bare: `python -c` that logs in, SELECTs INBOX, UID SEARCHes it, FETCHes BODY.PEEK[] in batches of
      50 (mailbot's chunk), parses each message with mail-parser, and for each message mailbot answers
      sends one reply (of mailbot's mean reply size, to the same envelope recipients as mailbot's reply: the
      sender and the requesters in Cc) with smtplib over one reused connection;
   B  `python -m mailbot run --once --config CFG` against the same servers, with a fresh SQLite database.
   Both are fresh interpreters, so both pay start-up and imports. Which messages get a reply comes from
   `mailbot triage --json` on the same files; a first untimed mailbot run checks that it sent exactly
   those (and warms caches). The per-sender reply limit is raised in the benchmark's config (the set
   repeats the same few senders, so the default 5 an hour would hold most replies for review).
2. Idle poll, in-process: a folder of BIG messages and one of SMALL, all still in the INBOX, with
   mailbot's checkpoint at UIDNEXT-1 (nothing new). Timed per call, sizes and measures interleaved:
   mailbot's `InboxPass.run` on one open session (what the service does at every poll), with a store
   holding only the checkpoint and with one that also holds HISTORY filed messages of that mailbox (months
   of service); and bare imapclient polls, each on an identical folder of its own user: STATUS on a folder
   no session has selected, UID SEARCH UID n:* and NOOP in a session that selected its folder once, STATUS
   on that folder from a second session, and SELECT again and again in a lone session (what mailbot's
   pass did at every poll before it kept its selection).

It prints a table and writes the figures to bench/out/service_throughput.json. It asserts nothing about
speed: it is a measurement, not a test (it does stop when a run does not do what it should).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAIN = Path(__file__).resolve().parent.parent
SHARED = MAIN.parent / "shared"
OUT_DIR = MAIN / "bench" / "out"
GOAL_RATIO = 0.5
GOAL_RSS_MIB = 200
OURS = "agencies@nhsprofessionals.nhs.uk"
FETCH_CHUNK = 50  # mailbot.source.imap._FETCH_CHUNK
REPLIES_PER_SENDER_PER_HOUR = 1_000_000

sys.path.insert(0, str(MAIN / "tests"))
sys.path.insert(0, str(MAIN / "bench"))
import servers  # noqa: E402  (tests/servers.py: the throwaway Dovecot and the aiosmtpd sink)
from triage_throughput import git_state, machine, package_version, with_message_id  # noqa: E402

SOURCE_GLOBS = [
    str(MAIN / "tests" / "data" / "cases*" / "**" / "*.eml"),
    str(MAIN / "config" / "demo" / "inbox" / "*.eml"),
    str(SHARED / "corpus" / "public" / "*.eml"),
]

BARE_CODE = r"""
import json, smtplib, sys
import mailparser
from imapclient import IMAPClient

host, port, user, password, smtp_port, chunk, spec = sys.argv[1:8]
spec = json.load(open(spec))
answer, size = spec["answer"], spec["reply_bytes"]  # Message-ID -> the reply's envelope recipients (To and Cc)
imap = IMAPClient(host, port=int(port), ssl=False, timeout=60)
imap.login(user, password)
imap.select_folder("INBOX")
uids = sorted(imap.search(["UNDELETED"]))
smtp = smtplib.SMTP(host, int(smtp_port), timeout=60)
smtp.ehlo()
parsed = sent = 0
chunk = int(chunk)
for start in range(0, len(uids), chunk):
    part = uids[start:start + chunk]
    bodies = imap.fetch(part, ["BODY.PEEK[]"])
    for uid in part:
        mail = mailparser.parse_from_bytes(bodies[uid][b"BODY[]"])
        parsed += 1
        message_id = " ".join((mail.message_id or "").split())
        if message_id not in answer:
            continue
        to = mail.from_[0][1] if mail.from_ and mail.from_[0][1] else "nobody@bench.invalid"
        subject = " ".join((mail.subject or "").split()).encode("ascii", "replace").decode()
        head = (f"From: {spec['ours']}\r\nTo: {to}\r\nSubject: Re: {subject}\r\nIn-Reply-To: {message_id}\r\n"
                f"References: {message_id}\r\nMessage-ID: <bare-{sent}@bench.invalid>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n").encode()
        line = b"Thank you for your request; it has been dealt with as follows.\r\n"
        body = line * max(1, (size - len(head)) // len(line))
        smtp.sendmail(spec["ours"], answer[message_id], head + body)
        sent += 1
smtp.quit()
imap.logout()
print(json.dumps({"messages": len(uids), "parsed": parsed, "sent": sent}))
"""


# -- messages and mailboxes ------------------------------------------------------------------------------


def source_files() -> list[Path]:
    files: list[Path] = []
    for pattern in SOURCE_GLOBS:
        files.extend(Path(p) for p in sorted(glob.glob(pattern, recursive=True)))
    return files


def build_messages(sources: list[Path], count: int, tag: str) -> list[tuple[str, str, bytes]]:
    """(file name, Message-ID, bytes) for `count` distinct messages."""
    raws = [p.read_bytes() for p in sources]
    out = []
    for i in range(count):
        n = i % len(sources)
        message_id = f"<{tag}-{i:05d}.{sources[n].stem[:40]}@bench.invalid>"
        out.append((f"{i:05d}-{sources[n].name}", message_id, with_message_id(raws[n], message_id)))
    return out


def load_mailbox(dovecot: servers.Dovecot, messages: list[tuple[str, str, bytes]]) -> servers.ImapUser:
    """A fresh Dovecot user whose INBOX holds these messages (Maildir files written straight to disk,
    named like Dovecot's own deliveries), indexed by one untimed SELECT."""
    user = dovecot.add_user()
    mail_root = dovecot.root / "mail"
    owner = mail_root.stat()
    maildir = mail_root / user.name
    for sub in ("", "tmp", "new", "cur"):
        (maildir / sub).mkdir(exist_ok=True)
        os.chown(maildir / sub, owner.st_uid, owner.st_gid)
    now = int(time.time())
    cur = maildir / "cur"
    for i, (_, _, raw) in enumerate(messages):
        vsize = len(raw) + raw.count(b"\n") - raw.count(b"\r\n")  # as sent over IMAP: every line ends CRLF
        path = cur / f"{now}.M{i:06d}P{os.getpid()}.bench,S={len(raw)},W={vsize}:2,"
        path.write_bytes(raw)
        os.chown(path, owner.st_uid, owner.st_gid)
    with dovecot.client(user) as client:
        selected = client.select_folder("INBOX")
        if selected[b"EXISTS"] != len(messages):
            sys.exit(f"Dovecot sees {selected[b'EXISTS']} messages in the INBOX, not {len(messages)}:\n{dovecot.log_tail()}")
    return user


def bench_config(folder: Path, dovecot, user, smtp) -> tuple[Path, dict[str, str]]:
    """The service's config for one run: the tests' directory CSVs (and the shared corpus's and the demo's),
    SQLite, mailbot's default service settings except the per-sender reply limit."""
    directories = [servers.DATA]
    for extra in (SHARED / "corpus" / "public", MAIN / "config" / "demo"):
        if (extra / "organisations.csv").is_file() and (extra / "people.csv").is_file():
            directories.append(extra)
    return servers.write_config(
        folder, f"sqlite:///{folder / 'mailbot.db'}", dovecot=dovecot, user=user, smtp=smtp, directories=tuple(directories),
        service={**mailbot_service_defaults(), "replies_per_sender_per_hour": REPLIES_PER_SENDER_PER_HOUR},
    )


def start_servers(sink_class) -> tuple:
    """A throwaway Dovecot and an SMTP sink of this class, started (the benchmark stops if Dovecot cannot be had)."""
    try:
        dovecot = servers.Dovecot()
        dovecot.start()
    except servers.ServerUnavailable as exc:
        sys.exit(f"no Dovecot for the benchmark: {exc}")
    smtp = sink_class()
    smtp.start()
    return dovecot, smtp


def mailbot_service_defaults() -> dict:
    """mailbot's own [service] defaults (the tests' config shortens its intervals and batches)."""
    from mailbot.settings import ServiceSettings

    defaults = ServiceSettings()
    keys = ("poll_interval_seconds", "send_interval_seconds", "housekeeping_interval_seconds", "batch_size", "retry_max_seconds")
    return {key: getattr(defaults, key) for key in keys}


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG" and not k.startswith("MAILBOT_TEST_")}
    env.update(extra)
    return env


def run_child(argv: list[str], env: dict, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) -> tuple[float, int, int, int]:
    """Run argv; (wall seconds, exit status, peak RSS of that process in KiB, peak memory of it and all its
    descendants together in KiB, sampled every 0.2 s: mailbot's triage workers are processes of their own).
    The sum is of PSS (each shared page divided among the processes sharing it), so that libraries loaded by
    every process are not counted once per process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env, cwd=MAIN)
    tree_peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        tree_peak = max(tree_peak, tree_pss_kib(proc.pid))
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, proc.returncode, usage.ru_maxrss, tree_peak


def tree_pss_kib(root: int) -> int:
    """The proportional set size of a process and all its descendants now, in KiB (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    parents[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, added = {root}, True
    while added:
        added = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                added = True
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith(b"Pss:"))
        except (OSError, IndexError, ValueError, StopIteration):
            pass
    return total


# -- 1. the drain ----------------------------------------------------------------------------------------


def expected_replies(config: Path, env: dict, messages, workdir: Path) -> tuple[dict[str, list[str]], dict[str, int]]:
    """`mailbot triage --json` on the same messages with the same config: the Message-IDs it answers, each with
    its reply's envelope recipients (the sender, and the requesters in Cc)."""
    files = workdir / "eml"
    files.mkdir()
    by_file = {}
    for name, message_id, raw in messages:
        (files / name).write_bytes(raw)
        by_file[str(files / name)] = message_id
    done = subprocess.run([sys.executable, "-m", "mailbot", "triage", "--config", str(config), "--json", str(files)],
                          capture_output=True, env=child_env(env), cwd=MAIN, stdin=subprocess.DEVNULL)
    lines = done.stdout.decode().splitlines()
    if done.returncode != 0 or len(lines) != len(messages):
        sys.exit(f"mailbot triage --json: exit {done.returncode}, {len(lines)} lines\n{done.stderr.decode()[-2000:]}")
    answer, outcomes = {}, {}
    for line in map(json.loads, lines):
        outcomes[line["outcome"]] = outcomes.get(line["outcome"], 0) + 1
        if line.get("reply"):
            answer[by_file[line["file"]]] = [*line["reply"]["to"], *line["reply"]["cc"]]
    shutil.rmtree(files)
    return answer, dict(sorted(outcomes.items(), key=lambda kv: -kv[1]))


def mailbot_drain(dovecot, smtp, messages, workdir: Path, tag: str, expected: int) -> dict:
    user = load_mailbox(dovecot, messages)
    config, env = bench_config(workdir / tag, dovecot, user, smtp)
    smtp.clear()
    with (workdir / tag / "stderr.log").open("wb") as err:
        secs, rc, rss, tree = run_child([sys.executable, "-m", "mailbot", "run", "--once", "--config", str(config)],
                                        child_env(env), stderr=err)
    if rc != 0:
        sys.exit(f"mailbot run --once exited {rc}:\n{(workdir / tag / 'stderr.log').read_text()[-3000:]}")
    received = smtp.envelopes()
    status = dovecot.status(user)
    filed = {path: dovecot.status(user, path)["MESSAGES"] for path in ("Mailbot/Processed", "Mailbot/Review", "Mailbot/Ignored")}
    if len(received) != expected or status["MESSAGES"] != 0 or sum(filed.values()) != len(messages):
        sys.exit(f"mailbot run --once: {len(received)} replies (expected {expected}), {status['MESSAGES']} left in the INBOX, "
                 f"filed {filed}")
    return {"seconds": round(secs, 4), "peak_rss_kib": rss, "peak_tree_pss_kib": tree, "replies": len(received), "filed": filed,
            "reply_bytes_mean": round(statistics.mean(len(e.content) for e in received)) if received else 0,
            "distinct_replied": len({" ".join(str(e.message["In-Reply-To"] or "").split()) for e in received})}


def bare_drain(dovecot, smtp, messages, spec_path: Path, expected: int) -> dict:
    user = load_mailbox(dovecot, messages)
    smtp.clear()
    out = tempfile.TemporaryFile()
    secs, rc, rss, tree = run_child([sys.executable, "-c", BARE_CODE, "127.0.0.1", str(dovecot.port), user.name, user.password,
                               str(smtp.port), str(FETCH_CHUNK), str(spec_path)], child_env({}), stdout=out, stderr=out)
    out.seek(0)
    said = out.read().decode(errors="replace")
    if rc != 0:
        sys.exit(f"bare pipeline exited {rc}:\n{said[-3000:]}")
    counts = json.loads(said.strip().splitlines()[-1])
    if counts["parsed"] != len(messages) or counts["sent"] != expected or len(smtp.envelopes()) != expected:
        sys.exit(f"bare pipeline: {counts}, {len(smtp.envelopes())} at the sink; expected {len(messages)} parsed, {expected} sent")
    return {"seconds": round(secs, 4), "peak_rss_kib": rss, "peak_tree_pss_kib": tree, "replies": counts["sent"]}


# -- 2. the idle poll ------------------------------------------------------------------------------------


class IdlePoller:
    """Folders of one size, already decided: mailbot's InboxPass with its checkpoint at UIDNEXT-1 (nothing new),
    once with a store holding only that checkpoint and once with a store that also holds `history` filed
    messages; and bare imapclient polls on a second, identical folder nobody else touches."""

    def __init__(self, dovecot, smtp, messages, workdir: Path, history: int):
        from imapclient import IMAPClient

        from mailbot.service.inbox import InboxPass
        from mailbot.service.wiring import build
        from mailbot.settings import load_settings
        from mailbot.store import Store

        self.size = len(messages)
        self.user = load_mailbox(dovecot, messages)
        folder = workdir / f"idle-{self.size}"
        config, env = bench_config(folder, dovecot, self.user, smtp)
        os.environ.update(env)  # the IMAP password, under the variable the config names
        self.parts = build(load_settings(config))
        service = self.parts.settings.service
        self.box = self.parts.open_source(False)
        state = self.box.state()
        self.uidnext = state.uidnext
        self.stores = [self.parts.store, Store(f"sqlite:///{folder / 'history.db'}")]
        for store in self.stores:
            store.upgrade()
            store.advance(state.name, state.uidvalidity, state.uidnext - 1)
        add_history(self.stores[1], state, history)
        self.inboxes = [InboxPass(self.parts.triage, store, service.batch_size, service.max_message_bytes,
                                  service.replies_per_sender_per_hour) for store in self.stores]
        # Bare clients, each on an identical folder of its own user: STATUS on a folder no session has
        # selected; UID SEARCH and NOOP in a session that selected its folder once, and STATUS on that folder
        # from another session; SELECT again and again in a lone session (what mailbot's pass did before).
        self.status_user, self.search_user, self.select_user = (load_mailbox(dovecot, messages) for _ in range(3))
        self.clients = []
        for user in (self.status_user, self.search_user, self.search_user, self.select_user):
            client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=30)
            client.login(user.name, user.password)
            self.clients.append(client)
        self.status_client, self.search_client, self.status_selected_client, self.select_client = self.clients
        self.search_client.select_folder("INBOX")

    def _pass(self, inbox) -> None:
        report = inbox.run(self.box)
        if report.rows or report.filed_late:
            sys.exit(f"the idle poll did something: {len(report.rows)} messages, {report.filed_late} filed late")

    def mailbot(self) -> None:
        self._pass(self.inboxes[0])

    def mailbot_history(self) -> None:
        self._pass(self.inboxes[1])

    def status(self) -> None:
        answer = self.status_client.folder_status("INBOX", [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY"])
        assert answer[b"MESSAGES"] == self.size

    def status_selected(self) -> None:
        answer = self.status_selected_client.folder_status("INBOX", [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY"])
        assert answer[b"MESSAGES"] == self.size

    def uid_search(self) -> None:
        found = [u for u in self.search_client.search(["UID", f"{self.uidnext}:*"]) if u >= self.uidnext]
        assert not found

    def select(self) -> None:
        self.select_client.select_folder("INBOX")

    def noop(self) -> None:
        self.search_client.noop()

    def check_still_there(self, dovecot) -> None:
        for user in (self.user, self.status_user, self.search_user, self.select_user):
            left = dovecot.status(user)["MESSAGES"]
            if left != self.size:
                sys.exit(f"an idle folder holds {left} messages, not {self.size}")

    def close(self) -> None:
        for client in self.clients:
            client.logout()
        self.box.close()
        for store in self.stores:
            store.close()


def add_history(store, state, count: int) -> None:
    """`count` messages of this mailbox decided and filed long ago, as months of service leave them."""
    from datetime import timedelta

    from sqlalchemy import insert

    from mailbot.store import Message, utcnow

    then = utcnow() - timedelta(days=30)
    rows = [{"key": f"<history-{i:06d}@bench.invalid>", "mailbox": state.name, "uidvalidity": "1", "uid": str(i + 1),
             "message_id": f"<history-{i:06d}@bench.invalid>", "sender": f"sender{i % 50}@example.org",
             "subject": f"history {i}", "size": 4000, "seen_at": then, "outcome": "approved", "reasons": [],
             "folder": "processed", "state": "filed", "filed_at": then} for i in range(count)]
    with store.session() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(Message), rows[start:start + 5000])


IDLE_MEASURES = {
    "mailbot": "mailbot InboxPass.run, store: checkpoint only",
    "mailbot_history": "mailbot InboxPass.run, store: +{history} filed",
    "status": "bare STATUS, folder nobody selected",
    "status_selected": "bare STATUS, folder another session selected",
    "uid_search": "bare UID SEARCH UID n:*, selected once",
    "noop": "bare NOOP, selected once",
    "select": "bare SELECT, again and again (mailbot before)",
}


def time_polls(pollers: list[IdlePoller], polls: int, blocks: int = 3) -> dict:
    """Per-call milliseconds for each measure at each size, sizes and measures interleaved in blocks."""
    timings = {p.size: {m: [] for m in IDLE_MEASURES} for p in pollers}
    for p in pollers:  # warm-up
        for m in IDLE_MEASURES:
            for _ in range(20):
                getattr(p, m)()
    per_block = max(1, polls // blocks)
    clock = time.perf_counter
    for _ in range(blocks):
        for p in pollers:
            for m in IDLE_MEASURES:
                call, out = getattr(p, m), timings[p.size][m]
                for _ in range(per_block):
                    t0 = clock()
                    call()
                    out.append((clock() - t0) * 1000)
    result = {}
    for size, measures in timings.items():
        result[str(size)] = {
            m: {"median_ms": round(statistics.median(v), 4), "mean_ms": round(statistics.mean(v), 4),
                "p90_ms": round(statistics.quantiles(v, n=10)[-1], 4), "polls": len(v)}
            for m, v in measures.items()
        }
    return result


def profile_idle(poller: IdlePoller, polls: int, top: int = 12) -> list[dict]:
    """cProfile of mailbot's idle poll: the functions with the most cumulative time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(polls):
        poller.mailbot()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)
    rows = []
    for (file, line, func), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():
        rows.append({"function": f"{Path(file).name}:{line}:{func}", "calls": calls, "tottime_share": round(tottime / total, 3),
                     "cumtime_share": round(cumtime / total, 3)})
    rows.sort(key=lambda r: -r["tottime_share"])
    return rows[:top]


# -- main ------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=3000, help="messages in the backlog (default 3000)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating bare/mailbot rounds (default 3)")
    ap.add_argument("--big", type=int, default=20000, help="messages in the big idle folder (default 20000)")
    ap.add_argument("--small", type=int, default=200, help="messages in the small idle folder (default 200)")
    ap.add_argument("--polls", type=int, default=600, help="timed idle polls per measure and size (default 600)")
    ap.add_argument("--history", type=int, default=20000, help="filed messages in the store of the second mailbot idle measure")
    ap.add_argument("--skip-drain", action="store_true", help="only the idle poll")
    ap.add_argument("--skip-idle", action="store_true", help="only the drain")
    ap.add_argument("--json-out", type=Path, default=OUT_DIR / "service_throughput.json")
    args = ap.parse_args()
    if min(args.count, args.rounds, args.big, args.small, args.polls) < 1:
        ap.error("every count must be at least 1")

    sources = source_files()
    if not sources:
        sys.exit("no source .eml files found")
    dovecot, smtp = start_servers(servers.SmtpSink)
    workdir = Path(tempfile.mkdtemp(prefix="mailbot-svc-bench-"))
    result: dict = {
        "benchmark": "service_throughput",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(servers.DOVECOT),
        "versions": {name: package_version(name) for name in ("mailbot", "mail-parser", "IMAPClient", "aiosmtpd", "SQLAlchemy")}
        | {"git": git_state()},
        "source_files": len(sources),
        "replies_per_sender_per_hour": REPLIES_PER_SENDER_PER_HOUR,
    }
    m = result["machine"]
    print(f"machine: nproc={m['nproc']}  {m['implementation']} {m['python']}  {m['platform']}  ({m['dovecot'] and 'Dovecot ' + m['dovecot']})")
    try:
        if not args.skip_drain:
            messages = build_messages(sources, args.count, "drain")
            size = sum(len(raw) for _, _, raw in messages)
            check_config, check_env = bench_config(workdir / "triage", dovecot, dovecot.add_user(), smtp)
            answer, outcomes = expected_replies(check_config, check_env, messages, workdir)
            print(f"backlog: {args.count} messages from {len(sources)} source files, {size / 1e6:.1f} MB; "
                  f"`mailbot triage --json` answers {len(answer)}; outcomes {outcomes}")
            print(f"config: [service] replies_per_sender_per_hour = {REPLIES_PER_SENDER_PER_HOUR} (the backlog repeats the "
                  "same senders: the default 5 an hour would hold most replies for review), other [service] keys at their defaults")

            # Once, untimed: mailbot sends exactly the replies triage says (and caches warm); the bare run too.
            check = mailbot_drain(dovecot, smtp, messages, workdir, "check", len(answer))
            spec = workdir / "bare.json"
            spec.write_text(json.dumps({"answer": answer, "reply_bytes": check["reply_bytes_mean"], "ours": OURS}))
            bare_drain(dovecot, smtp, messages, spec, len(answer))
            print(f"check: mailbot sent {check['replies']} replies to {check['distinct_replied']} distinct messages, "
                  f"mean {check['reply_bytes_mean']} bytes; filed {check['filed']}")

            runs: dict[str, list[dict]] = {"bare": [], "mailbot": []}
            for n in range(args.rounds):
                runs["bare"].append(bare_drain(dovecot, smtp, messages, spec, len(answer)))
                runs["mailbot"].append(mailbot_drain(dovecot, smtp, messages, workdir, f"round{n}", len(answer)))

            def summary(key: str) -> dict:
                secs = [r["seconds"] for r in runs[key]]
                med = statistics.median(secs)
                return {"median_seconds": round(med, 4), "min_seconds": min(secs), "max_seconds": max(secs),
                        "messages_per_second": round(args.count / med, 1),
                        "peak_rss_mib": round(max(r["peak_rss_kib"] for r in runs[key]) / 1024, 1),
                        "peak_tree_pss_mib": round(max(r["peak_tree_pss_kib"] for r in runs[key]) / 1024, 1), "rounds": runs[key]}

            a, b = summary("bare"), summary("mailbot")
            ratio = b["messages_per_second"] / a["messages_per_second"]
            result["drain"] = {
                "messages": args.count, "set_bytes": size, "replies": len(answer), "outcomes": outcomes, "rounds": args.rounds,
                "check": check,
                "bare": {"command": f"python -c '<imapclient SELECT, UID SEARCH, FETCH BODY.PEEK[] x{FETCH_CHUNK}; "
                                    "mailparser.parse_from_bytes; smtplib.sendmail per reply, one connection>'", **a},
                "mailbot": {"command": "python -m mailbot run --once --config CFG (fresh SQLite)", **b},
                "throughput_ratio_mailbot_over_bare": round(ratio, 3),
                "goal_ratio": GOAL_RATIO, "goal_ratio_met": ratio >= GOAL_RATIO,
                "goal_rss_mib": GOAL_RSS_MIB, "goal_rss_met": b["peak_tree_pss_mib"] < GOAL_RSS_MIB,  # workers included
            }
            print()
            print(f"{'drain':34}{'messages':>9}{'replies':>9}{'median s':>10}{'msg/s':>9}{'peak RSS MiB':>14}"
                  f"{'tree PSS':>12}   rounds (s)")
            for label, s in (("A  bare pipeline", a), ("B  mailbot run --once", b)):
                rounds = ", ".join(f"{r['seconds']:.2f}" for r in s["rounds"])
                print(f"{label:34}{args.count:>9}{len(answer):>9}{s['median_seconds']:>10.2f}{s['messages_per_second']:>9.0f}"
                      f"{s['peak_rss_mib']:>14.1f}{s['peak_tree_pss_mib']:>12.1f}   {rounds}")
            print(f"throughput B/A = {ratio:.2f}  (goal >= {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'NOT met'}); "
                  f"mailbot peak memory (PSS) with its triage workers {b['peak_tree_pss_mib']:.0f} MiB (goal < {GOAL_RSS_MIB}: "
                  f"{'met' if b['peak_tree_pss_mib'] < GOAL_RSS_MIB else 'NOT met'})")

        if not args.skip_idle:
            pollers = []
            for size in (args.small, args.big):
                started = time.perf_counter()
                pollers.append(IdlePoller(dovecot, smtp, build_messages(sources, size, f"idle{size}"), workdir, args.history))
                print(f"idle folder of {size} messages loaded and indexed in {time.perf_counter() - started:.1f}s")
            idle = time_polls(pollers, args.polls)
            for p in pollers:
                p.check_still_there(dovecot)
            small, big = idle[str(args.small)], idle[str(args.big)]
            growth = big["mailbot"]["median_ms"] / small["mailbot"]["median_ms"]
            labels = {k: v.format(history=args.history) for k, v in IDLE_MEASURES.items()}
            result["idle_poll"] = {"sizes": [args.small, args.big], "history": args.history, "measures": labels, "per_poll": idle,
                                   "mailbot_big_over_small": round(growth, 3),
                                   "profile_big": profile_idle(pollers[1], max(100, args.polls // 3))}
            print()
            print(f"{'idle poll, per call (ms)':48}{'median':>9}{'':4}{'median':>9}{'':4}{'p90':>7}{'':4}{'p90':>7}")
            print(f"{'':48}{args.small:>9}{'':4}{args.big:>9}{'':4}{args.small:>7}{'':4}{args.big:>7}")
            for key, label in labels.items():
                print(f"{label:48}{small[key]['median_ms']:>9.3f}{'':4}{big[key]['median_ms']:>9.3f}"
                      f"{'':4}{small[key]['p90_ms']:>7.3f}{'':4}{big[key]['p90_ms']:>7.3f}")
            print(f"mailbot idle poll, {args.big} vs {args.small} messages: x{growth:.2f} "
                  f"({'flat' if growth < 1.5 else 'GROWS with the folder'})")
            for p in pollers:
                p.close()
    finally:
        smtp.stop()
        dovecot.destroy()
        shutil.rmtree(workdir, ignore_errors=True)

    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.json_out.relative_to(MAIN) if args.json_out.is_relative_to(MAIN) else args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
