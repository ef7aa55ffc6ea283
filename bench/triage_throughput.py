"""Throughput benchmark: `mailbot triage --json` against a bare mail-parser parse.

Goal (from the issue): `mailbot triage --json` over 3,000 messages reaches at least half
the throughput of a bare mail-parser parse of the same files, measured side by side in
one run.

    .venv/bin/python bench/triage_throughput.py [--count 3000] [--rounds 3] [--config FILE]

It builds N distinct .eml files (cycling through the shared corpora, the test cases and the
demo inbox, each copy with its own Message-ID), checks once that mailbot exits 0 and prints
exactly N JSON lines, then times, alternating A, B, A, B, ...:

  A  `python -c` that reads every file as bytes and calls mailparser.parse_from_bytes on it;
  B  `python -m mailbot triage --config CFG --json --jobs 1 DIR`, stdout to /dev/null: one
     process, like for like with A (the issue's goal is measured on this one);
  C  the same without --jobs: mailbot's default, every core for 200 files or more.

Both are fresh interpreters, so both pay start-up, imports and reading the files. It prints a
table and writes the same figures to bench/out/triage_throughput.json. It asserts nothing
about speed: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
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
GOAL_RATIO = 0.6  # the issue (#10): at least 0.6 of a bare mail-parser parse

SOURCE_GLOBS = [
    str(SHARED / "corpus" / "public" / "*.eml"),
    str(SHARED / "corpus" / "wild" / "*" / "*.eml"),
    str(MAIN / "tests" / "data" / "cases" / "*.eml"),
    str(MAIN / "config" / "demo" / "inbox" / "*.eml"),
]

BASELINE_CODE = """\
import os, sys
import mailparser
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    if name.endswith(".eml"):
        with open(os.path.join(d, name), "rb") as f:
            mailparser.parse_from_bytes(f.read())
