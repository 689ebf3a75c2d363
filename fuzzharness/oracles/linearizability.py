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

A check with a time limit that runs out is :attr:`CheckResult.unknown`, never
``ok``. For an illegal partition the result names the longest linearizable
prefix found and the operation that could not be placed after it.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable

__all__ = ["CheckResult", "Operation", "Model", "PartitionResult", "Verdict", "check", "check_operations"]


class CheckResult(enum.Enum):
    """The outcome of a check. ``unknown`` is a time limit: never read it as a pass."""

    ok = "linearizable"
    illegal = "not linearizable"
    unknown = "unknown: the time limit ran out before the search finished"


@dataclass(frozen=True)
class Operation:
    """One completed call: ``call`` and ``ret`` are times on one clock (``call <= ret``)."""

    client: int
    input: Any
    output: Any
    call: int
    ret: int
    id: int = 0  #: the caller's own id for the operation, kept in results


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
    * ``describe_operation(input, output) -> str`` and ``describe_state(state) -> str``:
      for people reading a result.
    """

    init: Callable[[Hashable], Hashable]
    step: Callable[[Any, Any, Any], Iterable[Hashable]]
    partition: Callable[[list[Operation]], dict[Hashable, list[Operation]]] | None = None
    describe_operation: Callable[[Any, Any], str] = lambda i, o: f"{i!r} -> {o!r}"
    describe_state: Callable[[Any], str] = repr


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
    #: possible model states after ``longest``
    states: frozenset = frozenset()


@dataclass
class Verdict:
    result: CheckResult
    partitions: list[PartitionResult]
    seconds: float = 0.0

    @property
    def illegal(self) -> list[PartitionResult]:
        return [p for p in self.partitions if p.result is CheckResult.illegal]


def check(model: Model, history: list[Operation], timeout: float | None = None) -> Verdict:
    """Check a whole history, partition by partition. ``illegal`` wins over
    ``unknown``, which wins over ``ok``; the first illegal partition stops the check."""
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    parts = model.partition(history) if model.partition else {None: list(history)}
    results = []
    overall = CheckResult.ok
    for key, ops in parts.items():
        result = check_operations(model, ops, key, deadline)
        results.append(result)
        if result.result is CheckResult.illegal:
            overall = CheckResult.illegal
            break
        if result.result is CheckResult.unknown:
            overall = CheckResult.unknown
    return Verdict(overall, results, time.monotonic() - start)


def check_operations(
    model: Model, ops: list[Operation], key: Hashable = None, deadline: float | None = None
) -> PartitionResult:
    """Check one partition (no partitioning applied). ``deadline`` is a time.monotonic() value."""
    n = len(ops)
    init = frozenset([model.init(key)])
    if n == 0:
        return PartitionResult(key, CheckResult.ok, ops, [], None, init)
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
    best: list[int] = []
    best_states: frozenset = init
    stuck: int | None = None
    entry = nxt[0]
    iterations = 0
    while nxt[0] != -1:
        iterations += 1
        if deadline is not None and iterations % 512 == 0 and time.monotonic() > deadline:
            return PartitionResult(key, CheckResult.unknown, ops, best, stuck, best_states)
        if is_call[entry]:
            i = op_of[entry]
            op = ops[i]
            new_state = frozenset(s2 for s in state for s2 in step(s, op.input, op.output))
            if new_state:
                new_linearized = linearized | (1 << i)
                memo = (new_linearized, new_state)
                if memo not in cache:
                    cache.add(memo)
                    stack.append((entry, state))
                    state, linearized = new_state, new_linearized
                    lift(entry)
                    if len(stack) > len(best):
                        best = [op_of[e] for e, _ in stack]
                        best_states = state
                        stuck = None
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
        else:
            # A return whose call is not linearized yet: nothing after it can go first.
            if len(stack) == len(best) and stuck is None:
                stuck = op_of[entry]
            if not stack:
                return PartitionResult(key, CheckResult.illegal, ops, best, stuck, best_states)
            entry, state = stack.pop()
            linearized &= ~(1 << op_of[entry])
            unlift(entry)
            entry = nxt[entry]
    return PartitionResult(key, CheckResult.ok, ops, [op_of[e] for e, _ in stack], None, state)
