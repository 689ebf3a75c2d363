"""The ownership contract as a linearizability model, and the checks of a concurrent run.

:data:`OWNERSHIP` is an instance of :class:`fuzzharness.oracles.linearizability.Model`;
:func:`check_run` turns what a worker recorded for a
:class:`~fuzzharness.programs.concurrent.ConcurrentProgram` into a history and
checks all of it:

* the **setup** (one thread) step by step against the sequential reference model
  (:mod:`fuzzharness.oracles.model`), as ``fuzz`` does: for a target with the
  contract's handle layout, values included; for one with its own handle system
  (``handles = "opaque"``, :mod:`fuzzharness.contract.handles`) along the target's own
  values (:mod:`fuzzharness.oracles.opaque`): each value names the resource it was
  issued for;
* the **threads and the epilogue infos** for linearizability, partitioned per
  *root resource*. A resource is named by a key, never by its handle value:
  ``("h", K)`` for pool handle ``hK``, ``("l", T, K)`` for thread T's ``lK`` (an
  opaque target's ops name values; resources that shared a value share a partition).
  A snapshot and every op on the snapshot's handle belong to the partition of
  the snapshot's origin (the snapshot reads the origin's bytes at one instant,
  so they are not independent); a create in a thread starts a partition of its
  own. Resources of different roots share nothing the contract lets a caller
  observe per call, except slot allocation and byte accounting -- see the next
  point;
* **relaxations, and why they are sound**: the exact handle value a create or
  snapshot returns depends on every other thread's allocations, so the model
  does not predict it; instead every handle value issued in the run (contract
  layout) must be distinct (generations make values unique within a session: equal values
  would be ABA), have a generation >= 1 and a slot below capacity. ``EXHAUSTED``
  depends on global counts: the generator sizes capacity and byte limits so
  that it cannot happen, and the model accepts it only when the program's
  worst case (every producer alive at once) could exhaust the limits;
* **handle values of the target's own** (opaque): every op names the *value* the
  runner passed, ``("v", value)``, and the model resolves it to the resource the
  value names at the op's linearization point (a producer binds the value it
  issued). So a value reissued after a death names the new resource for every op
  ordered after the reissue, a forged value equal to a live handle is that resource,
  and a value never issued is INVALID (never OK: OK is also a ``handle_alias``
  problem). Issued values must be non-zero, distinct among live ones (a model
  rule, so it holds in every order) and, unless the target declares
  ``reuse = "after-death"``, never issued twice (``aba``). With ``stale_status =
  "invalid-or-stale"`` INVALID and STALE are interchangeable, setup and model alike.
  Forged thread operands (``hK^mask``, raw values) of a contract-layout target name
  the resource whose exact value they equal, if any;
* **reclamation**: per resource, dying is observable (its handle turns stale at
  once), *when its memory is freed is not*. Under a deferred strategy the
  model says "freed now or later": the epilogue's first ``stats`` (before
  ``quiesce``) may count each dead resource as pending or reclaimed; after an OK
  ``quiesce`` nothing may be pending; ``shutdown`` must report exactly what
  the epilogue infos found alive;
* **per-thread errors**: after each non-OK status the runner fetched that same
  thread's ``fh_last_error``; it must name the failing function and the handle,
  so another thread's message showing up is a divergence.

Anything else (PANIC statuses, setup divergences, epilogue mismatches) is
reported as a :class:`Problem` with the finding kind it maps to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from struct import error as _struct_error
from typing import Any, Union

from fuzzharness.contract.handles import EXACT, HandlePolicy
from fuzzharness.contract.header import MAX_REFS, U64_MAX, Status, Strategy
from fuzzharness.contract.values import ResourceInfo, StatsValue
from fuzzharness.oracles.differential import observation_problem, render_value
from fuzzharness.oracles.linearizability import DEFAULT_MEMO_BYTES, Model, Operation, Verdict, check
from fuzzharness.oracles.model import OwnershipModel, SparseBytes
from fuzzharness.oracles.opaque import ReplayBackend
from fuzzharness.oracles.timeline import EPILOGUE_CLIENT
from fuzzharness.programs.concurrent import ConcurrentProgram, Local, thread_op_text
from fuzzharness.programs.interpreter import Observation, resolve, steps_of
from fuzzharness.programs.sequential import Create, Info, Program, Raw, Read, Ref, Snapshot, Tweak, Write, op_name

__all__ = [
    "OWNERSHIP",
    "ConcurrentRun",
    "Problem",
    "RunCheck",
    "check_run",
    "overlap_fraction",
    "overlap_by_resource",
    "native_search",
    "in_call_time",
    "describe_input",
    "describe_output",
]

_FUNCTION = {"create": "fh_create", "acquire": "fh_acquire", "release": "fh_release", "write": "fh_write",
             "read": "fh_read", "snapshot": "fh_snapshot", "info": "fh_info"}  # fmt: skip


@dataclass
class ConcurrentRun:
    """What a worker recorded for one concurrent program (plain, picklable data).

    Records are :class:`fuzzharness.contract.bindings.NativeRecord` tuples; ``epilogue``
    holds the infos (one per key in ``epilogue_keys``), then stats, quiesce, stats.
    """

    init_status: int
    setup: list = field(default_factory=list)
    threads: list = field(default_factory=list)
    epilogue_keys: list = field(default_factory=list)
    epilogue: list = field(default_factory=list)
    shutdown: tuple[int, Any] | None = None


@dataclass(frozen=True)
class Problem:
    """Something found outside the linearizability check. ``kind``: a FindingKind name."""

    kind: str
    function: str
    aspect: str
    summary: str


@dataclass
class RunCheck:
    verdict: Verdict | None
    problems: list[Problem]
    history: list[Operation]
    overlap: tuple[int, int]  #: (thread ops overlapping another thread's op on the same root, thread ops)
    labels: Mapping[int, str]  #: operation id -> readable op text ("T1 #4 read h0 0 8")
    #: per resource (``hK`` for a pool resource, ``own`` for the threads' own): (overlapping, ops)
    overlap_by_resource: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: (ns the threads spent inside calls, ns of thread life: threads x the threads phase's wall time)
    in_call: tuple[int, int] = (0, 0)


# --------------------------------------------------------------------------- the model
#
# Input:  (fn, key, args, new_key[, runtime])   fn in _FUNCTION; key: the target resource
#         (None for create), or ("v", value) for a handle VALUE (every operand of an
#         opaque-handle target, a forged value of any target): the op acts on whatever
#         resource the value names at its linearization point; args: (offset, data) /
#         (offset, length) / (size,) / (); new_key: the key a create/snapshot names;
#         runtime ("owner" / "foreign"): only on a cross-runtime pair, the runtime that
#         made the call (absent: the default).
# Output: (status, value): value is bytes for read, (size, refs, read_only) for info, and
#         for a create/snapshot of an opaque-handle target the value it issued (None
#         elsewhere: exact values are checked outside the model).
# State:  a sorted tuple of (key, (alive, counts, data, read_only)) for the partition;
#         counts = (owner references, foreign references): a single-runtime target keeps
#         all of them in the second, a pair per runtime (NOT_HELD when the calling
#         runtime holds none; dead when the sum is zero; info's refs is the sum).
#         Bindings (("v", value), key): the resource a value names now (opaque targets):
#         a producer binds the value it issued; a value bound to a live resource cannot be
#         issued again (distinct among live); one bound to a dead resource can (ABA is
#         judged outside the model, by the target's declared reuse rule).
# A key missing from the state was never created (a failed producer), a value never
# bound was never issued: INVALID_HANDLE. A dead resource: STALE_HANDLE. With
# stale_status = "invalid-or-stale" either status is accepted for either.

_HANDLE_ERRORS = (Status.INVALID_HANDLE, Status.STALE_HANDLE)


def _get(state: tuple, key: Any) -> tuple | None:
    for k, res in state:
        if k == key:
            return res
    return None


def _put(state: tuple, key: Any, res: tuple) -> tuple:
    return tuple(sorted([(k, r) for k, r in state if k != key] + [(key, res)], key=lambda kr: repr(kr[0])))


def _range(offset: int, length: int, size: int) -> Status:
    if offset + length > U64_MAX:
        return Status.OVERFLOW
    if offset + length > size:
        return Status.BOUNDS
    return Status.OK


def _counts(side: int, delta: int, counts: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    return (counts[0] + delta, counts[1]) if side == 0 else (counts[0], counts[1] + delta)


@dataclass(frozen=True)
class _Sparse:
    """The contents of a resource larger than a page, in a model state: its size and only
    its written pages (immutable, compared by value). A program declaring a huge resource
    costs the checker a few bytes, as it costs the sequential model
    (:class:`~fuzzharness.oracles.model.SparseBytes`); smaller contents are plain bytes."""

    size: int
    pages: tuple[tuple[int, bytes], ...] = ()

    def read(self, offset: int, length: int) -> bytes:
        out = bytearray(length)
        for index, page in self.pages:
            start = index * _PAGE
            lo, hi = max(start, offset), min(start + _PAGE, offset + length)
            if lo < hi:
                out[lo - offset : hi - offset] = page[lo - start : hi - start]
        return bytes(out)

    def write(self, offset: int, payload: bytes) -> _Sparse:
        pages = dict(self.pages)
        for index in range(offset // _PAGE, (offset + len(payload) - 1) // _PAGE + 1 if payload else 0):
            start = index * _PAGE
            page = bytearray(pages.get(index, bytes(_PAGE)))
            lo, hi = max(start, offset), min(start + _PAGE, offset + len(payload))
            page[lo - start : hi - start] = payload[lo - offset : hi - offset]
            pages[index] = bytes(page)
        return _Sparse(self.size, tuple(sorted(pages.items())))


_PAGE = SparseBytes.PAGE
Contents = Union[bytes, _Sparse]


def _zeros(size: int) -> Contents:
    return bytes(size) if size <= _PAGE else _Sparse(size)


def _size(data: Contents) -> int:
    return data.size if isinstance(data, _Sparse) else len(data)


def _read(data: Contents, offset: int, length: int) -> bytes:
    return data.read(offset, length) if isinstance(data, _Sparse) else data[offset : offset + length]


def _write(data: Contents, offset: int, payload: bytes) -> Contents:
    if isinstance(data, _Sparse):
        return data.write(offset, payload)
    return data[:offset] + payload + data[offset + len(payload) :]


def _contents(data: SparseBytes) -> Contents:
    """A state's copy of the sequential model's contents."""
    if data.size <= _PAGE:
        return data.read(0, data.size)
    return _Sparse(data.size, tuple(sorted((index, bytes(page)) for index, page in data.pages.items())))


def _handle_error(state: tuple, want: Status, status: int, either: bool) -> list:
    """[state] when ``status`` is the handle error ``want`` (or, ``either``, any handle error)."""
    return [state] if status == want or (either and status in _HANDLE_ERRORS) else []


def _issue(state: tuple, new_key: Any, res: tuple, value: int | None) -> list:
    """The states after a producer created ``new_key`` and (opaque) issued ``value`` for it."""
    state = _put(state, new_key, res)
    if value is None:
        return [state]
    node = ("v", value)
    holder = _get(state, node)
    if holder is not None and (_get(state, holder) or (False,))[0]:
        return []  # the value names a live resource: handles are distinct among live ones
    return [_put(state, node, new_key)]


def _ownership_step(state: tuple, inp: tuple, out: tuple, exhaustion_possible: bool, either: bool = False) -> list:
    fn, key, args, new_key = inp[:4]
    side = 0 if inp[4:] == ("owner",) else 1  # which count the call moves (see above)
    status, value = out
    if fn == "create":
        if status == Status.EXHAUSTED and exhaustion_possible:
            return [state]
        if status != Status.OK:
            return []
        return _issue(state, new_key, (True, _counts(side, 1), _zeros(args[0]), False), value)
    if key[0] == "v":  # a handle value: the resource it names now, if any
        bound = _get(state, key)
        if bound is None:
            return _handle_error(state, Status.INVALID_HANDLE, status, either)
        key = bound
    res = _get(state, key)
    if res is None:
        return _handle_error(state, Status.INVALID_HANDLE, status, either)
    alive, counts, data, read_only = res
    if isinstance(counts, int):  # hand-made states (tests) may give one count
        counts = (0, counts)
    refs = counts[0] + counts[1]
    if not alive:
        return _handle_error(state, Status.STALE_HANDLE, status, either)
    if fn == "acquire":
        if counts[side] == MAX_REFS:
            return [state] if status == Status.OVERFLOW else []
        return [_put(state, key, (True, _counts(side, 1, counts), data, read_only))] if status == Status.OK else []
    if fn == "release":
        if counts[side] == 0:  # the other runtime holds every reference
            return [state] if status == Status.NOT_HELD else []
        if status != Status.OK:
            return []
        return [_put(state, key, (refs > 1, _counts(side, -1, counts), data if refs > 1 else b"", read_only))]
    if fn == "write":
        offset, payload = args
        want = Status.READ_ONLY if read_only else _range(offset, len(payload), _size(data))
        if status != want:
            return []
        if want != Status.OK:
            return [state]
        return [_put(state, key, (True, counts, _write(data, offset, payload), read_only))]
    if fn == "read":
        offset, length = args
        want = _range(offset, length, _size(data))
        if status != want:
            return []
        return [state] if want != Status.OK or value == _read(data, offset, length) else []
    if fn == "info":
        return [state] if status == Status.OK and value == (_size(data), refs, int(read_only)) else []
    if fn == "snapshot":
        if status == Status.EXHAUSTED and exhaustion_possible:
            return [state]
        if status != Status.OK:
            return []
        return _issue(state, new_key, (True, _counts(side, 1), data, True), value)
    raise ValueError(f"unknown function {fn!r}")


def _key_text(key: Any) -> str:
    if key is None:
        return "-"
    if key[0] == "v":
        return f"{key[1]:#x}"
    return f"h{key[1]}" if key[0] == "h" else f"T{key[1]}.l{key[2]}"


def describe_input(inp: tuple) -> str:
    if inp[4:]:
        return f"{inp[4]}: {describe_input(inp[:4])}"
    fn, key, args, new_key = inp
    if fn == "create":
        return f"{_key_text(new_key)} = create {args[0]}"
    if fn == "snapshot":
        return f"{_key_text(new_key)} = snapshot {_key_text(key)}"
    if fn == "write":
        return f'write {_key_text(key)} {args[0]} x"{args[1][:16].hex()}"'
    if fn == "read":
        return f"read {_key_text(key)} {args[0]} {args[1]}"
    return f"{fn} {_key_text(key)}"


def describe_output(out: tuple) -> str:
    status, value = out
    text = Status(status).name if status in Status._value2member_map_ else f"UNKNOWN({status})"
    if status == Status.OK and value is not None:
        if isinstance(value, tuple):
            text += f" size {value[0]} refs {value[1]}" + (" ro" if value[2] else "")
        else:
            text += " " + render_value(value)
    return text


def _describe_state(state: tuple) -> str:
    parts = []
    for key, res in state:
        if key[0] == "v":
            parts.append(f"{_key_text(key)} names {_key_text(res)}")
            continue
        alive, counts, data, read_only = res
        counts = (0, counts) if isinstance(counts, int) else counts
        if alive:
            refs = f"{counts[1]}" if not counts[0] else f"{sum(counts)} (owner {counts[0]}, foreign {counts[1]})"
            shown = render_value(data) if isinstance(data, bytes) else f"{data.size} bytes, {len(data.pages)} page(s) written"
            parts.append(f"{_key_text(key)}: refs {refs} {shown}" + (" ro" if read_only else ""))
        else:
            parts.append(f"{_key_text(key)}: dead")
    return "; ".join(parts) or "(nothing)"


def ownership_model(initial: dict[Any, tuple], roots: dict[Any, Any], exhaustion_possible: bool,
                    policy: HandlePolicy = EXACT, bindings: dict[int, Any] | None = None,
                    native: bool = True) -> Model:  # fmt: skip
    """The model for one run: ``initial`` maps the keys of resources that exist at the
    start (the pool) to their state after setup, ``roots`` maps every key (and every
    ``("v", value)`` node) to its root (partition); ``bindings`` maps the handle values
    of an opaque-handle target to the pool key each names after setup. ``policy``: the
    target's stale rule (INVALID and STALE interchangeable). ``native``: partitions are
    searched in C (:func:`native_search`) where they fit its encoding; False: always in
    Python (the reference the native search is tested against)."""
    starts: dict[Any, list] = {}
    for key, res in initial.items():
        starts.setdefault(roots.get(key, key), []).append((key, res))
    for value, key in (bindings or {}).items():
        node = ("v", value)
        starts.setdefault(roots.get(node, node), []).append((node, key))
    states = {root: tuple(sorted(entries, key=lambda kr: repr(kr[0]))) for root, entries in starts.items()}
    either = policy.invalid_or_stale

    def partition(ops: list[Operation]) -> dict:
        parts: dict = {}
        for op in ops:
            fn, key, _, new_key = op.input[:4]
            parts.setdefault(roots[key if key is not None else new_key], []).append(op)
        return parts

    def init(root: Any) -> tuple:
        return states.get(root, ())

    def search(root: Any, ops: list[Operation]) -> Any:
        return native_search(states.get(root, ()), ops, exhaustion_possible, either) if native else None

    return Model(
        init=init,
        step=lambda s, i, o: _ownership_step(s, i, o, exhaustion_possible, either),
        partition=partition,
        describe_operation=lambda i, o: f"{describe_input(i)} -> {describe_output(o)}",
        describe_state=_describe_state,
        search=search,
    )


#: Contents larger than this (per resource) are searched in Python, not natively.
NATIVE_MAX_CONTENTS = 4096
_FN_CODES = {"create": 0, "acquire": 1, "release": 2, "write": 3, "read": 4, "snapshot": 5, "info": 6}
_U32, _U64 = (1 << 32) - 1, (1 << 64) - 1


class _NativeAdapter:
    """A :class:`~fuzzharness.contract.bindings.NativeSearch` as a
    :class:`~fuzzharness.oracles.linearizability.Search`."""

    _OUTCOMES = {1: "ok", 2: "illegal", 3: "memo", 4: "memo"}

    def __init__(self, search: Any) -> None:
        self._search = search
        self._longest: list[int] | None = None
        self._stuck: int | None = None

    @property
    def memo_bytes(self) -> int:
        return self._search.memo_bytes

    @property
    def iterations(self) -> int:
        return self._search.iterations

    def advance(self, iterations: int, memo_cap: int) -> str | None:
        return self._OUTCOMES.get(self._search.advance(iterations, memo_cap))

    def longest(self) -> list[int]:
        return self._search.longest() if self._longest is None else self._longest

    def stuck(self) -> int | None:
        return self._search.stuck()

    def close(self) -> None:
        self._search.close()


def native_search(initial: tuple, ops: list[Operation], exhaustion_possible: bool, either: bool) -> Any:
    """The native search (:class:`~fuzzharness.contract.bindings.NativeSearch`) of one
    partition of the ownership model starting in ``initial``, or None when the partition
    does not fit the native encoding (sparse or larger than :data:`NATIVE_MAX_CONTENTS`
    contents, values out of the native ranges): it is then searched in Python."""
    from fuzzharness.contract.bindings import SEARCH_OP, SEARCH_RES, NativeSearch

    res_index: dict[Any, int] = {}
    node_index: dict[Any, int] = {}
    resources: list[tuple] = []
    bound: list[int] = []
    blob = bytearray()
    capacity = 0

    def resource(key: Any) -> int:
        index = res_index.get(key)
        if index is None:
            index = res_index[key] = len(resources)
            resources.append((0, 0, 0, 0, 0, 0, 0, 0))
        return index

    def node(key: Any) -> int:
        index = node_index.get(key)
        if index is None:
            index = node_index[key] = len(bound)
            bound.append(-1)
        return index

    for key, res in initial:
        if key[0] == "v":
            bound[node(key)] = resource(res)
            continue
        alive, counts, data, read_only = res
        counts = (0, counts) if isinstance(counts, int) else counts
        if not isinstance(data, bytes) or len(data) > NATIVE_MAX_CONTENTS or max(counts) > _U32:
            return None
        capacity = max(capacity, len(data))
        resources[resource(key)] = (1, int(alive), int(bool(read_only)), 0, counts[0], counts[1], len(data), len(blob))
        blob += data
    records = []
    append = records.append
    pack = SEARCH_OP.pack
    ok = int(Status.OK)
    codes = _FN_CODES
    res_get, node_get = res_index.get, node_index.get
    for op in ops:
        inp = op.input
        key = inp[1]
        status, value = op.output
        code = codes[inp[0]]
        key_kind = key_index = 0
        if key is not None:
            if key[0] == "v":
                key_kind, key_index = 2, node_get(key)
                if key_index is None:
                    key_index = node(key)
            else:
                key_kind, key_index = 1, res_get(key)
                if key_index is None:
                    key_index = resource(key)
        new_index = issued = -1
        a = b = data = refs = read_only = has_value = 0
        if code == 4:  # read
            a, b = inp[2]
            if status == ok and value.__class__ is bytes and len(value) == b:
                has_value, data = 1, len(blob)
                blob += value
        elif code == 6:  # info
            if value.__class__ is tuple:
                a, refs, read_only = value
                if refs > _U32:
                    return None
        elif code == 3:  # write
            offset, payload = inp[2]
            a, b, data = offset, len(payload), len(blob)
            blob += payload
        elif code == 0 or code == 5:
            new_index = resource(inp[3]) if inp[3] is not None else -1
            issued = node(("v", value)) if value is not None else -1
            if code == 0:
                a = inp[2][0]
                if a > NATIVE_MAX_CONTENTS and status == ok:
                    return None
                capacity = max(capacity, min(a, NATIVE_MAX_CONTENTS))
        try:
            append(pack(code, 0 if len(inp) > 4 and inp[4] == "owner" else 1, key_kind, has_value, status, key_index,
                        new_index, issued, refs, read_only, 0, op.call, op.ret, a, b, data))  # fmt: skip
        except _struct_error:  # a value out of the native ranges (negative times, huge offsets)
            return None
    packed = b"".join(records)
    config = {"ok": Status.OK, "invalid": Status.INVALID_HANDLE, "stale": Status.STALE_HANDLE,
              "exhausted": Status.EXHAUSTED, "overflow": Status.OVERFLOW, "not_held": Status.NOT_HELD,
              "bounds": Status.BOUNDS, "read_only": Status.READ_ONLY, "max_refs": MAX_REFS,
              "exhaustion_possible": int(exhaustion_possible), "either": int(either)}  # fmt: skip
    res_packed = b"".join(SEARCH_RES.pack(*r) for r in resources)
    try:
        search = NativeSearch(config, bytes(packed), len(ops), res_packed, len(resources), bound, bytes(blob), capacity)
    except MemoryError:
        return None
    return _NativeAdapter(search)


#: The model for hand-made histories over pool handles that start alive with one
#: reference and 4 zero bytes (tests and documentation); :func:`check_run` builds
#: its own with the real states after setup.
OWNERSHIP = ownership_model(
    {("h", k): (True, (0, 1), bytes(4), False) for k in range(8)},
    {("h", k): ("h", k) for k in range(8)},
    exhaustion_possible=False,
)


# --------------------------------------------------------------------------- checking a run


def _observation(op: Any, rec: Any) -> Observation:
    status = rec.status
    value = None
    if status == Status.OK:
        if isinstance(op, (Create, Snapshot)):
            value = rec.out
        elif isinstance(op, Read):
            value = rec.data
        elif isinstance(op, Info):
            value = ResourceInfo(rec.out, rec.refs, bool(rec.read_only))
    handle = rec.handle if getattr(op, "handle", None) is not None else None
    return Observation(status, value, rec.message, handle)


def _message_problem(function: str, rec: Any, with_handle: bool) -> str | None:
    message = rec.message or ""
    if not message.startswith(function + ":"):
        return f"expected a message starting {function + ':'!r}, got {message!r}"
    if with_handle:
        import re

        named = {int(h, 16) for h in re.findall(r"0[xX]([0-9a-fA-F]{1,16})\b", message)}
        if rec.handle not in named:
            return f"expected a message naming handle {rec.handle:#x}, got {message!r}"
    return None


def _setup_model(
    program: ConcurrentProgram, run: ConcurrentRun, problems: list[Problem], pair: bool = False,
    policy: HandlePolicy = EXACT,
) -> tuple[OwnershipModel, list[int]]:  # fmt: skip
    """Check the setup against the sequential model, which predicts exact handle values;
    returns the model after it and the pool (the model's handles)."""
    cfg = program.config
    seq = Program(cfg, program.setup)
    steps = steps_of(seq)[1 : 1 + len(program.setup)]
    model = OwnershipModel(cfg.capacity, cfg.strategy == "deferred", cfg.max_resource_bytes, cfg.max_total_bytes,
                           pair=pair)  # fmt: skip
    pool_model: list[int] = []
    for step, op, rec in zip(steps, program.setup, run.setup):
        operand = getattr(op, "handle", None)
        handle = None if operand is None else pool_model[operand.index] if isinstance(operand, Ref) else None
        via = getattr(op, "via", None)
        if isinstance(op, Create):
            want = model.create(op.size, via)
        elif handle is None:
            raise ValueError("setup ops name pool handles only (hK)")
        elif isinstance(op, Write):
            want = model.write(handle, op.offset, op.data, via)
        elif isinstance(op, Read):
            want = model.read(handle, op.offset, op.length, via)
        else:
            want = getattr(model, op_name(op))(handle, via)
        status = want[0]
        if policy.invalid_or_stale and status in _HANDLE_ERRORS and rec.status in _HANDLE_ERRORS:
            status = rec.status  # declared indistinguishable
        expected = Observation(status, want[1] if want[0] == Status.OK else None)
        got = _observation(op, rec)
        problem = observation_problem(step, expected, got)
        if problem is not None:
            aspect, exp, act = problem
            kind = "panic" if rec.status == Status.PANIC else "divergence"
            problems.append(Problem(kind, step.function, aspect, f"setup `{step.label}`: {aspect} expected {exp}, got {act}"))
        if op.produces_handle:
            pool_model.append(want[1] if want[0] == Status.OK else 0)
    return model, pool_model


def _opaque_setup(
    program: ConcurrentProgram, run: ConcurrentRun, problems: list[Problem], pair: bool, policy: HandlePolicy
) -> tuple[OwnershipModel, list[int]]:
    """Check the setup of an opaque-handle target: the model replayed along the target's
    own values (:class:`~fuzzharness.oracles.opaque.ReplayBackend`: each value is mapped
    to the resource it was issued for; non-zero, distinct among live, ABA and the stale
    rule by ``policy``). Returns the model after it and the pool in the model's values."""
    cfg = program.config
    steps = steps_of(Program(cfg, program.setup))[: 1 + len(program.setup)]
    trace = [Observation(run.init_status)] + [_observation(op, rec) for op, rec in zip(program.setup, run.setup)]
    replay = ReplayBackend(trace, steps, policy, pair, observation_problem, render_value)
    strategy = Strategy.IMMEDIATE if cfg.strategy == "immediate" else Strategy.EPOCH  # the model's class only
    replay.init(cfg.capacity, strategy, cfg.max_resource_bytes, cfg.max_total_bytes)
    values: list[int] = []  # the target's produced handles, as the worker resolved operands
    pool_model: list[int] = []
    for position, op in enumerate(program.setup[: len(run.setup)]):
        operand = getattr(op, "handle", None)
        handle = None if operand is None else resolve(operand, values)
        via = {"via": op.via} if getattr(op, "via", None) is not None else {}
        if isinstance(op, Create):
            status, value = replay.create(op.size, **via)
        elif handle is None:
            raise ValueError("setup ops name pool handles only (hK)")
        elif isinstance(op, Write):
            status, value = replay.write(handle, op.offset, op.data, **via)
        elif isinstance(op, Read):
            status, value = replay.read(handle, op.offset, op.length, **via)
        else:
            status, value = getattr(replay, op_name(op))(handle, **via)
        if op.produces_handle:
            want = replay.expected[1 + position]
            values.append(value if status == Status.OK else 0)
            pool_model.append(want.value if want.status == Status.OK and status == Status.OK else 0)
    found = replay.problem
    if found is not None:
        step = steps[found.step]
        kind = "panic" if found.actual_status == Status.PANIC else found.kind
        problems.append(Problem(kind, step.function, found.aspect,
                                f"setup `{step.label}`: {found.aspect} expected {found.expected}, got {found.actual}"))  # fmt: skip
    assert replay.model.model is not None  # init ran
    return replay.model.model, pool_model


class _Labels(Mapping):
    """Operation id -> readable op text ("T1 #4 read h0 0 8"), each formatted when first
    read: a history has ~10^4 operations and only a finding's few are ever shown."""

    def __init__(self) -> None:
        self._texts: dict[int, Any] = {}

    def later(self, op_id: int, thread: int, index: int, op: Any, produced: int) -> None:
        self._texts[op_id] = (thread, index, op, produced)

    def __setitem__(self, op_id: int, text: str) -> None:
        self._texts[op_id] = text

    def __getitem__(self, op_id: int) -> str:
        text = self._texts[op_id]
        if text.__class__ is tuple:
            thread, index, op, produced = text
            text = self._texts[op_id] = f"T{thread} #{index} {thread_op_text(op, produced)}"
        return text

    def __iter__(self) -> Iterator[int]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


class _Components:
    """Union-find over partition nodes; a union keeps the root of its second argument."""

    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, node: Any) -> Any:
        root = self.parent.setdefault(node, node)
        while root != self.parent[root]:
            root = self.parent[root]
        while node != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, node: Any, into: Any) -> None:
        a, b = self.find(node), self.find(into)
        if a != b:
            self.parent[a] = b

    def roots(self) -> dict[Any, Any]:
        return {node: self.find(node) for node in list(self.parent)}


