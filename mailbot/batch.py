"""Triages many message files, on one core or on several, giving results in the order of the files."""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator, NamedTuple

from mailbot.report import as_contract, table_row
from mailbot.triage import Triage

# Below this many files a single process is quicker than starting workers.
PARALLEL_FROM = 200
_CHUNK = 25


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
    return max(1, os.cpu_count() or 1) if files >= PARALLEL_FROM else 1


def _triage_one(engine: Triage, file: str, as_json: bool) -> Outcome:
    try:
        raw = Path(file).read_bytes()
    except OSError as exc:
        return Outcome(file, error=exc.strerror or str(exc))
    result = engine.run(raw)
    if as_json:
        return Outcome(file, line=json.dumps(as_contract(file, result), ensure_ascii=False).encode("utf-8") + b"\n")
    return Outcome(file, row=table_row(file, result))


# Each worker process keeps the engine it was started with (set once by _start_worker, read by _work).
_worker: tuple[Triage, bool] | None = None


def _start_worker(engine: Triage, as_json: bool) -> None:
    global _worker
    _worker = (engine, as_json)


def _work(file: str) -> Outcome:
    assert _worker is not None
    return _triage_one(_worker[0], file, _worker[1])


def triage_files(engine: Triage, files: list[str], as_json: bool, workers: int = 1) -> Iterator[Outcome]:
    """Each file's Outcome, in the order of `files`."""
    if workers <= 1 or len(files) < 2:
        for file in files:
            yield _triage_one(engine, file, as_json)
        return
    # fork: workers start with the engine already built (nothing is pickled but file names and results)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(engine, as_json)) as pool:
        yield from pool.map(_work, files, chunksize=_CHUNK)
