"""The reference model: a pure-Python, sequential specification of the contract.

It is the oracle. Given the same calls, it predicts every status, every handle
value, every byte read and every counter, and what must still be alive after
quiesce. It follows ``targets/include/fuzzharness_decls.h`` line by line; when
the two disagree, the header is right and this file has a bug.

The only thing it cannot know is *when* a deferred strategy frees memory. For
that it predicts a range (:class:`StatsExpectation`): before ``quiesce`` the
pending counters of a deferred session may be anything between "nothing freed
yet" and "everything freed"; after an OK ``quiesce`` they must be zero.

Cross-runtime pairs (``pair=True``, the header's "CROSS-RUNTIME TARGETS"): each
live resource has two reference counts, one per runtime (``owner`` / ``foreign``,
chosen by each call's ``via``; None is the foreign front, the pair's default
runtime). A create / snapshot / acquire adds to the calling runtime's count
(OVERFLOW per count), a release drops one of the calling runtime's references
and gives NOT_HELD (no effect) when that runtime holds none while the resource
lives; the resource dies when the sum is zero, and ``info``'s refs is the sum.
Guarded reclamation: in the immediate class (GUARDED) memory is freed in the
call that kills the resource; in the deferred class (GO_CLEANUP) a resource the
foreign runtime ever referenced stays pending until Go's GC acknowledges it (a
range until ``quiesce``), one it never referenced is freed at once. Without a
pair, ``via`` is ignored and there is one count.

Keep this file small and readable: it is read by people who want to know what
the contract means.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from fuzzharness.contract.header import MAX_CAPACITY, MAX_GENERATION, MAX_REFS, U64_MAX, Status, Strategy
from fuzzharness.contract.values import ResourceInfo, StatsValue

__all__ = ["OwnershipModel", "ModelBackend", "StatsExpectation", "classify"]

SLOT_MASK = 0xFFFF_FFFF


@dataclass(frozen=True)
class StatsExpectation:
    """What the model knows about ``fh_stats``: exact live counts, a range for reclamation.

    ``unsettled`` resources (``unsettled_bytes`` bytes) died under a deferred
    strategy since the last quiesce; each may or may not have been freed yet.
    """

    live_resources: int
    live_bytes: int
    created: int
    reclaimed_settled: int
    unsettled: int
    unsettled_bytes: int

    def admits(self, actual: StatsValue) -> bool:
        if (actual.live_resources, actual.live_bytes, actual.created) != (
            self.live_resources,
            self.live_bytes,
            self.created,
        ):
            return False
        if not 0 <= actual.pending_resources <= self.unsettled:
            return False
        if not 0 <= actual.pending_bytes <= self.unsettled_bytes:
            return False
        if actual.pending_resources == 0 and actual.pending_bytes != 0:
            return False
        return actual.reclaimed + actual.pending_resources == self.reclaimed_settled + self.unsettled

    def __str__(self) -> str:
        exact = f"live {self.live_resources}/{self.live_bytes}B created {self.created}"
        if not self.unsettled:
            return f"{exact} reclaimed {self.reclaimed_settled} pending 0/0B"
        return (
            f"{exact} reclaimed+pending {self.reclaimed_settled + self.unsettled} "
            f"pending<={self.unsettled}/{self.unsettled_bytes}B"
        )


def classify(handle: int, capacity: int, generations: Mapping[int, int], live: dict[int, object]) -> Status | None:
    """The header's handle classification: INVALID, STALE, or None for a live handle."""
    slot, generation = handle & SLOT_MASK, handle >> 32
    if generation == 0 or slot >= capacity or generation > generations.get(slot, 0):
        return Status.INVALID_HANDLE
    if generation < generations.get(slot, 0) or slot not in live:
        return Status.STALE_HANDLE
    return None


#: The runtimes of a pair; a call's ``via`` None means the foreign front.
OWNER, FOREIGN = "owner", "foreign"


