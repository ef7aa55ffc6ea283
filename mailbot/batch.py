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
# A worker's own alarm rings this long before the budget; a worker still busy at the budget is stuck where no
# signal reaches it (in C code) and is killed.
_ALARM_BEFORE = 1.0


class Outcome(NamedTuple):
    """One file's result: the JSON line (as bytes) or the table row, or why it could not be read."""

    file: str
    line: bytes | None = None
    row: tuple[str, str, str, str] | None = None
    error: str | None = None


def _json_line(contract: dict) -> bytes:
    """One JSON line, UTF-8. A file name that is not UTF-8 (its bytes kept as surrogates) is written escaped, as
    JSON allows, rather than failing the run."""
    try:
        return json.dumps(contract, ensure_ascii=False).encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(contract, ensure_ascii=True).encode("ascii") + b"\n"


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
        return Outcome(file, line=_json_line(as_contract(file, result)))
    return Outcome(file, row=table_row(file, result))


def triage_files(engine: Triage, files: list[str], as_json: bool, workers: int = 1) -> Iterator[Outcome]:
    """Each file's Outcome, in the order of `files`, read on `workers` worker processes (forked: they inherit the
    engine). Never in this process: a message stuck where the time budget's signal cannot reach (inside a C
    library) is stopped by killing its worker at the budget, and held with processing_timeout."""
    lost = partial(_lost, engine, as_json)
    function = _triage_json if as_json else _triage_row
    engine.budget = max(0.5, engine.budget - _ALARM_BEFORE)  # each worker stops itself first, if it can
    with EnginePool(engine, function, max(1, workers), lost=lost, deadline=engine.budget + _ALARM_BEFORE, start="fork") as pool:
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
        return Outcome(file, line=_json_line(as_contract(file, result)))
    return Outcome(file, row=table_row(file, result))


def _triage_json(engine: Triage, file: str) -> Outcome:
    return _triage_one(engine, file, True)


def _triage_row(engine: Triage, file: str) -> Outcome:
    return _triage_one(engine, file, False)
