"""Minimization of findings at the level of operations.

:func:`minimize` takes a saved sequential finding and searches, within a time
bound, for a smaller program that still yields a finding with the **same
signature** (hence the same kind): the bug, not just any bug.

The search, repeated until nothing changes or the time is up:

1. **delete ops** -- delta debugging (Zeller's ddmin, complement tests): remove
   chunks of ops at growing granularity down to single ops. Deleting a
   create/snapshot also deletes the ops that name its handle (a handle slot
   ``hK`` is static, so later slots are renumbered). A ``repeat`` block is one op
   here (deleting it deletes its whole body); a ``restart`` is an ordinary op;
2. **simplify arguments** -- smaller create sizes, shorter writes, zero
   offsets, shorter reads, a near-miss ``hK^mask`` or ``hK+delta`` replaced by
   ``hK``, and a smaller, immediate, default-limits config; a repeat with fewer
   iterations (one, half, seven eighths), without one of its body ops (the ops
   naming that op's handle go with it), with simpler body ops, and a repeat of one
   iteration replaced by its body.

Candidates of one step are run as one batch on persistent workers (one per
target, as in ``fuzz``); the first candidate of the batch that keeps the
signature wins. A crash or a hang of a candidate restarts the worker
(:class:`~fuzzharness.execution.supervisor.TargetWorker`), as in fuzzing.

Guarantees: the result always keeps the signature (it is the original when
nothing smaller does); ``complete`` says whether a fixpoint was reached within
the bound.

Concurrent findings (:func:`minimize_concurrent`) are minimized by deleting threads
and ops (setup ops take the thread ops naming their pool handle with them). A
replay depends on the OS scheduler, so each candidate is replayed several times
(as many as the original's measured reproduction rate asks for) and kept if one
replay shows the same signature; an original that never reproduces is left as it
is, and the note says so.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from fuzzharness.findings.durable import refuse_symlink, write_atomic
from fuzzharness.findings.store import Finding
from fuzzharness.programs.sequential import Config, Create, Nudge, Program, Read, Ref, Repeat, Tweak, Write, to_text

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


def _drop_ops(
    ops: tuple, dropped: set, pool: dict[int, int | None] | None = None
) -> tuple[list, dict[int, int | None]]:
    """``ops`` without the positions ``dropped`` and without every op naming a handle a
    dropped op produced; the kept ops' handle operands are renumbered. Returns the kept ops
    and the renumbering of the handles these ops produce (old index -> new, None: dropped).

    ``dropped`` holds positions ``i`` (a repeat at ``i``: the whole block) and pairs
    ``(i, j)``: op ``j`` of the body of the repeat at ``i``. A repeat whose body loses
    every op is dropped. ``pool``: for a thread of a concurrent program, the renumbering
    of the setup's handles, which its ``hK`` operands name (its own ``lK`` go through its
    own renumbering)."""
    mapping: dict[int, int | None] = {}
    old = new = 0

    def keep(op: Any, dead: bool) -> Any | None:
        nonlocal old, new
        handle = getattr(op, "handle", None)
        if not dead and hasattr(handle, "index"):  # Ref, Tweak, Nudge or (concurrent) Local
            table = pool if pool is not None and isinstance(handle, (Ref, Tweak, Nudge)) else mapping
            index = table.get(handle.index)
            if index is None:
                dead = True
            else:
                op = dataclasses.replace(op, handle=dataclasses.replace(handle, index=index))
        if op.produces_handle:
            mapping[old] = None if dead else new
            old += 1
            new += 0 if dead else 1
        return None if dead else op

    kept = []
    for i, op in enumerate(ops):
        if isinstance(op, Repeat):
            body = [b for j, body_op in enumerate(op.body)
                    if (b := keep(body_op, i in dropped or (i, j) in dropped)) is not None]  # fmt: skip
            if body:
                kept.append(Repeat(op.count, tuple(body)))
        elif (op := keep(op, i in dropped)) is not None:
            kept.append(op)
    return kept, mapping


def remove_ops(program: Program, drop: set) -> Program:
    """``program`` without the ops at positions ``drop`` (a repeat: the whole block;
    a pair ``(i, j)``: op ``j`` of the body of the repeat at ``i``) and without every op
    that names a handle they produced; handle slots are renumbered."""
    return Program(program.config, tuple(_drop_ops(program.ops, drop)[0]))


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
    if isinstance(handle, (Tweak, Nudge)):
        yield dataclasses.replace(op, handle=Ref(handle.index))
    if isinstance(op, Create):
        for size in (0, 1, op.size // 2):
            if size < op.size:
                yield dataclasses.replace(op, size=size)
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


def _simpler_repeats(program: Program, i: int, op: Repeat) -> Iterator[Callable[[], Program]]:
    """Simpler forms of the repeat at position ``i`` (each built when called, since one
    may be invalid): fewer iterations, its body inline (one iteration), a body op less,
    a simpler body op."""
    head, tail, config = program.ops[:i], program.ops[i + 1 :], program.config
    for count in sorted({1, op.count // 2, op.count - op.count // 8}):
        if 1 <= count < op.count:
            yield lambda count=count: Program(config, head + (Repeat(count, op.body),) + tail)
    if op.count == 1:
        yield lambda: Program(config, head + op.body + tail)  # the same handle numbering
    if len(op.body) > 1:
        for j in range(len(op.body)):
            yield lambda j=j: remove_ops(program, {(i, j)})
    for j, body_op in enumerate(op.body):
        for simpler in _simpler_ops(body_op):
            body = op.body[:j] + (simpler,) + op.body[j + 1 :]
            yield lambda body=body: Program(config, head + (Repeat(op.count, body),) + tail)


def _simplifications(program: Program) -> list[Program]:
    out = []
    for config in _simpler_configs(program.config):
        out.append(Program(config, program.ops))
    for i, op in enumerate(program.ops):
        if isinstance(op, Repeat):
            builders: Iterator[Callable[[], Program]] = _simpler_repeats(program, i, op)
        else:
            builders = (lambda s=s, i=i: Program(program.config, program.ops[:i] + (s,) + program.ops[i + 1 :])
                        for s in _simpler_ops(op))  # fmt: skip
        for build in builders:
            try:
                out.append(build())
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


# --------------------------------------------------------------------------- concurrent programs

#: Replays of the original concurrent program that measure how often it reproduces.
BASELINE_REPLAYS = 6
#: Most replays of one candidate before it counts as "does not keep the finding".
MAX_REPLAYS = 6


def concurrent_units(program: Any) -> list[tuple[int, int]]:
    """The deletable ops of a concurrent program: ``(-1, i)`` for setup op i, ``(t, i)``
    for op i of thread t (in that order, so a chunk of units is often a whole thread)."""
    return [(-1, i) for i in range(len(program.setup))] + [
        (t, i) for t, ops in enumerate(program.threads) for i in range(len(ops))
    ]


def remove_units(program: Any, drop: set[tuple[int, int]]) -> Any | None:
    """``program`` without the units ``drop`` (see :func:`concurrent_units`), without every
    op naming a handle they produced (pool ``hK`` or a thread's own ``lK``, renumbered),
    and without the threads left empty; None when no thread op is left."""
    from fuzzharness.programs.concurrent import ConcurrentProgram

    setup, pool = _drop_ops(program.setup, {i for t, i in drop if t == -1})
    threads = []
    for t, ops in enumerate(program.threads):
        kept, _ = _drop_ops(ops, {i for u, i in drop if u == t}, pool)
        if kept:
            threads.append(tuple(kept))
    if not threads:
        return None
    return ConcurrentProgram(program.config, tuple(setup), tuple(threads), program.schedule)


def _concurrent_size(program: Any) -> int:
    return len(program.setup) + program.op_count


def minimize_concurrent(finding: Finding, seconds: float = 60.0, timeout: float = 10.0,
                        rss_limit_mb: int | None = None) -> MinResult:  # fmt: skip
    """Minimize a concurrent finding within ``seconds``: delete threads and ops (ddmin over
    :func:`concurrent_units`), keeping the same signature on at least one of several replays.

    A concurrent run depends on the OS scheduler, so one replay proves little. The original
    is replayed :data:`BASELINE_REPLAYS` times first: if it never reproduces, nothing is
    deleted (the note says so). Otherwise a candidate keeps the finding if one of up to
    ``ceil(2 / rate)`` replays (at most :data:`MAX_REPLAYS`) shows the same signature,
    where ``rate`` is the original's reproduction rate. The result is smaller and showed
    the finding at least once; it may reproduce less often than the original (``repro
    --times``)."""
    import math

    from fuzzharness.contract.registry import select_targets
    from fuzzharness.execution.supervisor import TargetWorker
    from fuzzharness.findings.triage import findings_for_run

    start = time.monotonic()
    deadline = start + seconds
    original = finding.program
    size = _concurrent_size(original)
    workers: dict[str, Any] = {}
    tried = 0
    try:
        for spec in select_targets(finding.targets):
            mutant = finding.mutant if spec.variant(finding.variant).testing else 0
            workers[spec.name] = TargetWorker(spec, finding.variant, timeout=timeout, mutant=mutant,
                                              **({"rss_limit_mb": rss_limit_mb} if rss_limit_mb else {}))  # fmt: skip
            workers[spec.name].start()

        def hits(candidates: list[Any]) -> list[bool]:
            """One replay of each candidate: did it show the finding's signature?"""
            batch = list(enumerate(candidates))
            out = [False] * len(candidates)
            for name, worker in workers.items():
                for event in worker.run(batch, kind="stress"):
                    if event[0] not in ("result", "failure"):
                        continue
                    found, _ = findings_for_run(name, candidates[event[1]], event[2], variant=finding.variant,
                                                mutant=finding.mutant, seed=finding.seed)  # fmt: skip
                    out[event[1]] = out[event[1]] or any(f.signature == finding.signature for f in found)
            return out

        baseline = sum(hits([original] * BASELINE_REPLAYS))
        tried += BASELINE_REPLAYS
        if not baseline:
            return MinResult(original, size, size, time.monotonic() - start, tried, False,
                             f"the concurrent program did not reproduce in {BASELINE_REPLAYS} replays: not minimized")  # fmt: skip
        replays = min(MAX_REPLAYS, math.ceil(2 * BASELINE_REPLAYS / baseline))

        def keeps(candidates: list[Any]) -> int | None:
            nonlocal tried
            alive = list(range(len(candidates)))
            for _ in range(replays):
                if time.monotonic() >= deadline or not alive:
                    return None
                tried += len(alive)
                result = hits([candidates[i] for i in alive])
                for i, hit in zip(alive, result):
                    if hit:
                        return i
            return None

        program, complete = original, False
        changed = True
        while changed and time.monotonic() < deadline:
            changed = False
            n = 2
            while time.monotonic() < deadline:
                units = concurrent_units(program)
                n = min(n, len(units))
                if n < 1:
                    break
                bounds = [len(units) * k // n for k in range(n + 1)]
                candidates = [c for k in range(n) if bounds[k + 1] > bounds[k]
                              and (c := remove_units(program, set(units[bounds[k]:bounds[k + 1]]))) is not None]  # fmt: skip
                hit = keeps(candidates) if candidates else None
                if hit is not None:
                    program, changed = candidates[hit], True
                    n = max(n - 1, 2)
                    continue
                if n >= len(units):
                    break
                n = min(n * 2, len(units))
            complete = not changed and time.monotonic() < deadline
    finally:
        for worker in workers.values():
            worker.close()
    note = f"concurrent: kept when 1 of up to {replays} replays showed the signature (original: {baseline}/{BASELINE_REPLAYS})"
    return MinResult(program, size, _concurrent_size(program), time.monotonic() - start, tried, complete, note)


def minimize(finding: Finding, seconds: float = 60.0, timeout: float = 10.0, rss_limit_mb: int | None = None) -> MinResult:
    """Minimize a finding within ``seconds``; see the module docstring."""
    from fuzzharness.programs.concurrent import ConcurrentProgram

    start = time.monotonic()
    if isinstance(finding.program, ConcurrentProgram):
        return minimize_concurrent(finding, seconds, timeout, rss_limit_mb)
    from fuzzharness.contract.registry import select_targets
    from fuzzharness.execution.supervisor import TargetWorker, probe, run_batch
    from fuzzharness.findings.triage import findings_for

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
                                         probe=lambda target, p: probe(workers[target], p, timeout))  # fmt: skip
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
    ``minimized.json`` beside the original (each written atomically). A symbolically linked
    directory or output file is refused (InvalidArgument): nothing is written out of the tree."""
    from fuzzharness.findings.store import load
    from fuzzharness.programs.concurrent import ConcurrentProgram
    from fuzzharness.programs.concurrent import to_text as concurrent_text

    directory = Path(directory)
    for path in (directory, directory / MIN_PROGRAM_FILE, directory / MIN_INFO_FILE):
        refuse_symlink(path, "a minimization")
    finding = load(directory)
    result = minimize(finding, seconds, timeout, rss_limit_mb)
    concurrent = isinstance(result.program, ConcurrentProgram)
    if result.ops < result.original_ops or not concurrent:
        text = concurrent_text(result.program) if concurrent else to_text(result.program)
        write_atomic(Path(directory) / MIN_PROGRAM_FILE, text)
    write_atomic(Path(directory) / MIN_INFO_FILE, json.dumps(result.to_json(), indent=2) + "\n")
    return result
