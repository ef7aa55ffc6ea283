"""Reply latency: from a message's arrival in the mailbox to its reply reaching the SMTP server, with IDLE on.

Goal: median and 95th percentile under 2 seconds, over 100 messages.

    .venv/bin/python bench/reply_latency.py [--count 100] [--gap 1.0] [--warmup 1] [--timeout 30]

It starts a throwaway Dovecot and an aiosmtpd sink (tests/servers.py, as bench/service_throughput.py does),
writes a config with mailbot's default [service] settings (so poll_interval_seconds is 60: a reply within
2 seconds can only come from IDLE) except a raised per-sender reply limit (the messages repeat the same few
senders), with [imap] idle = true (mailbot's default, written out), and starts the long-running service,
`python -m mailbot run --config CFG`, as a subprocess. Once its log says it started (and a first, empty poll
has had time to pass), it measures COUNT messages one at a time:

- a message mailbot answers (only source files for which `mailbot triage --json` gives a reply, cycled through),
  with a Message-ID of its own, is APPENDed to the INBOX over a separate imapclient connection; the clock starts
  when APPEND returns;
- the clock stops when the sink's DATA handler receives the reply whose In-Reply-To is that Message-ID (the
  sink records its own receive time, on the same monotonic clock; the benchmark looks every 5 ms); no reply
  within --timeout seconds counts as a timeout;
- then GAP seconds of quiet after the reply, before the next message (see below on why the default is 1 s).

WARMUP untimed messages go first (the first one pays for whatever the service sets up lazily); their latency
is reported apart. Then the service is sent SIGTERM and must exit cleanly (status 0) within 30 seconds.

It prints a table (count, timeouts, median, p95, max, min) and writes bench/out/reply_latency.json with the
figures, each message's latency, the machine and the git commit; for any reply that took 2 s or more (or never
came) it keeps the service's log lines meanwhile, and Dovecot's log lines for the mailbox's user (when each of
the service's sessions logged in).

The gap matters. Dovecot tells an IDLE session of a change 0.5 s after it happens (measured here with a bare
imapclient IDLE, whatever the quiet before). Filing a message (MOVE) is such a change: its EXPUNGE reaches
mailbot's IDLE connection about 0.5 s later and sets off one more pass. With --gap 0.3 the next message arrives
just before that pass and is picked up by it, not by its own EXISTS, so the figures (about 0.2 s here) are those
of a steady trickle helped by the previous filing; with --gap 0.6 or more (the default is 1.0) each message is really
alone and waits for its own EXISTS (about 0.6 s here, like the warm-up): that is the figure to quote.

It asserts nothing about speed: it is a measurement, not a test. It exits non-zero when the service fails (does
not start, dies, does not stop cleanly) or a reply never comes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MAIN = Path(__file__).resolve().parent.parent
OUT_DIR = MAIN / "bench" / "out"
GOAL_SECONDS = 2.0
POLL_SINK_SECONDS = 0.005

sys.path.insert(0, str(MAIN / "tests"))
sys.path.insert(0, str(MAIN / "bench"))
import servers  # noqa: E402  (tests/servers.py: the throwaway Dovecot and the aiosmtpd sink)
import service_throughput as st  # noqa: E402  (its message building, config and triage helpers)
from triage_throughput import git_state, machine, package_version, with_message_id  # noqa: E402


class TimedSink(servers.SmtpSink):
    """The tests' SMTP sink, also noting when (time.monotonic) each message's DATA was received, by In-Reply-To."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = {}
        self._arrival_lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        now = time.monotonic()
        answer = await super().handle_DATA(server, session, envelope)
        if answer.startswith("250"):
            content = bytes(envelope.original_content or envelope.content)
            in_reply_to = servers.Envelope(envelope.mail_from, (), content).message["In-Reply-To"]
            key = " ".join(str(in_reply_to or "").split())
            with self._arrival_lock:
                self.arrivals.setdefault(key, []).append(now)
        return answer

    def arrived(self, message_id: str) -> float | None:
        with self._arrival_lock:
            times = self.arrivals.get(message_id)
            return times[0] if times else None

    def counts(self) -> dict[str, int]:
        with self._arrival_lock:
            return {k: len(v) for k, v in self.arrivals.items()}


def latency_config(folder: Path, dovecot, user, smtp) -> tuple[Path, dict[str, str]]:
    """As service_throughput's bench_config (its directories, mailbot's [service] defaults but the per-sender
    limit), with [imap] idle = true written out rather than left to the default."""
    directories = [servers.DATA]
    for extra in (st.SHARED / "corpus" / "public", MAIN / "config" / "demo"):
        if (extra / "organisations.csv").is_file() and (extra / "people.csv").is_file():
            directories.append(extra)
    return servers.write_config(
        folder, f"sqlite:///{folder / 'mailbot.db'}", dovecot=dovecot, user=user, smtp=smtp, directories=tuple(directories),
        service={**st.mailbot_service_defaults(), "replies_per_sender_per_hour": st.REPLIES_PER_SENDER_PER_HOUR},
        imap_extra={"idle": True},
    )


