"""fh_last_error: message format, snprintf-like truncation, NULL rules (calling thread only).

Per-thread isolation is in test_threads.py.
"""

from __future__ import annotations

import re

import pytest

from abi_support import OK, SENTINEL, handle, open_session
from conftest import TARGETS, load_library
from fuzzharness.contract.header import U64_MAX, Status

pytestmark = pytest.mark.abi

S = Status
per_target = pytest.mark.parametrize("target", TARGETS)


@pytest.fixture
def lib(target, session_lock):
    return load_library(target)


def fetch(lib, cap: int, size: int = 256) -> tuple[int, int, bytes]:
    """fh_last_error into a buffer of ``size`` bytes pre-filled with 0xA5, told its capacity is ``cap``."""
    buf = lib.new("char[]", b"\xa5" * (size - 1))  # cffi appends a NUL: size bytes in all
    buf[size - 1] = b"\xa5"
    out_len = lib.new("size_t *", SENTINEL)
    status = lib.call_raw("fh_last_error", buf, cap, out_len)
    return status, out_len[0], bytes(lib.ffi.buffer(buf))


def message(lib) -> bytes:
    status, length, raw = fetch(lib, 1024, 1024)
    assert status == OK
    assert raw[length] == 0 and len(raw[:length]) == length
    return raw[:length]


def names_handle(text: str, h: int) -> bool:
    return re.search(rf"0x0*{h:x}\b", text, re.IGNORECASE) is not None


def error_cases(lib, s):
    """(function name, thunk causing an error, handle named or None), in an open session."""
    live = s.create(8)[1]
    snap = s.snapshot(live)[1]
    dead = s.create(4)[1]
    s.release(dead)
    future = handle(1, 9)
    return [
        ("fh_read", lambda: s.read(dead, 0, 1), dead),
        ("fh_write", lambda: s.write(future, 0, b"x"), future),
        ("fh_acquire", lambda: s.acquire(U64_MAX), U64_MAX),
        ("fh_release", lambda: s.release(dead), dead),
        ("fh_info", lambda: s.info(handle(0, 0)), handle(0, 0)),
        ("fh_snapshot", lambda: s.snapshot(dead), dead),
        ("fh_write", lambda: s.write(snap, 0, b"x"), snap),  # READ_ONLY
        ("fh_write", lambda: s.write(live, U64_MAX, b"x"), live),  # OVERFLOW
        ("fh_read", lambda: s.read(live, 5, 4), live),  # BOUNDS
        ("fh_create", lambda: s.create(U64_MAX), None),
        ("fh_write", lambda: lib.call_raw("fh_write", live, 0, None, 3), None),
        ("fh_get_stats", lambda: lib.call_raw("fh_get_stats", None), None),
        ("fh_shutdown", lambda: lib.call_raw("fh_shutdown", None), None),
        ("fh_init", lambda: lib.init(4, 0, 1 << 20, 1 << 20), None),
    ]


@per_target
def test_message_names_function_and_handle(lib):
    with open_session(lib, capacity=8) as s:
        for function, call, h in error_cases(lib, s):
            result = call()
            status = result[0] if isinstance(result, tuple) else result
            assert status != OK, function
            text = message(lib).decode()
            assert text.startswith(function + ":"), (function, text)
            assert len(text) > len(function) + 2, text  # it also says why
            if h is not None:
                assert names_handle(text, h), (function, hex(h), text)


@per_target
def test_message_for_not_initialized(lib):
    assert lib.create(1)[0] == S.NOT_INITIALIZED
    assert message(lib).startswith(b"fh_create:")
    assert lib.quiesce()[0] == S.NOT_INITIALIZED
    assert message(lib).startswith(b"fh_quiesce:")  # the latest error wins


@per_target
def test_ok_calls_do_not_clear_the_message(lib):
    with open_session(lib, capacity=2) as s:
        assert s.info(handle(0, 1))[0] == S.INVALID_HANDLE
        first = message(lib)
        h = s.create(4)[1]
        assert s.write(h, 0, b"abcd") == (OK, None)
        assert s.read(h, 0, 4) == (OK, b"abcd")
        assert s.stats()[0] == OK
        assert message(lib) == first
        assert message(lib) == first  # fh_last_error itself does not clear it either


@per_target
def test_truncation(lib):
    with open_session(lib, capacity=2) as s:
        assert s.release(handle(1, 3))[0] == S.INVALID_HANDLE
        full = message(lib)
        n = len(full)
        assert n > 10
        for cap in (1, 2, 5, n - 1, n, n + 1, n + 50):
            status, out_len, raw = fetch(lib, cap)
            assert status == OK, cap
            assert out_len == n, cap  # always the full length
            kept = min(cap - 1, n)
            assert raw[:kept] == full[:kept], cap
            assert raw[kept] == 0, cap  # NUL-terminated
            assert raw[kept + 1 :] == b"\xa5" * (len(raw) - kept - 1), cap  # nothing written past it


@per_target
def test_cap_zero_and_null_rules(lib):
    with open_session(lib, capacity=2) as s:
        assert s.acquire(0)[0] == S.INVALID_HANDLE
        n = len(message(lib))
        out_len = lib.new("size_t *", SENTINEL)
        assert lib.call_raw("fh_last_error", None, 0, out_len) == OK
        assert out_len[0] == n
        # cap 0 with a real buffer: nothing written, not even the NUL.
        status, length, raw = fetch(lib, 0)
        assert (status, length) == (OK, n)
        assert raw == b"\xa5" * len(raw)
        # out_len is required; buf may be NULL only when cap is 0.
        buf = lib.new("char[]", b"\xa5" * 15)
        assert lib.call_raw("fh_last_error", buf, 16, None) == S.NULL_ARGUMENT
        assert bytes(lib.ffi.buffer(buf)) == b"\xa5" * 15 + b"\x00"  # untouched
        assert lib.call_raw("fh_last_error", None, 0, None) == S.NULL_ARGUMENT
        out_len[0] = SENTINEL
        assert lib.call_raw("fh_last_error", None, 16, out_len) == S.NULL_ARGUMENT
        assert out_len[0] == SENTINEL
