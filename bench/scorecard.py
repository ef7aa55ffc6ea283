"""The reading scorecard: how right `mailbot triage` is on every labelled corpus in reach.

    .venv/bin/python bench/scorecard.py [FOLDER ...] [--json OUT] [--misses]

Corpora: ../shared/corpus/public and holdout-1 (when beside the project), every tests/data/cases*/ folder
(an .eml with its .json beside it, against tests/data/mailbot.toml), every tests/data/independent/*/ folder,
and each FOLDER given. A folder holding expected.jsonl and mailbot.toml is read as a corpus (like the public
one): its own config and directory.

For each corpus, and in all:
- right: messages whose result passes ../shared/corpus/check.py's comparison exactly (names compare without
  case and honorifics, apostrophes and hyphens counting);
- requests found (precision and recall of the (person, access) pairs), and of those found, names, emails
  and access right;
- wrong approvals: messages where a request was approved that the expectation does not approve as it is
  (another person, another address, another access, or not approved at all): the worst mistake;
- other wrong automatic replies: messages answered automatically (approved, rejected, needs_info, ...) that
  are not right, and have no wrong approval;
- needless holds: messages held for review (or ignored) that should have been answered.

It runs `mailbot triage --json` as a user would, once per corpus; it writes the figures as JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

MAIN = Path(__file__).resolve().parent.parent
DATA = MAIN / "tests" / "data"
SHARED = MAIN.parent / "shared" / "corpus"
HONORIFICS = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof"}
ANSWERED = {"approved", "rejected", "needs_info", "redirected", "informed", "partial"}


# -- the comparison, exactly as ../shared/corpus/check.py makes it ---------------------------------------------


def norm_name(name):
    if name is None:
        return None
    words = re.sub(r"[^\w\s'-]", " ", name.casefold()).split()
    return " ".join(w for w in words if w not in HONORIFICS)


def norm_email(email):
    return email.strip().casefold() if email else None


def _key(req, how):
    if how == "email":
        return (norm_email(req.get("email")), req.get("access")) if req.get("email") else None
    if how == "name":
        return (norm_name(req.get("name")), req.get("access")) if req.get("name") else None
    return (req.get("access"),)


def pair_requests(expected, produced):
    left_e, left_p, pairs = list(expected), list(produced), []
    for how in ("email", "name", "access"):
        for e in list(left_e):
            k = _key(e, how)
            if k is None:
                continue
            for p in left_p:
                if _key(p, how) == k:
                    pairs.append((e, p))
                    left_e.remove(e)
                    left_p.remove(p)
                    break
    return pairs, left_e, left_p


def problems_of(exp: dict, got: dict) -> list[str]:
    """check.py's check_message."""
    problems = []
    if got.get("outcome") != exp["outcome"]:
        problems.append(f"outcome {got.get('outcome')!r}, expected {exp['outcome']!r}")
    missing = set(exp.get("reasons", [])) - set(got.get("reasons") or [])
    if missing:
        problems.append(f"reasons lack {sorted(missing)} (got {got.get('reasons')})")
    if "requests" in exp:
        pairs, lost, extra = pair_requests(exp["requests"], got.get("requests") or [])
        for e in lost:
            problems.append(f"request not found: {e}")
        for p in extra:
            problems.append(f"unexpected request: { {k: p.get(k) for k in ('name', 'email', 'access', 'outcome')} }")
        for e, p in pairs:
            tag = f"request {e.get('email') or e.get('name') or e.get('access')}/{e.get('access')}"
            if "name" in e and norm_name(e["name"]) != norm_name(p.get("name")):
                problems.append(f"{tag}: name {p.get('name')!r}, expected {e['name']!r}")
            if "email" in e and norm_email(e["email"]) != norm_email(p.get("email")):
                problems.append(f"{tag}: email {p.get('email')!r}, expected {e['email']!r}")
            if p.get("outcome") != e["outcome"]:
                problems.append(f"{tag}: outcome {p.get('outcome')!r}, expected {e['outcome']!r}")
            lack = set(e.get("reasons", [])) - set(p.get("reasons") or [])
            if lack:
                problems.append(f"{tag}: reasons lack {sorted(lack)} (got {p.get('reasons')})")
    reply = got.get("reply")
    if "reply" in exp and exp["reply"] is None and reply is not None:
        problems.append("a reply was produced where none is expected")
    for s in exp.get("reply_contains", []):
        body = (reply or {}).get("body") or ""
        if s.casefold() not in body.casefold():
            problems.append(f"reply body lacks {s!r}")
    return problems


def wrong_approvals(exp: dict, got: dict) -> list[dict]:
    """Produced requests approved that the expectation does not approve as they are."""
    approved = [e for e in exp.get("requests", []) if e.get("outcome") == "approved"]
    wrong = []
    for p in got.get("requests") or []:
        if p.get("outcome") != "approved":
            continue
        match = next((e for e in approved if e.get("access") == p.get("access") and (
            (e.get("email") and norm_email(e["email"]) == norm_email(p.get("email")))
            or (not e.get("email") and norm_name(e.get("name")) == norm_name(p.get("name"))))), None)
        if match is None or ("name" in match and norm_name(match["name"]) != norm_name(p.get("name"))):
            wrong.append(p)
    return wrong


# -- the figures ----------------------------------------------------------------------------------------------


