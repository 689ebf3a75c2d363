"""The native linearizability search against the Python one, and the interleaved check.

Random histories of the ownership model (a sequential execution of random ops on a few
pool resources and their snapshots, each op's interval then widened at random so that
many orders are possible, some outputs corrupted): the native search
(:func:`fuzzharness.oracles.concurrent_model.native_search`) must reach the same verdict
as the Python search for every one. And the properties of :func:`check` the issue asks
for: a hard partition does not hide an easy illegal one; the memo bound gives unknown.
"""

from __future__ import annotations

import random

import pytest

from fuzzharness.contract.header import Status
from fuzzharness.oracles.concurrent_model import _get, _ownership_step, native_search, ownership_model
from fuzzharness.oracles.linearizability import CheckResult, Operation, check

POOL = 3


def _output(state: tuple, inp: tuple) -> tuple:
    """The output the model gives ``inp`` in ``state`` (the first candidate it accepts)."""
    fn, key = inp[0], inp[1]
    res = _get(state, key) if key is not None else None
    candidates = [(Status.OK, None)]
    if res is not None and res[0]:
        data = res[2]
        if fn == "read":
            offset, length = inp[2]
            candidates.insert(0, (Status.OK, data[offset : offset + length]))
        if fn == "info":
            candidates.insert(0, (Status.OK, (len(data), sum(res[1]), int(res[3]))))
    candidates += [(status, None) for status in Status]
    for out in candidates:
        after = _ownership_step(state, inp, out, False)
        if after:
            return out, after[0]
    raise AssertionError(f"no output for {inp}")


def _history(rng: random.Random, n: int, corrupt: bool) -> tuple[dict, dict, list[Operation]]:
    initial = {("h", k): (True, (0, rng.randint(1, 2)), bytes([k]) * 4, False) for k in range(POOL)}
    roots = {("h", k): ("h", k) for k in range(POOL)}
    states = {("h", k): ((("h", k), initial[("h", k)]),) for k in range(POOL)}
    history = []
    snapshots = 0
    t = 0
    for i in range(n):
        k = rng.randrange(POOL)
        root = ("h", k)
        keys = [key for key, _ in states[root] if key[0] != "v"]
        key = rng.choice(keys)
        fn = rng.choice(("acquire", "release", "write", "read", "read", "info", "info", "snapshot"))
        args: tuple = ()
        new_key = None
        if fn == "write":
            args = (rng.choice((0, 0, 2, 3)), bytes([rng.randrange(4)]) * 2)
        elif fn == "read":
            args = (rng.choice((0, 2, 3)), 2)
        elif fn == "snapshot":
            new_key = ("l", 0, snapshots)
            snapshots += 1
            roots[new_key] = root
        inp = (fn, key, args, new_key)
        out, after = _output(states[root], inp)
        states[root] = after
        if corrupt and rng.random() < 0.02 and fn in ("read", "info"):
            out = (Status.STALE_HANDLE, None) if out[0] == Status.OK else (Status.OK, out[1])
        t += rng.randint(1, 5)
        call, ret = t - rng.randint(0, 12), t + rng.randint(0, 12)
        history.append(Operation(rng.randrange(4), inp, out, max(call, 0), ret, i))
    return initial, roots, history


@pytest.mark.parametrize("seed", range(60))
def test_native_search_agrees_with_python(seed):
    rng = random.Random(seed)
    initial, roots, history = _history(rng, rng.choice((20, 60, 200)), corrupt=seed % 2 == 1)
    python = check(ownership_model(initial, roots, False, native=False), history, timeout=30)
    native = check(ownership_model(initial, roots, False), history, timeout=30)
    assert python.result is not CheckResult.unknown
    assert native.result is python.result, (seed, python.result, native.result)
    assert all(p.native for p in native.partitions)
    if python.result is CheckResult.illegal:
        assert native.illegal[0].key == python.illegal[0].key
        assert native.illegal[0].states  # replayed from the native prefix, for the report


def test_native_search_declines_what_it_cannot_encode():
    big = ((("h", 0), (True, (0, 1), bytes(8192), False)),)
    op = Operation(0, ("info", ("h", 0), (), None), (Status.OK, (8192, 1, 0)), 0, 1)
    assert native_search(big, [op], False, False) is None
    small = ((("h", 0), (True, (0, 1), bytes(8), False)),)
    assert native_search(small, [op], False, False) is not None


def _hard_and_easy() -> tuple[dict, dict, list[Operation]]:
    """Partition h0 (27 ops): 26 fully concurrent acquires and an info whose recorded
    refs no order gives: the search must try every subset of the acquires (2^26) before
    it can say illegal. Partition h1 (61 ops, the larger: a check one partition after
    another, smallest first, would start with h0): sequential reads, the last one
    reading bytes nobody wrote: illegal within a few steps."""
    initial = {("h", 0): (True, (0, 1), bytes(4), False), ("h", 1): (True, (0, 1), bytes(4), False)}
    roots = {("h", 0): ("h", 0), ("h", 1): ("h", 1)}
    history = []
    for i in range(26):  # acquires and infos all at once: many orders, none ending well
        history.append(Operation(i % 4, ("acquire", ("h", 0), (), None), (Status.OK, None), 0, 1000, len(history)))
    history.append(Operation(0, ("info", ("h", 0), (), None), (Status.OK, (4, 99, 0)), 0, 1000, len(history)))
    for i in range(60):
        history.append(Operation(1, ("read", ("h", 1), (0, 4), None), (Status.OK, bytes(4)), 10 * i, 10 * i + 5,
                                 len(history)))  # fmt: skip
    history.append(Operation(1, ("read", ("h", 1), (0, 4), None), (Status.OK, b"\1\2\3\4"), 700, 710, len(history)))
    return initial, roots, history


@pytest.mark.parametrize("native", [True, False])
def test_a_hard_partition_does_not_hide_an_easy_illegal_one(native):
    initial, roots, history = _hard_and_easy()
    verdict = check(ownership_model(initial, roots, False, native=native), history, timeout=5)
    assert verdict.result is CheckResult.illegal
    assert [p.key for p in verdict.illegal] == [("h", 1)]
    [hard] = verdict.undecided
    assert hard.key == ("h", 0) and hard.reason == "stopped: partition ('h', 1) is illegal"
    assert verdict.seconds < 5


def test_the_memo_bound_gives_unknown_naming_the_partition():
    initial, roots, history = _hard_and_easy()
    history = history[:27]  # only the hard partition
    verdict = check(ownership_model(initial, roots, False), history, timeout=30, memo_bytes=1 << 20)
    assert verdict.result is CheckResult.unknown
    [part] = verdict.undecided
    assert part.key == ("h", 0) and part.reason.startswith("memo bound")
    assert part.memo_bytes <= 1 << 20
