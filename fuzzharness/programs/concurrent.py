"""Concurrent programs: a sequential setup, one op list per thread, and an implied epilogue.

A :class:`ConcurrentProgram` is what ``stress`` generates, runs, saves and
replays:

* **setup** -- ordinary program ops (see :mod:`fuzzharness.programs.sequential`) run on one
  thread after ``init``. The handles it produces are the *pool*, written
  ``hK`` everywhere (K-th create/snapshot of the setup, 0 if it failed);
* **threads** -- one op list per thread, all started together behind a native
  start barrier. A thread names pool handles ``hK`` and the handles it produced
  itself ``lK`` (K-th create/snapshot of *that thread*). Thread ops are
  ``create``, ``snapshot``, ``acquire``, ``release``, ``write``, ``read`` and
  ``info``: ``stats`` is not linearizable by contract while calls run. A thread op
  may also name a *forged* value: ``hK^mask`` (pool handle K with bits flipped, as
  the worker resolved it on that target: each target's own value) or a raw value
  ``0x...``. The generator writes them only when asked (``forged``, see
  :func:`forge`: reads and infos, which change nothing); the checker treats a forged
  value as the resource it equals, if any, and otherwise as never issued;
* **epilogue** (implied, not written) -- after every thread joined: ``info`` on
  every pool handle and every handle a thread produced, ``stats``,
  ``quiesce``, ``stats``, then ``shutdown``: the final states are checked.
* **schedule** -- a seed and perturbation rates. The perturbation of every op
  (nothing, a ``sched_yield``, a busy spin of a given length right before the
  call, or a re-synchronization of the threads followed by a jitter spin) is
  derived from them by :func:`perturbations`, PCT-style: a few *change points*
  per thread get a long spin (a thread falling behind reorders the others, as a
  priority change does in PCT), and other ops get short random delays. Generated
  schedules count spins in units of the target's own call time (measured by the
  worker), so threads are inside calls most of the time and meet every few ops.
  The same program therefore replays the same perturbation; the OS scheduler
  still decides the rest, so a replay may interleave differently.

Guarantees: :func:`to_text` / :func:`parse_text` are a stable, readable, editable
text form with ``parse_text(to_text(p)) == p``; parse errors are
:class:`~fuzzharness.errors.CorruptInput` naming the file and line;
:func:`native_threads` never produces an op whose handle index is out of range
(the native runner checks again).
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass, field

from fuzzharness.contract.values import MAX_READ_LEN
from fuzzharness.errors import CorruptInput
from fuzzharness.programs.sequential import (
    _VIA_PREFIX,
    MAX_WRITE_LEN,
    Acquire,
    Config,
    Create,
    Info,
    Op,
    Quiesce,
    Raw,
    Read,
    Ref,
    Release,
    Snapshot,
    Stats,
    Tweak,
    Write,
    _parse_line,
    _validate_op,
    op_name,
    op_text,
    with_via,
)

__all__ = [
    "Local",
    "Schedule",
    "ConcurrentProgram",
    "to_text",
    "parse_text",
    "is_concurrent_text",
    "generate",
    "perturbations",
    "P_NONE",
    "P_YIELD",
    "P_SPIN",
    "P_SYNC",
    "native_setup",
    "perturb_hooks",
    "tickets_from_history",
    "native_threads",
    "thread_op_text",
    "assign_vias",
    "forge",
    "TEXT_HEADER",
    "THREAD_OPS",
]

TEXT_HEADER = "# fuzzharness concurrent program v1"
#: Op kinds allowed in a thread section.
THREAD_OPS = (Create, Snapshot, Acquire, Release, Write, Read, Info)


@dataclass(frozen=True)
class Local:
    """The handle produced by this thread's ``index``-th create/snapshot, written ``lK``."""

    index: int

    def __str__(self) -> str:
        return f"l{self.index}"


