"""Triage on worker processes: `function(engine, item)` mapped in order, each item within a deadline.

A worker that overruns its item's deadline (a C library that never returns to Python, where the budget's
signal cannot reach) is killed and replaced, and that item gets `lost(item, "overtime")`; a worker that
dies gets `lost(item, "crashed")`; the rest of the items go on. Workers are fresh interpreters (spawned:
no fork of a process with threads, no forkserver left behind) and exit when their parent is gone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Iterator

log = logging.getLogger(__name__)

_PARENT_CHECK_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when the thread that started it ends
_START_SECONDS = 120.0  # the most a worker may take to build its engine before its first item counts as overtime


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# -- in the worker process -------------------------------------------------------------------------------


def _exit_with_parent(parent: int) -> None:
    """End this process when its parent dies: at once where the kernel can do it (Linux's parent-death signal,
    which needs no Python to run: a worker deep in a C call dies too), and besides by a thread that notices
    being adopted (getppid() changes)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the thread below is the only watch
        pass
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(0)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(_PARENT_CHECK_SECONDS)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _serve(connection: Connection, build: Callable[[], Any], function: Callable, adopt: Callable | None, parent: int) -> None:
    """A worker: build the engine, then answer ("item", (id, item)) with (id, result) until told to stop."""
    _exit_with_parent(parent)
    engine = build()
    connection.send(("ready", None))  # an item's deadline counts from here, not from a start that is still building
    while True:
        try:
            kind, value = connection.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if kind == "stop":
            return
        if kind == "state":
            adopt(engine, value)
            continue
        ticket, item = value
        connection.send((ticket, function(engine, item)))


class _Inherited:
    """A forked worker's engine: the parent's own, inherited with the process (nothing is pickled or rebuilt)."""

    def __init__(self, engine: Any):
        self.engine = engine

    def __call__(self) -> Any:
        return self.engine


# -- in the parent ---------------------------------------------------------------------------------------


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: Connection
    state_version: int = 0
    ticket: int | None = None  # the item in hand
    since: float = 0.0  # when it was handed the item, or became ready after that
    ready: bool = False  # its engine is built


@dataclass
class _Job:
    """One map() call: its items, and the results as they come."""

    items: list
    results: dict[int, Any] = field(default_factory=dict)


