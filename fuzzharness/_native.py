"""The only module that touches cffi's ``ffi`` and ``lib``.

It loads one target library (a Go c-shared or Rust cdylib implementing the
contract) in cffi ABI mode, with one ``cffi.FFI`` per library whose cdef is read
from the canonical declarations file, and wraps every contract function into a
method returning ``(status, value)`` with plain Python values. Nothing else in
the harness sees a cdata object.

Loading follows ``shared/TOOLCHAIN-FACTS.md``: RTLD_LOCAL (identical names in two
libraries do not clash), RTLD_NODELETE (no unload at exit, which LeakSanitizer
would misreport), and :func:`faulthandler.enable` must already have been called
before a Go library is loaded (see :mod:`fuzzharness.worker`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import cffi

from .contract import DECLS_HEADER, TESTING_DECLS_HEADER
from .errors import TargetNotBuilt
from .model import ResourceInfo, StatsValue
from .program import MAX_READ_LEN

__all__ = ["Library", "CallRecorder", "bare_loop", "cdef_source"]

_DLOPEN_FLAGS = os.RTLD_NOW | os.RTLD_LOCAL | getattr(os, "RTLD_NODELETE", 0)


def cdef_source(with_testing: bool) -> str:
    """The cdef text: the contract's declarations, plus the test-only ones if asked."""
    text = DECLS_HEADER.read_text()
    if with_testing:
        text += "\n" + TESTING_DECLS_HEADER.read_text()
    return text


class Library:
    """One loaded target library. Methods mirror the contract functions."""

    def __init__(self, path: str | Path, with_testing: bool = False) -> None:
        path = Path(path)
        if not path.is_file():
            raise TargetNotBuilt(f"{path}: no such library (run 'fuzzharness build')")
        self.path = path
        self.ffi = ffi = cffi.FFI()
        ffi.cdef(cdef_source(with_testing))
        self.lib = ffi.dlopen(str(path), _DLOPEN_FLAGS)
        self.with_testing = with_testing
        self._handle_out = ffi.new("fh_handle *")
        self._stats_out = ffi.new("fh_stats *")
        self._info_out = ffi.new("fh_resource_info *")
        self._read_buf = ffi.new("uint8_t[]", MAX_READ_LEN)
        self._error_buf = ffi.new("char[]", 1024)
        self._error_len = ffi.new("size_t *")

    # -- session -------------------------------------------------------------------

    def abi_version(self) -> tuple[int, int]:
        major, minor = self.ffi.new("uint32_t *"), self.ffi.new("uint32_t *")
        status = self.lib.fh_abi_version(major, minor)
        if status != 0:
            raise RuntimeError(f"{self.path}: fh_abi_version returned status {status}")
        return major[0], minor[0]

    def init(self, capacity: int, strategy: int, max_resource_bytes: int, max_total_bytes: int) -> tuple[int, Any]:
        config = self.ffi.new(
            "fh_config *",
            {
                "capacity": capacity,
                "strategy": strategy,
                "max_resource_bytes": max_resource_bytes,
                "max_total_bytes": max_total_bytes,
                "flags": 0,
            },
        )
        return self.lib.fh_init(config), None

    def shutdown(self) -> tuple[int, Any]:
        status = self.lib.fh_shutdown(self._stats_out)
        return status, self._stats_value() if status == 0 else None

    def last_error(self) -> str:
        self.lib.fh_last_error(self._error_buf, len(self._error_buf), self._error_len)
        return self.ffi.string(self._error_buf).decode("utf-8", "replace")

    def set_mutant(self, mutant: int) -> int:
        if not self.with_testing:
            raise RuntimeError(f"{self.path}: loaded without the test-only declarations")
        return self.lib.fh_test_set_mutant(mutant)

    # -- resources -----------------------------------------------------------------

    def create(self, size: int) -> tuple[int, Any]:
        status = self.lib.fh_create(size, self._handle_out)
        return status, self._handle_out[0] if status == 0 else None

    def acquire(self, handle: int) -> tuple[int, Any]:
        return self.lib.fh_acquire(handle), None

    def release(self, handle: int) -> tuple[int, Any]:
        return self.lib.fh_release(handle), None

    def write(self, handle: int, offset: int, data: bytes) -> tuple[int, Any]:
        buf = self.ffi.from_buffer("uint8_t[]", data) if data else self.ffi.NULL
        return self.lib.fh_write(handle, offset, buf, len(data)), None

    def read(self, handle: int, offset: int, length: int) -> tuple[int, Any]:
        if length > MAX_READ_LEN:
            raise ValueError(f"read length {length} exceeds the harness buffer ({MAX_READ_LEN})")
        buf = self._read_buf if length else self.ffi.NULL
        status = self.lib.fh_read(handle, offset, buf, length)
        return status, bytes(self.ffi.buffer(self._read_buf, length)) if status == 0 else None

    def snapshot(self, handle: int) -> tuple[int, Any]:
        status = self.lib.fh_snapshot(handle, self._handle_out)
        return status, self._handle_out[0] if status == 0 else None

    def info(self, handle: int) -> tuple[int, Any]:
        status = self.lib.fh_info(handle, self._info_out)
        if status != 0:
            return status, None
        out = self._info_out
        return status, ResourceInfo(out.size, out.refs, bool(out.read_only))

    def stats(self) -> tuple[int, Any]:
        status = self.lib.fh_get_stats(self._stats_out)
        return status, self._stats_value() if status == 0 else None

    def quiesce(self) -> tuple[int, Any]:
        return self.lib.fh_quiesce(), None

    def _stats_value(self) -> StatsValue:
        s = self._stats_out
        return StatsValue(
            s.live_resources, s.live_bytes, s.created, s.reclaimed, s.pending_resources, s.pending_bytes
        )

    # -- raw access for ABI tests ---------------------------------------------------

    def call_raw(self, function: str, *args: Any) -> int:
        """Call a contract function with raw arguments (``None`` means NULL).

        For the ABI tests that pass NULL pointers or odd lengths; returns the status.
        """
        converted = [self.ffi.NULL if a is None else a for a in args]
        return getattr(self.lib, function)(*converted)

    def new(self, ctype: str, init: Any = None) -> Any:
        """Allocate a cdata for :meth:`call_raw` (ABI tests only)."""
        return self.ffi.new(ctype, init)