def _handle_value(operand: Any, pool: list[int], produced: list[int]) -> int:
    """The value the runner passed for a thread's operand (see ``native_threads``):
    ``hK`` the pool's, ``lK`` this thread's (0 for a failed or missing producer),
    ``hK^mask`` the pool's with bits flipped, a raw value itself."""
    if isinstance(operand, Raw):
        return operand.value
    if isinstance(operand, Local):
        return produced[operand.index] if operand.index < len(produced) else 0
    base = pool[operand.index]
    return base ^ operand.mask if isinstance(operand, Tweak) else base


def check_run(program: ConcurrentProgram, run: ConcurrentRun, timeout: float | None = 10.0,
              pair: bool = False, policy: HandlePolicy = EXACT, memo_bytes: int = DEFAULT_MEMO_BYTES,
              native: bool = True) -> RunCheck:  # fmt: skip
    """Every check of one concurrent run (see the module docstring). ``pair``: the run
    was on a cross-runtime pair (per-runtime counts, each op through its ``via``).
    ``policy``: what the target promises about its handle values
    (:mod:`fuzzharness.contract.handles`): exact values are predicted by the model;
    opaque ones are learned from the run, each op's value names whatever resource the
    target issued it for, and reissued values follow the declared reuse rule.
    ``memo_bytes``: the linearizability search's memo bound (hit: ``unknown``);
    ``native``: search in C where a partition fits (False: in Python only)."""
    problems: list[Problem] = []
    cfg = program.config
    opaque = policy.opaque
    if run.init_status != Status.OK:
        problems.append(Problem("divergence", "fh_init", "status", f"init returned {run.init_status}"))
        return RunCheck(None, problems, [], (0, 0), {})
    setup = _opaque_setup if opaque else _setup_model
    model, pool = setup(program, run, problems, pair, policy)
    if problems:
        return RunCheck(None, problems, [], (0, 0), {})
    # The target's own values: the pool as the worker saw it, and each thread's producers.
    pool_values = [rec.out if rec.status == Status.OK else 0
                   for op, rec in zip(program.setup, run.setup) if op.produces_handle]  # fmt: skip
    produced = [[rec.out if rec.status == Status.OK else 0 for op, rec in zip(ops, recs) if op.produces_handle]
                for ops, recs in zip(program.threads, run.threads)]  # fmt: skip
    value_of: dict[Any, int] = {("h", k): v for k, v in enumerate(pool_values)}
    value_of.update({("l", t, j): v for t, values in enumerate(produced) for j, v in enumerate(values)})
    # Exact values name one resource each for the whole session: a forged value equal to
    # one of them is that resource (any other was never issued).
    key_of_value = {v: key for key, v in value_of.items() if v} if not opaque else {}
    ever_issued = {v for v in value_of.values() if v}
    keys_by_value: dict[int, list] = {}
    for key, v in value_of.items():
        keys_by_value.setdefault(v, []).append(key)

    def origin_size(key: Any) -> int:
        """The size a snapshot of ``key`` can copy (a value: the largest resource issued it)."""
        if key[0] != "v":
            return sizes.get(key, 0)
        owners = keys_by_value.get(key[1], []) if key[1] else []
        return max((sizes.get(k, cfg.max_resource_bytes) for k in owners), default=0)

    initial: dict = {}
    bindings: dict[int, Any] = {}
    components = _Components()
    sizes: dict = {}
    for k, handle in enumerate(pool):
        key = ("h", k)
        components.find(key)
        if opaque and pool_values[k]:
            bindings[pool_values[k]] = key  # a later pool key issued the same value: it names that one
            components.union(("v", pool_values[k]), key)
        if not handle:  # the setup's create/snapshot failed: hK is 0, INVALID_HANDLE
            sizes[key] = 0
            continue
        res = model.live.get(handle & 0xFFFF_FFFF) if handle else None
        alive = res is not None and (model.generations[handle & 0xFFFF_FFFF] == handle >> 32)
        counts = (res.counts["owner"], res.counts["foreign"]) if alive else (0, 0)
        initial[key] = (True, counts, _contents(res.data), res.read_only) if alive else (False, (0, 0), b"", False)
        sizes[key] = res.data.size if res is not None else 0

    history: list[Operation] = []
    labels = _Labels()
    aliased: set[int] = set()  # ops reported as handle_alias: left out of the linearizability check
    issued: list[tuple[int, str]] = [(h, f"setup h{k}") for k, h in enumerate(pool_values if opaque else pool) if h]
    producers = len(pool)
    worst_bytes = sum(sizes.values())
    for t, (ops, recs) in enumerate(zip(program.threads, run.threads)):
        local = 0
        for i, (op, rec) in enumerate(zip(ops, recs)):
            fn = op_name(op)
            operand = getattr(op, "handle", None)
            key = None
            forged = isinstance(operand, (Raw, Tweak))
            value = None if operand is None else _handle_value(operand, pool_values, produced[t])
            if value is not None and opaque:
                key = ("v", value)
            elif isinstance(operand, Ref):
                key = ("h", operand.index)
            elif isinstance(operand, Local):
                key = ("l", t, operand.index)
            elif forged:
                key = key_of_value.get(value, ("v", value))
            if key is not None:
                components.find(key)
            new_key = None
            out_value = None
            if op.produces_handle:
                new_key = ("l", t, local)
                components.find(new_key)
                if key is not None:  # a snapshot belongs to its origin's partition
                    components.union(new_key, key)
                sizes[new_key] = op.size if isinstance(op, Create) else origin_size(key)
                worst_bytes += sizes[new_key]
                producers += 1
                local += 1
                if rec.status == Status.OK:
                    issued.append((rec.out, f"T{t} #{i} {thread_op_text(op, local - 1)}"))
                    if opaque:
                        out_value = rec.out
                        components.union(("v", rec.out), new_key)
            if isinstance(op, Create):
                args: tuple = (op.size,)
            elif isinstance(op, Write):
                args = (op.offset, op.data)
            elif isinstance(op, Read):
                args = (op.offset, op.length)
            else:
                args = ()
            if rec.status == Status.OK:
                result = rec.data if isinstance(op, Read) else (rec.out, rec.refs, rec.read_only) if isinstance(op, Info) else out_value
            else:
                result = None
            op_id = len(history)
            inp = (fn, key, args, new_key, op.via or "foreign") if pair else (fn, key, args, new_key)
            history.append(Operation(t, inp, (rec.status, result), rec.t_invoke, rec.t_return, op_id))
            labels.later(op_id, t, i, op, local - 1 if op.produces_handle else local)
            if rec.status == Status.PANIC:
                problems.append(Problem("panic", _FUNCTION[fn], "status", f"T{t} `{labels[op_id]}` returned PANIC"))
            elif rec.status == -1:
                raise RuntimeError(f"the native runner refused op {labels[op_id]} (a harness bug)")
            elif rec.status != Status.OK:
                problem = _message_problem(_FUNCTION[fn], rec, with_handle=key is not None)
                if problem:
                    problems.append(Problem("divergence", _FUNCTION[fn], "message", f"T{t} `{labels[op_id]}`: {problem}"))
            elif value is not None and (forged or opaque) and value not in ever_issued:
                aliased.add(op_id)
                problems.append(Problem("handle_alias", _FUNCTION[fn], "status",
                                        f"`{labels[op_id]}`: value {value:#x} was never issued by the target "
                                        f"in this session (forged or a failed producer's 0), yet the call returned OK"))  # fmt: skip
    # Epilogue infos: one per key, on the epilogue "thread" (after every join); an opaque
    # target's infos name values (two keys may share one, reissued after a death).
    n_threads = len(program.threads)
    epilogue_infos = run.epilogue[: len(run.epilogue_keys)]
    alive: dict[Any, int] = {}
    for key, rec in zip(run.epilogue_keys, epilogue_infos):
        node = ("v", value_of.get(key, 0)) if opaque else key
        components.find(node)
        op_id = len(history)
        value = (rec.out, rec.refs, rec.read_only) if rec.status == Status.OK else None
        history.append(Operation(EPILOGUE_CLIENT, ("info", node, (), None), (rec.status, value), rec.t_invoke, rec.t_return, op_id))
        labels[op_id] = f"epilogue info {_key_text(key)}"
        if rec.status == Status.OK:
            alive[node] = rec.out

    capacity_ok = producers + 0 <= cfg.capacity
    bytes_ok = worst_bytes <= cfg.max_total_bytes and max(sizes.values(), default=0) <= cfg.max_resource_bytes
    exhaustion_possible = not (capacity_ok and bytes_ok)
    roots = components.roots()
    # An op that reached a resource through a value never issued is a finding of its own;
    # what it did there is unknowable, so the rest is checked without it.
    checked = [op for op in history if op.id not in aliased] if aliased else history
    linearizable = ownership_model(initial, roots, exhaustion_possible, policy, bindings, native)
    verdict = check(linearizable, checked, timeout, memo_bytes)

    problems += _issued_problems(issued, cfg.capacity, policy)
    problems += _epilogue_problems(program, run, issued, list(alive.items()))
    per_resource = overlap_by_resource(history, roots, n_threads)
    overlap = (sum(o for o, _ in per_resource.values()), sum(t for _, t in per_resource.values()))
    return RunCheck(verdict, problems, history, overlap, labels, per_resource, in_call_time(run.threads))


