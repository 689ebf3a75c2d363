"""The model of a cross-runtime pair: per-runtime counts, NOT_HELD, guarded reclamation,
and the differential policy between a pair and single-runtime targets."""

from __future__ import annotations

import random

from fuzzharness.contract.header import MAX_REFS, Status
from fuzzharness.contract.values import ResourceInfo
from fuzzharness.oracles.differential import check_program, cross_check_skipped, expected_trace, models_agree
from fuzzharness.oracles.model import OwnershipModel
from fuzzharness.programs.interpreter import Observation
from fuzzharness.programs.sequential import Config, Create, Program, Quiesce, Ref, Release, Snapshot, Stats, generate

OK = Status.OK


def pair(deferred: bool = False) -> OwnershipModel:
    return OwnershipModel(4, deferred, 1 << 16, 1 << 20, pair=True)


def test_each_runtime_releases_only_its_own_references():
    m = pair()
    h = m.create(8, via="owner")[1]
    assert m.release(h) == (Status.NOT_HELD, None)  # the default runtime is the foreign front
    assert m.release(h, via="foreign") == (Status.NOT_HELD, None)
    assert m.info(h) == (OK, ResourceInfo(8, 1, False))  # NOT_HELD had no effect
    assert m.acquire(h, via="foreign") == (OK, None)
    assert m.info(h, via="owner") == (OK, ResourceInfo(8, 2, False))  # refs = the sum
    assert m.release(h, via="owner") == (OK, None)  # owner count 0, foreign 1: still alive
    assert m.read(h, 0, 1) == (OK, b"\0")
    assert m.release(h, via="owner") == (Status.NOT_HELD, None)
    assert m.release(h) == (OK, None)  # the sum reaches zero: dead
    assert m.release(h, via="owner") == (Status.STALE_HANDLE, None)  # stale wins over NOT_HELD
    assert m.stats()[1].live_resources == 0


def test_overflow_is_per_runtime_count():
    m = pair()
    h = m.create(1)[1]
    m.live[0].counts["foreign"] = MAX_REFS
    assert m.acquire(h) == (Status.OVERFLOW, None)
    assert m.acquire(h, via="owner") == (OK, None)  # the owner's own count is 0


def test_snapshot_reference_belongs_to_the_calling_runtime():
    m = pair()
    h = m.create(4)[1]
    s = m.snapshot(h, via="owner")[1]
    assert m.release(s) == (Status.NOT_HELD, None)
    assert m.release(s, via="owner") == (OK, None)


def test_single_runtime_model_ignores_via():
    m = OwnershipModel(4, False, 1 << 16, 1 << 20)
    h = m.create(4, via="owner")[1]
    assert m.release(h, via="foreign") == (OK, None)


def test_guarded_deferred_pending_only_for_resources_go_referenced():
    m = pair(deferred=True)
    go = m.create(4)[1]  # foreign reference: its death waits for Go's GC cleanup
    rust = m.create(4, via="owner")[1]  # never referenced by Go: freed at once
    m.release(go)
    m.release(rust, via="owner")
    stats = m.stats()[1]
    assert (stats.reclaimed_settled, stats.unsettled, stats.unsettled_bytes) == (1, 1, 4)
    m.quiesce()
    stats = m.stats()[1]
    assert (stats.reclaimed_settled, stats.unsettled) == (2, 0)


def test_guarded_deferred_foreign_reference_dropped_early_still_needs_the_ack():
    m = pair(deferred=True)
    h = m.create(4, via="owner")[1]
    m.acquire(h)  # Go takes a reference ...
    m.release(h)  # ... and drops it (ack pending from Go's GC) while the owner holds on
    m.release(h, via="owner")
    assert m.stats()[1].unsettled == 1  # may still be pending until quiesce


def test_guarded_immediate_class_frees_at_once():
    m = pair(deferred=False)
    h = m.create(4)[1]
    m.release(h)
    stats = m.stats()[1]
    assert (stats.reclaimed_settled, stats.unsettled) == (1, 0)


# --------------------------------------------------------------------------- differential policy

NOT_HELD_PROGRAM = Program(Config(capacity=2), (Create(4, "owner"), Release(Ref(0)), Stats()))
AGREEING_PROGRAM = Program(Config(capacity=2), (Create(4, "owner"), Snapshot(Ref(0)), Release(Ref(0), "owner"),
                                                Release(Ref(1)), Stats(), Quiesce()))  # fmt: skip


def test_models_agree_unless_a_release_is_not_held():
    assert models_agree(AGREEING_PROGRAM)
    assert not models_agree(NOT_HELD_PROGRAM)
    assert expected_trace(NOT_HELD_PROGRAM, pair=True)[2].status == Status.NOT_HELD
    assert expected_trace(NOT_HELD_PROGRAM)[2].status == Status.OK


def test_most_generated_programs_are_comparable():
    agree = sum(models_agree(generate(random.Random(seed), via_rate=0.3)) for seed in range(200))
    assert 0.4 * 200 < agree < 200  # comparisons happen, and NOT_HELD programs exist


def _as_target(trace: list[Observation], program: Program) -> list[Observation]:
    """A target trace that matches the model (stats expectations made concrete)."""
    from fuzzharness.contract.values import StatsValue
    from fuzzharness.oracles.model import StatsExpectation
    from fuzzharness.programs.interpreter import steps_of

    steps = steps_of(program)
    out = []
    for step, obs in zip(steps, trace):
        value = obs.value
        if isinstance(value, StatsExpectation):
            value = StatsValue(value.live_resources, value.live_bytes, value.created,
                               value.reclaimed_settled + value.unsettled, 0, 0)  # fmt: skip
        message = None if obs.status == OK else f"{step.function}: {obs.handle:#x}" if obs.handle else f"{step.function}: x"
        out.append(Observation(obs.status, value, message, obs.handle))
    return out


def test_pair_is_checked_against_the_pair_model_and_not_compared_when_models_differ():
    program = NOT_HELD_PROGRAM
    pair_trace = _as_target(expected_trace(program, pair=True), program)
    single_trace = _as_target(expected_trace(program), program)
    traces = {"rust": single_trace, "go+rust": pair_trace}
    assert check_program(program, traces, pairs={"go+rust"}) == []
    assert cross_check_skipped(program, traces, pairs={"go+rust"})
    # The pair judged by the single model would diverge: NOT_HELD where OK was expected.
    [div] = check_program(program, {"go+rust": pair_trace}, pairs=set())
    assert (div.expected_status, div.actual_status) == ("OK", "NOT_HELD")


def test_pair_and_single_are_compared_when_models_agree():
    program = AGREEING_PROGRAM
    pair_trace = _as_target(expected_trace(program, pair=True), program)
    single_trace = _as_target(expected_trace(program), program)
    assert not cross_check_skipped(program, ["rust", "go+rust"], pairs={"go+rust"})
    assert check_program(program, {"rust": single_trace, "go+rust": pair_trace}, pairs={"go+rust"}) == []
    bent = list(pair_trace)
    bent[3] = Observation(Status.STALE_HANDLE, None, "fh_release: 0x100000000", pair_trace[3].handle)
    divs = check_program(program, {"rust": single_trace, "go+rust": bent}, pairs={"go+rust"})
    assert [d.target for d in divs] == ["go+rust"]


def test_registry_knows_the_pair():
    from fuzzharness.oracles.differential import is_pair_target

    assert is_pair_target("go+rust") and not is_pair_target("rust") and not is_pair_target("a")
