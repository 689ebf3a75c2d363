"""Shared helpers of the ABI tests (not a test module: no ``test_`` prefix).

Every ABI test opens its own process-wide session with :func:`open_session`,
which always shuts it down, even when the test fails half-way.
"""

from __future__ import annotations

from contextlib import contextmanager

from conftest import TARGETS
from fuzzharness.contract.header import Status, Strategy
from fuzzharness.oracles.model import OwnershipModel

OK = Status.OK

#: The strategies each target implements on its own (the programs' classes).
STRATEGIES = {
    "rust": (Strategy.IMMEDIATE, Strategy.EPOCH),
    "go": (Strategy.IMMEDIATE, Strategy.GO_CLEANUP),
}
#: Strategies of the contract the target does not implement. The Rust shim (ABI 1.1) also
#: accepts GUARDED and GO_CLEANUP, as the owner of a cross-runtime pair (see test_pair.py).
FOREIGN_STRATEGY = {"go": (Strategy.EPOCH, Strategy.GUARDED)}

#: (target, strategy) pairs for ``pytest.mark.parametrize("target, strategy", ...)``.
TARGET_STRATEGIES = [(t, s) for t in TARGETS for s in STRATEGIES[t]]
TARGET_STRATEGY_IDS = [f"{t}-{s.name.lower()}" for t, s in TARGET_STRATEGIES]

DEFAULT_MAX_RESOURCE = 1 << 20
DEFAULT_MAX_TOTAL = 1 << 24

#: A value no shim would ever write into an output by chance.
SENTINEL = 0xDEAD_BEEF_CAFE_F00D


def handle(slot: int, generation: int) -> int:
    return (generation << 32) | slot


@contextmanager
def open_session(
    lib,
    capacity: int = 8,
    strategy: Strategy = Strategy.IMMEDIATE,
    max_resource_bytes: int = DEFAULT_MAX_RESOURCE,
    max_total_bytes: int = DEFAULT_MAX_TOTAL,
):
    """Open a session (asserting fh_init is OK), yield ``lib``, always shut it down."""
    status, _ = lib.init(capacity, strategy, max_resource_bytes, max_total_bytes)
    assert status == OK, f"fh_init returned {Status(status).name}: {lib.last_error()}"
    try:
        yield lib
    finally:
        # NOT_INITIALIZED when the test itself already closed the session.
        lib.shutdown()


def model_for(
    capacity: int = 8,
    strategy: Strategy = Strategy.IMMEDIATE,
    max_resource_bytes: int = DEFAULT_MAX_RESOURCE,
    max_total_bytes: int = DEFAULT_MAX_TOTAL,
) -> OwnershipModel:
    return OwnershipModel(capacity, strategy != Strategy.IMMEDIATE, max_resource_bytes, max_total_bytes)


def last_error_raw(lib) -> tuple[int, str]:
    """The calling thread's message through its own buffers (safe in any thread)."""
    buf = lib.new("char[]", 1024)
    out_len = lib.new("size_t *", SENTINEL)
    status = lib.call_raw("fh_last_error", buf, len(buf), out_len)
    assert status == OK
    return out_len[0], lib.ffi.string(buf).decode("utf-8", "replace")


def stats_consistent(stats) -> bool:
    """The header's invariant: created == live + pending + reclaimed."""
    return stats.created == stats.live_resources + stats.pending_resources + stats.reclaimed