class CallRecorder:
    """Wraps a :class:`Library` and records every contract call made through it, so
    that :meth:`Library.bare_loop` can replay exactly the same calls without the
    harness around them (the throughput benchmark's baseline)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.library, name)
        if name in ("last_error", "abi_version"):
            return method

        def recorded(*args: Any) -> Any:
            self.calls.append((name, args))
            return method(*args)

        return recorded


def _prepare(library: Library, name: str, args: tuple) -> tuple[Any, tuple]:
    ffi, lib = library.ffi, library.lib
    if name == "init":
        capacity, strategy, max_resource, max_total = args
        config = ffi.new("fh_config *", [capacity, strategy, max_resource, max_total, 0])
        return lib.fh_init, (config,)
    if name == "shutdown":
        return lib.fh_shutdown, (library._stats_out,)
    if name == "create":
        return lib.fh_create, (args[0], library._handle_out)
    if name == "snapshot":
        return lib.fh_snapshot, (args[0], library._handle_out)
    if name == "write":
        handle, offset, data = args
        return lib.fh_write, (handle, offset, ffi.from_buffer("uint8_t[]", data) if data else ffi.NULL, len(data))
    if name == "read":
        handle, offset, length = args
        return lib.fh_read, (handle, offset, library._read_buf if length else ffi.NULL, length)
    if name == "info":
        return lib.fh_info, (args[0], library._info_out)
    if name == "stats":
        return lib.fh_get_stats, (library._stats_out,)
    if name == "quiesce":
        return lib.fh_quiesce, ()
    return getattr(lib, "fh_" + name), args


def bare_loop(library: Library, calls: list[tuple[str, tuple]], repeat: int = 1) -> float:
    """Replay recorded calls straight through cffi, ``repeat`` times; seconds per call.

    The calls must form whole sessions (init ... shutdown) so each replay starts clean.
    """
    prepared = [_prepare(library, name, args) for name, args in calls]
    start = time.perf_counter()
    for _ in range(repeat):
        for function, args in prepared:
            function(*args)
    return (time.perf_counter() - start) / (len(prepared) * repeat)
