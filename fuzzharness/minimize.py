"""Minimization of findings at the level of operations.

:func:`minimize` takes a saved sequential finding and searches, within a time
bound, for a smaller program that still yields a finding with the **same
signature** (hence the same kind): the bug, not just any bug.

The search, repeated until nothing changes or the time is up:

1. **delete ops** -- delta debugging (Zeller's ddmin, complement tests): remove
   chunks of ops at growing granularity down to single ops. Deleting a
   create/snapshot also deletes the ops that name its handle (a handle slot
   ``hK`` is static, so later slots are renumbered);
2. **simplify arguments** -- smaller create sizes, shorter writes, zero
   offsets, shorter reads, a near-miss ``hK^mask`` replaced by ``hK``, and a
   smaller, immediate, default-limits config.

Candidates of one step are run as one batch on persistent workers (one per
target, as in ``fuzz``); the first candidate of the batch that keeps the
signature wins. A crash or a hang of a candidate restarts the worker
(:class:`~fuzzharness.supervisor.TargetWorker`), as in fuzzing.

Guarantees: the result always keeps the signature (it is the original when
nothing smaller does); ``complete`` says whether a fixpoint was reached within
the bound. Concurrent programs are not minimized (a replay depends on the
scheduler): the result says so instead of pretending.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .durable import write_atomic
from .findings import Finding
from .program import Config, Create, Program, Read, Ref, Tweak, Write, to_text

__all__ = ["MinResult", "minimize", "minimize_saved", "remove_ops", "MIN_PROGRAM_FILE", "MIN_INFO_FILE"]

MIN_PROGRAM_FILE = "program.min.fh"
MIN_INFO_FILE = "minimized.json"


@dataclass
class MinResult:
    program: Any
    original_ops: int
    ops: int
    seconds: float
    candidates: int
    complete: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"original_ops": self.original_ops, "ops": self.ops, "seconds": round(self.seconds, 2),
                "candidates": self.candidates, "complete": self.complete, "note": self.note}  # fmt: skip


def remove_ops(program: Program, drop: set[int]) -> Program:
    """``program`` without the ops at positions ``drop`` and without every op that
    names a handle they produced; handle slots are renumbered."""
    mapping: dict[int, int | None] = {}
    produced_old = produced_new = 0
    kept = []
    for i, op in enumerate(program.ops):
        handle = getattr(op, "handle", None)
        dead = i in drop
        if not dead and isinstance(handle, (Ref, Tweak)):
            new_index = mapping.get(handle.index)
            if new_index is None:
                dead = True
            else:
                op = dataclasses.replace(op, handle=dataclasses.replace(handle, index=new_index))
        if op.produces_handle:
            mapping[produced_old] = None if dead else produced_new
            produced_old += 1
            produced_new += 0 if dead else 1
        if not dead:
            kept.append(op)
    return Program(program.config, tuple(kept))


def _ddmin_candidates(program: Program, n: int) -> list[Program]:
    size = len(program.ops)
    bounds = [size * k // n for k in range(n + 1)]
    out = []
    for k in range(n):
        chunk = set(range(bounds[k], bounds[k + 1]))
        if chunk:
            out.append(remove_ops(program, chunk))
    return out


def _simpler_ops(op: Any) -> Iterator[Any]:
    handle = getattr(op, "handle", None)
    if isinstance(handle, Tweak):
        yield dataclasses.replace(op, handle=Ref(handle.index))
    if isinstance(op, Create):
        for size in (0, 1, op.size // 2):
            if size < op.size:
                yield Create(size)
    elif isinstance(op, Write):
        if op.offset:
            yield dataclasses.replace(op, offset=0)
        if len(op.data) > 1:
            yield dataclasses.replace(op, data=op.data[: len(op.data) // 2])
            yield dataclasses.replace(op, data=op.data[:1])
        if op.data and op.data != bytes(len(op.data)):
            yield dataclasses.replace(op, data=bytes([0x41]) * len(op.data))
    elif isinstance(op, Read):
        if op.offset:
            yield dataclasses.replace(op, offset=0)
        for length in (0, 1, op.length // 2):
            if length < op.length:
                yield dataclasses.replace(op, length=length)


def _simpler_configs(config: Config) -> Iterator[Config]:
    if config.strategy != "immediate":
        yield dataclasses.replace(config, strategy="immediate")
    for capacity in (1, 2, 4, 8):
        if capacity < config.capacity:
            yield dataclasses.replace(config, capacity=capacity)
    default = Config()
    if (config.max_resource_bytes, config.max_total_bytes) != (default.max_resource_bytes, default.max_total_bytes):
        yield dataclasses.replace(config, max_resource_bytes=default.max_resource_bytes,
                                  max_total_bytes=default.max_total_bytes)  # fmt: skip


def _simplifications(program: Program) -> list[Program]:
    out = []
    for config in _simpler_configs(program.config):
        out.append(Program(config, program.ops))
    for i, op in enumerate(program.ops):
        for simpler in _simpler_ops(op):
            try:
                out.append(Program(program.config, program.ops[:i] + (simpler,) + program.ops[i + 1 :]))
            except ValueError:
                continue
    return out


def search(program: Program, keeps: Callable[[list[Program]], int | None], deadline: float) -> tuple[Program, int, bool]:
    """The minimization loop over a predicate ``keeps(candidates) -> index of the first
    candidate that keeps the finding, or None``; returns (program, candidates tried, complete)."""
    tried = 0
    changed = True
    while changed:
        changed = False
        n = 2
        while len(program.ops) >= 1 and time.monotonic() < deadline:
            n = min(n, len(program.ops))
            candidates = _ddmin_candidates(program, n)
            tried += len(candidates)
            hit = keeps(candidates)
            if hit is not None:
                program, changed = candidates[hit], True
                n = max(n - 1, 2)
                continue
            if n >= len(program.ops):
                break
            n = min(n * 2, len(program.ops))
        while time.monotonic() < deadline:
            candidates = _simplifications(program)
            if not candidates:
                break
            tried += len(candidates)
            hit = keeps(candidates)
            if hit is None:
                break
            program, changed = candidates[hit], True
        if time.monotonic() >= deadline:
            return program, tried, False
    return program, tried, True


def minimize(finding: Finding, seconds: float = 60.0, timeout: float = 10.0, rss_limit_mb: int | None = None) -> MinResult:
    """Minimize a sequential finding within ``seconds``; see the module docstring."""
    from .concurrent_program import ConcurrentProgram

    start = time.monotonic()
    if isinstance(finding.program, ConcurrentProgram):
        ops = finding.program.op_count + len(finding.program.setup)
        return MinResult(finding.program, ops, ops, 0.0, 0, False,
                         "concurrent programs are not minimized (a replay depends on the OS scheduler)")  # fmt: skip
    from .fuzzer import _probe, run_batch
    from .registry import select_targets
    from .supervisor import TargetWorker
    from .triage import findings_for

    specs = select_targets(finding.targets)
    workers: dict[str, TargetWorker] = {}
    original = finding.program

    try:
        for spec in specs:
            mutant = finding.mutant if spec.variant(finding.variant).testing else 0
            workers[spec.name] = TargetWorker(spec, finding.variant, timeout=timeout, mutant=mutant,
                                              **({"rss_limit_mb": rss_limit_mb} if rss_limit_mb else {}))  # fmt: skip
            workers[spec.name].start()

        def keeps(candidates: list[Program]) -> int | None:
            # A batch is cut short so that a slow program (a hang) cannot overrun the bound much.
            for lo in range(0, len(candidates), chunk):
                if time.monotonic() >= deadline and lo:
                    return None
                part = list(enumerate(candidates[lo : lo + chunk], lo))
                outcomes = run_batch(workers, part)
                for key, program in part:
                    found = findings_for(program, outcomes[key], variant=finding.variant, seed=None,
                                         mutant=finding.mutant,
                                         probe=lambda target, p: _probe(workers[target], p, timeout))  # fmt: skip
                    if any(f.signature == finding.signature for f in found):
                        return key
            return None

        # A hang costs a whole timeout per candidate: small batches keep the time bound.
        chunk = 2 if finding.kind.name in ("hang", "oom") else 16
        deadline = start + seconds
        program, tried, complete = search(original, keeps, deadline)
    finally:
        for worker in workers.values():
            worker.close()
    return MinResult(program, len(original.ops), len(program.ops), time.monotonic() - start, tried, complete)


def minimize_saved(directory: Path, seconds: float = 60.0, timeout: float = 10.0,
                   rss_limit_mb: int | None = None) -> MinResult:  # fmt: skip
    """Minimize the finding saved in ``directory`` and save ``program.min.fh`` and
    ``minimized.json`` beside the original (each written atomically)."""
    from .findings import load

    finding = load(directory)
    result = minimize(finding, seconds, timeout, rss_limit_mb)
    if not result.note:
        write_atomic(Path(directory) / MIN_PROGRAM_FILE, to_text(result.program))
    write_atomic(Path(directory) / MIN_INFO_FILE, json.dumps(result.to_json(), indent=2) + "\n")
    return result