def log_records(path: Path) -> list[dict]:
    """The service's log: JSON lines (stderr is a file), anything else kept as {'raw': line}."""
    records = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return records
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            records.append(record if isinstance(record, dict) else {"raw": line})
        except ValueError:
            records.append({"raw": line})
    return records


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def log_window(records: list[dict], start_wall: float, seconds: float) -> list[dict]:
    """The log records from just before an APPEND to just after its reply (or its timeout)."""
    from datetime import datetime

    out = []
    for record in records:
        try:
            at = datetime.fromisoformat(record["time"]).timestamp()
        except (KeyError, TypeError, ValueError):
            continue
        if start_wall - 0.5 <= at <= start_wall + seconds + 0.5:
            out.append(record)
    return out


def wait_started(proc: subprocess.Popen, log: Path, timeout: float = 60) -> dict:
    """Until the service logs 'mailbot started'; its record. Exits when the service dies or never says so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"mailbot run exited {proc.returncode} before it started:\n{log_tail(log)}")
        for record in log_records(log):
            if record.get("message") == "mailbot started":
                return record
        time.sleep(0.05)
    sys.exit(f"mailbot run did not log 'mailbot started' within {timeout:.0f}s:\n{log_tail(log)}")


def quantile(values: list[float], q: float) -> float:
    """The q-quantile, linear between closest ranks (numpy's default; the 'inclusive' method)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(latencies: list[float]) -> dict:
    if not latencies:
        return {"median_seconds": None, "p95_seconds": None, "max_seconds": None, "min_seconds": None, "mean_seconds": None}
    return {"median_seconds": round(statistics.median(latencies), 4), "p95_seconds": round(quantile(latencies, 0.95), 4),
            "max_seconds": round(max(latencies), 4), "min_seconds": round(min(latencies), 4),
            "mean_seconds": round(statistics.mean(latencies), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100, help="messages measured (default 100)")
    ap.add_argument("--gap", type=float, default=1.0, help="seconds of quiet after each reply (default 1.0: each message alone)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed messages first, reported apart (default 1)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a reply (default 30)")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds after 'mailbot started' before the first message (default 3)")
    ap.add_argument("--json-out", type=Path, default=OUT_DIR / "reply_latency.json")
    args = ap.parse_args()
    if args.count < 1 or args.warmup < 0 or args.gap < 0 or args.timeout <= 0 or args.settle < 0:
        ap.error("--count must be at least 1; --warmup, --gap and --settle not negative; --timeout positive")

    from imapclient import IMAPClient

    sources = st.source_files()
    if not sources:
        sys.exit("no source .eml files found")
    dovecot, smtp = st.start_servers(TimedSink)
    workdir = Path(tempfile.mkdtemp(prefix="mailbot-latency-bench-"))
    result: dict = {
        "benchmark": "reply_latency",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(servers.DOVECOT),
        "versions": {name: package_version(name) for name in ("mailbot", "IMAPClient", "aiosmtpd", "APScheduler", "SQLAlchemy")}
        | {"git": git_state()},
        "goal_seconds": GOAL_SECONDS,
        "settings": {"count": args.count, "gap_seconds": args.gap, "warmup": args.warmup, "timeout_seconds": args.timeout,
                     "settle_seconds": args.settle, "sink_poll_seconds": POLL_SINK_SECONDS},
    }
    m = result["machine"]
    print(f"machine: nproc={m['nproc']}  {m['implementation']} {m['python']}  {m['platform']}  ({m['dovecot'] and 'Dovecot ' + m['dovecot']})")
    proc = None
    failure: str | None = None
    try:
        # The messages mailbot answers: every source file once through `mailbot triage --json`, same config.
        user = dovecot.add_user()
        config, env = latency_config(workdir / "service", dovecot, user, smtp)
        candidates = st.build_messages(sources, len(sources), "triage")
        answer, outcomes = st.expected_replies(config, env, candidates, workdir)
        answered = [(name, raw) for name, message_id, raw in candidates if message_id in answer]
        if not answered:
            sys.exit("`mailbot triage --json` answers none of the source files")
        service = st.mailbot_service_defaults()
        result["config"] = {"service": {**service, "replies_per_sender_per_hour": st.REPLIES_PER_SENDER_PER_HOUR},
                            "imap_idle": True, "database": "sqlite", "source_files": len(sources), "answered_files": len(answered),
                            "triage_outcomes": outcomes}
        print(f"{len(sources)} source files, `mailbot triage --json` answers {len(answered)}; outcomes {outcomes}")
        print(f"config: [imap] idle = true; [service] poll_interval_seconds = {service['poll_interval_seconds']:g}, "
              f"send_interval_seconds = {service['send_interval_seconds']:g} (mailbot's defaults), "
              f"replies_per_sender_per_hour = {st.REPLIES_PER_SENDER_PER_HOUR}")

        log = workdir / "service" / "stderr.log"
        with log.open("wb") as err, (workdir / "service" / "stdout.log").open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "mailbot", "run", "--config", str(config)], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, env=st.child_env(env), cwd=MAIN)
        started_at = time.monotonic()
        started = wait_started(proc, log)
        if started.get("standing_by"):
            sys.exit(f"mailbot started standing by (it does not hold the mailbox's lease):\n{log_tail(log)}")
        print(f"mailbot run (pid {proc.pid}) started in {time.monotonic() - started_at:.1f}s; settling {args.settle:g}s")
        time.sleep(args.settle)
        if proc.poll() is not None:
            sys.exit(f"mailbot run exited {proc.returncode}:\n{log_tail(log)}")

        imap = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=30)
        imap.login(user.name, user.password)
        rows: list[dict] = []
        total = args.warmup + args.count
        try:
            for i in range(total):
                warm = i < args.warmup
                name, raw = answered[i % len(answered)]
                message_id = f"<latency-{i:04d}.{Path(name).stem[6:46]}@bench.invalid>"
                data = with_message_id(raw, message_id)
                wall = time.time()
                imap.append("INBOX", data)
                appended = time.monotonic()
                deadline = appended + args.timeout
                received = None
                while True:
                    received = smtp.arrived(message_id)
                    if received is not None or time.monotonic() > deadline or proc.poll() is not None:
                        break
                    time.sleep(POLL_SINK_SECONDS)
                row = {"n": i, "warmup": warm, "file": name[6:], "message_id": message_id, "append_wall_time": round(wall, 3),
                       "append_monotonic": appended,
                       "latency_seconds": round(received - appended, 4) if received is not None else None}
                rows.append(row)
                if received is None:
                    died = proc.poll() is not None
                    print(f"  #{i} {name[6:]}: {'the service died' if died else f'no reply within {args.timeout:g}s'}")
                    if died:
                        failure = f"mailbot run exited {proc.returncode} while waiting for the reply to {message_id}"
                        break
                elif warm:
                    print(f"  warm-up #{i}: {row['latency_seconds']:.3f}s")
                elif (i - args.warmup + 1) % 25 == 0:
                    print(f"  {i - args.warmup + 1}/{args.count} measured")
                time.sleep(args.gap)
        finally:
            try:
                imap.logout()
            except Exception:
                imap.shutdown()

        # Let the last filing finish, then see what the mailbox and the sink hold.
        time.sleep(1.0)
        inbox_left = dovecot.status(user)["MESSAGES"]
        present = dovecot.folders(user)
        filed = {path: dovecot.status(user, path)["MESSAGES"] if dovecot.folder(path) in present else 0
                 for path in ("Mailbot/Processed", "Mailbot/Review", "Mailbot/Ignored")}
        replies_per_message = smtp.counts()
        for row in rows:  # a reply that came after its timeout (or not at all): when, if it did
            appended = row.pop("append_monotonic")
            if row["latency_seconds"] is None:
                late = smtp.arrived(row["message_id"])
                row["late_reply_seconds"] = round(late - appended, 3) if late is not None else None
        repeated = {k: v for k, v in replies_per_message.items() if v > 1}

        # Stop the service: SIGTERM, a clean exit within 30 s.
        stop = {"signal": "SIGTERM"}
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            t0 = time.monotonic()
            try:
                proc.wait(timeout=30)
                stop["seconds"] = round(time.monotonic() - t0, 3)
            except subprocess.TimeoutExpired:
                stop["seconds"] = None
                proc.kill()
                proc.wait()
                failure = failure or "mailbot run did not stop within 30s of SIGTERM (killed)"
        stop["exit_status"] = proc.returncode
        stop["logged_stopped"] = any(r.get("message") == "mailbot stopped" for r in log_records(log))
        if proc.returncode != 0:
            failure = failure or f"mailbot run exited {proc.returncode} after SIGTERM"
        elif not stop["logged_stopped"]:
            failure = failure or "mailbot run exited 0 but did not log 'mailbot stopped'"

        records = log_records(log)
        dovecot_lines = [line for line in dovecot.log.read_text(errors="replace").splitlines() if user.name in line] \
            if dovecot.log.exists() else []
        result["dovecot_log"] = dovecot_lines[:200]  # the user's logins and logouts: when the service's sessions began
        problems = [r for r in records if r.get("level") in ("warning", "error", "critical") or "raw" in r]
        measured = [r for r in rows if not r["warmup"]]
        latencies = [r["latency_seconds"] for r in measured if r["latency_seconds"] is not None]
        timeouts = sum(1 for r in measured if r["latency_seconds"] is None)
        warmup_timeouts = sum(1 for r in rows if r["warmup"] and r["latency_seconds"] is None)
        figures = summary(latencies)
        over_goal = sum(1 for x in latencies if x >= GOAL_SECONDS)
        result["latency"] = {
            "count": len(measured), "replied": len(latencies), "timeouts": timeouts, "warmup_timeouts": warmup_timeouts, **figures,
            "over_goal": over_goal,
            "goal_median_met": figures["median_seconds"] is not None and figures["median_seconds"] < GOAL_SECONDS and not timeouts,
            "goal_p95_met": figures["p95_seconds"] is not None and figures["p95_seconds"] < GOAL_SECONDS and not timeouts,
            "warmup_seconds": [r["latency_seconds"] for r in rows if r["warmup"]],
            "p95_method": "linear between closest ranks (inclusive)",
            "clock": "APPEND returned -> the sink's DATA handler received the reply (time.monotonic, one process)",
        }
        result["messages"] = rows
        result["after"] = {"inbox_left": inbox_left, "filed": filed, "replies_received": sum(replies_per_message.values()),
                           "messages_replied_more_than_once": repeated}
        result["stop"] = stop
        slow = [dict(r, log=log_window(records, r["append_wall_time"], r["latency_seconds"] or args.timeout))
                for r in rows if r["latency_seconds"] is None or r["latency_seconds"] >= GOAL_SECONDS]
        result["slow_messages"] = slow[:20]
        result["service_log"] = {"lines": len(records), "warnings_and_errors": problems[:50]}

        print()
        print(f"{'reply latency (s), IDLE on':34}{'count':>7}{'timeouts':>10}{'median':>9}{'p95':>9}{'max':>9}{'min':>9}")

        def cell(v):
            return f"{v:>9.3f}" if v is not None else f"{'-':>9}"

        print(f"{'append -> reply at the SMTP sink':34}{len(measured):>7}{timeouts:>10}{cell(figures['median_seconds'])}"
              f"{cell(figures['p95_seconds'])}{cell(figures['max_seconds'])}{cell(figures['min_seconds'])}")
        if result["latency"]["warmup_seconds"]:
            warmups = result["latency"]["warmup_seconds"]
            print(f"warm-up (untimed): {', '.join(f'{x:.3f}s' if x is not None else 'timeout' for x in warmups)}")
        print(f"goal: median and p95 under {GOAL_SECONDS:g}s: median {'met' if result['latency']['goal_median_met'] else 'NOT met'}, "
              f"p95 {'met' if result['latency']['goal_p95_met'] else 'NOT met'}; {over_goal} of {len(latencies)} replies took "
              f"{GOAL_SECONDS:g}s or more")
        print(f"after: {inbox_left} left in the INBOX, filed {filed}, {sum(replies_per_message.values())} replies received"
              f"{f', {len(repeated)} messages answered more than once' if repeated else ''}")
        print(f"stop: SIGTERM -> exit {stop['exit_status']} in {stop.get('seconds')}s"
              f"{'' if stop['logged_stopped'] else ' (no mailbot stopped in its log)'}; "
              f"service log: {len(records)} lines, {len(problems)} warnings/errors")
        for r in problems[:10]:
            print(f"  log: {json.dumps(r, ensure_ascii=False)[:300]}")
        for r in slow[:3]:
            took = (f"{r['latency_seconds']:.3f}s" if r["latency_seconds"] is not None else
                    f"no reply within {args.timeout:g}s" + (f" (it came after {r['late_reply_seconds']:.1f}s)"
                                                            if r.get("late_reply_seconds") is not None else ""))
            print(f"slow: #{r['n']}{' (warm-up)' if r['warmup'] else ''} {r['file']}: {took}; the service's log meanwhile:")
            for line in r["log"][:12]:
                print(f"  {json.dumps(line, ensure_ascii=False)[:300]}")
        if timeouts or warmup_timeouts:
            failure = failure or f"{timeouts + warmup_timeouts} replies never came within {args.timeout:g}s"
            print("service log around the first timeout:")
            print(log_tail(log, 30))
            print("Dovecot's log for the mailbox's user:")
            print("\n".join(dovecot_lines[:20]))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        smtp.stop()
        dovecot.destroy()
        shutil.rmtree(workdir, ignore_errors=True)

    result["failure"] = failure
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.json_out.relative_to(MAIN) if args.json_out.is_relative_to(MAIN) else args.json_out}")
    if failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