@dataclass(frozen=True)
class Schedule:
    """Seed and rates of the schedule perturbation (see :func:`perturbations`).

    ``unit`` says what the spin lengths count: ``"call"`` (what :func:`generate` writes):
    the target's own call time, measured by the worker at its start, so a spin of 3 is
    as long as 3 calls on any target and machine; ``"pause"`` (programs saved before
    calibration existed, and the defaults of a bare ``Schedule()``): spin iterations.
    ``sync_every``: every that many ops a thread re-synchronizes with the others
    (0: never), then waits a random jitter of up to ``jitter`` units.
    """

    seed: int = 0
    yield_rate: float = 0.05
    spin_rate: float = 0.10
    max_spin: float = 500  #: a short spin, at most (pause iterations: ~10-40 ns each)
    change_points: int = 3  #: long spins per thread (PCT's priority change points)
    long_spin: float = 5000
    sync_every: int = 0
    jitter: float = 0
    unit: str = "pause"
    #: the longest a re-synchronization waits for the other threads (units; 0: no bound)
    sync_wait: float = 0
    #: how many other threads a re-synchronization waits for (0: all)
    sync_quorum: int = 0
    #: 1: thread i runs pinned to the i-th core the process may use (the runner's spread)
    spread: int = 0
    #: in-call perturbation (targets whose test build calls the runner's hook): the chance
    #: that a point inside a call perturbs, and the spin's unit there (units)
    hook_rate: float = 0.0
    hook_spin: float = 0

    @classmethod
    def calibrated(cls, seed: int) -> Schedule:
        """The generator's schedule, in units of the target's call time: short spins of up
        to 2 calls on 20% of ops, 3 change points of 6-12 calls (a thread falls behind by
        a few ops, not by the whole run), a re-synchronization every 8 ops that waits for
        one partner thread (at most 64 calls: one not on a core is not waited for), then up
        to 2 calls of jitter, yields only now and then (one gives the core away), and the
        threads spread over the cores (thread i pinned to the i-th). Inside a call of a
        target with a perturbation hook, half of the points yield or spin 2-8 calls."""
        return cls(seed, yield_rate=0.01, spin_rate=0.2, max_spin=2, change_points=3, long_spin=12, sync_every=8,
                   jitter=2, unit="call", sync_wait=64, sync_quorum=1, spread=1, hook_rate=0.5,
                   hook_spin=4)  # fmt: skip


#: Kinds of a perturbation (the native runner's fhr_perturb).
P_NONE, P_YIELD, P_SPIN, P_SYNC = 0, 1, 2, 3


@dataclass(frozen=True)
class ConcurrentProgram:
    config: Config
    setup: tuple[Op, ...]
    threads: tuple[tuple[Op, ...], ...]
    schedule: Schedule = field(default_factory=Schedule)
    #: a gated replay's order (not part of the program, its text or its equality): per
    #: thread, per op, the op's place in the recorded order of invocations; the runner
    #: then starts the calls in that order (see :func:`tickets_from_history`)
    tickets: tuple[tuple[int, ...], ...] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= len(self.threads) <= 64:
            raise ValueError(f"a concurrent program has 1..64 threads, got {len(self.threads)}")
        produced = 0
        for position, op in enumerate(self.setup):
            _validate_op(op, produced, position)
            produced += op.produces_handle
        for t, ops in enumerate(self.threads):
            _validate_thread(ops, produced, t)

    @property
    def pool_size(self) -> int:
        return sum(op.produces_handle for op in self.setup)

    @property
    def op_count(self) -> int:
        return sum(len(ops) for ops in self.threads)


