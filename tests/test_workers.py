"""Triage on several cores gives what one process gives, in order; the pieces that cross between processes."""

from __future__ import annotations

import os
import pickle
import time
from functools import partial
from pathlib import Path

import pytest

from mailbot.directory import Directory, Organisation, Person
from mailbot.service.triaged import Triaged, adopt_directory, triage_for_pass
from mailbot.source.imap import _copied_uids
from mailbot.triage import build_triage
from mailbot.workers import EnginePool

DATA = Path(__file__).resolve().parent / "data"
RAWS = [p.read_bytes() for p in sorted(DATA.glob("cases*/*.eml"))[:40]]


def _summary(result: Triaged) -> tuple:
    decision = result.decision
    return (result.message_id, decision.outcome, decision.reasons,
            tuple((r.request.name, r.request.email, r.request.access, r.outcome) for r in decision.requests),
            result.reply.template if result.reply else None)


def _outcome_of(engine, raw: bytes) -> str:  # module level: the workers are told its name
    return engine.run(raw).decision.outcome


def _nap(engine, seconds: float) -> float:  # stuck where no budget reaches: only the pool's deadline stops it
    time.sleep(seconds)
    return seconds


def _crash(engine, code: int) -> int:
    if code:
        os._exit(code)
    return code


def _lost(item, why: str) -> str:
    return f"lost {item}: {why}"


def _build(settings, directory):
    return build_triage(settings, directory)


@pytest.fixture(scope="module")
def here(engine) -> list[tuple]:
    return [_summary(triage_for_pass(engine, raw)) for raw in RAWS]


def test_workers_give_the_same_results_in_the_same_order(engine, here):
    """Workers are fresh interpreters that build their engine from the settings and the directory."""
    with EnginePool(engine, triage_for_pass, workers=2, build=partial(_build, engine.settings, engine.directory)) as pool:
        assert [_summary(r) for r in pool.map(RAWS)] == here
        assert [_summary(r) for r in pool.map(RAWS[:3])] == here[:3]  # the same workers, a second map


def test_no_workers_means_here(engine, here):
    pool = EnginePool(engine, triage_for_pass, workers=0)
    assert [_summary(r) for r in pool.map(RAWS[:3])] == here[:3]
    assert pool.pids == []


def test_an_updated_directory_reaches_every_worker_before_its_next_item(engine):
    raw = next(r for r in RAWS if triage_for_pass(engine, r).decision.outcome == "approved")
    here = build_triage(engine.settings, engine.directory)
    pool = EnginePool(here, _outcome_of, workers=2, build=partial(_build, engine.settings, engine.directory), adopt=adopt_directory)
    try:
        assert list(pool.map([raw] * 6)) == ["approved"] * 6
        pool.update(Directory.of({}, {}))  # nobody is known any more
        assert list(pool.map([raw] * 6)) == ["review"] * 6
        assert here.directory.people == {}  # the engine here too
    finally:
        pool.close()


def test_an_item_past_its_deadline_is_lost_and_the_rest_go_on(engine):
    with EnginePool(engine, _nap, workers=2, build=partial(_build, engine.settings, engine.directory), lost=_lost,
                    deadline=1.5) as pool:
        started = time.monotonic()
        first = pool.pids
        assert list(pool.map([0.01, 60, 0.02, 0.03, 0.04])) == [0.01, "lost 60: overtime", 0.02, 0.03, 0.04]
        assert time.monotonic() - started < 15
        assert len(pool.pids) == 2 and set(pool.pids) != set(first)  # the stuck one was replaced
        assert list(pool.map([0.01, 0.01])) == [0.01, 0.01]


def test_a_worker_that_dies_loses_only_its_item(engine):
    with EnginePool(engine, _crash, workers=2, build=partial(_build, engine.settings, engine.directory), lost=_lost) as pool:
        assert list(pool.map([0, 3, 0, 0])) == [0, "lost 3: crashed", 0, 0]


def test_a_directory_survives_pickling():
    directory = Directory.of({"acme.example": Organisation("Acme Ltd", ("acme.example",))},
                             {"pat@acme.example": Person("pat@acme.example", "Pat Lee", "Acme Ltd", "Branch Manager", "manager")})
    again = pickle.loads(pickle.dumps(directory))
    assert again.person("PAT@acme.example") == directory.person("pat@acme.example")
    assert again.organisation_for("x@acme.example").name == "Acme Ltd"
    with pytest.raises(TypeError):
        again.people["someone@else"] = None  # still read-only


@pytest.mark.parametrize("answer, uids", [
    (b"[COPYUID 1700000000 3:5,9 10:13] Moved UIDs.", {3, 4, 5, 9}),
    ("[COPYUID 7 12:10 1:3] Done", {10, 11, 12}),  # a range may be written high to low
    (b"Move completed.", None),  # no UIDPLUS: the server does not say
    (None, None),
])
def test_the_uids_a_move_answer_names(answer, uids):
    assert _copied_uids(answer) == uids