def in_call_time(threads: list) -> tuple[int, int]:
    """``(inside, life)`` of a run's threads phase: ns the threads spent between an op's
    invoke and return stamps, and threads x the phase's wall time (first invoke to last
    return of any thread). Their ratio is the share of time threads were inside calls."""
    recs = [rec for recs in threads for rec in recs]
    if not recs:
        return 0, 0
    inside = sum(max(rec.t_return - rec.t_invoke, 0) for rec in recs)
    wall = max(rec.t_return for rec in recs) - min(rec.t_invoke for rec in recs)
    return inside, max(wall, 0) * len(threads)


def _issued_problems(issued: list[tuple[int, str]], capacity: int, policy: HandlePolicy) -> list[Problem]:
    """Handles issued in the run. Exact: distinct and well formed (generation >= 1, slot
    below capacity). Opaque: non-zero, and, unless ``reuse = "after-death"``, never
    issued twice (ABA); whether a reissued value's earlier resource was dead by then is
    the linearizability model's business (a value is distinct among live ones)."""
    problems = []
    seen: dict[int, str] = {}
    for value, where in issued:
        function = "fh_snapshot" if " = snapshot " in where else "fh_create"
        if not policy.opaque:
            if value >> 32 == 0 or (value & 0xFFFF_FFFF) >= capacity:
                problems.append(Problem("divergence", "fh_create", "value", f"{where} returned malformed handle {value:#x}"))
            elif value in seen:
                problems.append(Problem("divergence", "fh_create", "value",
                                        f"{where} returned handle {value:#x}, already issued by {seen[value]} (ABA)"))  # fmt: skip
        elif value == 0:
            problems.append(Problem("divergence", function, "value", f"{where} returned OK with handle 0"))
        elif value in seen and not policy.reuse_after_death:
            problems.append(Problem("aba", function, "value",
                                    f"{where} returned handle {value:#x}, already issued by {seen[value]} "
                                    f"(ABA: the target declares reuse = \"never\")"))  # fmt: skip
        seen.setdefault(value, where)
    return problems