def _validate_thread(ops: tuple[Op, ...], pool: int, thread: int) -> None:
    local = 0
    for position, op in enumerate(ops):
        where = f"thread {thread} op {position} ({op_name(op)})"
        if not isinstance(op, THREAD_OPS):
            raise ValueError(f"{where}: not allowed in a thread (allowed: create snapshot acquire release write read info)")
        handle = getattr(op, "handle", None)
        if isinstance(handle, Ref) and not 0 <= handle.index < pool:
            raise ValueError(f"{where}: h{handle.index} is not a pool handle (the setup produces {pool})")
        elif isinstance(handle, Local) and not 0 <= handle.index < local:
            raise ValueError(f"{where}: l{handle.index} names no earlier create/snapshot of this thread")
        elif isinstance(handle, Tweak) and not (0 <= handle.index < pool and 0 <= handle.mask < 1 << 64):
            raise ValueError(f"{where}: h{handle.index}^{handle.mask:#x} forges from no pool handle (the setup "
                             f"produces {pool}) or its mask does not fit in 64 bits")  # fmt: skip
        elif isinstance(handle, Raw) and not 0 <= handle.value < 1 << 64:
            raise ValueError(f"{where}: raw handle does not fit in 64 bits")
        elif handle is not None and not isinstance(handle, (Ref, Local, Tweak, Raw)):
            raise ValueError(f"{where}: threads name handles hK (pool), lK (own), hK^mask or raw values")
        if isinstance(op, Write) and (len(op.data) > MAX_WRITE_LEN or not 0 <= op.offset < 1 << 64):
            raise ValueError(f"{where}: write out of range")
        if isinstance(op, Read) and (not 0 <= op.length <= MAX_READ_LEN or not 0 <= op.offset < 1 << 64):
            raise ValueError(f"{where}: read out of range")
        if isinstance(op, Create) and not 0 <= op.size < 1 << 64:
            raise ValueError(f"{where}: size does not fit in 64 bits")
        local += op.produces_handle


# --------------------------------------------------------------------------- text form


def thread_op_text(op: Op, produced: int) -> str:
    """One thread op in text form (``produced``: this thread's producers before it)."""
    text = op_text(op, produced)
    if op.produces_handle:
        prefix, _, rest = text.rpartition(f"h{produced} = ")  # "[via: ]hK = create" -> "[via: ]lK = create"
        text = f"{prefix}l{produced} = {rest}"
    return text