"""

_MESSAGE_ID_LINE = re.compile(rb"^message-id[ \t]*:", re.IGNORECASE)


def default_config() -> Path:
    shared = SHARED / "corpus" / "public" / "mailbot.toml"
    return shared if shared.is_file() else MAIN / "config" / "demo" / "mailbot.toml"


def source_files() -> list[Path]:
    files: list[Path] = []
    for pattern in SOURCE_GLOBS:
        files.extend(Path(p) for p in sorted(glob.glob(pattern)))
    return files


def with_message_id(raw: bytes, message_id: str) -> bytes:
    """Replace the Message-ID header (and its continuation lines), or add one."""
    # Header block ends at the first empty line; keep the file's own line ending.
    match = re.search(rb"\r?\n\r?\n", raw)
    head_end = match.start() if match else len(raw)
    newline = b"\r\n" if b"\r\n" in raw[: head_end + 2] else b"\n"
    header_line = b"Message-ID: " + message_id.encode("ascii")

    lines = raw[:head_end].split(newline)
    out: list[bytes] = []
    replaced = False
    skipping = False
    for line in lines:
        if skipping and line[:1] in (b" ", b"\t"):
            continue  # continuation of the Message-ID we replaced
        skipping = False
        if _MESSAGE_ID_LINE.match(line):
            if not replaced:
                out.append(header_line)
                replaced = True
            skipping = True
            continue
        out.append(line)
    if not replaced:
        # After an mbox "From " separator line if there is one, else first.
        at = 1 if out and out[0].startswith(b"From ") and b":" not in out[0].split(b" ", 1)[0] else 0
        out.insert(at, header_line)
    return newline.join(out) + raw[head_end:]


def build_set(sources: list[Path], count: int, dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(count):
        src = sources[i % len(sources)]
        raw = src.read_bytes()
        data = with_message_id(raw, f"<bench-{i:05d}.{src.stem[:40]}@bench.invalid>")
        (dest / f"{i:05d}-{src.name}").write_bytes(data)
        total += len(data)
    return total


def run_child(argv: list[str], stdout=subprocess.DEVNULL) -> tuple[float, int, int]:
    """Run argv; return (wall seconds, exit status, peak RSS of that child in KiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, proc.returncode, usage.ru_maxrss  # Linux: KiB


def verify(mailbot_argv: list[str], count: int) -> dict:
    res = subprocess.run(mailbot_argv, stdin=subprocess.DEVNULL, capture_output=True)
    lines = res.stdout.decode("utf-8", "replace").splitlines()
    if res.returncode != 0 or len(lines) != count:
        sys.exit(
            f"verification failed: exit {res.returncode}, {len(lines)} lines for {count} messages\n"
            + res.stderr.decode("utf-8", "replace")[-2000:]
        )
    objs = [json.loads(line) for line in lines]
    outcomes: dict[str, int] = {}
    for o in objs:
        outcomes[o.get("outcome")] = outcomes.get(o.get("outcome"), 0) + 1
    return {
        "exit_status": res.returncode,
        "lines": len(lines),
        "distinct_message_ids": len({o.get("message_id") for o in objs}),
        "outcomes": dict(sorted(outcomes.items(), key=lambda kv: -kv[1])),
    }


def machine(dovecot: Path | None = None) -> dict:
    """The machine a benchmark ran on (and the Dovecot it ran against), for its figures."""
    try:
        usable_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        usable_cpus = os.cpu_count()
    found = {"nproc": usable_cpus, "cpu_count": os.cpu_count(), "python": platform.python_version(),
             "implementation": platform.python_implementation(), "platform": platform.platform(),
             "processor": platform.processor() or platform.machine()}
    if dovecot is not None:
        found["dovecot"] = subprocess.run([str(dovecot), "--version"], capture_output=True, text=True).stdout.strip()
    return found


def git_state() -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(MAIN), "describe", "--always", "--dirty"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=3000, help="messages in the set (default 3000)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating A/B rounds (default 3)")
    ap.add_argument("--config", type=Path, default=default_config(), help="mailbot.toml to triage with")
    ap.add_argument("--keep", type=Path, help="build the set in this directory and keep it")
    ap.add_argument("--json-out", type=Path, default=OUT_DIR / "triage_throughput.json")
    args = ap.parse_args()
    if args.count < 1 or args.rounds < 1:
        ap.error("--count and --rounds must be at least 1")

    sources = source_files()
    if not sources:
        sys.exit("no source .eml files found")

    python = sys.executable
    tmp = None
    if args.keep:
        workdir = args.keep
        if workdir.exists():
            shutil.rmtree(workdir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="mailbot-bench-")
        workdir = Path(tmp.name) / "set"
    try:
        size = build_set(sources, args.count, workdir)
        baseline_argv = [python, "-c", BASELINE_CODE, str(workdir)]
        mailbot_argv = [python, "-m", "mailbot", "triage", "--config", str(args.config), "--json", "--jobs", "1", str(workdir)]
        parallel_argv = [python, "-m", "mailbot", "triage", "--config", str(args.config), "--json", str(workdir)]

        # Once, outside the timed rounds: correctness, and warms the page and bytecode caches.
        check = verify(mailbot_argv, args.count)
        _, rc, _ = run_child(baseline_argv)
        if rc != 0:
            sys.exit(f"baseline exited {rc}")

        runs: dict[str, list[dict]] = {"baseline": [], "mailbot": [], "parallel": []}
        for _ in range(args.rounds):
            for key, argv in (("baseline", baseline_argv), ("mailbot", mailbot_argv), ("parallel", parallel_argv)):
                secs, rc, rss = run_child(argv)
                if rc != 0:
                    sys.exit(f"{key} exited {rc} during timing")
                runs[key].append({"seconds": round(secs, 4), "peak_rss_kib": rss})
    finally:
        if tmp is not None:
            tmp.cleanup()

    def summary(key: str) -> dict:
        secs = [r["seconds"] for r in runs[key]]
        med = statistics.median(secs)
        return {
            "median_seconds": round(med, 4),
            "min_seconds": min(secs),
            "max_seconds": max(secs),
            "messages_per_second": round(args.count / med, 1),
            "peak_rss_mib": round(max(r["peak_rss_kib"] for r in runs[key]) / 1024, 1),
            "rounds": runs[key],
        }

    a, b, c = summary("baseline"), summary("mailbot"), summary("parallel")
    ratio = b["messages_per_second"] / a["messages_per_second"]
    parallel_ratio = c["messages_per_second"] / a["messages_per_second"]
    result = {
        "benchmark": "triage_throughput",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "versions": {"mailbot": package_version("mailbot"), "mail-parser": package_version("mail-parser"),
                     "git": git_state()},
        "messages": args.count,
        "set_bytes": size,
        "source_files": len(sources),
        "config": str(args.config),
        "rounds": args.rounds,
        "verification": check,
        "baseline": {"command": "python -c '<read bytes; mailparser.parse_from_bytes>' DIR", **a},
        "mailbot": {"command": f"python -m mailbot triage --config {args.config} --json --jobs 1 DIR", **b},
        "parallel": {"command": f"python -m mailbot triage --config {args.config} --json DIR (all cores)", **c},
        "throughput_ratio_mailbot_over_baseline": round(ratio, 3),
        "throughput_ratio_parallel_over_baseline": round(parallel_ratio, 3),
        "goal_ratio": GOAL_RATIO,
        "goal_met": ratio >= GOAL_RATIO,
    }

    m = result["machine"]
    print(f"machine: nproc={m['nproc']}  {m['implementation']} {m['python']}  {m['platform']}")
    print(f"set: {args.count} messages from {len(sources)} source files, {size / 1e6:.1f} MB; "
          f"config {args.config}; {args.rounds} alternating rounds")
    print(f"check: mailbot exit {check['exit_status']}, {check['lines']} lines, "
          f"{check['distinct_message_ids']} distinct message_ids; outcomes {check['outcomes']}")
    print()
    print(f"{'':28}{'messages':>9}{'median s':>10}{'msg/s':>9}{'peak RSS MiB':>14}   rounds (s)")
    for label, s in (("A  mail-parser (bare)", a), ("B  mailbot --jobs 1", b), ("C  mailbot (all cores)", c)):
        rounds = ", ".join(f"{r['seconds']:.2f}" for r in s["rounds"])
        print(f"{label:28}{args.count:>9}{s['median_seconds']:>10.2f}{s['messages_per_second']:>9.0f}"
              f"{s['peak_rss_mib']:>14.1f}   {rounds}")
    print()
    print(f"throughput B/A = {ratio:.2f}  (one process each; goal >= {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'NOT met'})")
    print(f"throughput C/A = {parallel_ratio:.2f}  (mailbot's default: every core for 200 files or more)")

    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.json_out.relative_to(MAIN) if args.json_out.is_relative_to(MAIN) else args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