class EnginePool:
    """Maps `function(engine, item)` over items, in order.

    workers == 0: in this process, with `engine`. Otherwise on that many worker processes, each building its
    engine with `build()` (a picklable callable) and answering one item at a time; `deadline` seconds is the
    most an item may take before its worker is killed (None: no limit). `update(state)` hands every worker
    `adopt(engine, state)` before its next item (the directory as it is now, say), and the engine here too."""

    def __init__(self, engine: Any, function: Callable, workers: int, *, build: Callable[[], Any] | None = None,
                 lost: Callable[[Any, str], Any] | None = None, deadline: float | None = None,
                 adopt: Callable[[Any, Any], None] | None = None, start: str = "spawn"):
        if workers and build is None and start != "fork":
            raise ValueError("spawned worker processes need `build`, a picklable callable that makes their engine")
        self.engine = engine
        self.function = function
        self.workers = workers
        self.build = build
        self.lost = lost or (lambda item, why: (_ for _ in ()).throw(RuntimeError(f"a worker {why} on {item!r}")))
        self.deadline = deadline
        self.adopt = adopt
        self._state: tuple[int, Any] = (0, None)
        # "spawn" (a fresh interpreter: for a process with threads, the service) or "fork" (the engine is inherited,
        # nothing rebuilt: for `mailbot triage`, which has no threads of its own when its workers start).
        self._context = multiprocessing.get_context(start)
        self._start_method = start
        self._lock = threading.Condition()
        self._queue: deque[tuple[_Job, int]] = deque()
        self._tickets: dict[int, tuple[_Job, int]] = {}
        self._next_ticket = 0
        self._pool: list[_Worker] = []
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = None, None
        self._closing = False

    # -- the caller's side ---------------------------------------------------------------------------

    def map(self, items: Iterable) -> Iterator:
        items = list(items)
        if not self.workers:
            return (self.function(self.engine, item) for item in items)
        self._start()
        job = _Job(items)
        with self._lock:
            self._queue.extend((job, index) for index in range(len(items)))
        self._wake()
        return self._results(job)

    def _results(self, job: _Job) -> Iterator:
        for index in range(len(job.items)):
            with self._lock:
                while index not in job.results:
                    if self._closing:
                        return
                    self._lock.wait(0.5)
                result = job.results.pop(index)
            yield result

    def update(self, state: Any) -> None:
        """Every worker adopts this state before its next item; the engine here adopts it at once."""
        if self.adopt is None:
            raise ValueError("this pool was given no `adopt`")
        self.adopt(self.engine, state)
        with self._lock:
            self._state = (self._state[0] + 1, state)
        self._wake()

    def close(self) -> None:
        """Stop the workers (items not yet answered are not answered)."""
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for worker in self._pool:
            self._stop(worker)
        self._pool = []
        self._thread = None
        for end in (self._wake_r, self._wake_w):
            if end is not None:
                end.close()
        self._wake_r = self._wake_w = None
        self._closing = False
        self._queue.clear()
        self._tickets.clear()

    def restart(self) -> None:
        """New workers on the next map (they build their engine again)."""
        self.close()

    def __enter__(self) -> EnginePool:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._pool if w.process.pid]

    # -- the dispatcher thread -------------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is not None:
            return
        self._wake_r, self._wake_w = self._context.Pipe(duplex=False)
        self._pool = [self._spawn() for _ in range(self.workers)]
        self._thread = threading.Thread(target=self._dispatch, name="triage-workers", daemon=True)
        self._thread.start()

    def _spawn(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        build = self.build if self._start_method != "fork" else _Inherited(self.engine)
        process = self._context.Process(target=_serve, args=(theirs, build, self.function, self.adopt, os.getpid()),
                                        name="mailbot-triage", daemon=True)
        process.start()
        theirs.close()  # only the worker holds its end: when this process dies, the worker reads EOF
        return _Worker(process, ours)

    def _wake(self) -> None:
        if self._wake_w is not None:
            try:
                self._wake_w.send_bytes(b"!")
            except OSError:
                pass

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
                self._hand_out()
                timeout = self._next_deadline()
            busy = {w.connection: w for w in self._pool if w.ticket is not None or not w.ready}
            ready = wait([self._wake_r, *busy], timeout)
            if self._wake_r in ready:
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
            with self._lock:
                for connection in ready:
                    if connection in busy:
                        self._receive(busy[connection])
                self._kill_overdue()
                self._lock.notify_all()

    def _hand_out(self) -> None:
        version, state = self._state
        for worker in self._pool:
            if worker.ticket is not None or not self._queue:
                continue
            job, index = self._queue.popleft()
            ticket = self._next_ticket
            self._next_ticket += 1
            try:
                if worker.state_version != version:
                    worker.connection.send(("state", state))
                    worker.state_version = version
                worker.connection.send(("item", (ticket, job.items[index])))
            except (OSError, ValueError):  # the worker is gone: the item goes to another, this one is replaced
                self._queue.appendleft((job, index))
                self._replace(worker)
                continue
            self._tickets[ticket] = (job, index)
            worker.ticket, worker.since = ticket, time.monotonic()

    def _next_deadline(self) -> float | None:
        if self.deadline is None:
            return None
        ends = [w.since + self._limit(w) for w in self._pool if w.ticket is not None]
        return max(0.0, min(ends) - time.monotonic()) if ends else None

    def _limit(self, worker: _Worker) -> float:
        """How long its item may take: the deadline, once the worker is ready; while it still starts, the start too."""
        return self.deadline if worker.ready else max(self.deadline, _START_SECONDS)

    def _receive(self, worker: _Worker) -> None:
        try:
            ticket, result = worker.connection.recv()
        except (EOFError, OSError):
            if worker.ticket is None:  # died while starting, holding nothing: another takes its place
                log.error("a triage worker died while starting; a new one takes its place", extra={"pid": worker.process.pid})
                self._replace(worker)
                return
            self._give_up(worker, "crashed")
            return
        if ticket == "ready":
            worker.ready = True
            if worker.ticket is not None:
                worker.since = time.monotonic()
            return
        job, index = self._tickets.pop(ticket)
        job.results[index] = result
        worker.ticket = None

    def _kill_overdue(self) -> None:
        if self.deadline is None:
            return
        now = time.monotonic()
        for worker in list(self._pool):
            if worker.ticket is not None and now - worker.since > self._limit(worker):
                self._give_up(worker, "overtime")

    def _give_up(self, worker: _Worker, why: str) -> None:
        """The worker's item is lost (too slow, or the worker died): it gets `lost`, the worker is replaced."""
        job, index = self._tickets.pop(worker.ticket)
        item = job.items[index]
        log.error("a triage worker %s; its message is held and a new worker takes its place", why,
                  extra={"pid": worker.process.pid, "seconds": round(time.monotonic() - worker.since, 1)})
        job.results[index] = self.lost(item, why)
        self._replace(worker)

    def _replace(self, worker: _Worker) -> None:
        self._stop(worker, kill=True)
        self._pool[self._pool.index(worker)] = self._spawn()

    @staticmethod
    def _stop(worker: _Worker, kill: bool = False) -> None:
        if not kill and worker.ticket is None:
            try:
                worker.connection.send(("stop", None))
            except (OSError, ValueError):
                pass
            worker.process.join(timeout=2)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5)
        worker.connection.close()
