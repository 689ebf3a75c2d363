"""The generic linearizability checker, on a second, tiny model: read/write registers."""

from __future__ import annotations

import time

from fuzzharness.oracles.linearizability import CheckResult, Model, Operation, check, check_operations


def _step(state, inp, out):
    kind, value = inp
    if kind == "write":
        return [value]
    return [state] if out == state else []


def _partition(ops):
    parts = {}
    for op in ops:
        parts.setdefault(op.input[2] if len(op.input) > 2 else "r", []).append(op)
    return parts


REGISTER = Model(init=lambda key: 0, step=lambda s, i, o: _step(s, i[:2], o))
REGISTERS = Model(init=lambda key: 0, step=lambda s, i, o: _step(s, i[:2], o), partition=_partition)


def op(client, kind, value, call, ret, out=None, reg=None):
    inp = (kind, value) if reg is None else (kind, value, reg)
    return Operation(client, inp, out, call, ret)


def test_sequential_history_is_linearizable():
    h = [op(0, "write", 1, 0, 1), op(0, "read", None, 2, 3, out=1)]
    assert check(REGISTER, h).result is CheckResult.ok


def test_concurrent_read_may_see_either_value():
    for seen in (0, 1):
        h = [op(0, "write", 1, 0, 10), op(1, "read", None, 2, 5, out=seen)]
        assert check(REGISTER, h).result is CheckResult.ok


def test_stale_read_after_write_returned_is_illegal():
    h = [op(0, "write", 1, 0, 1), op(1, "read", None, 2, 3, out=0)]
    v = check(REGISTER, h)
    assert v.result is CheckResult.illegal
    part = v.illegal[0]
    assert part.longest == [0] and part.stuck == 1


def test_classic_non_linearizable_pair_of_reads():
    # The write overlaps both reads, but the reads are ordered: 1 then 0 is impossible.
    h = [
        op(0, "write", 1, 0, 100),
        op(1, "read", None, 10, 20, out=1),
        op(2, "read", None, 30, 40, out=0),
    ]
    assert check(REGISTER, h).result is CheckResult.illegal
    h[2] = op(2, "read", None, 30, 40, out=1)
    assert check(REGISTER, h).result is CheckResult.ok


def test_value_never_written_is_illegal():
    h = [op(0, "write", 1, 0, 10), op(1, "read", None, 0, 10, out=7)]
    assert check(REGISTER, h).result is CheckResult.illegal


def test_partitions_are_independent():
    h = [
        op(0, "write", 1, 0, 1, reg="a"),
        op(1, "read", None, 2, 3, out=0, reg="b"),  # b was never written: 0 is right
        op(1, "read", None, 4, 5, out=1, reg="a"),
    ]
    v = check(REGISTERS, h)
    assert v.result is CheckResult.ok and len(v.partitions) == 2
    # Without partitioning the same history still holds (registers are independent).
    h.append(op(0, "read", None, 6, 7, out=1, reg="b"))
    v = check(REGISTERS, h)
    assert v.result is CheckResult.illegal and v.illegal[0].key == "b"


def test_nondeterministic_model():
    # A "lossy" register: a write may or may not take effect.
    lossy = Model(init=lambda k: 0, step=lambda s, i, o: [i[1], s] if i[0] == "write" else ([s] if o == s else []))
    h = [op(0, "write", 1, 0, 1), op(1, "read", None, 2, 3, out=0), op(0, "write", 2, 4, 5),
         op(1, "read", None, 6, 7, out=2)]
    assert check(lossy, h).result is CheckResult.ok
    h.append(op(1, "read", None, 8, 9, out=1))
    assert check(lossy, h).result is CheckResult.illegal


def _hard_history(n):
    # Many concurrent writes of distinct values and an impossible read: the search must
    # explore a lot before it can say illegal.
    ops = [op(c, "write", c + 1, 0, 1000) for c in range(n)]
    ops.append(op(n, "read", None, 0, 1000, out=n + 5))
    ops += [op(n + 1 + c, "read", None, 0, 1000, out=c + 1) for c in range(n)]
    return ops


def test_timeout_is_unknown_never_ok():
    h = _hard_history(16)
    start = time.monotonic()
    v = check(REGISTER, h, timeout=0.05)
    assert v.result is CheckResult.unknown
    assert time.monotonic() - start < 2
    assert check_operations(REGISTER, h[:3], deadline=time.monotonic() + 5).result is CheckResult.ok


def test_empty_history_is_ok():
    assert check(REGISTER, []).result is CheckResult.ok
