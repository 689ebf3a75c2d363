"""Every rule of targets/include/fuzzharness_decls.h, checked on the real Rust and Go libraries.

Each test opens its own session (``open_session``) with the ``session_lock``
fixture held, and always shuts it down.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abi_support import (
    FOREIGN_STRATEGY,
    OK,
    SENTINEL,
    TARGET_STRATEGIES,
    TARGET_STRATEGY_IDS,
    handle,
    model_for,
    open_session,
    stats_consistent,
)
from conftest import TARGETS, load_library
from fuzzharness.contract.header import ABI_MAJOR, ABI_MINOR, MAX_CAPACITY, U64_MAX, Status, Strategy
from fuzzharness.contract.values import ResourceInfo, StatsValue
from fuzzharness.oracles.model import classify

pytestmark = pytest.mark.abi

S = Status
IMMEDIATE = Strategy.IMMEDIATE

per_target = pytest.mark.parametrize("target", TARGETS)
per_strategy = pytest.mark.parametrize("target, strategy", TARGET_STRATEGIES, ids=TARGET_STRATEGY_IDS)


@pytest.fixture
def lib(target, session_lock):
    """The target's release library, with the process-wide session lock held."""
    return load_library(target)


def raw_config(lib, capacity=4, strategy=IMMEDIATE, max_resource=1 << 20, max_total=1 << 24, flags=0):
    return lib.new("fh_config *", [capacity, strategy, max_resource, max_total, flags])


def session_calls(lib, h):
    """Every session function with well-formed arguments: (name, thunk returning a status)."""
    out_h = lib.new("fh_handle *")
    buf = lib.new("uint8_t[]", 8)
    return [
        ("fh_create", lambda: lib.call_raw("fh_create", 8, out_h)),
        ("fh_acquire", lambda: lib.call_raw("fh_acquire", h)),
        ("fh_release", lambda: lib.call_raw("fh_release", h)),
        ("fh_write", lambda: lib.call_raw("fh_write", h, 0, buf, 8)),
        ("fh_read", lambda: lib.call_raw("fh_read", h, 0, buf, 8)),
        ("fh_snapshot", lambda: lib.call_raw("fh_snapshot", h, out_h)),
        ("fh_info", lambda: lib.call_raw("fh_info", h, lib.new("fh_resource_info *"))),
        ("fh_get_stats", lambda: lib.call_raw("fh_get_stats", lib.new("fh_stats *"))),
        ("fh_quiesce", lambda: lib.call_raw("fh_quiesce")),
        ("fh_shutdown", lambda: lib.call_raw("fh_shutdown", lib.new("fh_stats *"))),
    ]


def null_pointer_calls(lib, h):
    """Every session function that takes a required pointer, with that pointer NULL."""
    return [
        ("fh_create", lambda: lib.call_raw("fh_create", 1, None)),
        ("fh_write", lambda: lib.call_raw("fh_write", h, 0, None, 1)),
        ("fh_read", lambda: lib.call_raw("fh_read", h, 0, None, 1)),
        ("fh_snapshot", lambda: lib.call_raw("fh_snapshot", h, None)),
        ("fh_info", lambda: lib.call_raw("fh_info", h, None)),
        ("fh_get_stats", lambda: lib.call_raw("fh_get_stats", None)),
        ("fh_shutdown", lambda: lib.call_raw("fh_shutdown", None)),
    ]


def assert_no_session(lib):
    """No session is open: every session function says NOT_INITIALIZED, even with NULLs."""
    h = handle(0, 1)
    for name, call in session_calls(lib, h) + null_pointer_calls(lib, h):
        assert call() == S.NOT_INITIALIZED, name


# -- version -----------------------------------------------------------------------------


@per_target
def test_abi_version(lib):
    assert lib.abi_version() == (ABI_MAJOR, ABI_MINOR) == (1, 1)
    major, minor = lib.new("uint32_t *", 77), lib.new("uint32_t *", 77)
    assert lib.call_raw("fh_abi_version", None, minor) == S.NULL_ARGUMENT
    assert lib.call_raw("fh_abi_version", major, None) == S.NULL_ARGUMENT
    assert lib.call_raw("fh_abi_version", None, None) == S.NULL_ARGUMENT
    assert (major[0], minor[0]) == (77, 77)  # outputs untouched on failure


