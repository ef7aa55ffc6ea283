"""A time budget for reading one message: past it, the work in hand is interrupted with Overtime."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Overtime(BaseException):
    """The budget ran out. A BaseException, like KeyboardInterrupt, so that no `except Exception` meant for a
    bad message swallows it and turns a slow message into a wrongly decided one."""


def can_interrupt() -> bool:
    """Can a budget interrupt work here? Only the main thread of a process receives signals."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Raise Overtime in this block once `seconds` have passed (a real-time timer, SIGALRM).

    Pure Python and the regular-expression engine notice the signal between steps, so a slow pattern or
    loop is stopped; a long call inside a C library is stopped when it returns. Where signals cannot reach
    (a thread other than the main one) the block runs without a budget: callers that need one there run
    the work in a worker process, whose parent kills it when it overruns (mailbot.workers)."""
    if not seconds or seconds <= 0 or not can_interrupt():
        yield
        return

    def expired(_signum, _frame) -> None:
        raise Overtime(f"over the budget of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