class SparseBytes:
    """A resource's contents: ``size`` zero bytes, with only the written pages stored.

    The model never allocates what a program merely *declares*: a 16 GiB create costs a
    few bytes here (the target's own memory is the target's business, bounded by the
    worker's RSS limit), so a hostile corpus entry cannot exhaust the harness."""

    PAGE = 4096
    __slots__ = ("size", "pages")

    def __init__(self, size: int, pages: dict[int, bytearray] | None = None) -> None:
        self.size = size
        self.pages: dict[int, bytearray] = pages if pages is not None else {}

    def __len__(self) -> int:
        return self.size

    def copy(self) -> "SparseBytes":
        return SparseBytes(self.size, {k: bytearray(v) for k, v in self.pages.items()})

    def write(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` (in range: the caller checked)."""
        page_size = self.PAGE
        pos = 0
        while pos < len(data):
            index, start = divmod(offset + pos, page_size)
            take = min(page_size - start, len(data) - pos)
            page = self.pages.get(index)
            if page is None:
                page = self.pages[index] = bytearray(page_size)
            page[start : start + take] = data[pos : pos + take]
            pos += take

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (in range: the caller checked)."""
        out = bytearray(length)
        page_size = self.PAGE
        pos = 0
        while pos < length:
            index, start = divmod(offset + pos, page_size)
            take = min(page_size - start, length - pos)
            page = self.pages.get(index)
            if page is not None:
                out[pos : pos + take] = page[start : start + take]
            pos += take
        return bytes(out)


@dataclass
class _Resource:
    data: SparseBytes
    #: references per runtime (a single-runtime target only uses FOREIGN, its one runtime)
    counts: dict[str, int] = field(default_factory=lambda: {OWNER: 0, FOREIGN: 0})
    read_only: bool = False
    #: the foreign runtime held a reference at some point (its release must be acknowledged)
    foreign_seen: bool = False

    @property
    def refs(self) -> int:
        return self.counts[OWNER] + self.counts[FOREIGN]


@dataclass
class OwnershipModel:
    """The contract's state machine for one session.

    Every method mirrors one ``fh_*`` function and returns ``(status, value)``,
    where value is the output written on OK (a handle, bytes, a
    :class:`ResourceInfo`, a :class:`StatsExpectation`) or None.
    """

    capacity: int
    deferred: bool
    max_resource_bytes: int
    max_total_bytes: int
    #: a cross-runtime pair: per-runtime counts (see the module doc)
    pair: bool = False
    #: generation per slot (slots never used are 0: sparse, so capacity 2^20 costs nothing)
    generations: defaultdict[int, int] = field(init=False)
    live: dict[int, _Resource] = field(default_factory=dict, init=False)
    #: free slots below ``_fresh`` (a min-heap), and the first slot never used: the
    #: lowest free slot is the smaller of the heap's top and ``_fresh``
    _freed: list[int] = field(default_factory=list, init=False, repr=False)
    _fresh: int = field(default=0, init=False, repr=False)
    _live_bytes: int = field(default=0, init=False, repr=False)
    created: int = field(default=0, init=False)
    reclaimed: int = field(default=0, init=False)
    unsettled: int = field(default=0, init=False)
    unsettled_bytes: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.capacity <= MAX_CAPACITY:
            raise ValueError(f"capacity {self.capacity} outside 1..{MAX_CAPACITY}")
        self.generations = defaultdict(int)

    # -- helpers ---------------------------------------------------------------------

    @property
    def live_bytes(self) -> int:
        return self._live_bytes

    def _lookup(self, handle: int) -> tuple[Status | None, _Resource | None]:
        status = classify(handle, self.capacity, self.generations, self.live)
        return (status, None) if status is not None else (None, self.live[handle & SLOT_MASK])

    def _runtime(self, via: str | None) -> str:
        return OWNER if self.pair and via == OWNER else FOREIGN

    def _place(self, data: SparseBytes, read_only: bool, via: str | None = None) -> tuple[Status, int | None]:
        if len(data) > self.max_resource_bytes or self.live_bytes + len(data) > self.max_total_bytes:
            return Status.EXHAUSTED, None
        if self._freed:
            slot = heapq.heappop(self._freed)
        elif self._fresh < self.capacity:
            slot, self._fresh = self._fresh, self._fresh + 1
        else:
            return Status.EXHAUSTED, None
        self.generations[slot] += 1
        runtime = self._runtime(via)
        self.live[slot] = _Resource(data, {OWNER: 0, FOREIGN: 0, runtime: 1}, read_only, runtime == FOREIGN)
        self._live_bytes += len(data)
        self.created += 1
        return Status.OK, (self.generations[slot] << 32) | slot

    # -- the contract ----------------------------------------------------------------

    def create(self, size: int, via: str | None = None) -> tuple[Status, int | None]:
        if size > self.max_resource_bytes:
            return Status.EXHAUSTED, None
        return self._place(SparseBytes(size), read_only=False, via=via)

    def acquire(self, handle: int, via: str | None = None) -> tuple[Status, None]:
        status, res = self._lookup(handle)
        if res is None:
            return status, None
        runtime = self._runtime(via)
        if res.counts[runtime] == MAX_REFS:
            return Status.OVERFLOW, None
        res.counts[runtime] += 1
        res.foreign_seen |= runtime == FOREIGN
        return Status.OK, None

    def release(self, handle: int, via: str | None = None) -> tuple[Status, None]:
        status, res = self._lookup(handle)
        if res is None:
            return status, None
        runtime = self._runtime(via)
        if res.counts[runtime] == 0:
            return Status.NOT_HELD, None  # the other runtime holds it: no effect
        res.counts[runtime] -= 1
        if res.refs == 0:
            slot = handle & SLOT_MASK
            del self.live[slot]
            self._live_bytes -= len(res.data)
            if self.generations[slot] < MAX_GENERATION:  # a slot at the last generation is retired
                heapq.heappush(self._freed, slot)
            # A pair frees a resource Go never referenced at once; others wait for Go's GC.
            if self.deferred and (res.foreign_seen or not self.pair):
                self.unsettled += 1
                self.unsettled_bytes += len(res.data)
            else:
                self.reclaimed += 1
        return Status.OK, None

    def write(self, handle: int, offset: int, data: bytes, via: str | None = None) -> tuple[Status, None]:
        status, res = self._lookup(handle)
        if res is None:
            return status, None
        if res.read_only:
            return Status.READ_ONLY, None
        status = _range_check(offset, len(data), len(res.data))
        if status is Status.OK:
            res.data.write(offset, data)
        return status, None

    def read(self, handle: int, offset: int, length: int, via: str | None = None) -> tuple[Status, bytes | None]:
        status, res = self._lookup(handle)
        if res is None:
            return status, None
        status = _range_check(offset, length, len(res.data))
        return (status, res.data.read(offset, length)) if status is Status.OK else (status, None)

    def snapshot(self, handle: int, via: str | None = None) -> tuple[Status, int | None]:
        status, res = self._lookup(handle)
        if res is None:
            return status, None
        return self._place(res.data.copy(), read_only=True, via=via)

    def info(self, handle: int, via: str | None = None) -> tuple[Status, ResourceInfo | None]:
        status, res = self._lookup(handle)
        if res is None:
            return status, None
        return Status.OK, ResourceInfo(len(res.data), res.refs, res.read_only)

    def stats(self) -> tuple[Status, StatsExpectation]:
        return Status.OK, StatsExpectation(
            live_resources=len(self.live),
            live_bytes=self.live_bytes,
            created=self.created,
            reclaimed_settled=self.reclaimed,
            unsettled=self.unsettled,
            unsettled_bytes=self.unsettled_bytes,
        )

    def quiesce(self) -> tuple[Status, None]:
        self.reclaimed += self.unsettled
        self.unsettled = self.unsettled_bytes = 0
        return Status.OK, None

    def shutdown(self) -> tuple[Status, StatsExpectation]:
        """What ``fh_shutdown`` reports: the stats just before the session closed."""
        return self.stats()


def _range_check(offset: int, length: int, size: int) -> Status:
    if offset + length > U64_MAX:
        return Status.OVERFLOW
    if offset + length > size:
        return Status.BOUNDS
    return Status.OK


class ModelBackend:
    """Adapts :class:`OwnershipModel` to the :class:`~fuzzharness.programs.interpreter.Backend` protocol.

    Values are *expectations*: :class:`~fuzzharness.oracles.model.StatsExpectation` where a
    native backend returns a :class:`~fuzzharness.contract.values.StatsValue`.
    """

    def __init__(self, pair: bool = False) -> None:
        self.model: OwnershipModel | None = None
        #: model a cross-runtime pair (per-runtime counts, see fuzzharness.oracles.model)
        self.pair = pair

    def init(self, capacity: int, strategy: int, max_resource_bytes: int, max_total_bytes: int) -> tuple[int, Any]:
        deferred = strategy not in (Strategy.IMMEDIATE, Strategy.GUARDED)
        self.model = OwnershipModel(capacity, deferred, max_resource_bytes, max_total_bytes, pair=self.pair)
        return Status.OK, None

    def last_error(self) -> str | None:
        return None

    def __getattr__(self, name: str) -> Callable[..., tuple[int, Any]]:
        if self.model is None:
            raise AttributeError(name)
        return getattr(self.model, name)
