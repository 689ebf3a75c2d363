"""Running a program: one interpreter for the model and for every native target.

:func:`run_program` walks a program's steps against a *backend* (the reference
model, or a loaded library in a worker) and returns one :class:`Observation` per
step. Both sides go through this same function, so a difference between their
traces is a difference between the backends, never between two interpreters.

The steps of a program are: ``init`` (the session, from the program's config),
then each op, then a fixed epilogue of ``quiesce``, ``stats`` and ``shutdown`` so
that every program ends with the leak accounting compared against the model.
Handle operands are resolved per backend: ``hK`` is the handle *that backend*
returned for the K-th create/snapshot (0 if that op failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .contract import Status, Strategy
from .model import OwnershipModel
from .program import (
    Acquire,
    Create,
    Info,
    Op,
    Program,
    Quiesce,
    Raw,
    Read,
    Ref,
    Release,
    Snapshot,
    Stats,
    Write,
    op_name,
    op_text,
)

__all__ = ["Observation", "Step", "steps_of", "run_program", "ModelBackend", "Backend", "EPILOGUE"]

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
    """One call of a program run: its contract function, readable label and op."""

    function: str
    label: str
    op: Op | None


def steps_of(program: Program) -> list[Step]:
    """The calls a run makes, in order: init, the ops, the epilogue."""
    steps = [Step("fh_init", f"init {_config_text(program)}", None)]
    produced = 0
    for op in program.ops:
        steps.append(Step(_FUNCTION[type(op)], op_text(op, produced), op))
        produced += op.produces_handle
    steps += [Step("fh_quiesce", "quiesce (epilogue)", Quiesce()), Step("fh_get_stats", "stats (epilogue)", Stats())]
    steps.append(Step("fh_shutdown", "shutdown (epilogue)", None))
    return steps


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


def resolve(operand: Ref | Raw | Any, handles: list[int]) -> int:
    """The raw value of a handle operand given this backend's produced handles."""
    if isinstance(operand, Raw):
        return operand.value
    if isinstance(operand, Ref):
        return handles[operand.index]
    return handles[operand.index] ^ operand.mask


def _call(backend: Backend, op: Op, handle: int | None) -> tuple[int, Any]:
    if isinstance(op, Create):
        return backend.create(op.size)
    if isinstance(op, Stats):
        return backend.stats()
    if isinstance(op, Quiesce):
        return backend.quiesce()
    if isinstance(op, Write):
        return backend.write(handle, op.offset, op.data)
    if isinstance(op, Read):
        return backend.read(handle, op.offset, op.length)
    return getattr(backend, op_name(op))(handle)


def run_program(
    program: Program,
    backend: Backend,
    deferred_strategy: int,
    on_step: Callable[[int, Observation], None] | None = None,
) -> list[Observation]:
    """Run every step of ``program`` on ``backend``; one Observation per step.

    ``deferred_strategy`` is the backend's strategy number for the ``deferred``
    class. ``on_step(i, observation)`` is called after each step (used to stream a
    trace live, so a crash still shows every step before it). A failed init ends
    the run after its own observation.
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

    cfg = program.config
    strategy = Strategy.IMMEDIATE if cfg.strategy == "immediate" else deferred_strategy
    if record(backend.init(cfg.capacity, strategy, cfg.max_resource_bytes, cfg.max_total_bytes)).status != Status.OK:
        return trace
    handles: list[int] = []
    for op in program.ops:
        operand = getattr(op, "handle", None)
        handle = None if operand is None else resolve(operand, handles)
        obs = record(_call(backend, op, handle), handle)
        if op.produces_handle:
            handles.append(obs.value if obs.status == Status.OK else 0)
    record(backend.quiesce())
    record(backend.stats())
    record(backend.shutdown())
    return trace


class ModelBackend:
    """Adapts :class:`OwnershipModel` to the :class:`Backend` protocol.

    Values are *expectations*: :class:`~fuzzharness.model.StatsExpectation` where a
    native backend returns a :class:`~fuzzharness.model.StatsValue`.
    """

    def __init__(self) -> None:
        self.model: OwnershipModel | None = None

    def init(self, capacity: int, strategy: int, max_resource_bytes: int, max_total_bytes: int) -> tuple[int, Any]:
        self.model = OwnershipModel(capacity, strategy != Strategy.IMMEDIATE, max_resource_bytes, max_total_bytes)
        return Status.OK, None

    def last_error(self) -> str | None:
        return None

    def __getattr__(self, name: str) -> Callable[..., tuple[int, Any]]:
        if self.model is None:
            raise AttributeError(name)
        return getattr(self.model, name)
