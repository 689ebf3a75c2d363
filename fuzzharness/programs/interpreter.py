"""Running a program: one interpreter for the model and for every native target.

:func:`run_program` walks a program's steps against a *backend* (the reference
model, or a loaded library in a worker) and returns one :class:`Observation` per
step. Both sides go through this same function, so a difference between their
traces is a difference between the backends, never between two interpreters.

The steps of a program are: ``init`` (the session, from the program's config),
then each op's calls, then a fixed epilogue of ``quiesce``, ``stats`` and
``shutdown`` so that every program ends with the leak accounting compared against
the model. An op is one call, except ``restart`` (two: ``shutdown``, then ``init``
with the program's config; a failed re-init ends the run as a failed first init
does) and ``repeat`` (its body's calls, ``count`` times over). Handle operands are
resolved per backend: ``hK`` is the handle *that backend* returned for the K-th
create/snapshot (0 if that op failed; inside and after a repeat, the latest
iteration's).

:func:`steps_of` names every step (:class:`Step`) without running anything; it is
computed on demand, so a program of 2^20 calls costs no list of 2^20 steps.

:func:`run_program_native` is the fast path of a worker: the same steps, with
the ops and the epilogue's ``quiesce`` and ``stats`` run by the native runner
(:class:`fuzzharness.contract.bindings.NativeRunner`, one call per program, on the
calling thread, timestamps off). It returns exactly the observations
:func:`run_program` returns for the same library; ``run_program`` stays the
reference (the model runs through it, and ``repro`` streams its steps), and
``tests/abi/test_native_sequential.py`` holds the two to the same traces. A
program with a ``restart`` or a ``repeat`` is run by :func:`run_program` on the
library itself, publishing its progress as the runner does (:func:`interpreted`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from fuzzharness.contract.header import U64_MAX, Status, Strategy
from fuzzharness.contract.values import ResourceInfo, StatsValue
from fuzzharness.programs.sequential import (
    Acquire,
    Create,
    Info,
    Nudge,
    Op,
    Program,
    Quiesce,
    Raw,
    Read,
    Ref,
    Release,
    Repeat,
    Restart,
    Snapshot,
    Stats,
    Tweak,
    Write,
    op_name,
    op_text,
)

__all__ = ["Observation", "Step", "Steps", "steps_of", "run_program", "run_program_native", "Backend",
           "EPILOGUE", "native_vias", "resolve", "interpreted"]  # fmt: skip

EPILOGUE = ("quiesce", "stats", "shutdown")


@dataclass(frozen=True)
class Observation:
    """What one call returned: a status, the output written on OK, and, after a
    non-OK status, the calling thread's ``fh_last_error`` message."""

    status: int
    value: Any = None
    message: str | None = None
    handle: int | None = None  #: the raw handle value passed, for ops that take one


@dataclass(frozen=True)
class Step:
    """One call of a program run: its contract function, readable label and op.

    ``op`` is the call's op (a body op inside a repeat, the Restart for both calls of
    a restart, None for init and the epilogue's shutdown); ``iteration`` the repeat
    iteration (from 0) of a body op's call, else None; ``produces`` the index K of
    the handle ``hK`` the call produces (a create or snapshot), else None."""

    function: str
    label: str
    op: Op | None
    iteration: int | None = None
    produces: int | None = None


#: Programs of at most this many calls get their steps built at once (a list); longer
#: ones (long repeats) build each step when it is asked for.
_EAGER_STEPS = 4096