def to_text(program: ConcurrentProgram) -> str:
    cfg, s = program.config, program.schedule
    lines = [
        TEXT_HEADER,
        f"config capacity={cfg.capacity} strategy={cfg.strategy} "
        f"max_resource_bytes={cfg.max_resource_bytes} max_total_bytes={cfg.max_total_bytes}",
        f"schedule seed={s.seed} yield_rate={s.yield_rate} spin_rate={s.spin_rate} max_spin={_num(s.max_spin)} "
        f"change_points={s.change_points} long_spin={_num(s.long_spin)}"
        + (f" sync_every={s.sync_every} jitter={_num(s.jitter)} sync_wait={_num(s.sync_wait)}"
           f" sync_quorum={s.sync_quorum} spread={s.spread} hook_rate={s.hook_rate} hook_spin={_num(s.hook_spin)}"
           f" unit={s.unit}"
           if s.unit != "pause" or s.sync_every else ""),
        "setup:",
    ]
    produced = 0
    for op in program.setup:
        lines.append("  " + op_text(op, produced))
        produced += op.produces_handle
    for t, ops in enumerate(program.threads):
        lines.append(f"thread {t}:")
        produced = 0
        for op in ops:
            lines.append("  " + thread_op_text(op, produced))
            produced += op.produces_handle
    return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    """A schedule amount as written: integers without a decimal point (old files' form)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def is_concurrent_text(text: str) -> bool:
    return text.lstrip().startswith(TEXT_HEADER)


_CONFIG = re.compile(r"config capacity=(\S+) strategy=(\w+) max_resource_bytes=(\S+) max_total_bytes=(\S+)")
_SCHEDULE = re.compile(r"schedule((?: \w+=\S+)*)")
_LOCAL = re.compile(r"\bl(\d+)\b")


def _parse_thread_line(line: str, produced: int) -> Op:
    # Rewrite lK as a Ref with an offset marker, reuse the sequential parser, map back.
    marker = 1 << 40
    rewritten = _LOCAL.sub(lambda m: f"h{marker + int(m.group(1))}", line)
    labelled = _VIA_PREFIX.sub("", line, count=1).startswith("l")
    op = _parse_line(rewritten, marker + produced) if labelled else _parse_line(rewritten, -1)
    handle = getattr(op, "handle", None)
    if isinstance(handle, Ref) and handle.index >= marker:
        op = type(op)(Local(handle.index - marker), *[getattr(op, f) for f in op.__dataclass_fields__ if f != "handle"])
    elif isinstance(handle, Tweak) and handle.index >= marker:
        raise ValueError("forged values derive from pool handles (hK^mask), not from a thread's own lK")
    if op.produces_handle and not labelled:
        raise ValueError(f"a create/snapshot in a thread is labelled l{produced}")
    return op


def _schedule_field(name: str, text: str) -> object:
    if name == "unit":
        if text not in ("call", "pause"):
            raise ValueError(f"schedule unit={text}: expected call or pause")
        return text
    if name in ("max_spin", "long_spin", "jitter", "sync_wait", "hook_spin"):
        value = float(text)
        return int(value) if value.is_integer() else value
    return type(getattr(Schedule(), name))(text)


def parse_text(text: str, source: str = "<concurrent program>") -> ConcurrentProgram:
    """Parse the text form; raises :class:`CorruptInput` naming ``source`` and the line."""
    config = schedule = None
    setup: list[Op] = []
    threads: list[list[Op]] = []
    section = None
    produced = 0
    lineno = 0
    try:
        for lineno, raw_line in enumerate(text.splitlines(), 1):  # noqa: B007 (the except clause reads it)
            line = " ".join(raw_line.split("#", 1)[0].split())
            if not line:
                continue
            if config is None:
                m = _CONFIG.fullmatch(line)
                if m is None:
                    raise ValueError("expected the config line first")
                config = Config(int(m.group(1), 0), m.group(2), int(m.group(3), 0), int(m.group(4), 0))
            elif schedule is None:
                m = _SCHEDULE.fullmatch(line)
                if m is None:
                    raise ValueError("expected the schedule line after the config line")
                fields = dict(item.split("=", 1) for item in m.group(1).split())
                known = Schedule.__dataclass_fields__
                unknown = set(fields) - set(known)
                if unknown:
                    raise ValueError(f"unknown schedule field(s): {', '.join(sorted(unknown))}")
                schedule = Schedule(**{k: _schedule_field(k, v) for k, v in fields.items()})
            elif line == "setup:":
                if section is not None:
                    raise ValueError("'setup:' must come before the threads, once")
                section, produced = "setup", 0
            elif m := re.fullmatch(r"thread (\d+):", line):
                if int(m.group(1)) != len(threads):
                    raise ValueError(f"expected 'thread {len(threads)}:'")
                threads.append([])
                section, produced = "thread", 0
            elif section == "setup":
                op = _parse_line(line, produced)
                _validate_op(op, produced, len(setup))
                setup.append(op)
                produced += op.produces_handle
            elif section == "thread":
                op = _parse_thread_line(line, produced)
                threads[-1].append(op)
                produced += op.produces_handle
            else:
                raise ValueError("expected 'setup:'")
        lineno = 0
        if config is None or schedule is None:
            raise ValueError("no config and schedule lines: not a concurrent program")
        if not threads:
            raise ValueError("no 'thread 0:' section")
        return ConcurrentProgram(config, tuple(setup), tuple(tuple(t) for t in threads), schedule)
    except (ValueError, TypeError) as exc:
        where = f"{source}:{lineno}" if lineno else source
        raise CorruptInput(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- schedule


def perturbations(program: ConcurrentProgram) -> list[list[tuple[int, float]]]:
    """Per thread, per op: ``(kind, amount)`` with kind :data:`P_NONE`, :data:`P_YIELD`,
    :data:`P_SPIN` or :data:`P_SYNC` (re-synchronize, then spin ``amount``), amounts in
    the schedule's ``unit``.

    Derived only from the schedule and the program's shape, so it is replayed
    exactly. PCT-style: ``change_points`` ops per thread, chosen at random, get a
    long spin (that thread drops behind the others for a while); the other ops
    get a yield or a short spin at the given rates; every ``sync_every``-th op
    re-synchronizes the threads (a change point falling on it is a longer jitter).
    """
    s = program.schedule
    out = []
    for t, ops in enumerate(program.threads):
        rng = random.Random(s.seed * 1_000_003 + t)
        points = set(rng.sample(range(len(ops)), min(s.change_points, len(ops)))) if ops else set()
        row: list[tuple[int, float]] = []
        for i in range(len(ops)):
            roll = rng.random()
            if s.unit == "pause":
                if i in points:
                    row.append((P_SPIN, rng.randrange(int(s.long_spin) // 2, int(s.long_spin) + 1)))
                elif roll < s.yield_rate:
                    row.append((P_YIELD, 0))
                elif roll < s.yield_rate + s.spin_rate:
                    row.append((P_SPIN, rng.randrange(1, max(int(s.max_spin), 1) + 1)))
                else:
                    row.append((P_NONE, 0))
                continue
            sync = s.sync_every > 0 and i > 0 and i % s.sync_every == 0
            if i in points:
                row.append((P_SYNC if sync else P_SPIN, rng.uniform(s.long_spin / 2, s.long_spin)))
            elif sync:
                row.append((P_SYNC, rng.uniform(0, s.jitter)))
            elif roll < s.yield_rate:
                row.append((P_YIELD, 0))
            elif roll < s.yield_rate + s.spin_rate:
                row.append((P_SPIN, rng.uniform(0, s.max_spin)))
            else:
                row.append((P_NONE, 0))
        out.append(row)
    return out


def tickets_from_history(program: ConcurrentProgram, ops: list[dict]) -> tuple[tuple[int, ...], ...] | None:
    """Tickets for a gated replay from a saved history (``history.json``'s ``ops``: each
    with ``thread`` and ``invoke_ns``, every thread's ops in program order): the thread
    ops numbered by invoke time. None when the history does not match the program."""
    n = len(program.threads)
    per_thread: list[list[int]] = [[] for _ in range(n)]
    for entry in ops:
        thread = entry.get("thread")
        if isinstance(thread, int) and 0 <= thread < n:
            per_thread[thread].append(int(entry.get("invoke_ns", 0)))
    if [len(stamps) for stamps in per_thread] != [len(ops_) for ops_ in program.threads]:
        return None
    order = sorted((stamp, t, i) for t, stamps in enumerate(per_thread) for i, stamp in enumerate(stamps))
    tickets = [[0] * len(stamps) for stamps in per_thread]
    for ticket, (_, t, i) in enumerate(order):
        tickets[t][i] = ticket
    # Each thread's own ops must start in program order (a recorded history always does).
    if any(row != sorted(row) for row in tickets):
        return None
    return tuple(tuple(row) for row in tickets)


# --------------------------------------------------------------------------- runner ops

_CODES = {Create: 0, Acquire: 1, Release: 2, Write: 3, Read: 4, Snapshot: 5, Info: 6, Stats: 7, Quiesce: 8}


def _native_op(op: Op, kind_for_ref: int, perturb: tuple[int, int] = (0, 0)):  # perturb: (kind, iterations)
    from fuzzharness.contract.bindings import H_LOCAL, H_NONE, H_RAW, NativeOp

    handle = getattr(op, "handle", None)
    hkind, index, value = H_NONE, 0, 0
    if isinstance(handle, Raw):
        hkind, value = H_RAW, handle.value
    elif isinstance(handle, Ref):
        hkind, index = kind_for_ref, handle.index
    elif isinstance(handle, Tweak):
        hkind, index, value = kind_for_ref, handle.index, handle.mask
    elif isinstance(handle, Local):
        hkind, index = H_LOCAL, handle.index
    arg = op.size if isinstance(op, Create) else getattr(op, "offset", 0)
    via = 1 if getattr(op, "via", None) == "owner" else 0  # the runner's alternate table: a pair's owner
    return NativeOp(_CODES[type(op)], hkind, index, value, arg, getattr(op, "length", 0), getattr(op, "data", b""),
                    perturb[0], perturb[1], via)  # fmt: skip


def perturb_hooks(program: ConcurrentProgram, spins_per_call: float = 1.0) -> list[tuple[int, int, int]]:
    """Per thread, the runner's in-call perturbation parameters: (seed, chance in 2^-32
    units, spin iterations), from the schedule (``hook_spin`` in its unit)."""
    s = program.schedule
    scale = spins_per_call if s.unit == "call" else 1.0
    rate = min(int(s.hook_rate * (1 << 32)), (1 << 32) - 1)
    spin = min(max(int(round(s.hook_spin * scale)), 0), (1 << 32) - 1)
    return [((s.seed * 31 + t) & 0xFFFF_FFFF, rate, spin) for t in range(len(program.threads))]


def native_setup(ops: tuple[Op, ...]) -> list:
    """A sequential op list for the runner: ``hK`` are this list's own producers."""
    from fuzzharness.contract.bindings import H_LOCAL

    return [_native_op(op, H_LOCAL) for op in ops]


