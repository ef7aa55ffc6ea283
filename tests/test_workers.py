"""Triage on several cores gives what one process gives, in order; the pieces that cross between processes."""

from __future__ import annotations

import pickle
from functools import partial
from pathlib import Path

import pytest

from mailbot.directory import Directory, Organisation, Person
from mailbot.service.triaged import Triaged, triage_for_pass
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


@pytest.fixture(scope="module")
def here(engine) -> list[tuple]:
    return [_summary(triage_for_pass(engine, raw)) for raw in RAWS]


def test_forked_workers_give_the_same_results_in_the_same_order(engine, here):
    with EnginePool(engine, triage_for_pass, workers=2) as pool:
        assert [_summary(r) for r in pool.map(RAWS)] == here


def test_workers_built_from_the_settings_give_the_same_results(engine, here):
    """The service's workers start clean (a forkserver) and build their engine from settings and directory."""
    factory = partial(build_triage, engine.settings, engine.directory)
    with EnginePool(engine, triage_for_pass, workers=2, factory=lambda: factory) as pool:
        assert [_summary(r) for r in pool.map(RAWS)] == here


def test_a_restarted_pool_decides_with_the_engine_as_it_is_now(engine):
    raw = next(r for r in RAWS if triage_for_pass(engine, r).decision.outcome == "approved")
    current = {"directory": engine.directory}
    pool = EnginePool(engine, _outcome_of, workers=2, factory=lambda: partial(build_triage, engine.settings, current["directory"]))
    try:
        assert list(pool.map([raw, raw])) == ["approved", "approved"]
        current["directory"] = Directory.of({}, {})  # nobody is known any more
        assert list(pool.map([raw, raw])) == ["approved", "approved"]  # the workers still have the old one
        pool.restart()
        assert list(pool.map([raw, raw])) == ["review", "review"]
    finally:
        pool.close()


def test_few_items_are_triaged_here_without_starting_workers(engine, here):
    pool = EnginePool(engine, triage_for_pass, workers=2)
    assert [_summary(r) for r in pool.map(RAWS[:3], parallel_from=8)] == here[:3]
    assert pool._pool is None


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