@dataclass
class Tally:
    messages: int = 0
    right: int = 0
    wrong_approvals: int = 0
    other_wrong_replies: int = 0
    needless_holds: int = 0
    expected_requests: int = 0
    produced_requests: int = 0
    paired_requests: int = 0
    names_right: int = 0
    names_checked: int = 0
    emails_right: int = 0
    emails_checked: int = 0
    access_right: int = 0
    access_checked: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, name: str, exp: dict, got: dict | None) -> None:
        self.messages += 1
        got = got or {}
        problems = problems_of(exp, got) if got else ["no output"]
        if not problems:
            self.right += 1
        wrong = wrong_approvals(exp, got)
        answered = got.get("outcome") in ANSWERED
        kind = ""
        if wrong:
            self.wrong_approvals += 1
            kind = "WRONG APPROVAL"
        elif problems and answered:
            self.other_wrong_replies += 1
            kind = "wrong reply"
        elif problems and got.get("outcome") in ("review", "ignored") and exp["outcome"] in ANSWERED:
            self.needless_holds += 1
            kind = "needless hold"
        if problems:
            self.misses.append(f"{name} [{kind or 'other'}]: " + "; ".join(problems))
        expected, produced = exp.get("requests", []), got.get("requests") or []
        self.expected_requests += len(expected)
        self.produced_requests += len(produced)
        pairs, _, _ = pair_requests(expected, produced)
        self.paired_requests += len(pairs)
        for e, p in pairs:
            if "name" in e:
                self.names_checked += 1
                self.names_right += norm_name(e["name"]) == norm_name(p.get("name"))
            if "email" in e:
                self.emails_checked += 1
                self.emails_right += norm_email(e["email"]) == norm_email(p.get("email"))
            if "access" in e:
                self.access_checked += 1
                self.access_right += e["access"] == p.get("access")

    def merge(self, other: Tally) -> None:
        for key, value in asdict(other).items():
            if key != "misses":
                setattr(self, key, getattr(self, key) + value)

    def figures(self) -> dict:
        def ratio(a, b):
            return round(a / b, 3) if b else None

        return {
            "messages": self.messages, "right": self.right, "right_share": ratio(self.right, self.messages),
            "wrong_approvals": self.wrong_approvals, "other_wrong_replies": self.other_wrong_replies,
            "needless_holds": self.needless_holds,
            "requests_precision": ratio(self.paired_requests, self.produced_requests),
            "requests_recall": ratio(self.paired_requests, self.expected_requests),
            "names_right": ratio(self.names_right, self.names_checked), "emails_right": ratio(self.emails_right, self.emails_checked),
            "access_right": ratio(self.access_right, self.access_checked),
        }


# -- the corpora ---------------------------------------------------------------------------------------------


def corpora(extra: list[Path]) -> list[tuple[str, Path, Path, dict[str, dict]]]:
    """(label, config, folder, {file name: expectation}) for each corpus in reach."""
    found = []
    for label, folder in (("public", SHARED / "public"), ("holdout-1", SHARED / "holdout-1")):
        if (folder / "expected.jsonl").exists():
            found.append(_corpus(label, folder))
    for folder in sorted(DATA.glob("cases*")):
        expected = {p.with_suffix(".eml").name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}
        found.append((folder.name, DATA / "mailbot.toml", folder, expected))
    for folder in sorted((DATA / "independent").glob("*")):
        if (folder / "expected.jsonl").exists():
            found.append(_corpus(f"independent/{folder.name}", folder))
    for folder in extra:
        found.append(_corpus(str(folder), folder))
    return found


def _corpus(label: str, folder: Path):
    lines = [json.loads(line) for line in (folder / "expected.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return label, folder / "mailbot.toml", folder, {Path(line["file"]).name: line for line in lines}


def triage(config: Path, folder: Path, names: list[str]) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as scratch:
        run = subprocess.run([sys.executable, "-m", "mailbot", "triage", "--config", str(config), "--json",
                              *(str(folder / n) for n in names)], capture_output=True, text=True, cwd=MAIN)
    if run.returncode != 0:
        raise SystemExit(f"mailbot triage failed on {folder}: {run.stderr[-2000:]}")
    return {Path(obj["file"]).name: obj for obj in map(json.loads, run.stdout.splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--misses", action="store_true", help="print each message that is not right, and why")
    args = parser.parse_args()
    total = Tally()
    report = {}
    print(f"{'corpus':38} {'right':>9} {'wrong appr.':>11} {'wrong reply':>11} {'needless hold':>13} "
          f"{'req P/R':>11} {'names':>6} {'emails':>6} {'access':>6}")
    for label, config, folder, expected in corpora(args.folders):
        got = triage(config, folder, sorted(expected))
        tally = Tally()
        for name, exp in sorted(expected.items()):
            tally.add(name, exp, got.get(name))
        total.merge(tally)
        figures = tally.figures()
        report[label] = {**figures, "misses": tally.misses}
        print(_row(label, figures))
        if args.misses:
            for miss in tally.misses:
                print("    " + miss)
    report["all"] = total.figures()
    print(_row("all", report["all"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _row(label: str, f: dict) -> str:
    def pct(v):
        return "-" if v is None else f"{v:.0%}"

    return (f"{label:38} {f['right']:>4}/{f['messages']:<4} {f['wrong_approvals']:>11} {f['other_wrong_replies']:>11} "
            f"{f['needless_holds']:>13} {pct(f['requests_precision']):>5}/{pct(f['requests_recall']):<5} "
            f"{pct(f['names_right']):>6} {pct(f['emails_right']):>6} {pct(f['access_right']):>6}")


if __name__ == "__main__":
    main()