def native_threads(program: ConcurrentProgram, spins_per_call: float = 1.0, sync: bool = True) -> list[list]:
    """The runner op lists of the threads: ``hK`` index the pool, ``lK`` the thread's own.
    ``spins_per_call``: spin iterations as long as one call of the target (the worker's
    calibration), converting a ``unit="call"`` schedule to iterations. ``sync`` False:
    re-synchronization points become plain spins of their jitter (a gated replay orders
    the calls itself)."""
    from fuzzharness.contract.bindings import H_SHARED

    scale = spins_per_call if program.schedule.unit == "call" else 1.0
    limit = (1 << 32) - 1

    def iterations(kind: int, amount: float) -> tuple[int, int]:
        if kind == P_SYNC and not sync:
            kind = P_SPIN
        return kind, min(limit, max(1, round(amount * scale)) if amount > 0 else 0)

    schedule = perturbations(program)
    return [[_native_op(op, H_SHARED, iterations(*p)) for op, p in zip(ops, row)]
            for ops, row in zip(program.threads, schedule)]  # fmt: skip


# --------------------------------------------------------------------------- generation


def generate(
    rng: random.Random, threads: int = 4, ops_per_thread: int = 200, strategy: str | None = None, vias: bool = False,
    forged: bool = False,
) -> ConcurrentProgram:  # fmt: skip
    """A random concurrent program over a small pool of shared handles, so that
    threads collide: acquire/release pairs (and now and then an unbalanced
    release that kills a pool resource under the others' feet), whole-resource
    writes of uniform byte patterns (a torn write shows as mixed bytes), reads,
    infos, snapshots of shared resources, and private create/use/release.

    Capacity and byte limits are large enough that EXHAUSTED cannot happen, so
    the checker may treat it as an error (see :mod:`fuzzharness.ownership_history`).

    ``vias``: route ops through both runtimes of a cross-runtime pair (:func:`assign_vias`,
    drawn after everything else, so the ops and schedule of a seed do not change).
    ``forged``: turn some reads and infos into ops on forged values (:func:`forge`, drawn
    last: everything else of a seed stays the same).
    """
    if rng.random() < CHURN_SHARE:
        pool, size, setup, thread_lists = _churn(rng, threads, ops_per_thread)
    else:
        pool, size, setup, thread_lists = _mixed(rng, threads, ops_per_thread)
    producers = pool + sum(op.produces_handle for ops in thread_lists for op in ops)
    config = Config(
        capacity=min(max(producers + 1, 8), 256),
        strategy=strategy or rng.choice(("immediate", "deferred")),
        max_resource_bytes=1 << 16,
        max_total_bytes=1 << 30,
    )
    if producers + 1 > 256:
        raise ValueError("too many producers for one program; lower ops_per_thread")
    schedule = Schedule.calibrated(rng.getrandbits(32))
    if vias:
        setup, thread_lists = assign_vias(random.Random(rng.getrandbits(64)), setup, thread_lists)
    if forged:
        thread_lists = forge(random.Random(rng.getrandbits(64)), thread_lists)
    return ConcurrentProgram(config, tuple(setup), tuple(thread_lists), schedule)