def _epilogue_problems(program, run, issued, alive_keys) -> list[Problem]:
    problems = []
    deferred = program.config.strategy == "deferred"
    tail = run.epilogue[len(run.epilogue_keys) :]
    if len(tail) < 3:
        return [Problem("divergence", "fh_quiesce", "missing-step", "the epilogue did not complete")]
    stats1, quiesce, stats2 = tail[:3]
    live = len(alive_keys)
    live_bytes = sum(size for _, size in alive_keys)
    created = len(issued)
    dead = created - live

    def bad(function: str, aspect: str, text: str) -> None:
        kind = "panic" if aspect == "PANIC" else "divergence"
        problems.append(Problem(kind, function, aspect, f"epilogue {text}"))

    for label, rec, settled in (("stats before quiesce", stats1, False), ("stats after quiesce", stats2, True)):
        if rec.status != Status.OK:
            bad("fh_get_stats", "status", f"{label}: status {rec.status}")
            continue
        s = StatsValue(*rec.stats)
        want = f"live {live}/{live_bytes}B created {created} reclaimed+pending {dead}"
        ok = (s.live_resources, s.live_bytes, s.created) == (live, live_bytes, created)
        ok = ok and s.reclaimed + s.pending_resources == dead and 0 <= s.pending_resources <= dead
        if settled or not deferred:
            ok = ok and s.pending_resources == 0 and s.pending_bytes == 0
        if not ok:
            extra = " pending 0" if settled or not deferred else " (pending may be anything up to the dead count)"
            bad("fh_get_stats", "value", f"{label}: expected {want}{extra}, got {s}")
    if quiesce.status != Status.OK:
        bad("fh_quiesce", "status", f"quiesce returned {quiesce.status} (expected OK)")
    status, report = run.shutdown or (None, None)
    if status != Status.OK:
        bad("fh_shutdown", "status", f"shutdown returned {status}")
    elif (report.live_resources, report.live_bytes, report.created) != (live, live_bytes, created):
        bad("fh_shutdown", "value", f"shutdown reported {report}, expected live {live}/{live_bytes}B created {created}")
    return problems