# -- session lifecycle ---------------------------------------------------------------------


@per_target
def test_not_initialized_before_init_and_after_shutdown(lib):
    assert_no_session(lib)
    with open_session(lib, capacity=2) as s:
        assert s.create(8) == (OK, handle(0, 1))
        status, report = s.shutdown()
        assert status == OK and report.live_resources == 1
        assert_no_session(lib)
    # The handle of the closed session is not a way back in.
    assert lib.read(handle(0, 1), 0, 8) == (S.NOT_INITIALIZED, None)


@per_target
def test_no_session_functions_work_without_session(lib):
    major, minor = lib.new("uint32_t *"), lib.new("uint32_t *")
    assert lib.call_raw("fh_abi_version", major, minor) == OK
    out_len = lib.new("size_t *")
    assert lib.call_raw("fh_last_error", None, 0, out_len) == OK


@per_target
def test_shutdown_output_untouched_when_not_initialized(lib):
    report = lib.new("fh_stats *", [SENTINEL] * 6)
    assert lib.call_raw("fh_shutdown", report) == S.NOT_INITIALIZED
    assert report.created == report.live_resources == SENTINEL


@per_target
def test_init_twice_is_already_initialized(lib):
    with open_session(lib, capacity=2) as s:
        assert s.create(4)[0] == OK
        assert lib.call_raw("fh_init", raw_config(lib)) == S.ALREADY_INITIALIZED
        # ALREADY_INITIALIZED comes before INVALID_ARGUMENT and UNSUPPORTED...
        assert lib.call_raw("fh_init", raw_config(lib, capacity=0, strategy=99, flags=1)) == S.ALREADY_INITIALIZED
        # ...and after NULL_ARGUMENT.
        assert lib.call_raw("fh_init", None) == S.NULL_ARGUMENT
        # The open session was not disturbed.
        assert s.info(handle(0, 1)) == (OK, ResourceInfo(4, 1, False))


@per_target
@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"capacity": 0}, S.INVALID_ARGUMENT),
        ({"capacity": MAX_CAPACITY + 1}, S.INVALID_ARGUMENT),
        ({"capacity": 0xFFFF_FFFF}, S.INVALID_ARGUMENT),
        ({"flags": 2}, S.INVALID_ARGUMENT),  # bit 0 is FH_FLAG_RECLAIM_EVENTS (1.1)
        ({"flags": 1 << 63}, S.INVALID_ARGUMENT),
        ({"capacity": 0, "strategy": 99}, S.INVALID_ARGUMENT),  # INVALID_ARGUMENT before UNSUPPORTED
        ({"strategy": 99}, S.UNSUPPORTED),
        ({"strategy": 4}, S.UNSUPPORTED),  # 4..: reserved
    ],
    ids=["cap0", "cap-max+1", "cap-u32max", "flags2", "flags-high", "cap0-strategy99", "strategy99",
         "strategy4"],
)
def test_init_rejects_bad_config(lib, target, fields, expected):
    assert lib.call_raw("fh_init", raw_config(lib, **fields)) == expected
    assert_no_session(lib)  # a failed fh_init opens nothing


@pytest.mark.parametrize("target, strategy", [(t, s) for t, unsupported in FOREIGN_STRATEGY.items() for s in unsupported])
def test_init_rejects_a_strategy_the_target_does_not_implement(lib, target, strategy):
    """Go alone implements neither EPOCH nor GUARDED (a guard needs a cross-runtime owner); the
    Rust shim (ABI 1.1) implements all four, GUARDED and GO_CLEANUP as the owner of a pair."""
    assert lib.call_raw("fh_init", raw_config(lib, strategy=strategy)) == S.UNSUPPORTED
    assert_no_session(lib)


