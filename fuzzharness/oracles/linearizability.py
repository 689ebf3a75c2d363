"""Linearizability checking of recorded concurrent histories, generic over models.

A history is a list of :class:`Operation` (a client, an input, an output, and
the invoke/return times of the call). It is *linearizable* for a model when
every operation can be given a point between its invoke and its return such
that applying the operations in that order to the sequential model yields
exactly the recorded outputs.

The algorithm is Wing & Gong's search with Lowe's memoization, as in Porcupine
(``checker.go``): the call and return events sit in one time-ordered linked list;
the search repeatedly linearizes a pending call whose model step accepts its
recorded output ("lifting" it out of the list), and backtracks when it reaches
a return whose call is still pending. A cache of ``(set of linearized
operations, model state)`` pairs cuts every configuration that was explored
before. Histories are split into independent partitions first (P-compositionality:
a history is linearizable iff each partition is), which keeps the search small.

Models may be *nondeterministic* (``step`` returns every possible next state):
the checker works on sets of states (the powerset construction), so "the
memory was freed now, or will be later" is one step with two outcomes.

A model may also offer a *native search* for a partition (``Model.search``: the
ownership model has one in C, :mod:`fuzzharness.oracles.concurrent_model`); a
partition it cannot encode is searched here, in Python. Either way:

* partitions are searched **interleaved**, a slice of steps each in turn, the
  smallest first: an illegal partition is reported as soon as its search ends,
  even when another partition is hard (its search is then stopped, and says so);
* the memo is **bounded** (``memo_bytes``, default :data:`DEFAULT_MEMO_BYTES`, shared by
  the partitions being searched): a search that would pass the bound stops, and its
  partition is ``unknown``;
* a time limit that runs out, or the memo bound, is :attr:`CheckResult.unknown`,
  never ``ok``; :attr:`Verdict.undecided` lists the partitions without a verdict,
  each with its reason. For an illegal partition the result names the longest
  linearizable prefix found and the operation that could not be placed after it.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Iterator, Protocol

__all__ = ["CheckResult", "Operation", "Model", "PartitionResult", "Search", "Verdict", "check", "check_operations",
           "DEFAULT_MEMO_BYTES"]  # fmt: skip

#: Memo bound of a check, in bytes, shared by its partitions (1 GiB).
DEFAULT_MEMO_BYTES = 1 << 30
#: Search steps per partition per turn of the interleaving.
SLICE = 20_000


class CheckResult(enum.Enum):
    """The outcome of a check. ``unknown`` is a time or memory limit: never read it as a pass."""

    ok = "linearizable"
    illegal = "not linearizable"
    unknown = "unknown: the search did not finish (time limit, memo bound, or stopped)"


@dataclass(frozen=True)
class Operation:
    """One completed call: ``call`` and ``ret`` are times on one clock (``call <= ret``)."""

    client: int
    input: Any
    output: Any
    call: int
    ret: int
    id: int = 0  #: the caller's own id for the operation, kept in results


class Search(Protocol):
    """A native search of one partition (what ``Model.search`` returns).

    ``advance(iterations, memo_cap)`` runs at most ``iterations`` steps with the memo
    bounded by ``memo_cap`` bytes and returns None while running, else ``"ok"``,
    ``"illegal"`` or ``"memo"`` (the bound was hit); ``longest()`` and ``stuck()`` are
    the same as :class:`PartitionResult`'s; ``close()`` frees its memory."""

    memo_bytes: int

    def advance(self, iterations: int, memo_cap: int) -> str | None: ...
    def longest(self) -> list[int]: ...
    def stuck(self) -> int | None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Model:
    """A sequential specification, as a few functions (Porcupine's ``Model``).

    * ``init(partition_key) -> state``: the initial state of one partition.
      States must be hashable and compare by value (tuples, frozensets, ...).
    * ``step(state, input, output) -> iterable of states``: every state the model
      can be in after applying ``input`` in ``state`` *and* producing exactly
      ``output``; empty when the output is impossible. Must be a pure function.
    * ``partition(operations) -> {key: operations}``: independent sub-histories
      (default: one partition, key None). Operations of different partitions must
      never constrain each other.
    * ``search(partition_key, operations) -> Search | None``: optional, a faster search
      of one partition that must give the same verdict as ``step`` would (None: this
      partition is searched in Python).
    * ``describe_operation(input, output) -> str`` and ``describe_state(state) -> str``:
      for people reading a result.
    """

    init: Callable[[Hashable], Hashable]
    step: Callable[[Any, Any, Any], Iterable[Hashable]]
    partition: Callable[[list[Operation]], dict[Hashable, list[Operation]]] | None = None
    describe_operation: Callable[[Any, Any], str] = lambda i, o: f"{i!r} -> {o!r}"
    describe_state: Callable[[Any], str] = repr
    search: Callable[[Hashable, list[Operation]], Search | None] | None = None