#: Share of a thread's reads and infos on pool handles that :func:`forge` turns forged.
FORGE_RATE = 0.04
#: Bits a forged ``hK^mask`` flips: low index bits, the contract layout's generation, the top.
_FORGE_BITS = (0, 1, 2, 32, 33, 40, 63)


def forge(rng: random.Random, threads: list[tuple[Op, ...]], rate: float = FORGE_RATE) -> list[tuple[Op, ...]]:
    """``threads`` with some reads and infos of pool handles made on forged values instead:
    mostly ``hK^mask`` (the target's own value with a bit flipped, as the sequential
    fuzzer forges: it may equal another live handle, which the op then names), now and
    then a raw value. Only ops that change nothing, so the generator's balance of
    references holds whatever a forged value names."""
    out = []
    for ops in threads:
        new_ops = []
        for op in ops:
            if isinstance(op, (Read, Info)) and isinstance(op.handle, Ref) and rng.random() < rate:
                if rng.random() < 0.85:
                    handle: Tweak | Raw = Tweak(op.handle.index, 1 << rng.choice(_FORGE_BITS))
                else:
                    handle = Raw(rng.choice((0, 1, 1 << 32, (1 << 32) | rng.randrange(16), rng.getrandbits(64))))
                op = dataclasses.replace(op, handle=handle)
            new_ops.append(op)
        out.append(tuple(new_ops))
    return out