@per_target
def test_init_null_config(lib):
    assert lib.call_raw("fh_init", None) == S.NULL_ARGUMENT
    assert_no_session(lib)


@per_strategy
@pytest.mark.parametrize("capacity", [1, MAX_CAPACITY])
def test_init_capacity_limits_accepted(lib, strategy, capacity):
    with open_session(lib, capacity=capacity, strategy=strategy) as s:
        assert s.create(1) == (OK, handle(0, 1))
        assert s.read(handle(capacity - 1, 2), 0, 0)[0] == S.INVALID_HANDLE  # future generation
        assert s.read(handle(capacity, 1), 0, 0)[0] == S.INVALID_HANDLE  # slot >= capacity


@per_target
def test_shutdown_null_report_keeps_session_open(lib):
    with open_session(lib, capacity=2) as s:
        h = s.create(3)[1]
        assert s.write(h, 0, b"abc") == (OK, None)
        assert lib.call_raw("fh_shutdown", None) == S.NULL_ARGUMENT
        assert s.read(h, 0, 3) == (OK, b"abc")
        status, report = s.shutdown()
        assert status == OK and report.live_resources == 1 and report.live_bytes == 3


# -- handles -----------------------------------------------------------------------------------


@per_strategy
def test_handle_layout_and_lowest_free_slot(lib, strategy):
    with open_session(lib, capacity=4, strategy=strategy) as s:
        assert s.create(1) == (OK, (1 << 32) | 0)
        assert s.create(1) == (OK, handle(1, 1))
        assert s.create(1) == (OK, handle(2, 1))
        assert s.release(handle(2, 1)) == (OK, None)
        assert s.release(handle(0, 1)) == (OK, None)
        # The lowest free slot first, each reuse with the next generation.
        assert s.create(1) == (OK, handle(0, 2))
        assert s.snapshot(handle(1, 1)) == (OK, handle(2, 2))
        assert s.create(1) == (OK, handle(3, 1))
        assert s.create(1) == (S.EXHAUSTED, None)
        assert s.release(handle(0, 2)) == (OK, None)
        assert s.create(1) == (OK, handle(0, 3))


@per_strategy
def test_handle_classification(lib, strategy):
    with open_session(lib, capacity=4, strategy=strategy) as s:
        h1 = s.create(1)[1]
        assert s.release(h1) == (OK, None)
        h2 = s.create(1)[1]
        assert h2 == handle(0, 2)
        live_slot1 = s.create(1)[1]
        s.release(live_slot1)  # slot 1 now free at generation 1
        cases = {
            0: S.INVALID_HANDLE,  # generation 0, slot 0
            handle(1, 0): S.INVALID_HANDLE,  # generation 0
            handle(4, 1): S.INVALID_HANDLE,  # slot == capacity
            handle(0xFFFF_FFFF, 1): S.INVALID_HANDLE,
            handle(0, 3): S.INVALID_HANDLE,  # future generation
            handle(2, 1): S.INVALID_HANDLE,  # slot never issued (G = 0)
            U64_MAX: S.INVALID_HANDLE,
            h1: S.STALE_HANDLE,  # older generation
            live_slot1: S.STALE_HANDLE,  # current generation, slot free
        }
        for h, expected in cases.items():
            assert s.info(h) == (expected, None), hex(h)
            assert s.acquire(h) == (expected, None), hex(h)
            assert s.release(h) == (expected, None), hex(h)
            assert s.read(h, 0, 1) == (expected, None), hex(h)
            assert s.write(h, 0, b"x") == (expected, None), hex(h)
            assert s.snapshot(h) == (expected, None), hex(h)
        assert s.info(h2) == (OK, ResourceInfo(1, 1, False))
        status, stats = s.stats()
        assert (stats.live_resources, stats.created) == (1, 3)


@st.composite
def forged_handles(draw):
    """Any 64-bit value, plus values near the live ones (small slots and generations)."""
    return draw(
        st.one_of(
            st.integers(0, U64_MAX),
            st.builds(handle, st.integers(0, 7), st.integers(0, 4)),
            st.sampled_from([0, U64_MAX, handle(0, 1), handle(5, 1), handle(0xFFFF_FFFF, 0xFFFF_FFFF)]),
        )
    )