@dataclass
class PartitionResult:
    key: Hashable
    result: CheckResult
    operations: list[Operation]
    #: indices into ``operations``, in linearization order: the whole order when ok,
    #: the longest linearizable prefix found when illegal (or unknown)
    longest: list[int] = field(default_factory=list)
    #: index into ``operations`` of the op that could not be placed after ``longest``
    stuck: int | None = None
    #: possible model states after ``longest`` (illegal and unknown partitions; an ok
    #: partition searched natively leaves it empty)
    states: frozenset = frozenset()
    #: why an unknown partition has no verdict ("time limit", "memo bound ...", "stopped: ...")
    reason: str = ""
    #: search steps taken, and the memo's peak size in bytes
    iterations: int = 0
    memo_bytes: int = 0
    native: bool = False


@dataclass
class Verdict:
    result: CheckResult
    partitions: list[PartitionResult]
    seconds: float = 0.0

    @property
    def illegal(self) -> list[PartitionResult]:
        return [p for p in self.partitions if p.result is CheckResult.illegal]

    @property
    def undecided(self) -> list[PartitionResult]:
        """Partitions without a verdict (time limit, memo bound, or stopped after an
        illegal one), each with its ``reason``."""
        return [p for p in self.partitions if p.result is CheckResult.unknown]


def check(model: Model, history: list[Operation], timeout: float | None = None,
          memo_bytes: int = DEFAULT_MEMO_BYTES) -> Verdict:  # fmt: skip
    """Check a whole history, its partitions interleaved (see the module docstring).
    ``illegal`` wins over ``unknown``, which wins over ``ok``; the first partition found
    illegal stops the others (they are then ``unknown``, reason "stopped: ...")."""
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    parts = model.partition(history) if model.partition else {None: list(history)}
    order = sorted(parts.items(), key=lambda kv: len(kv[1]))
    running: list[tuple[Hashable, list[Operation], Any]] = []
    results: dict[int, PartitionResult] = {}
    for key, ops in order:
        search = model.search(key, ops) if model.search and ops else None
        running.append((key, ops, search if search is not None else _PythonSearch(model, ops, key)))
    live = dict(enumerate(running))
    illegal_found: PartitionResult | None = None
    while live and illegal_found is None:
        for index in list(live):
            key, ops, search = live[index]
            others = sum(s.memo_bytes for i, (_, _, s) in live.items() if i != index)
            outcome = search.advance(SLICE, memo_bytes - others)
            if outcome is not None:
                results[index] = _finish(model, key, ops, search, outcome, memo_bytes)
                del live[index]
                if outcome == "illegal":
                    illegal_found = results[index]
                    break
            if deadline is not None and time.monotonic() > deadline:
                break
        if deadline is not None and time.monotonic() > deadline:
            break
    reason = f"stopped: partition {illegal_found.key!r} is illegal" if illegal_found else "time limit"
    for index, (key, ops, search) in live.items():
        results[index] = _finish(model, key, ops, search, "stopped", memo_bytes, reason)
    partitions = [results[i] for i in range(len(running))]
    if illegal_found is not None:
        overall = CheckResult.illegal
    elif any(p.result is CheckResult.unknown for p in partitions):
        overall = CheckResult.unknown
    else:
        overall = CheckResult.ok
    return Verdict(overall, partitions, time.monotonic() - start)


def _finish(model: Model, key: Hashable, ops: list[Operation], search: Any, outcome: str, memo_cap: int,
            reason: str = "") -> PartitionResult:  # fmt: skip
    """The result of one partition's finished (or stopped) search; frees the search."""
    native = not isinstance(search, _PythonSearch)
    longest, stuck = search.longest(), search.stuck()
    peak, iterations = search.memo_bytes, getattr(search, "iterations", 0)
    search.close()
    if outcome == "ok":
        states = search.states if not native else frozenset()
        return PartitionResult(key, CheckResult.ok, ops, longest, None, states, "", iterations, peak, native)
    if outcome == "memo":
        reason = f"memo bound: the search needed more than {memo_cap:,} bytes"
    states = search.states if not native else _replay(model, key, ops, longest)
    result = CheckResult.illegal if outcome == "illegal" else CheckResult.unknown
    return PartitionResult(key, result, ops, longest, stuck, states, reason, iterations, peak, native)


def _replay(model: Model, key: Hashable, ops: list[Operation], order: list[int]) -> frozenset:
    """The model states after ``order`` (a native search keeps no Python states)."""
    state = frozenset([model.init(key)])
    for i in order:
        op = ops[i]
        state = frozenset(s2 for s in state for s2 in model.step(s, op.input, op.output))
    return state


