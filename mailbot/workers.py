"""Triage on several cores: worker processes forked with the engine, a function of (engine, item) mapped in order."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

from mailbot.triage import Triage

Item = TypeVar("Item")
Result = TypeVar("Result")

# Set once in each worker process by _start, read by _work; the parent never sets it. Workers are forked, so
# they start with the engine already built: only the items and the results cross between processes.
_in_worker: tuple[Triage, Callable] | None = None


def _start(engine: Triage | Callable[[], Triage], function: Callable) -> None:
    global _in_worker
    _in_worker = (engine if isinstance(engine, Triage) else engine(), function)


def _work(item):
    engine, function = _in_worker
    return function(engine, item)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class EnginePool:
    """Maps `function(engine, item)` over items on `workers` processes (in this process when workers is 1).

    `function` must be a module-level function (it is named, not pickled, to the workers). Workers are forked
    with the engine, which is quickest; a process with threads gives `factory` instead, a picklable callable
    that builds the engine in each worker, and its workers start from a clean forkserver (a fork while another
    thread holds a lock would leave the worker that lock held forever). `restart()` starts new workers on the
    next map, for an engine changed since (the service's directory, say)."""

    def __init__(self, engine: Triage, function: Callable[[Triage, Item], Result], workers: int, chunk: int = 25,
                 factory: Callable[[], Callable[[], Triage]] | None = None):
        self.engine = engine
        self.function = function
        self.workers = workers
        self.chunk = chunk
        self.factory = factory  # called at each (re)start: the picklable builder of the engine as it is now
        self._pool: ProcessPoolExecutor | None = None

    def map(self, items: Iterable[Item], parallel_from: int = 2) -> Iterator[Result]:
        items = list(items)
        if self.workers <= 1 or len(items) < parallel_from:
            return (self.function(self.engine, item) for item in items)
        if self._pool is None:
            context = multiprocessing.get_context("fork" if self.factory is None else "forkserver")
            engine = self.engine if self.factory is None else self.factory()
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start, initargs=(engine, self.function))
        chunk = min(self.chunk, max(1, len(items) // (self.workers * 2)))
        return self._pool.map(_work, items, chunksize=chunk)

    def restart(self) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> EnginePool:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