class Steps(Sequence):
    """The steps of a program (see :func:`steps_of`): a read-only sequence of
    :class:`Step`, built on demand for long programs. Indexing by a slice gives a list."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self._init = Step("fh_init", f"init {_config_text(program)}", None)
        self._epilogue = (Step("fh_quiesce", "quiesce (epilogue)", Quiesce()),
                          Step("fh_get_stats", "stats (epilogue)", Stats()),
                          Step("fh_shutdown", "shutdown (epilogue)", None))  # fmt: skip
        self._bodies: dict[int, list[tuple[str, str, Op, int | None]]] = {}  # per repeat: its body's calls
        starts: list[int] = []  # the step index of each op's first call
        before: list[int] = []  # the handle indices before each op
        self._starts, self._produced = starts, before
        eager: list[Step] | None = [self._init]
        index = produced = 0
        for op in program.ops:
            index += 1
            starts.append(index)
            before.append(produced)
            cls = type(op)
            if cls is Restart:
                index += 1
            elif cls is Repeat:
                index += op.calls - 1
                eager = eager if index < _EAGER_STEPS else None
            elif eager is not None:  # one call: its step now (the common case, made cheap)
                eager.append(Step(_FUNCTION[cls], op_text(op, produced), op, None, produced if op.produces_handle else None))
            produced += op.produces_handle
        self._end = index + 1  # the first step of the epilogue
        self._eager: list[Step] | None = None
        if eager is not None and len(eager) == self._end:
            self._eager = eager + list(self._epilogue)
        elif eager is not None:  # restarts and short repeats: every step built in order
            self._eager = list(self._build())

    def _starts_of(self, k: int) -> int:
        return self._starts[k] if k < len(self._starts) else self._end

    def __len__(self) -> int:
        return self._end + len(self._epilogue)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if self._eager is not None:
            return self._eager[index]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"step {index} of a run of {len(self)} steps")
        if index == 0:
            return self._init
        if index >= self._end:
            return self._epilogue[index - self._end]
        k = bisect.bisect_right(self._starts, index) - 1
        return self._op_step(k, index - self._starts[k])

    def __iter__(self) -> Iterator[Step]:
        return iter(self._eager) if self._eager is not None else self._build()

    def _build(self) -> Iterator[Step]:
        yield self._init
        for k in range(len(self.program.ops)):
            for offset in range(self._starts_of(k + 1) - self._starts[k]):
                yield self._op_step(k, offset)
        yield from self._epilogue

    def _op_step(self, k: int, offset: int) -> Step:
        """The ``offset``-th call of op ``k``."""
        op = self.program.ops[k]
        cls = type(op)
        if cls is Repeat:
            body = self._bodies.get(k)
            if body is None:
                body = self._bodies[k] = []
                produced = self._produced[k]
                for body_op in op.body:
                    made = produced if body_op.produces_handle else None
                    body.append((_FUNCTION[type(body_op)], op_text(body_op, produced), body_op, made))
                    produced += body_op.produces_handle
            iteration, j = divmod(offset, len(op.body))
            function, text, body_op, made = body[j]
            return Step(function, f"repeat[{iteration}] {text}", body_op, iteration, made)
        if cls is Restart:
            if offset == 0:
                return Step("fh_shutdown", "restart: shutdown", op)
            return Step("fh_init", f"restart: init {_config_text(self.program)}", op)
        produced = self._produced[k]
        return Step(_FUNCTION[cls], op_text(op, produced), op, None, produced if op.produces_handle else None)


def steps_of(program: Program) -> Steps:
    """The calls a run makes, in order: init, the ops' calls, the epilogue (a run that
    ends at a failed init makes only a prefix of them)."""
    return Steps(program)


def _config_text(program: Program) -> str:
    c = program.config
    return (
        f"capacity={c.capacity} strategy={c.strategy} "
        f"max_resource_bytes={c.max_resource_bytes} max_total_bytes={c.max_total_bytes}"
    )


_FUNCTION = {
    Create: "fh_create",
    Acquire: "fh_acquire",
    Release: "fh_release",
    Write: "fh_write",
    Read: "fh_read",
    Snapshot: "fh_snapshot",
    Info: "fh_info",
    Stats: "fh_get_stats",
    Quiesce: "fh_quiesce",
}


class Backend(Protocol):
    """What :func:`run_program` needs: one method per contract function."""

    def init(self, capacity: int, strategy: int, max_resource_bytes: int, max_total_bytes: int) -> tuple[int, Any]: ...
    def shutdown(self) -> tuple[int, Any]: ...
    def create(self, size: int) -> tuple[int, Any]: ...
    def acquire(self, handle: int) -> tuple[int, Any]: ...
    def release(self, handle: int) -> tuple[int, Any]: ...
    def write(self, handle: int, offset: int, data: bytes) -> tuple[int, Any]: ...
    def read(self, handle: int, offset: int, length: int) -> tuple[int, Any]: ...
    def snapshot(self, handle: int) -> tuple[int, Any]: ...
    def info(self, handle: int) -> tuple[int, Any]: ...
    def stats(self) -> tuple[int, Any]: ...
    def quiesce(self) -> tuple[int, Any]: ...
    def last_error(self) -> str | None: ...


def resolve(operand: Ref | Raw | Tweak | Nudge, handles: list[int]) -> int:
    """The raw value of a handle operand given this backend's produced handles."""
    cls = type(operand)
    if cls is Raw:
        return operand.value
    if cls is Ref:
        return handles[operand.index]
    if cls is Nudge:
        return (handles[operand.index] + operand.delta) & U64_MAX
    return handles[operand.index] ^ operand.mask