@per_target
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(forged=st.lists(forged_handles(), min_size=1, max_size=12))
def test_forged_handles_classified_like_the_model(lib, forged):
    capacity = 6
    model = model_for(capacity)
    with open_session(lib, capacity=capacity) as s:
        # A few live resources with distinct contents, a stale one, a reused slot.
        for size in (5, 6, 7, 8):
            assert s.create(size) == model.create(size)
        handles = [handle(i, 1) for i in range(4)]
        for i, h in enumerate(handles):
            data = bytes([0x10 * (i + 1)]) * (5 + i)
            assert s.write(h, 0, data) == model.write(h, 0, data) == (OK, None)
        assert s.release(handles[1]) == model.release(handles[1])
        assert s.release(handles[3]) == model.release(handles[3])
        assert s.create(3) == model.create(3) == (OK, handle(1, 2))
        assert s.write(handle(1, 2), 0, b"\xee\xee\xee") == model.write(handle(1, 2), 0, b"\xee\xee\xee")

        for h in forged:
            expected = classify(h, capacity, model.generations, model.live)
            info = s.info(h)
            assert info == model.info(h), hex(h)
            if expected is None:
                size = info[1].size
                assert s.read(h, 0, size) == model.read(h, 0, size), hex(h)  # the resource's own bytes
            else:
                assert info == (expected, None)
                assert s.read(h, 0, 1) == (expected, None), hex(h)
                assert s.write(h, 0, b"\xff") == (expected, None), hex(h)
                assert s.acquire(h) == (expected, None), hex(h)
                assert s.release(h) == (expected, None), hex(h)
        # Nothing a forged handle did changed any live resource.
        for slot in model.live:
            h = handle(slot, model.generations[slot])
            assert s.info(h) == model.info(h)
            assert s.read(h, 0, model.info(h)[1].size) == model.read(h, 0, model.info(h)[1].size)


# -- references ----------------------------------------------------------------------------------


@per_strategy
def test_reference_counting(lib, strategy):
    with open_session(lib, capacity=2, strategy=strategy) as s:
        h = s.create(16)[1]
        assert s.info(h) == (OK, ResourceInfo(16, 1, False))
        for refs in (2, 3, 4):
            assert s.acquire(h) == (OK, None)
            assert s.info(h)[1].refs == refs
        for refs in (3, 2, 1):
            assert s.release(h) == (OK, None)
            assert s.info(h) == (OK, ResourceInfo(16, refs, False))
        assert s.release(h) == (OK, None)  # the last reference: the resource dies
        assert s.info(h) == (S.STALE_HANDLE, None)
        assert s.release(h) == (S.STALE_HANDLE, None)  # double release
        assert s.acquire(h) == (S.STALE_HANDLE, None)
        assert s.read(h, 0, 0) == (S.STALE_HANDLE, None)
        # Its slot was free at once, whatever the strategy.
        assert s.create(1) == (OK, handle(0, 2))
        assert s.release(h) == (S.STALE_HANDLE, None)  # still stale: older generation


# -- write / read ----------------------------------------------------------------------------------


@per_strategy
def test_create_is_zero_filled_and_write_read_roundtrip(lib, strategy):
    with open_session(lib, capacity=4, strategy=strategy) as s:
        h = s.create(64)[1]
        assert s.read(h, 0, 64) == (OK, bytes(64))
        assert s.write(h, 10, b"hello") == (OK, None)
        assert s.write(h, 60, b"tail") == (OK, None)  # ends exactly at the size
        assert s.read(h, 0, 64) == (OK, bytes(10) + b"hello" + bytes(45) + b"tail")
        assert s.read(h, 12, 3) == (OK, b"llo")
        empty = s.create(0)[1]
        assert s.info(empty) == (OK, ResourceInfo(0, 1, False))
        assert s.read(empty, 0, 0) == (OK, b"")
        assert s.write(empty, 0, b"") == (OK, None)
        assert s.write(empty, 0, b"x") == (S.BOUNDS, None)
        # A released resource's slot is re-created zero-filled.
        assert s.release(h) == (OK, None)
        assert s.create(64) == (OK, handle(0, 2))
        assert s.read(handle(0, 2), 0, 64) == (OK, bytes(64))


