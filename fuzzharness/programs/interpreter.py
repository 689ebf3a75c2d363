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
import re
import struct
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
           "EPILOGUE", "native_vias", "resolve", "interpreted", "run_program_packed", "unpack",
           "pack", "packed_statuses", "encode_native", "run_encoded", "run_unchecked",
           "message_fits"]  # fmt: skip

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


# --------------------------------------------------------------------------- packed traces
#
# A packed trace is what a worker sends for a program it ran in one native call: plain
# values, no object per step, so it pickles and compares in bulk.
#   ``(key, messages, stats, misfits, passed)``: ``key`` is the flat tuple status0, value0, status1, ...
#   (value: a new handle, the bytes read, ``(size, refs, read_only)`` for info,
#   ``(live_resources, live_bytes, created, reclaimed + pending)`` for stats and shutdown,
#   else None; None after a non-OK status); ``messages`` is ``((step, fh_last_error), ...)``
#   (str, or the raw UTF-8 bytes the runner kept)
#   for every non-OK step; ``stats`` the full six counters of every OK stats value, in order;
#   ``misfits`` the steps whose message does not fit the call (:func:`message_fits`: it
#   must name the function and the handle passed; checked where the call was made, so the
#   harness need not look at each message); ``passed`` None, or for a program run through
#   the interpreter the handle each call passed.
# :func:`unpack` turns it back into exactly the observations :func:`run_program_native`
# returns (without ``passed``, the handle passed by each op follows from the program and the key).

_STATS_CODE, _READ_CODE, _INFO_CODE = 7, 4, 6
#: The contract function of each runner op code (0..8), with the colon a message starts with (UTF-8).
_CODE_PREFIX = tuple(f.encode() + b":" for f in ("fh_create", "fh_acquire", "fh_release", "fh_write", "fh_read",
                                                 "fh_snapshot", "fh_info", "fh_get_stats", "fh_quiesce"))  # fmt: skip
_HEX = re.compile(r"0[xX]([0-9a-fA-F]{1,16})\b")


#: Bytes that end a hex token for the pattern's ``\b`` (ASCII, no word character).
_AFTER_TOKEN = frozenset(c for c in range(128) if not (chr(c).isalnum() or chr(c) == "_"))


def _names(message: bytes, handle: int) -> bool:
    """Whether the UTF-8 ``message`` names ``handle`` in hex, as :func:`message_fits`
    asks: first its usual spellings (``0x`` and lower-case digits, bare or 16 of them,
    then no word character: exactly a token the pattern reads as ``handle``), else every hex token
    (decoded, so a non-ASCII word character after the digits counts as the pattern counts it)."""
    for text in (b"%#x" % handle, b"0x%016x" % handle):  # as Rust and Go print handles
        end = message.find(text) + len(text)
        if end >= len(text) and (end == len(message) or message[end] in _AFTER_TOKEN):
            return True
    return handle in {int(h, 16) for h in _HEX.findall(message.decode("utf-8", "replace"))}


def message_fits(function: str, handle: int | None, message: str | None) -> bool:
    """Whether a failed call's ``fh_last_error`` message fits the call: it starts with
    ``function`` and a colon and, when the call took a handle, names it in hex. (The
    reference check, :func:`fuzzharness.oracles.differential.observation_problem`, asks the same.)"""
    if message is None or not message.startswith(function + ":"):
        return False
    return handle is None or handle in {int(h, 16) for h in _HEX.findall(message)}


def run_program_packed(
    program: Program, library: Any, runner: Any, deferred_strategy: int, immediate_strategy: int = Strategy.IMMEDIATE
) -> tuple:
    """:func:`run_program_native` as a packed trace (see above). A program it runs
    through the interpreter (:func:`interpreted`: a restart or a repeat) is packed from
    its observations, with the handles its calls passed (:func:`pack`)."""
    if interpreted(program):
        return pack(program, run_program_native(program, library, runner, deferred_strategy, immediate_strategy))
    return run_encoded(encode_native(program), library, runner, deferred_strategy, immediate_strategy)