def assign_vias(rng: random.Random, setup: list[Op], threads: list[tuple[Op, ...]]) -> tuple[list[Op], list[tuple[Op, ...]]]:
    """Give every op a runtime (``owner`` / ``foreign``) so that references stay
    balanced per runtime: a thread releases a pool reference through the runtime it
    acquired it with, an own handle through the runtime that produced it; a release
    the generator meant to kill a resource goes through a runtime the setup gave a
    reference (mostly: now and then the other one, a NOT_HELD race). Reads, writes
    and infos take either runtime."""
    roles = ("owner", "foreign")
    pool_vias: list[list[str]] = []
    new_setup = []
    for op in setup:
        via = rng.choice(roles)
        if isinstance(op, (Create, Snapshot)):
            pool_vias.append([via])
        elif isinstance(op, Acquire) and isinstance(op.handle, Ref):
            pool_vias[op.handle.index].append(via)
        new_setup.append(with_via(op, via))
    new_threads = []
    for ops in threads:
        held: dict[int, list[str]] = {}
        local_vias: list[str] = []
        out = []
        for op in ops:
            via = rng.choice(roles)
            handle = getattr(op, "handle", None)
            if isinstance(op, (Create, Snapshot)):
                local_vias.append(via)
            elif isinstance(op, Acquire) and isinstance(handle, Ref):
                held.setdefault(handle.index, []).append(via)
            elif isinstance(op, Release) and isinstance(handle, Local):
                via = local_vias[handle.index]
            elif isinstance(op, Release) and isinstance(handle, Ref):
                mine = held.get(handle.index)
                if mine:
                    via = mine.pop(rng.randrange(len(mine)))
                elif rng.random() < 0.9 and pool_vias[handle.index]:
                    via = rng.choice(pool_vias[handle.index])
            out.append(with_via(op, via))
        new_threads.append(tuple(out))
    return new_setup, new_threads

#: Share of generated programs in "churn" mode (see :func:`_churn`).
CHURN_SHARE = 0.35
#: Share of a churn thread's steps that snapshot a pool resource without holding a reference.
SNAPSHOT_CHURN = 0.12
#: Ops per focus window, and the share of ops on the window's focus resource (see :func:`_focus`).
FOCUS_WINDOW, FOCUS_SHARE = 8, 0.75