@per_target
def test_null_data_and_buffers(lib):
    with open_session(lib, capacity=2) as s:
        h = s.create(8)[1]
        assert lib.call_raw("fh_write", h, 0, None, 0) == OK
        assert lib.call_raw("fh_read", h, 0, None, 0) == OK
        assert lib.call_raw("fh_write", h, 8, None, 0) == OK  # empty at the very end
        assert lib.call_raw("fh_write", h, 0, None, 1) == S.NULL_ARGUMENT
        assert lib.call_raw("fh_read", h, 0, None, 1) == S.NULL_ARGUMENT
        # NULL_ARGUMENT wins over the handle and range errors.
        for bad in (0, U64_MAX, handle(1, 1)):
            assert lib.call_raw("fh_write", bad, 0, None, 1) == S.NULL_ARGUMENT
            assert lib.call_raw("fh_read", bad, 0, None, 1) == S.NULL_ARGUMENT
            assert lib.call_raw("fh_snapshot", bad, None) == S.NULL_ARGUMENT
            assert lib.call_raw("fh_info", bad, None) == S.NULL_ARGUMENT
        assert lib.call_raw("fh_write", h, U64_MAX, None, 5) == S.NULL_ARGUMENT
        assert lib.call_raw("fh_get_stats", None) == S.NULL_ARGUMENT
        assert s.read(h, 0, 8) == (OK, bytes(8))
        assert s.stats()[1].created == 1  # the NULL calls had no effect


@per_strategy
def test_write_check_order_read_only_overflow_bounds(lib, strategy):
    with open_session(lib, capacity=4, strategy=strategy) as s:
        h = s.create(8)[1]
        assert s.write(h, 0, b"12345678") == (OK, None)
        snap = s.snapshot(h)[1]
        # READ_ONLY before OVERFLOW before BOUNDS.
        assert s.write(snap, U64_MAX, b"ab") == (S.READ_ONLY, None)
        assert s.write(snap, 9, b"ab") == (S.READ_ONLY, None)
        assert s.write(snap, 0, b"") == (S.READ_ONLY, None)
        assert s.write(h, U64_MAX, b"ab") == (S.OVERFLOW, None)
        assert s.write(h, U64_MAX, b"a") == (S.OVERFLOW, None)  # offset + len == 2^64
        assert s.write(h, U64_MAX - 1, b"a") == (S.BOUNDS, None)  # == U64_MAX: fits, out of range
        assert s.write(h, U64_MAX, b"") == (S.BOUNDS, None)
        assert s.write(h, 7, b"ab") == (S.BOUNDS, None)
        assert s.write(h, 9, b"") == (S.BOUNDS, None)
        # Same order for reads (no READ_ONLY there), snapshots included.
        for target_handle in (h, snap):
            assert s.read(target_handle, U64_MAX, 2) == (S.OVERFLOW, None)
            assert s.read(target_handle, U64_MAX, 1) == (S.OVERFLOW, None)
            assert s.read(target_handle, U64_MAX, 0) == (S.BOUNDS, None)
            assert s.read(target_handle, 7, 2) == (S.BOUNDS, None)
            assert s.read(target_handle, 9, 0) == (S.BOUNDS, None)
            assert s.read(target_handle, 8, 0) == (OK, b"")
        # No failed write changed a byte.
        assert s.read(h, 0, 8) == (OK, b"12345678")
        assert s.read(snap, 0, 8) == (OK, b"12345678")


