"""The reference model follows the header, rule by rule."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzharness.contract.header import MAX_REFS, U64_MAX, Status
from fuzzharness.contract.values import ResourceInfo, StatsValue
from fuzzharness.oracles.differential import expected_trace
from fuzzharness.oracles.model import OwnershipModel
from fuzzharness.programs.interpreter import steps_of
from fuzzharness.programs.sequential import generate

OK = Status.OK


def model(capacity=4, deferred=False, max_resource=1 << 16, max_total=1 << 20):
    return OwnershipModel(capacity, deferred, max_resource, max_total)


def handle(slot, generation):
    return (generation << 32) | slot


def test_lowest_free_slot_and_generations():
    m = model()
    assert m.create(1) == (OK, handle(0, 1))
    assert m.create(1) == (OK, handle(1, 1))
    assert m.release(handle(0, 1)) == (OK, None)
    # slot 0 is reused first, with the next generation: no ABA.
    assert m.create(1) == (OK, handle(0, 2))
    assert m.create(1) == (OK, handle(2, 1))


def test_classification_invalid_versus_stale():
    m = model(capacity=2)
    h = m.create(4)[1]
    assert m.acquire(0)[0] is Status.INVALID_HANDLE  # generation 0
    assert m.acquire(handle(2, 1))[0] is Status.INVALID_HANDLE  # slot >= capacity
    assert m.acquire(handle(0, 2))[0] is Status.INVALID_HANDLE  # future generation
    assert m.acquire(handle(1, 1))[0] is Status.INVALID_HANDLE  # never issued
    m.release(h)
    assert m.acquire(h)[0] is Status.STALE_HANDLE  # slot free, same generation
    m.create(4)
    assert m.acquire(h)[0] is Status.STALE_HANDLE  # older generation
    assert m.acquire(U64_MAX)[0] is Status.INVALID_HANDLE


def test_references_and_overflow():
    m = model()
    h = m.create(1)[1]
    assert m.acquire(h) == (OK, None)
    assert m.info(h) == (OK, ResourceInfo(1, 2, False))
    m.live[0].counts["foreign"] = MAX_REFS  # a single-runtime target counts in one runtime
    assert m.acquire(h)[0] is Status.OVERFLOW
    m.live[0].counts["foreign"] = 2
    assert m.release(h) == (OK, None)
    assert m.release(h) == (OK, None)
    assert m.release(h)[0] is Status.STALE_HANDLE  # double release


def test_snapshot_is_an_independent_read_only_copy():
    m = model()
    h = m.create(4)[1]
    m.write(h, 0, b"abcd")
    s = m.snapshot(h)[1]
    m.write(h, 0, b"zz")
    assert m.read(s, 0, 4) == (OK, b"abcd")
    assert m.write(s, 0, b"x")[0] is Status.READ_ONLY
    m.release(h)
    assert m.read(s, 1, 3) == (OK, b"bcd")  # outlives its origin
    assert m.info(s) == (OK, ResourceInfo(4, 1, True))


def test_check_order_readonly_then_overflow_then_bounds():
    m = model()
    h = m.create(8)[1]
    s = m.snapshot(h)[1]
    assert m.write(s, U64_MAX, b"xx")[0] is Status.READ_ONLY
    assert m.write(h, U64_MAX, b"xx")[0] is Status.OVERFLOW
    assert m.write(h, U64_MAX, b"")[0] is Status.BOUNDS  # fits in 64 bits, past the end
    assert m.write(h, 7, b"xx")[0] is Status.BOUNDS
    assert m.write(h, 6, b"xx") == (OK, None)
    assert m.read(h, 8, 0) == (OK, b"")  # empty read at the end is in bounds


def test_exhaustion_by_slots_and_by_bytes():
    m = model(capacity=2, max_resource=10, max_total=15)
    assert m.create(11)[0] is Status.EXHAUSTED
    a = m.create(10)[1]
    assert m.create(6)[0] is Status.EXHAUSTED  # 16 > 15 live bytes
    assert m.snapshot(a)[0] is Status.EXHAUSTED
    m.create(5)
    assert m.create(0)[0] is Status.EXHAUSTED  # no free slot


def test_deferred_reclamation_is_a_range_until_quiesce():
    m = model(deferred=True)
    h = m.create(8)[1]
    m.release(h)
    expect = m.stats()[1]
    nothing_freed = StatsValue(0, 0, 1, 0, 1, 8)
    all_freed = StatsValue(0, 0, 1, 1, 0, 0)
    assert expect.admits(nothing_freed) and expect.admits(all_freed)
    assert not expect.admits(StatsValue(0, 0, 1, 0, 0, 0))  # a resource vanished
    assert not expect.admits(StatsValue(1, 8, 1, 0, 0, 0))  # still live
    m.quiesce()
    after = m.stats()[1]
    assert after.admits(all_freed) and not after.admits(nothing_freed)


@given(st.integers(min_value=0, max_value=2**40))
@settings(max_examples=150, deadline=None)  # a rare long-lifetime program takes seconds
def test_model_invariants_on_random_programs(seed):
    program = generate(random.Random(seed))
    trace = expected_trace(program)
    epilogue_stats = trace[-2].value
    # created == live + reclaimed after the epilogue's quiesce; handles never repeat.
    assert epilogue_stats.unsettled == 0
    assert epilogue_stats.created == epilogue_stats.live_resources + epilogue_stats.reclaimed_settled
    # Within a session (a restart opens a new one, which may issue the same values again).
    sessions = []
    for obs, step in zip(trace, steps_of(program)):
        if step.function == "fh_init":
            sessions.append([])
        elif step.produces is not None and obs.status == OK:
            sessions[-1].append(obs.value)
    for handles in sessions:
        assert len(handles) == len(set(handles))
        assert all(h >> 32 >= 1 for h in handles)