def _focus(rng: random.Random, pool: int, ops_per_thread: int) -> list[int]:
    """The pool resource every thread mostly works on in each window of
    :data:`FOCUS_WINDOW` ops, one sequence shared by the threads. The schedule
    re-synchronizes the threads every few ops, so they reach a window together: their
    calls collide on one resource instead of spreading over the whole pool."""
    return [rng.randrange(pool) for _ in range(ops_per_thread // FOCUS_WINDOW + 2)]


def _pick(rng: random.Random, focus: list[int], position: int, pool: int) -> int:
    window = position // FOCUS_WINDOW
    if window < len(focus) and rng.random() < FOCUS_SHARE:
        return focus[window]
    return rng.randrange(pool)


def _mixed(rng: random.Random, threads: int, ops_per_thread: int) -> tuple[int, int, list[Op], list[tuple[Op, ...]]]:
    """The general mix: a pool of 1-3 resources holding extra references, every op kind."""
    pool = rng.randint(1, 3)
    size = rng.choice((4, 8, 16, 32))
    setup: list[Op] = []
    for k in range(pool):
        setup.append(Create(size))
        setup.append(Write(Ref(k), 0, bytes([0x10 + k]) * size))
        for _ in range(rng.randint(1, 3)):  # extra references: room for racing releases
            setup.append(Acquire(Ref(k)))
    thread_lists = []
    budget = 250 - pool  # producers a Config (capacity <= 256) can hold
    focus = _focus(rng, pool, ops_per_thread)
    for _ in range(threads):
        ops: list[Op] = []
        local_sizes: list[tuple[int, bool]] = []
        held: list[int] = []  # pool handles this thread acquired and has not released
        while len(ops) < ops_per_thread:
            roll = rng.random()
            k = _pick(rng, focus, len(ops), pool)
            if roll < 0.22:
                ops.append(Acquire(Ref(k)))
                held.append(k)
            elif roll < 0.42:
                if held:
                    ops.append(Release(Ref(held.pop(rng.randrange(len(held))))))
                elif rng.random() < 0.08:
                    ops.append(Release(Ref(k)))  # unbalanced: may kill the resource
                else:
                    ops.append(Acquire(Ref(k)))
                    held.append(k)
            elif roll < 0.60:
                ops.append(Write(Ref(k), 0, bytes([rng.randrange(256)]) * size))
            elif roll < 0.78:
                ops.append(Read(Ref(k), 0, size))
            elif roll < 0.86 or budget <= 0:
                ops.append(Info(Ref(k)))
            elif roll < 0.93:
                index = len(local_sizes)
                budget -= 1
                ops.append(Snapshot(Ref(k)))
                local_sizes.append((size, True))
                ops.append(Read(Local(index), 0, size))
                if rng.random() < 0.8:
                    ops.append(Release(Local(index)))
            else:
                index = len(local_sizes)
                budget -= 1
                n = rng.choice((1, 2, 8))
                ops.append(Create(n))
                local_sizes.append((n, False))
                ops.append(Write(Local(index), 0, bytes([rng.randrange(256)]) * n))
                ops.append(Read(Local(index), 0, n))
                ops.append(Release(Local(index)))
        for k in held:  # give back what was taken, mostly
            if rng.random() < 0.9:
                ops.append(Release(Ref(k)))
        thread_lists.append(tuple(ops))
    return pool, size, setup, thread_lists


def _churn(rng: random.Random, threads: int, ops_per_thread: int) -> tuple[int, int, list[Op], list[tuple[Op, ...]]]:
    """Lifetimes ending under contention: 4-8 pool resources with ONE reference each;
    threads hammer ``acquire; read; release`` on them (and now and then ``snapshot;
    read; release`` of the snapshot, holding no reference to the origin), and for each
    resource one thread, at a random point, drops the setup's reference. Each resource
    then dies while others are acquiring or snapshotting it: the moment where an acquire
    can resurrect a dead resource (check-then-increment), a racy count loses an update,
    or a snapshot copies memory freed under it."""
    pool = rng.randint(4, 8)
    size = rng.choice((4, 8, 16))
    setup: list[Op] = []
    for k in range(pool):
        setup.append(Create(size))
        setup.append(Write(Ref(k), 0, bytes([0x10 + k]) * size))
    lists: list[list[Op]] = [[] for _ in range(threads)]
    budget = 250 - pool  # producers a Config (capacity <= 256) can hold
    focus = _focus(rng, pool, ops_per_thread)
    for t in range(threads):
        local = 0
        while len(lists[t]) < ops_per_thread:
            k = _pick(rng, focus, len(lists[t]), pool)
            if budget > 0 and rng.random() < SNAPSHOT_CHURN:
                # A snapshot holding no reference: it races the resource's death (a
                # snapshot pinning its origin too late copies freed memory).
                lists[t] += [Snapshot(Ref(k)), Read(Local(local), 0, size), Release(Local(local))]
                local += 1
                budget -= 1
            else:
                lists[t] += [Acquire(Ref(k)), Read(Ref(k), 0, size), Release(Ref(k))]
    for k in range(pool):  # the killing releases, spread over threads and time
        t = rng.randrange(threads)
        lists[t].insert(rng.randrange(len(lists[t]) + 1), Release(Ref(k)))
    return pool, size, setup, [tuple(ops) for ops in lists]