@per_target
def test_failed_write_changes_no_byte(lib):
    with open_session(lib, capacity=2) as s:
        h = s.create(16)[1]
        assert s.write(h, 0, bytes(range(16))) == (OK, None)
        # A write straddling the end must not write its in-range prefix.
        assert s.write(h, 10, b"\xaa" * 7) == (S.BOUNDS, None)
        buf = lib.new("uint8_t[]", [0xBB] * 32)
        assert lib.call_raw("fh_write", h, U64_MAX - 3, buf, 32) == S.OVERFLOW
        assert s.read(h, 0, 16) == (OK, bytes(range(16)))


@per_target
def test_outputs_untouched_on_failure(lib):
    with open_session(lib, capacity=2, max_resource_bytes=100, max_total_bytes=150) as s:
        out = lib.new("fh_handle *", SENTINEL)
        assert lib.call_raw("fh_create", 101, out) == S.EXHAUSTED
        assert out[0] == SENTINEL
        h = s.create(100)[1]
        assert lib.call_raw("fh_snapshot", h, out) == S.EXHAUSTED  # 200 > max_total_bytes
        assert lib.call_raw("fh_snapshot", handle(1, 1), out) == S.INVALID_HANDLE
        assert lib.call_raw("fh_create", 60, out) == S.EXHAUSTED
        assert out[0] == SENTINEL

        info = lib.new("fh_resource_info *", [SENTINEL, 0xABCD_1234, 0x5555_AAAA])
        assert lib.call_raw("fh_info", U64_MAX, info) == S.INVALID_HANDLE
        assert (info.size, info.refs, info.read_only) == (SENTINEL, 0xABCD_1234, 0x5555_AAAA)

        buf = lib.new("uint8_t[]", [0x5A] * 64)
        assert s.write(h, 0, b"\x01" * 100) == (OK, None)
        assert lib.call_raw("fh_read", h, 90, buf, 20) == S.BOUNDS
        assert lib.call_raw("fh_read", h, U64_MAX, buf, 20) == S.OVERFLOW
        assert lib.call_raw("fh_read", handle(0, 7), 0, buf, 20) == S.INVALID_HANDLE
        assert bytes(buf) == b"\x5a" * 64

        s.release(h)
        assert lib.call_raw("fh_info", h, info) == S.STALE_HANDLE
        assert lib.call_raw("fh_read", h, 0, buf, 4) == S.STALE_HANDLE
        assert info.size == SENTINEL and bytes(buf) == b"\x5a" * 64

        # On success, the outputs are written.
        assert lib.call_raw("fh_create", 4, out) == OK and out[0] == handle(0, 2)


# -- snapshots ---------------------------------------------------------------------------------


@per_strategy
def test_snapshots(lib, strategy):
    with open_session(lib, capacity=4, strategy=strategy) as s:
        origin = s.create(6)[1]
        assert s.write(origin, 0, b"before") == (OK, None)
        snap = s.snapshot(origin)[1]
        assert snap == handle(1, 1)  # its own slot, the lowest free one
        assert s.info(snap) == (OK, ResourceInfo(6, 1, True))
        assert s.info(origin) == (OK, ResourceInfo(6, 1, False))  # the origin's refs are untouched
        # An independent copy: later writes to the origin do not show.
        assert s.write(origin, 0, b"AFTER!") == (OK, None)
        assert s.read(snap, 0, 6) == (OK, b"before")
        assert s.read(origin, 0, 6) == (OK, b"AFTER!")
        assert s.write(snap, 0, b"x") == (S.READ_ONLY, None)
        # A snapshot of a snapshot: read-only, same bytes, own slot.
        snap2 = s.snapshot(snap)[1]
        assert snap2 == handle(2, 1)
        assert s.info(snap2) == (OK, ResourceInfo(6, 1, True))
        assert s.read(snap2, 0, 6) == (OK, b"before")
        # It outlives its origin, before and after deferred reclamation.
        assert s.release(origin) == (OK, None)
        assert s.read(snap, 0, 6) == (OK, b"before")
        assert s.quiesce() == (OK, None)
        assert s.read(snap, 0, 6) == (OK, b"before")
        assert s.release(snap) == (OK, None)
        assert s.read(snap2, 0, 6) == (OK, b"before")
        # Refs of a snapshot count like any resource.
        assert s.acquire(snap2) == (OK, None)
        assert s.release(snap2) == (OK, None)
        assert s.info(snap2) == (OK, ResourceInfo(6, 1, True))
        status, stats = s.stats()
        assert (stats.live_resources, stats.live_bytes, stats.created) == (1, 6, 3)
        assert stats_consistent(stats)