_OP = struct.Struct("<BBBBIIIQQQ")  # fhr_op (fuzzharness.contract.bindings.OP_STRUCT)
#: The epilogue's quiesce and stats, as runner ops.
_EPILOGUE_OPS = _OP.pack(8, 0, 0, 0, 0, 0, 0, 0, 0, 0) + _OP.pack(7, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def encode_native(program: Program) -> tuple | None:
    """A program the native runner runs in one call (None for an :func:`interpreted` one),
    encoded once in the harness for every worker: ``(capacity, deferred, max_resource_bytes,
    max_total_bytes, ops, blob, out_len)`` with ``ops`` the runner's op array (the
    program's ops, then the epilogue's quiesce and stats; each op's runtime selector set,
    which a single-runtime runner ignores), ``blob`` the bytes written, ``out_len`` the
    bytes read. Plain bytes: it pickles without an object per op."""
    if interpreted(program):
        return None
    pack_op = _OP.pack
    parts = []
    blob = bytearray()
    out_len = 0
    for op in program.ops:
        code, hkind, index, value, arg, length, data = _native_op(op)
        via = _RUNNER_VIA[op.via] if code < 7 else 0
        if code == 3:
            where = len(blob)
            blob += data
        elif code == 4:
            where = out_len
            out_len += length
        else:
            where = 0
        parts.append(pack_op(code, hkind, 0, via, index, 0, length, value, arg, where))
    parts.append(_EPILOGUE_OPS)
    cfg = program.config
    return (cfg.capacity, cfg.strategy == "deferred", cfg.max_resource_bytes, cfg.max_total_bytes, b"".join(parts),
            bytes(blob), out_len)  # fmt: skip


def run_encoded(
    encoded: tuple, library: Any, runner: Any, deferred_strategy: int, immediate_strategy: int = Strategy.IMMEDIATE
) -> tuple:
    """Run an :func:`encode_native` program: its packed trace (the same as
    :func:`run_program_packed` on the program). ``init`` and ``shutdown`` are called
    from Python, the ops and the epilogue's quiesce and stats in one native call, which
    publishes the step in flight (see :func:`run_program_native`)."""
    capacity, deferred, max_resource_bytes, max_total_bytes, ops, blob, out_len = encoded
    strategy = deferred_strategy if deferred else immediate_strategy
    runner.set_progress(0)
    status, _ = library.init(capacity, strategy, max_resource_bytes, max_total_bytes)
    if status != Status.OK:
        runner.set_progress(None)
        message = library.last_error()
        return (status, None), ((0, message),), (), () if message_fits("fh_init", None, message) else (0,), None
    size = _OP.size
    codes = ops[0::size]
    n = len(codes)
    raw, out, message = runner.run_encoded(ops, n, codes.count(0) + codes.count(5), blob, out_len, progress=True)
    from fuzzharness.contract.bindings import REC_STRUCT

    key: list[Any] = [0, None]
    append = key.append
    messages = []
    misfits = []
    stats = []
    unpack_op = _OP.unpack_from
    prefixes = _CODE_PREFIX
    for i, (status, _, handle, value, refs, ro, _, _, s0, s1, s2, s3, s4, s5) in enumerate(REC_STRUCT.iter_unpack(raw)):
        append(status)
        if status == 0:
            code = codes[i]
            if code == 0 or code == 5:
                append(value)
            elif code == _READ_CODE:
                fields = unpack_op(ops, i * size)
                append(out[fields[9] : fields[9] + fields[6]])
            elif code == _INFO_CODE:
                append((value, refs, bool(ro)))
            elif code == _STATS_CODE:
                append((s0, s1, s2, s3 + s4))
                stats.append((s0, s1, s2, s3, s4, s5))
            else:
                append(None)
        elif status == -1:
            raise RuntimeError(f"native runner refused op code {codes[i]} (buffer bounds): a harness bug")
        else:
            append(None)
            text = message(i)
            messages.append((i + 1, text))
            code = codes[i]
            if not text.startswith(prefixes[code]) or (
                1 <= code <= 6 and not _names(text, handle)
            ):  # the same question as message_fits, inline (one failed call in two, in random programs)
                misfits.append(i + 1)
    runner.set_progress(n + 1)
    status, value = library.shutdown()
    if status == Status.OK:
        key += (status, (value.live_resources, value.live_bytes, value.created,
                         value.reclaimed + value.pending_resources))  # fmt: skip
        stats.append((value.live_resources, value.live_bytes, value.created, value.reclaimed,
                      value.pending_resources, value.pending_bytes))  # fmt: skip
    else:
        key += (status, None)
        text = library.last_error()
        messages.append((n + 1, text))
        if not message_fits("fh_shutdown", None, text):
            misfits.append(n + 1)
    runner.set_progress(None)
    return tuple(key), tuple(messages), tuple(stats), tuple(misfits), None


def run_unchecked(
    encoded: tuple, library: Any, runner: Any, deferred_strategy: int, immediate_strategy: int = Strategy.IMMEDIATE
) -> None:
    """Run an :func:`encode_native` program and look at nothing it returns: init, the
    ops in one native call, shutdown (the coverage lane's hot path, where coverage is
    what matters and a sample of inputs is checked)."""
    capacity, deferred, max_resource_bytes, max_total_bytes, ops, blob, out_len = encoded
    strategy = deferred_strategy if deferred else immediate_strategy
    if library.init(capacity, strategy, max_resource_bytes, max_total_bytes)[0] != Status.OK:
        return
    codes = ops[0 :: _OP.size]
    runner.run_sequential(None, encoded=(ops, len(codes), codes.count(0) + codes.count(5), blob, out_len))
    library.shutdown()


def pack(program: Program, trace: list[Observation]) -> tuple:
    """A trace of observations of ``program`` as a packed trace, with ``passed``: the
    handle each call passed (a restart or a repeat breaks the one-call-per-op
    correspondence :func:`unpack` otherwise derives them from)."""
    key: list[Any] = []
    messages = []
    misfits = []
    stats = []
    steps = steps_of(program)
    for i, obs in enumerate(trace):
        value = obs.value
        if obs.status == Status.OK:
            if isinstance(value, StatsValue):
                stats.append((value.live_resources, value.live_bytes, value.created, value.reclaimed,
                              value.pending_resources, value.pending_bytes))  # fmt: skip
                value = (value.live_resources, value.live_bytes, value.created, value.reclaimed + value.pending_resources)
            elif isinstance(value, ResourceInfo):
                value = (value.size, value.refs, value.read_only)
        else:
            messages.append((i, obs.message))
            if not message_fits(steps[i].function, obs.handle, obs.message):
                misfits.append(i)
        key += (obs.status, value)
    return tuple(key), tuple(messages), tuple(stats), tuple(misfits), tuple(obs.handle for obs in trace)


def packed_statuses(packed: tuple) -> tuple[int, ...]:
    """The status of every step of a packed trace."""
    return packed[0][0::2]


def unpack(program: Program, packed: tuple) -> list[Observation]:
    """The observations a packed trace stands for: exactly what :func:`run_program_native`
    returned for the same run (see the section comment)."""
    key, messages, stats, _, passed = packed
    text = {i: m.decode("utf-8", "replace") if isinstance(m, bytes) else m for i, m in messages}
    full = iter(stats)
    trace: list[Observation] = []
    n = len(key) // 2
    handles: list[int] = []
    ops = program.ops
    for i in range(n):
        status, value = key[2 * i], key[2 * i + 1]
        handle = None
        op = ops[i - 1] if 1 <= i <= len(ops) and passed is None else None
        if passed is not None:
            handle = passed[i]
        elif op is not None:
            operand = getattr(op, "handle", None)
            handle = None if operand is None else resolve(operand, handles)
            if op.produces_handle:
                handles.append(value if status == Status.OK else 0)
        if status == Status.OK:
            if isinstance(value, tuple) and len(value) == 3:
                value = ResourceInfo(*value)
            elif isinstance(value, tuple):
                value = StatsValue(*next(full))
        trace.append(Observation(status, value, text.get(i), handle))
    return trace
