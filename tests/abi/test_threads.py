"""The Threads and Errors rules with real OS threads (cffi releases the GIL during calls).

Library's convenience methods share output buffers, so the threads here call the
contract through ``call_raw`` with buffers of their own.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from abi_support import (
    OK,
    TARGET_STRATEGIES,
    TARGET_STRATEGY_IDS,
    handle,
    last_error_raw,
    open_session,
    stats_consistent,
)
from conftest import TARGETS, load_library
from fuzzharness.contract.header import Status

pytestmark = pytest.mark.abi

S = Status
per_target = pytest.mark.parametrize("target", TARGETS)
per_strategy = pytest.mark.parametrize("target, strategy", TARGET_STRATEGIES, ids=TARGET_STRATEGY_IDS)

SIZE = 4096
DURATION = 0.4  # seconds of concurrent calls per test


@pytest.fixture
def lib(target, session_lock):
    return load_library(target)


def run_threads(*workers):
    """Run each worker in its own thread; re-raise the first failure."""
    with ThreadPoolExecutor(len(workers)) as pool:
        futures = [pool.submit(w) for w in workers]
        return [f.result(timeout=30) for f in futures]


def is_uniform(data: bytes) -> bool:
    return data == data[:1] * len(data)


# -- last-error isolation ------------------------------------------------------------------


@per_target
def test_last_error_is_per_thread(lib):
    rounds = 50
    with open_session(lib, capacity=4) as s:
        live = s.create(8)[1]
        dead = s.create(8)[1]
        s.release(dead)
        assert s.acquire(handle(3, 5))[0] == S.INVALID_HANDLE
        main_message = last_error_raw(lib)[1]
        barrier = threading.Barrier(3, timeout=10)

        def stale_info():
            info = lib.new("fh_resource_info *")
            for _ in range(rounds):
                assert lib.call_raw("fh_info", dead, info) == S.STALE_HANDLE
                barrier.wait()  # both errors happened before anyone reads
                text = last_error_raw(lib)[1]
                assert text.startswith("fh_info:") and f"{dead:x}" in text.lower(), text
                barrier.wait()

        def null_write():
            for _ in range(rounds):
                assert lib.call_raw("fh_write", live, 0, None, 3) == S.NULL_ARGUMENT
                barrier.wait()
                text = last_error_raw(lib)[1]
                assert text.startswith("fh_write:"), text
                barrier.wait()

        def no_error():
            buf = lib.new("uint8_t[]", 8)
            for _ in range(rounds):
                assert lib.call_raw("fh_read", live, 0, buf, 8) == OK
                barrier.wait()
                assert last_error_raw(lib) == (0, "")  # a thread without an error: empty message
                barrier.wait()

        run_threads(stale_info, null_write, no_error)
        assert last_error_raw(lib)[1] == main_message


# -- torn reads --------------------------------------------------------------------------------


@per_strategy
def test_reads_never_see_a_torn_write(lib, strategy):
    with open_session(lib, capacity=64, strategy=strategy) as s:
        h = s.create(SIZE)[1]
        deadline = time.monotonic() + DURATION
        counts = {}

        def writer(k):
            def work():
                # Writer k writes only even (k=0) or odd (k=1) uniform buffers.
                buffers = [lib.new("uint8_t[]", [k + 2 * i + 2] * SIZE) for i in range(4)]
                n = 0
                while time.monotonic() < deadline:
                    assert lib.call_raw("fh_write", h, 0, buffers[n % 4], SIZE) == OK
                    n += 1
                counts[f"w{k}"] = n

            return work

        def reader(name, snapshots):
            def work():
                buf = lib.new("uint8_t[]", SIZE)
                out = lib.new("fh_handle *")
                n = 0
                while time.monotonic() < deadline:
                    assert lib.call_raw("fh_read", h, 0, buf, SIZE) == OK
                    data = bytes(buf)
                    assert is_uniform(data), f"torn read: {sorted(set(data))}"
                    if snapshots:
                        assert lib.call_raw("fh_snapshot", h, out) == OK
                        snap = out[0]
                        assert lib.call_raw("fh_read", snap, 0, buf, SIZE) == OK
                        assert is_uniform(bytes(buf)), "torn snapshot"
                        assert lib.call_raw("fh_release", snap) == OK
                    n += 1
                counts[name] = n

            return work

        run_threads(writer(0), writer(1), reader("r", False), reader("rs", True))
        assert all(n > 10 for n in counts.values()), counts
        assert s.quiesce() == (OK, None)
        stats = s.stats()[1]
        assert (stats.live_resources, stats.live_bytes) == (1, SIZE)
        assert (stats.pending_resources, stats.pending_bytes) == (0, 0)
        assert stats.created == 1 + counts["rs"] and stats_consistent(stats)


# -- concurrent lifecycles ---------------------------------------------------------------------------


@per_strategy
def test_concurrent_create_release_keeps_data_and_counts(lib, strategy):
    threads = 4
    with open_session(lib, capacity=threads, strategy=strategy) as s:
        deadline = time.monotonic() + DURATION
        totals = {}

        def worker(k):
            def work():
                out = lib.new("fh_handle *")
                buf = lib.new("uint8_t[]", 256)
                mine = lib.new("uint8_t[]", [k + 1] * 256)
                n = 0
                while time.monotonic() < deadline:
                    assert lib.call_raw("fh_create", 256, out) == OK
                    h = out[0]
                    assert h & 0xFFFF_FFFF < threads and h >> 32 >= 1
                    assert lib.call_raw("fh_read", h, 0, buf, 256) == OK
                    assert bytes(buf) == bytes(256), "a new resource is not zero-filled"
                    assert lib.call_raw("fh_write", h, 0, mine, 256) == OK
                    assert lib.call_raw("fh_acquire", h) == OK
                    assert lib.call_raw("fh_release", h) == OK
                    assert lib.call_raw("fh_read", h, 0, buf, 256) == OK
                    assert bytes(buf) == bytes([k + 1]) * 256, "another resource's data"
                    assert lib.call_raw("fh_release", h) == OK
                    assert lib.call_raw("fh_release", h) == S.STALE_HANDLE
                    n += 1
                totals[k] = n

            return work

        run_threads(*(worker(k) for k in range(threads)))
        created = sum(totals.values())
        assert created > threads * 10, totals
        assert s.quiesce() == (OK, None)
        stats = s.stats()[1]
        assert (stats.live_resources, stats.live_bytes, stats.created, stats.reclaimed) == (0, 0, created, created)
        assert (stats.pending_resources, stats.pending_bytes) == (0, 0)


@per_strategy
def test_concurrent_acquire_release_on_one_resource(lib, strategy):
    threads, rounds = 4, 2000
    with open_session(lib, capacity=2, strategy=strategy) as s:
        h = s.create(16)[1]

        def work():
            for _ in range(rounds):
                assert lib.call_raw("fh_acquire", h) == OK
            for _ in range(rounds):
                assert lib.call_raw("fh_release", h) == OK

        run_threads(*([work] * threads))
        assert s.info(h)[1].refs == 1
        assert s.release(h) == (OK, None)
        assert s.info(h) == (S.STALE_HANDLE, None)
        assert s.quiesce() == (OK, None)
        stats = s.stats()[1]
        assert (stats.live_resources, stats.created, stats.reclaimed) == (0, 1, 1)