@per_target
def test_snapshot_of_empty_resource(lib):
    with open_session(lib, capacity=2) as s:
        h = s.create(0)[1]
        snap = s.snapshot(h)[1]
        assert s.info(snap) == (OK, ResourceInfo(0, 1, True))
        assert s.write(snap, 0, b"") == (S.READ_ONLY, None)


# -- exhaustion ---------------------------------------------------------------------------------


@per_strategy
def test_exhausted_slots(lib, strategy):
    with open_session(lib, capacity=2, strategy=strategy) as s:
        a, b = s.create(1)[1], s.create(1)[1]
        assert s.create(1) == (S.EXHAUSTED, None)
        assert s.snapshot(a) == (S.EXHAUSTED, None)
        assert s.stats()[1].created == 2  # the failures created nothing
        assert s.release(b) == (OK, None)
        assert s.snapshot(a) == (OK, handle(1, 2))


@per_strategy
def test_exhausted_bytes(lib, strategy):
    with open_session(lib, capacity=8, strategy=strategy, max_resource_bytes=64, max_total_bytes=100) as s:
        assert s.create(65) == (S.EXHAUSTED, None)
        assert s.create(U64_MAX) == (S.EXHAUSTED, None)
        big = s.create(64)[1]
        assert big == handle(0, 1)
        assert s.snapshot(big) == (S.EXHAUSTED, None)  # snapshots count: 128 > 100
        assert s.create(37) == (S.EXHAUSTED, None)
        small = s.create(36)[1]  # exactly max_total_bytes
        assert small == handle(1, 1)
        assert s.create(1) == (S.EXHAUSTED, None)
        assert s.create(0) == (OK, handle(2, 1))  # 0 bytes still fit
        assert s.release(small) == (OK, None)
        snap = s.snapshot(small)
        assert snap == (S.STALE_HANDLE, None)
        # Dead resources free their bytes at once, whatever the strategy.
        small_snap_origin = s.create(18)[1]
        assert s.snapshot(small_snap_origin) == (OK, handle(3, 1))
        assert s.snapshot(small_snap_origin) == (S.EXHAUSTED, None)
        status, stats = s.stats()
        assert (stats.live_bytes, stats.live_resources) == (100, 4)
        assert stats_consistent(stats)


# -- stats -------------------------------------------------------------------------------------


def mixed_ops(s, model):
    """The same mixed calls through the library and the model, statuses and values compared."""
    calls = [
        ("create", 10), ("create", 20), ("create", 30), ("write", handle(0, 1), 0, b"abc"),
        ("snapshot", handle(0, 1)), ("acquire", handle(1, 1)), ("release", handle(1, 1)),
        ("release", handle(1, 1)), ("release", handle(1, 1)), ("create", 5), ("snapshot", handle(3, 1)),
        ("release", handle(0, 1)), ("read", handle(3, 1), 0, 3), ("create", 7), ("release", handle(2, 1)),
        ("info", handle(4, 1)), ("info", handle(1, 2)), ("read", handle(0, 2), 0, 7), ("release", handle(4, 1)),
        ("acquire", handle(1, 2)), ("release", handle(1, 2)), ("write", handle(3, 1), 0, b"z"),
    ]
    for name, *args in calls:
        assert getattr(s, name)(*args) == getattr(model, name)(*args), (name, args)
        assert model.stats()[1].admits(s.stats()[1]), (name, args, s.stats()[1], model.stats()[1])


