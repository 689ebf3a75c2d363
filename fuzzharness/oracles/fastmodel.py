"""The fast path of the differential check: predict a program's packed trace, accept in bulk.

:mod:`fuzzharness.oracles.model` stays the specification and the oracle of record.
This module restates the same state machine as one flat function over plain ints,
lists and bytearrays (:func:`predict`), producing the program's *packed* prediction:
the flat tuple of ``(status, value)`` per step that a worker's packed trace
(:func:`fuzzharness.programs.interpreter.run_encoded`) carries, plus what a tuple
comparison cannot decide: the range each ``fh_stats`` may report for deferred
reclamation. (Whether each error message names its function and handle is asked by
the worker that made the call: the packed trace's ``misfits``.) A target's packed
trace is then accepted with one tuple comparison and a few checks (:func:`accepts`);
only a program some target disagrees on is unpacked and judged by the reference path
(:func:`fuzzharness.findings.triage.findings_for`), so the findings are exactly the
reference path's.

Guarantees:

* ``accepts(predict(p), packed)`` is True only if the reference check
  (:func:`~fuzzharness.oracles.differential.divergences_from_model`) finds nothing on
  the unpacked trace: a fast accept never hides a divergence;
* :func:`predict` agrees with :func:`~fuzzharness.oracles.differential.expected_trace`
  (held to it on 100,000 generated programs by ``tests/quality/test_throughput_agreement.py``,
  and sampled at run time by ``fuzz``: :func:`disagreement`);
* programs with a ``restart`` or a ``repeat`` are predicted too (the worker runs them
  through the interpreter and packs the observations, with the handles they passed).

Packed stats values are ``(live_resources, live_bytes, created, reclaimed + pending)``:
when deferred memory is freed is each target's own business, as in the reference.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fuzzharness.contract.header import MAX_GENERATION, MAX_REFS, U64_MAX, Status
from fuzzharness.oracles.model import SparseBytes, StatsExpectation
from fuzzharness.programs.interpreter import Observation
from fuzzharness.programs.sequential import (
    Acquire,
    Create,
    Info,
    Nudge,
    Program,
    Quiesce,
    Raw,
    Read,
    Ref,
    Repeat,
    Restart,
    Snapshot,
    Stats,
    Write,
)  # fmt: skip

__all__ = ["Prediction", "predict", "prediction_of", "accepts", "disagreement"]

# Status values as plain ints for the hot loop (Status members compare equal to them).
_OK, _INVALID, _STALE, _EXHAUSTED, _BOUNDS, _READ_ONLY, _OVERFLOW, _NOT_HELD = (
    int(s) for s in (Status.OK, Status.INVALID_HANDLE, Status.STALE_HANDLE, Status.EXHAUSTED, Status.BOUNDS,
                     Status.READ_ONLY, Status.OVERFLOW, Status.NOT_HELD))  # fmt: skip
_MASK = 0xFFFF_FFFF
#: Resources up to this size are a flat bytearray; larger ones (a declared 16 GiB) sparse pages.
_FLAT_BYTES = 1 << 16


@dataclass(frozen=True)
class Prediction:
    """What a target's packed trace must show for one program (see the module doc).

    ``key``: ``(status, value)`` of every step, flat; ``bounds``: ``(unsettled,
    unsettled_bytes)`` of every OK stats value (the epilogue's and shutdown's included),
    in step order. (Whether each error message fits its call is asked where the call was
    made: the packed trace's ``misfits``.)"""

    key: tuple
    bounds: tuple


def predict(program: Program, pair: bool = False) -> Prediction:
    """The packed prediction of ``program`` (``pair``: the cross-runtime pair model)."""
    cfg = program.config
    capacity = cfg.capacity
    deferred = cfg.strategy == "deferred"
    max_res, max_total = cfg.max_resource_bytes, cfg.max_total_bytes
    gens: dict[int, int] = {}
    #: slot -> [data, owner refs, foreign refs, read_only, foreign_seen]
    live: dict[int, list] = {}
    freed: list[int] = []
    fresh = live_bytes = created = reclaimed = unsettled = unsettled_bytes = 0
    handles: list[int] = []
    key: list[Any] = [_OK, None]
    bounds: list[tuple] = []
    append = key.append
    step = 0
    for op, slot_of in _calls(program.ops, handles):
        step += 1
        cls = type(op)
        if cls is Restart:  # shutdown (the stats before it), then a fresh session
            key += (_OK, (len(live), live_bytes, created, reclaimed + unsettled), _OK, None)
            bounds.append((unsettled, unsettled_bytes))
            step += 1
            gens, live, freed = {}, {}, []
            fresh = live_bytes = created = reclaimed = unsettled = unsettled_bytes = 0
            continue
        if cls is Create or cls is Snapshot:
            via_owner = pair and op.via == "owner"
            if cls is Create:
                size = op.size
                status = _OK
                source = None
            else:
                h = op.handle
                hc = type(h)
                handle = h.value if hc is Raw else handles[h.index] if hc is Ref else (
                    (handles[h.index] + h.delta) & U64_MAX if hc is Nudge else handles[h.index] ^ h.mask)
                slot = handle & _MASK
                gen = handle >> 32
                current = gens.get(slot, 0)
                if gen == 0 or slot >= capacity or gen > current:
                    status = _INVALID
                elif gen < current or slot not in live:
                    status = _STALE
                else:
                    status = _OK
                    source = live[slot][0]
                    size = len(source)
            if status == _OK:
                if size > max_res or live_bytes + size > max_total:
                    status = _EXHAUSTED
                elif freed:
                    new = heapq.heappop(freed)
                elif fresh < capacity:
                    new, fresh = fresh, fresh + 1
                else:
                    status = _EXHAUSTED
            if status == _OK:
                gen = gens[new] = gens.get(new, 0) + 1
                if source is None:
                    data: Any = bytearray(size) if size <= _FLAT_BYTES else SparseBytes(size)
                else:
                    data = bytearray(source) if type(source) is bytearray else source.copy()
                live[new] = [data, 1, 0, cls is Snapshot, False] if via_owner else [data, 0, 1, cls is Snapshot, True]
                live_bytes += size
                created += 1
                value = (gen << 32) | new
                if slot_of < 0:
                    handles.append(value)
                else:
                    handles[slot_of] = value
                append(_OK)
                append(value)
            else:
                if slot_of < 0:
                    handles.append(0)
                else:
                    handles[slot_of] = 0
                append(status)
                append(None)
            continue
        if cls is Stats:
            append(_OK)
            append((len(live), live_bytes, created, reclaimed + unsettled))
            bounds.append((unsettled, unsettled_bytes))
            continue
        if cls is Quiesce:
            reclaimed += unsettled
            unsettled = unsettled_bytes = 0
            append(_OK)
            append(None)
            continue
        h = op.handle
        hc = type(h)
        handle = h.value if hc is Raw else handles[h.index] if hc is Ref else (
            (handles[h.index] + h.delta) & U64_MAX if hc is Nudge else handles[h.index] ^ h.mask)
        slot = handle & _MASK
        gen = handle >> 32
        current = gens.get(slot, 0)
        value = None
        if gen == 0 or slot >= capacity or gen > current:
            status = _INVALID
        elif gen < current or slot not in live:
            status = _STALE
        else:
            res = live[slot]
            status = _OK
            if cls is Read or cls is Write:
                data = res[0]
                offset = op.offset
                end = offset + (op.length if cls is Read else len(op.data))
                if cls is Write and res[3]:
                    status = _READ_ONLY
                elif end > U64_MAX:
                    status = _OVERFLOW
                elif end > len(data):
                    status = _BOUNDS
                elif cls is Read:
                    value = bytes(data[offset:end]) if type(data) is bytearray else data.read(offset, end - offset)
                elif type(data) is bytearray:
                    data[offset:end] = op.data
                else:
                    data.write(offset, op.data)
            elif cls is Info:
                value = (len(res[0]), res[1] + res[2], res[3])
            else:
                runtime = 1 if pair and op.via == "owner" else 2
                if cls is Acquire:
                    if res[runtime] == MAX_REFS:
                        status = _OVERFLOW
                    else:
                        res[runtime] += 1
                        if runtime == 2:
                            res[4] = True
                elif res[runtime] == 0:  # release through a runtime holding no reference
                    status = _NOT_HELD
                else:
                    res[runtime] -= 1
                    if res[1] + res[2] == 0:
                        del live[slot]
                        size = len(res[0])
                        live_bytes -= size
                        if current < MAX_GENERATION:  # a slot at the last generation is retired
                            heapq.heappush(freed, slot)
                        if deferred and (res[4] or not pair):
                            unsettled += 1
                            unsettled_bytes += size
                        else:
                            reclaimed += 1
        append(status)
        append(value)
    # The epilogue: quiesce, stats, shutdown (whose value is the stats just before).
    reclaimed += unsettled
    stats = (len(live), live_bytes, created, reclaimed)
    key += (_OK, None, _OK, stats, _OK, stats)
    bounds += ((0, 0), (0, 0))
    return Prediction(tuple(key), tuple(bounds))


def _calls(ops: tuple, handles: list[int]) -> Iterator[tuple[Any, int]]:
    """Every call of ``ops`` in order, as ``(op, slot)``: a restart is one item (two calls),
    a repeat's body ops come ``count`` times; ``slot`` is where a producer's handle goes in
    ``handles`` (-1: appended; a repeat's producers own one index each, reserved when the
    repeat starts and overwritten by every iteration, as in the interpreter)."""
    for op in ops:
        if type(op) is Repeat:
            body = []
            for body_op in op.body:
                body.append((body_op, len(handles) if body_op.produces_handle else -1))
                handles.extend([0] * body_op.produces_handle)
            for _ in range(op.count):
                yield from body
        else:
            yield op, -1


def prediction_of(trace: tuple[Observation, ...] | list[Observation]) -> Prediction:
    """The packed form of a reference prediction (a trace of the Python model,
    :func:`~fuzzharness.oracles.differential.expected_trace`): what :func:`predict`
    must return for the same program."""
    key: list[Any] = []
    bounds = []
    for obs in trace:
        value = obs.value
        if isinstance(value, StatsExpectation):
            bounds.append((value.unsettled, value.unsettled_bytes))
            value = (value.live_resources, value.live_bytes, value.created, value.reclaimed_settled + value.unsettled)
        elif value is not None and not isinstance(value, (int, bytes)):  # ResourceInfo
            value = (value.size, value.refs, value.read_only)
        key += (obs.status, value)
    return Prediction(tuple(key), tuple(bounds))


def accepts(prediction: Prediction, packed: tuple) -> bool:
    """Whether a target's packed trace (see :mod:`fuzzharness.programs.interpreter`)
    shows exactly what ``prediction`` says: same statuses and values, every error message
    fitting its call, every stats value within its reclamation range. False means
    "judge it the reference way", not "a finding"."""
    key, _, stats, misfits, _ = packed
    if misfits or key != prediction.key:
        return False
    bounds = prediction.bounds
    if len(stats) != len(bounds):
        return False
    for (unsettled, unsettled_bytes), (_, _, _, _, pending, pending_bytes) in zip(bounds, stats):
        if (pending or pending_bytes) and not (
            0 < pending <= unsettled and 0 <= pending_bytes <= unsettled_bytes
        ):  # nothing pending, or within the range (and bytes pending only with resources)
            return False
    return True


def disagreement(program: Program, pair: bool = False) -> str | None:
    """None when :func:`predict` agrees with the Python model on ``program``; else the
    first differing step, readably (a harness bug: the fast path is wrong)."""
    from fuzzharness.oracles.differential import expected_trace

    fast = predict(program, pair)
    slow = prediction_of(expected_trace(program, pair))
    if fast == slow:
        return None
    for name in ("key", "bounds"):
        a, b = getattr(fast, name), getattr(slow, name)
        if a != b:
            i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            where = f"step {i // 2}" if name == "key" else f"entry {i}"
            return (f"fast model disagrees with the Python model ({'pair' if pair else 'single'}) on {name} at "
                    f"{where}: fast {a[i] if i < len(a) else 'nothing'!r}, model {b[i] if i < len(b) else 'nothing'!r}")  # fmt: skip
    return "fast model disagrees with the Python model"