def _call(backend: Backend, op: Op, handle: int | None) -> tuple[int, Any]:
    # ``via`` (the runtime selector) is passed only when the op names one, so a backend
    # without runtimes of its own may ignore it or not take it at all.
    via = {"via": op.via} if getattr(op, "via", None) is not None else {}
    if isinstance(op, Create):
        return backend.create(op.size, **via)
    if isinstance(op, Stats):
        return backend.stats()
    if isinstance(op, Quiesce):
        return backend.quiesce()
    if isinstance(op, Write):
        return backend.write(handle, op.offset, op.data, **via)
    if isinstance(op, Read):
        return backend.read(handle, op.offset, op.length, **via)
    return getattr(backend, op_name(op))(handle, **via)


def run_program(
    program: Program,
    backend: Backend,
    deferred_strategy: int,
    on_step: Callable[[int, Observation], None] | None = None,
    immediate_strategy: int = Strategy.IMMEDIATE,
) -> list[Observation]:
    """Run every step of ``program`` on ``backend``; one Observation per step.

    ``deferred_strategy`` / ``immediate_strategy`` are the backend's strategy numbers
    for the ``deferred`` / ``immediate`` classes (a cross-runtime pair runs the
    immediate class as GUARDED). Each op's ``via`` is passed on when it names a
    runtime. ``on_step(i, observation)`` is called after each step (used to stream a
    trace live, so a crash still shows every step before it). A failed init (the
    first, or a restart's) ends the run after its own observation.
    """
    trace: list[Observation] = []

    def record(result: tuple[int, Any], handle: int | None = None) -> Observation:
        status, value = result
        message = backend.last_error() if status != Status.OK else None
        obs = Observation(status, value if status == Status.OK else None, message, handle)
        if on_step is not None:
            on_step(len(trace), obs)
        trace.append(obs)
        return obs

    def run_op(op: Op) -> Observation:
        operand = getattr(op, "handle", None)
        handle = None if operand is None else resolve(operand, handles)
        return record(_call(backend, op, handle), handle)

    cfg = program.config
    strategy = immediate_strategy if cfg.strategy == "immediate" else deferred_strategy
    init = (cfg.capacity, strategy, cfg.max_resource_bytes, cfg.max_total_bytes)
    if record(backend.init(*init)).status != Status.OK:
        return trace
    handles: list[int] = []
    for op in program.ops:
        cls = type(op)
        if cls is Restart:
            record(backend.shutdown())
            if record(backend.init(*init)).status != Status.OK:
                return trace
        elif cls is Repeat:
            # Each producer of the body owns one index: its slot in ``handles`` is
            # overwritten by every iteration (static numbering, latest value).
            body = []
            for body_op in op.body:
                body.append((body_op, len(handles) if body_op.produces_handle else None))
                handles.extend([0] * body_op.produces_handle)
            for _ in range(op.count):
                for body_op, slot in body:
                    obs = run_op(body_op)
                    if slot is not None:
                        handles[slot] = obs.value if obs.status == Status.OK else 0
        else:
            obs = run_op(op)
            if op.produces_handle:
                handles.append(obs.value if obs.status == Status.OK else 0)
    record(backend.quiesce())
    record(backend.stats())
    record(backend.shutdown())
    return trace


#: Runner op codes (fuzzharness/runner_decls.h, enum fhr_code) and handle kinds (enum fhr_hkind).
_NATIVE_CODE = {Create: 0, Acquire: 1, Release: 2, Write: 3, Read: 4, Snapshot: 5, Info: 6, Stats: 7, Quiesce: 8}
_H_NONE, _H_RAW, _H_LOCAL, _H_LOCAL_ADD = 0, 1, 3, 5