@per_strategy
def test_stats_invariants_and_quiesce(lib, strategy):
    model = model_for(8, strategy)
    with open_session(lib, capacity=8, strategy=strategy) as s:
        assert s.stats() == (OK, StatsValue(0, 0, 0, 0, 0, 0))
        mixed_ops(s, model)
        stats = s.stats()[1]
        assert stats_consistent(stats)
        if strategy == IMMEDIATE:
            assert (stats.pending_resources, stats.pending_bytes) == (0, 0)
        assert s.quiesce() == model.quiesce() == (OK, None)
        stats = s.stats()[1]
        assert (stats.pending_resources, stats.pending_bytes) == (0, 0)
        assert stats_consistent(stats) and model.stats()[1].admits(stats)
        assert (stats.live_resources, stats.created, stats.reclaimed) == (3, 7, 4)
        assert s.quiesce() == (OK, None)  # repeating is harmless
        assert s.stats()[1] == stats


@per_strategy
def test_shutdown_report_is_the_stats_just_before(lib, strategy):
    model = model_for(8, strategy)
    with open_session(lib, capacity=8, strategy=strategy) as s:
        mixed_ops(s, model)
        assert s.quiesce() == (OK, None)
        before = s.stats()[1]
        status, report = s.shutdown()
        assert status == OK and report == before
        assert model.shutdown()[1].admits(report)
        assert (report.live_resources, report.live_bytes) == (3, 10 + 5 + 7)  # slots 3, 1, 0


@per_strategy
def test_shutdown_report_without_quiesce(lib, strategy):
    with open_session(lib, capacity=4, strategy=strategy) as s:
        a = s.create(100)[1]
        s.create(50)
        s.snapshot(a)
        s.release(a)
        before = s.stats()[1]
        status, report = s.shutdown()
        assert status == OK
        # Deferred reclamation may progress in between; the rest is exact.
        assert (report.live_resources, report.live_bytes, report.created) == (2, 150, 3)
        assert (report.live_resources, report.live_bytes, report.created) == (
            before.live_resources, before.live_bytes, before.created)
        assert report.reclaimed + report.pending_resources == 1
        assert stats_consistent(report)
        if strategy == IMMEDIATE:
            assert report == before
    # The next session starts from zero.
    with open_session(lib, capacity=4, strategy=strategy) as s:
        assert s.stats() == (OK, StatsValue(0, 0, 0, 0, 0, 0))
        assert s.create(1) == (OK, handle(0, 1))


# -- against the model -----------------------------------------------------------------------------

OPS = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 40)),
    st.tuples(st.just("acquire"), st.integers(0, 5), st.integers(0, 3)),
    st.tuples(st.just("release"), st.integers(0, 5), st.integers(0, 3)),
    st.tuples(st.just("snapshot"), st.integers(0, 5), st.integers(0, 3)),
    st.tuples(st.just("info"), st.integers(0, 5), st.integers(0, 3)),
    st.tuples(st.just("write"), st.integers(0, 5), st.integers(0, 3), st.integers(0, 40), st.binary(max_size=12)),
    st.tuples(st.just("read"), st.integers(0, 5), st.integers(0, 3), st.integers(0, 40), st.integers(0, 12)),
    st.tuples(st.just("quiesce")),
)


@pytest.mark.parametrize("target, strategy", TARGET_STRATEGIES, ids=TARGET_STRATEGY_IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, max_size=40))
def test_random_calls_agree_with_the_model(lib, strategy, ops):
    capacity = 5
    model = model_for(capacity, strategy, max_resource_bytes=32, max_total_bytes=80)
    with open_session(lib, capacity=capacity, strategy=strategy, max_resource_bytes=32, max_total_bytes=80) as s:
        for op in ops:
            name = op[0]
            if name in ("create", "quiesce"):
                args = op[1:]
            else:
                args = (handle(op[1], op[2]), *op[3:])
            assert getattr(s, name)(*args) == getattr(model, name)(*args), op
            assert model.stats()[1].admits(s.stats()[1]), op
        status, report = s.shutdown()
        assert status == OK and model.shutdown()[1].admits(report)

