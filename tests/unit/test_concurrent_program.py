"""Concurrent programs: text form, validation, generation, schedule derivation."""

from __future__ import annotations

import random

import pytest

from fuzzharness.contract.bindings import H_RAW, H_SHARED
from fuzzharness.errors import CorruptInput
from fuzzharness.programs.concurrent import (
    ConcurrentProgram,
    Local,
    Schedule,
    generate,
    is_concurrent_text,
    native_threads,
    parse_text,
    perturbations,
    to_text,
)
from fuzzharness.programs.sequential import Acquire, Create, Info, Raw, Read, Ref, Release, Snapshot, Tweak, Write

TEXT = """# fuzzharness concurrent program v1
config capacity=8 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576
schedule seed=7 yield_rate=0.05 spin_rate=0.1 max_spin=500 change_points=3 long_spin=5000
setup:
  h0 = create 4
  acquire h0
thread 0:
  acquire h0
  l0 = snapshot h0
  read l0 0 4
  release l0
  release h0
thread 1:
  write h0 0 x"aaaaaaaa"   # a comment
  l0 = create 2
  release l0
"""


def test_text_form_parses_and_round_trips():
    p = parse_text(TEXT)
    assert p.setup == (Create(4), Acquire(Ref(0)))
    assert p.threads[0] == (Acquire(Ref(0)), Snapshot(Ref(0)), Read(Local(0), 0, 4), Release(Local(0)), Release(Ref(0)))
    assert p.threads[1][0] == Write(Ref(0), 0, b"\xaa" * 4)
    assert p.schedule == Schedule(7, 0.05, 0.1, 500, 3, 5000)
    assert parse_text(to_text(p)) == p
    assert is_concurrent_text(to_text(p)) and not is_concurrent_text("config capacity=1 ...")


@pytest.mark.parametrize("seed", range(20))
def test_generated_programs_round_trip(seed):
    p = generate(random.Random(seed), threads=1 + seed % 4, ops_per_thread=30)
    assert parse_text(to_text(p)) == p
    assert len(p.threads) == 1 + seed % 4


@pytest.mark.parametrize(
    "bad, message",
    [
        (TEXT.replace("read l0 0 4", "read l5 0 4"), "l5"),
        (TEXT.replace("acquire h0\nthread 0", "acquire h3\nthread 0"), "h3"),
        (TEXT.replace("  release h0\n", "  stats\n"), "not allowed in a thread"),
        (TEXT.replace("thread 1:", "thread 2:"), "thread 1"),
        (TEXT.replace("l0 = create 2", "l1 = create 2"), "out of order"),
        (TEXT.replace("schedule seed=7", "schedule bogus=1 seed=7"), "bogus"),
        (TEXT.replace("  release l0\n  release h0", "  release l0^0x1"), "not from a thread's own lK"),
        (TEXT.replace("  release l0\n  release h0", "  release h2^0x1"), "forges from no pool handle"),
    ],
)
def test_parse_errors_name_the_line(bad, message):
    with pytest.raises(CorruptInput) as exc:
        parse_text(bad, "x.fh")
    assert "x.fh" in str(exc.value) and message in str(exc.value)


def test_perturbations_are_derived_from_the_seed():
    p = generate(random.Random(3), threads=3, ops_per_thread=40)
    assert perturbations(p) == perturbations(p)
    other = ConcurrentProgram(p.config, p.setup, p.threads, Schedule(seed=p.schedule.seed + 1))
    assert perturbations(other) != perturbations(p)
    rows = perturbations(p)
    assert [len(r) for r in rows] == [len(t) for t in p.threads]
    assert all(sum(1 for kind, spin in r if kind in (2, 3) and spin >= p.schedule.long_spin / 2) >= 3 for r in rows)  # change points


def test_native_ops_resolve_pool_and_local_handles():
    p = parse_text(TEXT)
    ops = native_threads(p)[0]
    assert (ops[0].hkind, ops[0].index) == (2, 0)  # shared pool h0
    assert (ops[2].hkind, ops[2].index, ops[2].length) == (3, 0, 4)  # own l0


def test_generator_keeps_capacity_so_exhaustion_is_impossible():
    for seed in range(10):
        p = generate(random.Random(seed), threads=8, ops_per_thread=300)
        producers = p.pool_size + sum(op.produces_handle for ops in p.threads for op in ops)
        assert producers <= p.config.capacity <= 256


FORGED = TEXT.replace("  release l0\n  release h0\n", "  read h0^0x3 0 4\n  info 0x1234\n  release h0\n")


def test_forged_thread_operands_round_trip_and_resolve_from_the_pool():
    p = parse_text(FORGED)
    assert p.threads[0][3:5] == (Read(Tweak(0, 3), 0, 4), Info(Raw(0x1234)))
    assert parse_text(to_text(p)) == p
    ops = native_threads(p)[0]
    # The runner resolves a forged value from the target's own pool handle: h0 ^ 0x3.
    assert (ops[3].hkind, ops[3].index, ops[3].value) == (H_SHARED, 0, 3)
    assert (ops[4].hkind, ops[4].value) == (H_RAW, 0x1234)


def test_forging_changes_nothing_else_of_a_seed():
    changed = 0
    for seed in range(8):
        plain = generate(random.Random(seed), threads=3, ops_per_thread=120)
        forged = generate(random.Random(seed), threads=3, ops_per_thread=120, forged=True)
        assert (forged.config, forged.setup, forged.schedule) == (plain.config, plain.setup, plain.schedule)
        for ops, forged_ops in zip(plain.threads, forged.threads, strict=True):
            for op, other in zip(ops, forged_ops, strict=True):
                if op != other:  # a read or info of a pool handle, now on a forged value
                    changed += 1
                    assert type(op) is type(other) and isinstance(op, (Read, Info)) and isinstance(op.handle, Ref)
                    assert isinstance(other.handle, Raw) or other.handle == Tweak(op.handle.index, other.handle.mask)
        assert parse_text(to_text(forged)) == forged
    assert changed > 8
