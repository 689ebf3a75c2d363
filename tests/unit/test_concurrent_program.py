"""Concurrent programs: text form, validation, generation, schedule derivation."""

from __future__ import annotations

import random

import pytest

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
from fuzzharness.programs.sequential import Acquire, Create, Read, Ref, Release, Snapshot, Write

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
        (TEXT.replace("  release l0\n  release h0", "  release 0x1234"), "raw"),
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
    assert all(sum(1 for kind, spin in r if kind == 2 and spin >= 2500) >= 3 for r in rows)  # change points


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