def _resource_label(root: Any) -> str:
    return f"h{root[1]}" if root[0] == "h" else "own" if root[0] == "l" else "forged"


def overlap_fraction(history: list[Operation], roots: dict, n_threads: int) -> tuple[int, int]:
    """``(overlapping, total)`` over thread ops: an op overlaps when its [invoke, return]
    interval intersects an op of ANOTHER thread on the same root resource."""
    per = overlap_by_resource(history, roots, n_threads)
    return sum(o for o, _ in per.values()), sum(t for _, t in per.values())


def overlap_by_resource(history: list[Operation], roots: dict, n_threads: int) -> dict[str, tuple[int, int]]:
    """:func:`overlap_fraction` per resource: pool resources as ``hK``, every resource a
    thread created itself (with its snapshots) together as ``own``, ops on values that
    named no resource as ``forged``."""
    import numpy as np

    by_root: dict = {}
    for op in history:
        if op.client >= n_threads:
            continue
        fn, key, _, new_key = op.input[:4]
        by_root.setdefault(roots[key if key is not None else new_key], []).append(op)
    out: dict[str, tuple[int, int]] = {}
    for root, ops in by_root.items():
        clients = np.fromiter((op.client for op in ops), dtype=np.int64, count=len(ops))
        calls = np.fromiter((op.call for op in ops), dtype=np.uint64, count=len(ops))
        rets = np.fromiter((op.ret for op in ops), dtype=np.uint64, count=len(ops))
        hit = np.zeros(len(ops), dtype=bool)
        for client in np.unique(clients):
            mine = clients == client
            order = np.argsort(calls[mine], kind="stable")
            c_calls, c_rets = calls[mine][order], rets[mine][order]
            # An op of another thread overlaps one of this thread's when the next of them
            # (by call) starts before it returns, or the previous one returns after it starts.
            j = np.searchsorted(c_calls, calls, side="left")
            after = (j < len(c_calls)) & (c_calls[np.minimum(j, len(c_calls) - 1)] <= rets)
            before = (j > 0) & (c_rets[np.maximum(j - 1, 0)] >= calls)
            hit |= ~mine & (after | before)
        label = _resource_label(root)
        before_total = out.get(label, (0, 0))
        out[label] = (before_total[0] + int(hit.sum()), before_total[1] + len(ops))
    return out