def check_operations(
    model: Model, ops: list[Operation], key: Hashable = None, deadline: float | None = None,
    memo_bytes: int = DEFAULT_MEMO_BYTES,
) -> PartitionResult:  # fmt: skip
    """Check one partition (no partitioning applied, always the Python search).
    ``deadline`` is a time.monotonic() value."""
    search = _PythonSearch(model, ops, key)
    while True:
        outcome = search.advance(SLICE, memo_bytes)
        if outcome is not None:
            return _finish(model, key, ops, search, outcome, memo_bytes)
        if deadline is not None and time.monotonic() > deadline:
            return _finish(model, key, ops, search, "stopped", memo_bytes, "time limit")


class _PythonSearch:
    """The search in Python (any model), resumable in slices like a native one. Its
    memo size is an estimate: per entry, the linearized set's bits plus ~200 bytes of
    tuple, frozenset and state references."""

    def __init__(self, model: Model, ops: list[Operation], key: Hashable) -> None:
        self.ops = ops
        self.memo_bytes = 0
        self.iterations = 0
        self.states: frozenset = frozenset([model.init(key)])
        self._longest: list[int] = []
        self._stuck: int | None = None
        self._cap = DEFAULT_MEMO_BYTES
        self._steps = self._run(model, ops, key)

    def advance(self, iterations: int, memo_cap: int) -> str | None:
        self._cap = memo_cap
        self._budget = iterations
        return next(self._steps, None)

    def longest(self) -> list[int]:
        return self._longest

    def stuck(self) -> int | None:
        return self._stuck

    def close(self) -> None:
        self._steps.close()

    def _run(self, model: Model, ops: list[Operation], key: Hashable) -> Iterator[str | None]:
        n = len(ops)
        init = self.states
        if n == 0:
            yield "ok"
            return
        # Entries 1..2n; 0 is the head sentinel; -1 is the end. Calls sort before
        # returns at equal times: operations that touch at one instant count as concurrent.
        events = sorted(
            [(op.call, 0, i) for i, op in enumerate(ops)] + [(op.ret, 1, i) for i, op in enumerate(ops)]
        )
        size = 2 * n + 1
        nxt = [-1] * size
        prv = [-1] * size
        is_call = [False] * size
        op_of = [0] * size
        match = [0] * size
        call_entry = [0] * n
        for position, (_, is_ret, i) in enumerate(events, 1):
            op_of[position] = i
            if is_ret:
                match[call_entry[i]] = position
            else:
                is_call[position] = True
                call_entry[i] = position
        for e in range(size):
            nxt[e] = e + 1 if e + 1 < size else -1
            prv[e] = e - 1

        def lift(e: int) -> None:
            for x in (e, match[e]):
                nxt[prv[x]] = nxt[x]
                if nxt[x] != -1:
                    prv[nxt[x]] = prv[x]

        def unlift(e: int) -> None:
            for x in (match[e], e):
                nxt[prv[x]] = x
                if nxt[x] != -1:
                    prv[nxt[x]] = x

        step = model.step
        state: frozenset = init
        linearized = 0
        stack: list[tuple[int, frozenset]] = []
        cache: set[tuple[int, frozenset]] = set()
        entry_bytes = 200 + n // 8
        best_len = 0
        self.states = init
        entry = nxt[0]
        budget = self._budget
        while nxt[0] != -1:
            self.iterations += 1
            budget -= 1
            if budget <= 0:
                yield None
                budget = self._budget
            if is_call[entry]:
                i = op_of[entry]
                op = ops[i]
                new_state = frozenset(s2 for s in state for s2 in step(s, op.input, op.output))
                if new_state:
                    new_linearized = linearized | (1 << i)
                    memo = (new_linearized, new_state)
                    if memo not in cache:
                        if (len(cache) + 1) * entry_bytes > self._cap:
                            yield "memo"
                            return
                        cache.add(memo)
                        self.memo_bytes = len(cache) * entry_bytes
                        stack.append((entry, state))
                        state, linearized = new_state, new_linearized
                        lift(entry)
                        if len(stack) > best_len:
                            best_len = len(stack)
                            self._longest = [op_of[e] for e, _ in stack]
                            self.states = state
                            self._stuck = None
                        entry = nxt[0]
                        continue
                entry = nxt[entry]
            else:
                # A return whose call is not linearized yet: nothing after it can go first.
                if len(stack) == best_len and self._stuck is None:
                    self._stuck = op_of[entry]
                if not stack:
                    yield "illegal"
                    return
                entry, state = stack.pop()
                linearized &= ~(1 << op_of[entry])
                unlift(entry)
                entry = nxt[entry]
        self._longest = [op_of[e] for e, _ in stack]
        self.states = state
        self._stuck = None
        yield "ok"