def _native_op(op: Op) -> tuple:
    """``op`` as a runner op tuple (code, hkind, index, value, arg, length, data): ``hK``,
    ``hK^mask`` and ``hK+delta`` index the handles this run produced (0 for a failed producer)."""
    cls = type(op)
    if cls is Create:
        return (0, _H_NONE, 0, 0, op.size, 0, b"")
    if cls is Stats or cls is Quiesce:
        return (_NATIVE_CODE[cls], _H_NONE, 0, 0, 0, 0, b"")
    h = op.handle
    hcls = type(h)
    if hcls is Ref:
        hkind, index, value = _H_LOCAL, h.index, 0
    elif hcls is Raw:
        hkind, index, value = _H_RAW, 0, h.value
    elif hcls is Nudge:
        hkind, index, value = _H_LOCAL_ADD, h.index, h.delta & U64_MAX
    else:
        hkind, index, value = _H_LOCAL, h.index, h.mask
    if cls is Write:
        return (3, hkind, index, value, op.offset, len(op.data), op.data)
    if cls is Read:
        return (4, hkind, index, value, op.offset, op.length, b"")
    return (_NATIVE_CODE[cls], hkind, index, value, 0, 0, b"")


#: The runner's table per runtime selector (fhr_op.via): 0 the default runtime's
#: functions, 1 the alternate table (a pair's owner). A pair's default is its foreign front.
_RUNNER_VIA = {None: 0, "foreign": 0, "owner": 1}


def native_vias(ops: Any) -> bytes:
    """The runner's table index (fhr_op.via) of each op, for a cross-runtime target."""
    return bytes(_RUNNER_VIA[getattr(op, "via", None)] for op in ops)


def interpreted(program: Program) -> bool:
    """True when :func:`run_program_native` runs ``program`` through :func:`run_program`
    (it holds a ``restart`` or a ``repeat``) rather than in one native call."""
    return any(type(op) is Restart or type(op) is Repeat for op in program.ops)


def run_program_native(
    program: Program, library: Any, runner: Any, deferred_strategy: int, immediate_strategy: int = Strategy.IMMEDIATE
) -> list[Observation]:
    """:func:`run_program` on a loaded :class:`~fuzzharness.contract.bindings.Library` through its
    :class:`~fuzzharness.contract.bindings.NativeRunner`: the same list of observations.

    ``init`` and ``shutdown`` are called from Python (they may not overlap anything
    anyway), every op and the epilogue's ``quiesce`` and ``stats`` in one native call.
    The runner publishes the step in flight (see ``NativeRunner.set_progress``): a
    target that kills or hangs the worker is still pinned to its step. On a runner
    with two tables (a cross-runtime pair) each op goes through the runtime its
    ``via`` names; a single-runtime runner ignores ``via``, as the interpreter does.

    A program with a restart or a repeat (:func:`interpreted`) runs through
    :func:`run_program` on ``library``, which publishes the step in flight the same way.
    (Measured on repeats of 2^16 and 140,000 calls, Rust and Go: the runner in chunks of
    4,096 calls was no faster; the Python side of each call costs more than the call.)
    """
    if interpreted(program):
        runner.set_progress(0)
        trace = run_program(program, library, deferred_strategy, lambda i, _: runner.set_progress(i + 1),
                            immediate_strategy)  # fmt: skip
        runner.set_progress(None)
        return trace
    cfg = program.config
    strategy = immediate_strategy if cfg.strategy == "immediate" else deferred_strategy
    runner.set_progress(0)
    status, _ = library.init(cfg.capacity, strategy, cfg.max_resource_bytes, cfg.max_total_bytes)
    if status != Status.OK:
        runner.set_progress(None)
        return [Observation(status, None, library.last_error(), None)]
    trace = [Observation(status, None, None, None)]
    ops = [_native_op(op) for op in program.ops + (Quiesce(), Stats())]
    vias = native_vias(program.ops + (Quiesce(), Stats())) if getattr(runner, "has_alternate", False) else None
    records = runner.run_sequential(ops, progress=True, vias=vias)
    append = trace.append
    for (code, *_), (status, handle, out, refs, read_only, _, _, stats, data, message) in zip(ops, records):
        if status == 0:  # Status.OK
            if code == 0 or code == 5:  # create, snapshot: the new handle
                value: Any = out
            elif code == 4:  # read
                value = data
            elif code == 6:  # info
                value = ResourceInfo(out, refs, bool(read_only))
            elif code == 7:  # stats
                value = StatsValue(*stats)
            else:
                value = None
            append(Observation(status, value, None, handle if 1 <= code <= 6 else None))
        elif status == -1:
            raise RuntimeError(f"native runner refused op code {code} (buffer bounds): a harness bug")
        else:
            append(Observation(status, None, message, handle if 1 <= code <= 6 else None))
    runner.set_progress(len(trace))
    status, value = library.shutdown()
    trace.append(Observation(status, value if status == Status.OK else None,
                             library.last_error() if status != Status.OK else None, None))  # fmt: skip
    runner.set_progress(None)
    return trace
