"""Triages many message files, on one core or on several, giving results in the order of the files."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Iterator, NamedTuple

from mailbot.report import as_contract, table_row
from mailbot.triage import Triage
from mailbot.workers import EnginePool, cores

# Below this many files a single process is quicker than starting workers.
PARALLEL_FROM = 200
# A worker still busy this long after a message's time budget ran out is stuck in C code: it is killed.
_GRACE_SECONDS = 5


class Outcome(NamedTuple):
    """One file's result: the JSON line (as bytes) or the table row, or why it could not be read."""

    file: str
    line: bytes | None = None
    row: tuple[str, str, str, str] | None = None
    error: str | None = None


def workers_for(jobs: int, files: int) -> int:
    """How many processes to use: `jobs` when given, else every core for a long run."""
    if jobs > 0:
        return jobs
    return cores() if files >= PARALLEL_FROM else 1


def _triage_one(engine: Triage, file: str, as_json: bool) -> Outcome:
    try:
        raw = Path(file).read_bytes()
    except OSError as exc:
        return Outcome(file, error=exc.strerror or str(exc))
    result = engine.run(raw)
    if as_json:
        return Outcome(file, line=json.dumps(as_contract(file, result), ensure_ascii=False).encode("utf-8") + b"\n")
    return Outcome(file, row=table_row(file, result))


def triage_files(engine: Triage, files: list[str], as_json: bool, workers: int = 1) -> Iterator[Outcome]:
    """Each file's Outcome, in the order of `files`: here (workers 1) or on worker processes."""
    processes = workers if workers > 1 else 0
    build = partial(Triage.from_settings, engine.settings, html=engine.html)
    lost = partial(_lost, engine, as_json)
    function = _triage_json if as_json else _triage_row
    deadline = engine.budget + _GRACE_SECONDS
    with EnginePool(engine, function, processes, build=build, lost=lost, deadline=deadline) as pool:
        yield from pool.map(files)


def _lost(engine: Triage, as_json: bool, file: str, why: str) -> Outcome:
    """A file whose worker was killed for overrunning (or died): held, with what its header says."""
    try:
        raw = Path(file).read_bytes()
    except OSError as exc:
        return Outcome(file, error=exc.strerror or str(exc))
    result = engine.overtime(raw)
    if why != "overtime":
        result = replace(result, decision=replace(result.decision, reasons=("processing_failed",)))
    if as_json:
        return Outcome(file, line=json.dumps(as_contract(file, result), ensure_ascii=False).encode("utf-8") + b"\n")
    return Outcome(file, row=table_row(file, result))


def _triage_json(engine: Triage, file: str) -> Outcome:
    return _triage_one(engine, file, True)


def _triage_row(engine: Triage, file: str) -> Outcome:
    return _triage_one(engine, file, False)
