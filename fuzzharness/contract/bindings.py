"""The only module that touches cffi's ``ffi`` and ``lib``.

It loads one target library (a Go c-shared or Rust cdylib implementing the
contract) in cffi ABI mode, with one ``cffi.FFI`` per library whose cdef is read
from the canonical declarations file, and wraps every contract function into a
method returning ``(status, value)`` with plain Python values. Nothing else in
the harness sees a cdata object.

Loading follows ``shared/TOOLCHAIN-FACTS.md``: RTLD_LOCAL (identical names in two
libraries do not clash), RTLD_NODELETE (no unload at exit, which LeakSanitizer
would misreport), and :func:`faulthandler.enable` must already have been called
before a Go library is loaded (see :mod:`fuzzharness.execution.worker`).
"""

from __future__ import annotations

import hashlib as _hashlib
import importlib.util as _importlib_util
import os
import struct as _struct
import time
from pathlib import Path
from typing import Any
from typing import NamedTuple as _NamedTuple

import cffi

from fuzzharness.contract.header import DECLS_HEADER, TESTING_DECLS_HEADER
from fuzzharness.contract.header import PROJECT_ROOT as _PROJECT_ROOT
from fuzzharness.contract.values import MAX_READ_LEN, ResourceInfo, StatsValue
from fuzzharness.errors import MissingToolchain, TargetNotBuilt

__all__ = ["Library", "PairLibrary", "CallRecorder", "bare_loop", "cdef_source", "NativeRunner", "NativeOp", "NativeRecord", "build_runner",
           "NO_STEP", "LAST_ERROR_CAP", "REC_STRUCT", "OP_STRUCT"]  # fmt: skip

_DLOPEN_FLAGS = os.RTLD_NOW | os.RTLD_LOCAL | getattr(os, "RTLD_NODELETE", 0)
#: Buffer size for fh_last_error (bytes, NUL included): messages are kept up to cap - 1 bytes.
LAST_ERROR_CAP = 1024
_UNSUPPORTED = 11  #: FH_UNSUPPORTED (contract.Status), returned without a call by gated 1.1 wrappers


def lsan_leak_check() -> int | None:
    """Run LeakSanitizer now (``__lsan_do_recoverable_leak_check``): 1 if it found leaks
    (the report goes to fd 2), 0 if not, None if no sanitizer runtime is loaded.

    The runtime is preloaded into the process (see :mod:`fuzzharness.oracles.sanitizer`), so the
    symbol is found in the global namespace; ctypes, not cffi, because it is not part
    of any target's contract.
    """
    import ctypes

    try:
        check = ctypes.CDLL(None).__lsan_do_recoverable_leak_check
    except AttributeError:
        return None
    check.restype = ctypes.c_int
    return int(check())


__all__.append("lsan_leak_check")


def preload_global(path: str | Path) -> None:
    """Open a shared object RTLD_GLOBAL (and never unload it), so that libraries loaded
    later resolve their undefined symbols against it.

    For the coverage builds (:mod:`fuzzharness.lanes.coverage`): they leave libFuzzer's
    ``__sanitizer_cov_*`` hooks undefined, and atheris opens its libFuzzer RTLD_LOCAL
    (see shared/TOOLCHAIN-FACTS.md). ctypes, not cffi: nothing of it is called from here.
    """
    import ctypes

    ctypes.CDLL(str(path), mode=os.RTLD_NOW | os.RTLD_GLOBAL | getattr(os, "RTLD_NODELETE", 0))


__all__.append("preload_global")


def libfuzzer_path() -> Path:
    """atheris' ``core_with_libfuzzer*.so`` (found without importing atheris): what a
    coverage build needs preloaded (:func:`preload_global`) before it is loaded."""
    spec = _importlib_util.find_spec("atheris")
    if spec is None or not spec.submodule_search_locations:
        raise MissingToolchain("the coverage-guided lane needs atheris: pip install 'atheris>=2.3,<4'")
    for directory in spec.submodule_search_locations:
        found = sorted(Path(directory).glob("core_with_libfuzzer*.so"))
        if found:
            return found[0]
    raise MissingToolchain("atheris has no core_with_libfuzzer*.so: reinstall it (pip install 'atheris>=2.3,<4')")


__all__.append("libfuzzer_path")


def cdef_source(with_testing: bool) -> str:
    """The cdef text: the contract's declarations, plus the test-only ones if asked."""
    text = DECLS_HEADER.read_text()
    if with_testing:
        text += "\n" + TESTING_DECLS_HEADER.read_text()
    return text


class Library:
    """One loaded target library. Methods mirror the contract functions.

    The methods that take a handle, and ``create``, accept a runtime selector ``via``
    (see :mod:`fuzzharness.programs.sequential`) and ignore it: a single library is one runtime.
    Functions added by contract 1.1 (event flags, fh_drain_reclaim_events,
    fh_clock_ns, fh_backend_table, fh_attach_backend) are only called on a library
    whose ``fh_abi_version`` minor is at least 1 (:attr:`abi_minor`); on a 1.0
    library their wrappers return FH_UNSUPPORTED without calling anything, so the
    harness keeps driving 1.0 libraries.
    """

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
        self._error_buf = ffi.new("char[]", LAST_ERROR_CAP)
        self._error_len = ffi.new("size_t *")
        self._abi: tuple[int, int] | None = None

    # -- session -------------------------------------------------------------------

    def abi_version(self) -> tuple[int, int]:
        major, minor = self.ffi.new("uint32_t *"), self.ffi.new("uint32_t *")
        status = self.lib.fh_abi_version(major, minor)
        if status != 0:
            raise RuntimeError(f"{self.path}: fh_abi_version returned status {status}")
        self._abi = (major[0], minor[0])
        return major[0], minor[0]

    @property
    def abi_minor(self) -> int:
        """The library's contract minor version (1.1 functions need >= 1)."""
        return (self._abi or self.abi_version())[1]

    def init(
        self, capacity: int, strategy: int, max_resource_bytes: int, max_total_bytes: int, flags: int = 0
    ) -> tuple[int, Any]:
        if flags and self.abi_minor < 1:
            return _UNSUPPORTED, None  # a 1.0 library has no flags (it would refuse them)
        config = self.ffi.new(
            "fh_config *",
            {
                "capacity": capacity,
                "strategy": strategy,
                "max_resource_bytes": max_resource_bytes,
                "max_total_bytes": max_total_bytes,
                "flags": flags,
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

    def create(self, size: int, via: str | None = None) -> tuple[int, Any]:
        status = self.lib.fh_create(size, self._handle_out)
        return status, self._handle_out[0] if status == 0 else None

    def acquire(self, handle: int, via: str | None = None) -> tuple[int, Any]:
        return self.lib.fh_acquire(handle), None

    def release(self, handle: int, via: str | None = None) -> tuple[int, Any]:
        return self.lib.fh_release(handle), None

    def write(self, handle: int, offset: int, data: bytes, via: str | None = None) -> tuple[int, Any]:
        buf = self.ffi.from_buffer("uint8_t[]", data) if data else self.ffi.NULL
        return self.lib.fh_write(handle, offset, buf, len(data)), None

    def read(self, handle: int, offset: int, length: int, via: str | None = None) -> tuple[int, Any]:
        if length > MAX_READ_LEN:
            raise ValueError(f"read length {length} exceeds the harness buffer ({MAX_READ_LEN})")
        buf = self._read_buf if length else self.ffi.NULL
        status = self.lib.fh_read(handle, offset, buf, length)
        return status, bytes(self.ffi.buffer(self._read_buf, length)) if status == 0 else None

    def snapshot(self, handle: int, via: str | None = None) -> tuple[int, Any]:
        status = self.lib.fh_snapshot(handle, self._handle_out)
        return status, self._handle_out[0] if status == 0 else None

    def info(self, handle: int, via: str | None = None) -> tuple[int, Any]:
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

    # -- 1.1 ------------------------------------------------------------------------------

    def drain_reclaim_events(self, cap: int = 1024) -> tuple[int, Any]:
        """``fh_drain_reclaim_events``: (status, (events, dropped)) where each event is
        a tuple (handle, bytes, released_ns, freed_ns, strategy). FH_UNSUPPORTED on a
        1.0 library (no call made)."""
        if self.abi_minor < 1:
            return _UNSUPPORTED, None
        buf = self.ffi.new("fh_reclaim_event[]", max(cap, 1))
        n, dropped = self.ffi.new("size_t *"), self.ffi.new("uint64_t *")
        status = self.lib.fh_drain_reclaim_events(buf, cap, n, dropped)
        if status != 0:
            return status, None
        events = [(e.handle, e.bytes, e.released_ns, e.freed_ns, e.strategy) for e in (buf[i] for i in range(n[0]))]
        return status, (events, dropped[0])

    def clock_ns(self) -> tuple[int, Any]:
        """``fh_clock_ns``: (status, CLOCK_MONOTONIC ns as the library reads it).
        FH_UNSUPPORTED on a 1.0 library (no call made)."""
        if self.abi_minor < 1:
            return _UNSUPPORTED, None
        out = self.ffi.new("uint64_t *")
        status = self.lib.fh_clock_ns(out)
        return status, out[0] if status == 0 else None

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


class PairLibrary:
    """A cross-runtime pair (contract 1.1, "CROSS-RUNTIME TARGETS"): an owner library
    and a foreign front loaded into this process and attached, so that ONE session
    serves both and every call may go through either runtime on the same handles.

    Loading order: the owner first, the foreign front (the Go library) last, after
    :func:`faulthandler.enable` (the worker's duty). Then
    ``owner.fh_backend_table(&b); foreign.fh_attach_backend(&b)``: once per process,
    so a process that made a pair never uses that foreign library on its own again.

    The method surface is :class:`Library`'s. Each call's runtime is chosen by
    ``via``: ``None`` or ``"foreign"`` (or the foreign member's target name, e.g.
    ``"go"``) -> the foreign front, the pair's default runtime; ``"owner"`` (or the
    owner's name, e.g. ``"rust"``) -> the owner. ``init`` / ``shutdown`` always go
    through the foreign front (which forwards them to the owner); ``stats`` and
    ``quiesce`` take ``via`` too. :meth:`last_error` reads the message of the
    runtime that made the last call (or of ``via``). Both libraries must implement
    contract 1.1 (else :class:`~fuzzharness.errors.AbiMismatch`).
    """

    def __init__(
        self,
        owner_path: str | Path,
        foreign_path: str | Path,
        owner_testing: bool = False,
        foreign_testing: bool = False,
        names: tuple[str, str] = ("owner", "foreign"),
    ) -> None:
        from fuzzharness.errors import AbiMismatch

        self.owner = Library(owner_path, with_testing=owner_testing)
        self.foreign = Library(foreign_path, with_testing=foreign_testing)
        self.path = self.foreign.path
        self.with_testing = owner_testing or foreign_testing
        for member in (self.owner, self.foreign):
            major, minor = member.abi_version()
            if minor < 1:
                raise AbiMismatch(
                    f"{member.path} implements contract ABI {major}.{minor}: a cross-runtime pair needs >= 1.1 "
                    "(fh_backend_table / fh_attach_backend); rebuild the target"
                )
        self._route = {None: self.foreign, "foreign": self.foreign, names[1]: self.foreign,
                       "owner": self.owner, names[0]: self.owner}  # fmt: skip
        self._last = self.foreign
        self.attach_status = self.attach()
        if self.attach_status != 0:
            raise RuntimeError(f"attaching {self.foreign.path} to {self.owner.path}: status {self.attach_status} "
                               f"({self.foreign.last_error() or self.owner.last_error()})")  # fmt: skip

    def attach(self) -> int:
        """``owner.fh_backend_table(&b); foreign.fh_attach_backend(&b)``; the status of the
        first failing call (done by the constructor; a second attach gives
        FH_ALREADY_INITIALIZED, which the ABI tests check)."""
        backend = self.owner.ffi.new("fh_backend *")
        status = self.owner.lib.fh_backend_table(backend)
        if status != 0:
            return status
        # The two libraries have FFI instances of their own: hand the struct over by address.
        as_foreign = self.foreign.ffi.cast("fh_backend *", self.owner.ffi.cast("uintptr_t", backend))
        return self.foreign.lib.fh_attach_backend(as_foreign)

    def member(self, via: str | None) -> Library:
        try:
            return self._route[via]
        except KeyError:
            raise ValueError(f"unknown runtime selector {via!r} (known: {', '.join(map(str, self._route))})") from None

    def _on(self, via: str | None) -> Library:
        self._last = lib = self.member(via)
        return lib

    # -- session (through the foreign front) --------------------------------------------

    def abi_version(self) -> tuple[int, int]:
        """The pair's version: the lower minor; a member whose major is not the
        harness's shows (the supervisor refuses it)."""
        from fuzzharness.contract.header import ABI_MAJOR

        (omaj, omin), (fmaj, fmin) = self.owner.abi_version(), self.foreign.abi_version()
        return (omaj if omaj != ABI_MAJOR else fmaj, min(omin, fmin))

    @property
    def abi_minor(self) -> int:
        return self.abi_version()[1]

    def init(self, capacity: int, strategy: int, max_resource_bytes: int, max_total_bytes: int,
             flags: int = 0) -> tuple[int, Any]:  # fmt: skip
        return self._on(None).init(capacity, strategy, max_resource_bytes, max_total_bytes, flags)

    def shutdown(self) -> tuple[int, Any]:
        return self._on(None).shutdown()

    def last_error(self, via: str | None = None) -> str:
        return (self._last if via is None else self.member(via)).last_error()

    def set_mutant(self, mutant: int) -> int:
        """Switch the mutant in every member built with mutant injection: OK if one
        member implements it (FH_UNSUPPORTED from the other is fine), else the first
        error (FH_INVALID_ARGUMENT wins over FH_UNSUPPORTED)."""
        statuses = [m.set_mutant(mutant) for m in (self.owner, self.foreign) if m.with_testing]
        if not statuses:
            raise RuntimeError(f"{self.path}: no member loaded with the test-only declarations")
        if 0 in statuses:
            return 0
        return min(statuses, key=lambda st: st != 12)

    # -- resources (either runtime) ----------------------------------------------------

    def create(self, size: int, via: str | None = None) -> tuple[int, Any]:
        return self._on(via).create(size)

    def acquire(self, handle: int, via: str | None = None) -> tuple[int, Any]:
        return self._on(via).acquire(handle)

    def release(self, handle: int, via: str | None = None) -> tuple[int, Any]:
        return self._on(via).release(handle)

    def write(self, handle: int, offset: int, data: bytes, via: str | None = None) -> tuple[int, Any]:
        return self._on(via).write(handle, offset, data)

    def read(self, handle: int, offset: int, length: int, via: str | None = None) -> tuple[int, Any]:
        return self._on(via).read(handle, offset, length)

    def snapshot(self, handle: int, via: str | None = None) -> tuple[int, Any]:
        return self._on(via).snapshot(handle)

    def info(self, handle: int, via: str | None = None) -> tuple[int, Any]:
        return self._on(via).info(handle)

    def stats(self, via: str | None = None) -> tuple[int, Any]:
        return self._on(via).stats()

    def quiesce(self, via: str | None = None) -> tuple[int, Any]:
        return self._on(via).quiesce()

    def drain_reclaim_events(self, cap: int = 1024, via: str | None = "owner") -> tuple[int, Any]:
        """The owner frees the memory, so its events are read by default."""
        return self.member(via).drain_reclaim_events(cap)

    def clock_ns(self, via: str | None = None) -> tuple[int, Any]:
        return self.member(via).clock_ns()

    def call_raw(self, function: str, *args: Any, via: str | None = None) -> int:
        """:meth:`Library.call_raw` on one runtime (cdata from :meth:`new` with the same via)."""
        return self._on(via).call_raw(function, *args)

    def new(self, ctype: str, init: Any = None, via: str | None = None) -> Any:
        return self.member(via).new(ctype, init)


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

        def recorded(*args: Any, via: str | None = None) -> Any:
            self.calls.append((name, args, via))  # via: the runtime of a pair (None otherwise)
            return method(*args, **({"via": via} if via is not None else {}))

        return recorded


def _prepare(library: Library, name: str, args: tuple, via: str | None = None) -> tuple[Any, tuple]:
    if isinstance(library, PairLibrary):  # the member library of the call's runtime
        library = library.member(None if name in ("init", "shutdown") else via)
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
    prepared = [_prepare(library, name, args, *via) for name, args, *via in calls]
    start = time.perf_counter()
    for _ in range(repeat):
        for function, args in prepared:
            function(*args)
    return (time.perf_counter() - start) / (len(prepared) * repeat)


# --------------------------------------------------------------------------- native runner
#
# The runner (fuzzharness/runner.c) is compiled with cffi's API mode into
# build/runner/, under a name that includes a hash of its source, so a stale
# build is never loaded; concurrent builders (pytest -n auto, several workers)
# are serialised by a file lock and the module is renamed into place whole.
# The runner receives the addresses of the functions of a Library that is
# already loaded (cffi ABI mode), so it calls the same code the rest of the
# harness does. Ops and records cross as packed structs (struct.pack /
# iter_unpack): one memmove per thread instead of a cffi call per field.


RUNNER_SOURCE = Path(__file__).with_name("runner.c")
RUNNER_DECLS = Path(__file__).with_name("runner_decls.h")
RUNNER_DIR = _PROJECT_ROOT / "build" / "runner"
#: Bytes kept of each fh_last_error message in stress runs (the full length is recorded
#: too); sequential programs use LAST_ERROR_CAP, as Library.last_error does.
RUNNER_MSG_CAP = 256

#: Op codes of the runner (enum fhr_code), in program.py's opcode order.
RUNNER_CODES = ("create", "acquire", "release", "write", "read", "snapshot", "info", "stats", "quiesce")
H_NONE, H_RAW, H_SHARED, H_LOCAL, H_SHARED_ADD, H_LOCAL_ADD = 0, 1, 2, 3, 4, 5
#: The progress value meaning "no step in flight".
NO_STEP = (1 << 64) - 1
P_NONE, P_YIELD, P_SPIN = 0, 1, 2

_OP_STRUCT = _struct.Struct("<BBBBIIIQQQ")
_REC_STRUCT = _struct.Struct("<iIQQIIQQ6Q")
#: One record of the runner's record buffer (fhr_rec): status, message length, handle, out,
#: refs, read_only, two timestamps, six stats counters.
REC_STRUCT = _REC_STRUCT
#: One op of the runner's op array (fhr_op).
OP_STRUCT = _OP_STRUCT
_CONTRACT_FUNCTIONS = ("create", "acquire", "release", "write", "read", "snapshot", "info", "stats", "quiesce",
                       "last_error")  # fmt: skip


class NativeOp(_NamedTuple):
    """One op for the runner. ``hkind``: H_NONE, H_RAW (``value`` is the handle),
    H_SHARED / H_LOCAL (``index`` into the shared pool / this thread's produced
    handles, XORed with ``value``), H_SHARED_ADD / H_LOCAL_ADD (the same plus ``value``,
    modulo 2^64: a nudged handle ``hK+delta``). ``arg``: create size or write/read offset;
    ``length``: read length; ``data``: write bytes. ``perturb``/``spin``: schedule
    perturbation before the call. ``via``: the runner table (0 the default runtime,
    1 the alternate: a pair's owner; ignored by a single-runtime runner)."""

    code: int
    hkind: int = H_NONE
    index: int = 0
    value: int = 0
    arg: int = 0
    length: int = 0
    data: bytes = b""
    perturb: int = P_NONE
    spin: int = 0
    via: int = 0


class NativeRecord(_NamedTuple):
    """What the runner recorded for one op (``status`` -1: refused, no call made)."""

    status: int
    handle: int
    out: int  #: create/snapshot: new handle (0 on error); info: size
    refs: int
    read_only: int
    t_invoke: int  #: CLOCK_MONOTONIC ns (0 when timestamps are off; read from the TSC where invariant)
    t_return: int
    stats: tuple[int, ...] | None
    data: bytes | None  #: read bytes on OK
    message: str | None  #: fh_last_error after a non-OK status


def _extension_name(prefix: str, decls_file: Path, source_file: Path) -> str:
    """The module name of a compiled extension: ``prefix`` + a digest of its sources and of
    cffi's version, so an edited source or another cffi is compiled anew, never reused."""
    digest = _hashlib.sha256(
        decls_file.read_bytes() + source_file.read_bytes() + cffi.__version__.encode()
    ).hexdigest()[:12]
    return f"{prefix}{digest}"


def _load_extension(name: str, path: Path) -> Any:
    """Import the compiled extension module ``name`` from ``path``."""
    spec = _importlib_util.spec_from_file_location(name, path)
    module = _importlib_util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runner_module_name() -> str:
    return _extension_name("_fh_runner_", RUNNER_DECLS, RUNNER_SOURCE)


def build_runner() -> Path:
    """Compile the runner if needed; returns the path of the extension module."""
    return _build_extension(_runner_module_name(), RUNNER_DIR, RUNNER_DECLS, RUNNER_SOURCE)


def _build_extension(name: str, directory: Path, decls_file: Path, source_file: Path) -> Path:
    """Compile a cffi API-mode extension (declarations + C source) into ``directory``
    as module ``name`` if it is not there yet, under a file lock; returns its path.
    Shared by the runner and the benchmark's load generator."""
    import fcntl
    import shutil
    import sysconfig
    import tempfile

    path = directory / (name + sysconfig.get_config_var("EXT_SUFFIX"))
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return path
        decls = decls_file.read_text()
        builder = cffi.FFI()
        builder.cdef(decls)
        builder.set_source(
            name,
            "#include <stdint.h>\n#include <stddef.h>\n" + decls + "\n" + source_file.read_text(),
            extra_compile_args=["-O2", "-pthread", "-Wall"],
            extra_link_args=["-pthread"],
        )
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=directory))
        try:
            built = Path(builder.compile(tmpdir=str(tmp)))
            os.rename(built, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


_RUNNER_MODULE: Any = None


def _runner_module() -> Any:
    global _RUNNER_MODULE
    if _RUNNER_MODULE is None:
        module = _load_extension(_runner_module_name(), build_runner())
        assert module.ffi.sizeof("fhr_op") == _OP_STRUCT.size, "fhr_op layout"
        assert module.ffi.sizeof("fhr_rec") == _REC_STRUCT.size, "fhr_rec layout"
        _RUNNER_MODULE = module
    return _RUNNER_MODULE


class NativeRunner:
    """Runs op programs on native threads against one loaded :class:`Library`."""

    def __init__(self, library: Library, progress: Any = None) -> None:
        """``progress``: an optional writable buffer of at least 8 bytes (e.g. an mmap the
        supervisor shares) where :meth:`run_sequential` publishes the op in flight."""
        module = _runner_module()
        self.ffi, self.lib = module.ffi, module.lib
        self._progress = self.ffi.from_buffer("uint64_t[]", progress) if progress is not None else self.ffi.NULL
        # A cross-runtime pair gets two tables: the default (its foreign front) and the
        # alternate (its owner), chosen per op by fhr_op.via (execution.native_vias).
        pair_owner = getattr(library, "owner", None)
        self.table = self._table(library.foreign if pair_owner is not None else library)
        self.has_alternate = pair_owner is not None
        if pair_owner is not None:
            self._alternate = self._table(pair_owner)
            self.table.alt = int(self.ffi.cast("uintptr_t", self._alternate))

    def _table(self, library: Any) -> Any:
        names = {"stats": "fh_get_stats"}
        table = self.ffi.new("fhr_table *")
        for field_name in _CONTRACT_FUNCTIONS:
            pointer = getattr(library.lib, names.get(field_name, "fh_" + field_name))
            setattr(table, field_name, int(library.ffi.cast("uintptr_t", pointer)))
        return table

    def clock(self) -> int:
        """CLOCK_MONOTONIC in ns, the runner's own clock."""
        return self.lib.fhr_clock()

    def clock_source(self) -> str:
        """What the invoke/return stamps are read from: ``tsc`` (invariant TSC, converted
        to CLOCK_MONOTONIC ns) or ``clock_gettime``."""
        return "tsc" if self.lib.fhr_clock_source() == 1 else "clock_gettime"

    def set_progress(self, step: int | None) -> None:
        """Publish the step in flight (None: no step) in the progress buffer, if any."""
        if self._progress != self.ffi.NULL:
            self._progress[0] = NO_STEP if step is None else step

    def run_sequential(self, ops: list[Any] | None, progress: bool = False, vias: bytes | None = None,
                       encoded: tuple | None = None) -> Any:  # fmt: skip
        """Run one op list on the calling thread, timestamps off, keeping fh_last_error
        messages as :meth:`Library.last_error` does (up to LAST_ERROR_CAP - 1 bytes). With
        ``progress``, i + 1 is stored in the progress buffer right before op i.

        ``ops``: :class:`NativeOp` values, or plain tuples of its first seven fields
        (code, hkind, index, value, arg, length, data); perturbations are ignored. This
        is the per-program path of ``fuzz`` (one call per program), so it reuses native
        buffers kept from one call to the next instead of allocating new ones.
        ``vias``: per op, the table (0 default, 1 alternate: a pair's owner); None: all 0.
        Returns a :class:`NativeRecord` per op.

        ``encoded``: instead of ``ops``, the op array already packed, ``(ops, n_ops,
        n_local, blob, out_len)`` (see :meth:`run_encoded`, which returns what this
        returns then). Every runner call of a sequential program goes through this
        method, so a crash's Python stack names it whichever form was used (triage
        reads the step in flight then, see fuzzharness.findings.triage).
        """
        records_wanted = encoded is None
        if encoded is None:
            encoded, reads, stats_ops = self._pack_sequential(ops, vias)
        packed, n_ops, n_local, blob, out_len = encoded
        ffi = self.ffi
        b = self._sequential_buffers(n_ops, out_len, len(blob))
        ffi.memmove(b["ops"], packed, len(packed))
        if blob:
            ffi.memmove(b["data"], blob, len(blob))
        th = b["thread"]
        th.n_ops, th.n_local, th.out_len = n_ops, n_local, out_len
        th.progress = self._progress if progress else ffi.NULL
        rc = self.lib.fhr_run(self.table, th, 1, ffi.NULL, 0, b["data"], len(blob), LAST_ERROR_CAP, 0)
        if rc != 0:
            raise RuntimeError(f"native runner failed (rc {rc})")
        out_bytes = ffi.buffer(b["out"], out_len)[:] if out_len else b""
        msgs, string = b["msgs"], ffi.string
        raw = ffi.buffer(b["recs"], _REC_STRUCT.size * n_ops)[:]
        if not records_wanted:
            return raw, out_bytes, lambda i: string(msgs + i * LAST_ERROR_CAP)
        records = []
        new = tuple.__new__  # a NativeRecord without the Python-level __new__ (hot loop)
        for i, (status, _, handle, value, refs, ro, t0, t1, s0, s1, s2, s3, s4, s5) in enumerate(
            _REC_STRUCT.iter_unpack(raw)
        ):
            data = message = stats = None
            if status == 0:
                if i in reads:
                    where, length = reads[i]
                    data = out_bytes[where : where + length]
                elif i in stats_ops:
                    stats = (s0, s1, s2, s3, s4, s5)
            elif status != -1:
                message = string(msgs + i * LAST_ERROR_CAP).decode("utf-8", "replace")
            records.append(new(NativeRecord, (status, handle, value, refs, ro, t0, t1, stats, data, message)))
        return records

    def run_sequential_raw(self, ops: list[Any], progress: bool = False, vias: bytes | None = None) -> tuple:
        """:meth:`run_sequential` without building records: ``(recs, out, reads, stats_ops,
        message)`` where ``recs`` is the runner's record buffer as one ``bytes``
        (:data:`REC_STRUCT` per op), ``out`` the bytes read, ``reads`` maps an op index to
        ``(where, length)`` in ``out``, ``stats_ops`` holds the indices of stats ops, and
        ``message(i)`` is op i's fh_last_error text (valid until the next run)."""
        encoded, reads, stats_ops = self._pack_sequential(ops, vias)
        raw, out_bytes, message = self.run_sequential(None, progress, encoded=encoded)
        return raw, out_bytes, reads, stats_ops, lambda i: message(i).decode("utf-8", "replace")

    @staticmethod
    def _pack_sequential(ops: list[Any], vias: bytes | None) -> tuple[tuple, dict[int, tuple[int, int]], set[int]]:
        """``ops`` as the runner's op array: ``((packed, n_ops, n_local, blob, out_len), reads, stats_ops)``."""
        pack = _OP_STRUCT.pack
        vias = vias or bytes(len(ops))
        packed = bytearray()
        blob = bytearray()
        out_len = n_local = 0
        reads: dict[int, tuple[int, int]] = {}
        stats_ops = set()
        for i, (code, hkind, index, value, arg, length, data, *_) in enumerate(ops):
            if code == 3:
                where, length = len(blob), len(data)
                blob += data
            elif code == 4:
                where = out_len
                reads[i] = (where, length)
                out_len += length
            else:
                where = length = 0
                n_local += code == 0 or code == 5
                if code == 7:
                    stats_ops.add(i)
            packed += pack(code, hkind, 0, vias[i], index, 0, length, value, arg, where)
        return (bytes(packed), len(ops), n_local, bytes(blob), out_len), reads, stats_ops

    def run_encoded(self, ops: bytes, n_ops: int, n_local: int, blob: bytes, out_len: int,
                    progress: bool = False) -> tuple[bytes, bytes, Any]:  # fmt: skip
        """Run ``n_ops`` ops already packed as the runner's op array (:data:`OP_STRUCT`
        each, ``data`` fields pointing into ``blob`` / the read output) on the calling
        thread, timestamps off: ``(recs, out, message)`` as :meth:`run_sequential_raw`,
        except that ``message(i)`` is the raw UTF-8 bytes (decoded only if needed).
        ``n_local``: how many ops produce a handle; ``out_len``: total bytes read."""
        return self.run_sequential(None, progress, encoded=(ops, n_ops, n_local, blob, out_len))

    def _sequential_buffers(self, n_ops: int, out_len: int, data_len: int) -> dict[str, Any]:
        """Native buffers for :meth:`run_sequential`, grown (doubling) when too small."""
        ffi = self.ffi
        b = getattr(self, "_seq", None)
        if b is None or b["cap"] < n_ops or b["out_cap"] < out_len or b["data_cap"] < data_len:
            old = b or {"cap": 32, "out_cap": 4096, "data_cap": 1024}
            cap, out_cap, data_cap = (max(old[k] * (2 if old[k] < need else 1), need)
                                      for k, need in (("cap", n_ops), ("out_cap", out_len), ("data_cap", data_len)))  # fmt: skip
            b = {"cap": cap, "out_cap": out_cap, "data_cap": data_cap, "ops": ffi.new("fhr_op[]", cap),
                 "recs": ffi.new("fhr_rec[]", cap), "local": ffi.new("uint64_t[]", cap),
                 "out": ffi.new("uint8_t[]", out_cap), "msgs": ffi.new("char[]", cap * LAST_ERROR_CAP),
                 "data": ffi.new("uint8_t[]", data_cap), "thread": ffi.new("fhr_thread *")}  # fmt: skip
            th = b["thread"]
            th.ops, th.recs, th.local, th.out, th.msgs = b["ops"], b["recs"], b["local"], b["out"], b["msgs"]
            self._seq = b
        return b

    def run(
        self, threads: list[list[NativeOp]], shared: list[int] = (), timestamps: bool = True, sync_wait_ns: int = 0,
        sync_quorum: int = 0, tickets: list[list[int]] | None = None, spread: bool = False,
        hooks: list[tuple[int, int, int]] | None = None,
    ) -> list[list[NativeRecord]]:  # fmt: skip
        """Run one op list per thread (one list: on the calling thread, sequentially;
        several: one OS thread each behind a start barrier); records per thread.
        ``sync_wait_ns``: the longest a re-synchronization op waits for the others;
        ``sync_quorum``: how many others it waits for (0: all). ``tickets``: per thread,
        per op, its place in the order in which the calls must start (gated replay).
        ``spread``: pin thread i to the i-th core the process may use. ``hooks``: per
        thread, the in-call perturbation's (seed, rate in 2^-32 units, spin iterations),
        for a target whose hook :meth:`install_perturb` installed."""
        prepared = self.prepare(threads, shared, sync_wait_ns=sync_wait_ns, sync_quorum=sync_quorum,
                                tickets=tickets, spread=spread, hooks=hooks)  # fmt: skip
        self.execute(prepared, timestamps)
        return self.collect(prepared)

    def prepare(
        self, threads: list[list[NativeOp]], shared: list[int] = (), msg_cap: int = RUNNER_MSG_CAP,
        progress: bool = False, sync_wait_ns: int = 0, sync_quorum: int = 0,
        tickets: list[list[int]] | None = None, spread: bool = False,
        hooks: list[tuple[int, int, int]] | None = None,
    ) -> Any:  # fmt: skip
        """Pack the op lists into native memory (separate, so a benchmark can time
        :meth:`execute` alone). ``progress``: the first thread publishes its progress."""
        ffi = self.ffi
        blob = bytearray()
        keep: list[Any] = []
        cthreads = ffi.new("fhr_thread[]", max(len(threads), 1))
        layouts = []
        turn = ffi.new("uint32_t *")
        keep.append(turn)
        for t, ops in enumerate(threads):
            packed = bytearray()
            out_len = 0
            reads = []
            for op in ops:
                if op.code == 3:  # write: its bytes go into the shared data blob
                    where, length = len(blob), len(op.data)
                    blob += op.data
                elif op.code == 4:
                    where, length = out_len, op.length
                    out_len += length
                else:
                    where, length = 0, 0
                reads.append((where, length) if op.code == 4 else None)
                packed += _OP_STRUCT.pack(op.code, op.hkind, op.perturb, op.via, op.index, op.spin, length,
                                          op.value, op.arg, where)  # fmt: skip
            n = len(ops)
            n_local = sum(1 for op in ops if op.code in (0, 5))
            c_ops = ffi.new("fhr_op[]", max(n, 1))
            ffi.memmove(c_ops, bytes(packed), len(packed))
            recs = ffi.new("fhr_rec[]", max(n, 1))
            local = ffi.new("uint64_t[]", max(n_local, 1))
            out = ffi.new("uint8_t[]", max(out_len, 1))
            msgs = ffi.new("char[]", max(n, 1) * msg_cap)
            keep += [c_ops, recs, local, out, msgs]
            ct = cthreads[t]
            ct.ops, ct.n_ops, ct.n_local, ct.recs, ct.local = c_ops, n, n_local, recs, local
            ct.out, ct.out_len, ct.msgs = out, out_len, msgs
            ct.sync_wait, ct.sync_quorum, ct.spread = int(sync_wait_ns), int(sync_quorum), int(spread)
            if hooks is not None:
                ct.hook_seed, ct.hook_rate, ct.hook_spin = hooks[t]
            if tickets is not None:
                if len(tickets[t]) != n:
                    raise ValueError(f"thread {t}: {len(tickets[t])} tickets for {n} ops")
                c_tickets = ffi.new("uint32_t[]", list(tickets[t]) or [0])
                keep.append(c_tickets)
                ct.tickets, ct.turn = c_tickets, turn
            if progress and t == 0:
                ct.progress = self._progress
            layouts.append((ops, recs, out, msgs, reads))
        data = bytes(blob) or b"\0"
        c_shared = ffi.new("uint64_t[]", list(shared) or [0])
        c_data = ffi.new("uint8_t[]", data)
        return (cthreads, len(threads), c_shared, len(shared), c_data, len(blob), layouts, keep, msg_cap)

    def execute(self, prepared: Any, timestamps: bool = True) -> int:
        """Run prepared programs; returns the wall time of the native call in ns."""
        cthreads, n_threads, c_shared, n_shared, c_data, data_len, _, _, msg_cap = prepared
        start = self.lib.fhr_clock()
        rc = self.lib.fhr_run(self.table, cthreads, n_threads, c_shared, n_shared, c_data, data_len,
                              msg_cap, 1 if timestamps else 0)  # fmt: skip
        elapsed = self.lib.fhr_clock() - start
        if rc != 0:
            raise RuntimeError(f"native runner failed to start its threads (rc {rc})")
        return elapsed

    def collect(self, prepared: Any) -> list[list[NativeRecord]]:
        """The records of an executed :meth:`prepare` result, per thread."""
        ffi = self.ffi
        results = []
        cap = prepared[8]
        for ops, recs, out, msgs, reads in prepared[6]:
            raw = ffi.buffer(recs, _REC_STRUCT.size * len(ops))
            out_bytes = bytes(ffi.buffer(out, len(out)))
            msg_bytes = bytes(ffi.buffer(msgs, len(msgs)))
            records = []
            for i, (op, fields) in enumerate(zip(ops, _REC_STRUCT.iter_unpack(raw))):
                status, msg_len, handle, value, refs, ro, t0, t1, *stats = fields
                data = None
                if reads[i] is not None and status == 0:
                    where, length = reads[i]
                    data = out_bytes[where : where + length]
                message = None
                if status not in (0, -1):
                    chunk = msg_bytes[i * cap : (i + 1) * cap]
                    message = chunk.split(b"\0", 1)[0].decode("utf-8", "replace")
                records.append(NativeRecord(status, handle, value, refs, ro, t0, t1,
                                            tuple(stats) if op.code == 7 and status == 0 else None,
                                            data, message))  # fmt: skip
            results.append(records)
        return results

    def bare_loop(self, code: int, handle: int, offset: int, length: int, n: int) -> float:
        """Nanoseconds per call of one contract function called ``n`` times in a C loop."""
        buf = self.ffi.new("uint8_t[]", max(length, 1))
        return self.lib.fhr_bare_loop(self.table, code, handle, offset, length, buf, n)

    def install_perturb(self, library: Any) -> bool:
        """Install the runner's in-call perturbation hook (``fhr_hook``) in a target's
        test build through ``fh_test_set_perturb``; False when the library has no such
        export (a release build, a pair) or refuses it."""
        try:
            setter = library.lib.fh_test_set_perturb
        except (AttributeError, NotImplementedError):
            return False
        address = int(self.ffi.cast("uintptr_t", self.ffi.addressof(self.lib, "fhr_hook")))
        return setter(library.ffi.cast("fh_perturb_hook", address)) == 0

    def spin_ns(self, iterations: int = 20000) -> float:
        """Nanoseconds one iteration of the runner's perturbation spin takes (min of 5),
        to size spins in units of a target's call time (schedule ``unit="call"``)."""
        return self.lib.fhr_spin_ns(iterations)


# =========================================================================== bench
#
# The benchmark's native parts (fuzzharness/bench.py; section owned by it): the
# load generator (fuzzharness/bench_load.c, compiled like the runner into
# build/bench/), a batch drain of fh_reclaim_event records that hands them over
# as raw bytes (bench.py reads them with numpy: millions of events per second
# would not go through Library.drain_reclaim_events' per-event tuples), and
# fh_clock_ns that raises instead of returning a status.

BENCH_SOURCE = Path(__file__).with_name("bench_load.c")
BENCH_DECLS = Path(__file__).with_name("bench_decls.h")
BENCH_DIR = _PROJECT_ROOT / "build" / "bench"
#: The op mix of the load generator (enum fhb_op), in order.
BENCH_OPS = ("replace", "acqrel", "write", "read", "snapshot")
#: sizeof(fh_reclaim_event): handle, bytes, released_ns, freed_ns (u64), strategy, reserved (u32).
RECLAIM_EVENT_SIZE = 40
_BENCH_TABLE_FIELDS = ("create", "acquire", "release", "write", "read", "snapshot", "last_error")
_BENCH_MODULE: Any = None

__all__ += ["build_bench_load", "EventDrain", "LoadGenerator", "BENCH_OPS",
            "RECLAIM_EVENT_SIZE"]  # fmt: skip


def _bench_module_name() -> str:
    return _extension_name("_fh_bench_", BENCH_DECLS, BENCH_SOURCE)


def build_bench_load() -> Path:
    """Compile the benchmark's load generator if needed; returns the extension's path."""
    return _build_extension(_bench_module_name(), BENCH_DIR, BENCH_DECLS, BENCH_SOURCE)


def _bench_module() -> Any:
    global _BENCH_MODULE
    if _BENCH_MODULE is None:
        _BENCH_MODULE = _load_extension(_bench_module_name(), build_bench_load())
    return _BENCH_MODULE


class EventDrain:
    """Drains fh_reclaim_event records of one library in batches of up to ``cap``."""

    def __init__(self, library: Library, cap: int = 1 << 16) -> None:
        ffi = library.ffi
        if ffi.sizeof("fh_reclaim_event") != RECLAIM_EVENT_SIZE:
            raise RuntimeError("fh_reclaim_event layout differs from the harness's")
        self.library, self.cap = library, cap
        self._buf = ffi.new("fh_reclaim_event[]", cap)
        self._n = ffi.new("size_t *")
        self._dropped = ffi.new("uint64_t *")

    def drain(self) -> tuple[int, bytes, int]:
        """One fh_drain_reclaim_events call: (status, raw events, dropped since the last drain).
        ``raw`` holds n * RECLAIM_EVENT_SIZE bytes (empty on a non-OK status)."""
        status = self.library.lib.fh_drain_reclaim_events(self._buf, self.cap, self._n, self._dropped)
        if status != 0:
            return status, b"", 0
        n = self._n[0]
        return status, bytes(self.library.ffi.buffer(self._buf, n * RECLAIM_EVENT_SIZE)), self._dropped[0]


class LoadGenerator:
    """Native threads doing the op mix (bench_load.c) through one table per runtime:
    ``libraries`` is [target] or, for a cross-runtime pair, [owner, foreign]."""

    def __init__(self, libraries: list[Library], threads: int, live: int, size: int, io_len: int,
                 weights: list[int], seed: int) -> None:  # fmt: skip
        module = _bench_module()
        self.ffi, self.lib = ffi, _ = module.ffi, module.lib
        self.tables = ffi.new("fhb_table[]", 2)
        for i, library in enumerate(libraries):
            for field_name in _BENCH_TABLE_FIELDS:
                pointer = getattr(library.lib, "fh_" + field_name)
                setattr(self.tables[i], field_name, int(library.ffi.cast("uintptr_t", pointer)))
        self.config = ffi.new("fhb_config *", {"n_threads": threads, "n_tables": len(libraries), "live": live,
                                               "size": size, "io_len": io_len, "weights": list(weights),
                                               "seed": seed})  # fmt: skip
        self.results = ffi.new("fhb_result[]", threads)
        self.threads = threads
        self._load = ffi.NULL

    def clock(self) -> int:
        return self.lib.fhb_clock()

    def start(self) -> None:
        """Start the threads (returns once they run the mix)."""
        self._load = self.lib.fhb_start(self.tables, self.config, self.results)
        if self._load == self.ffi.NULL:
            raise RuntimeError("load generator: could not start its threads (or a bad configuration)")

    def progress(self) -> int:
        """Contract calls made so far by all threads."""
        return self.lib.fhb_progress(self._load) if self._load != self.ffi.NULL else 0

    def stop(self) -> list[dict[str, Any]]:
        """Stop and join the threads; their results, one dict per thread."""
        if self._load != self.ffi.NULL:
            self.lib.fhb_stop(self._load)
            self._load = self.ffi.NULL
        out = []
        for r in self.results[0 : self.threads]:
            out.append({"mix_ops": r.mix_ops, "calls": r.calls, "per_op": dict(zip(BENCH_OPS, list(r.per_op))),
                        "calls_by_runtime": list(r.calls_by_runtime), "created": r.created, "died": r.died,
                        "errors": r.errors, "t_start": r.t_start, "t_end": r.t_end,
                        "first_error_status": r.first_error_status, "first_error_op": r.first_error_op,
                        "first_error": self.ffi.string(r.first_error).decode("utf-8", "replace")})  # fmt: skip
        return out


# =========================================================================== linearizability search
#
# The native search of fuzzharness/oracles/linearizability.py for the ownership model
# (fuzzharness/contract/lincheck.c, compiled like the runner into build/lincheck/). The
# oracle encodes a partition (fuzzharness.oracles.concurrent_model.native_search); this
# module only moves the packed records into native memory and drives the search.

LINCHECK_SOURCE = Path(__file__).with_name("lincheck.c")
LINCHECK_DECLS = Path(__file__).with_name("lincheck_decls.h")
LINCHECK_DIR = _PROJECT_ROOT / "build" / "lincheck"
#: fhl_op and fhl_res as packed by the encoder (layouts fixed by lincheck_decls.h)
SEARCH_OP = _struct.Struct("<BBBBiiiiIIIQQQQQ")
SEARCH_RES = _struct.Struct("<BBBBIIIQ")
#: fhl_advance outcomes
SEARCH_RUNNING, SEARCH_OK, SEARCH_ILLEGAL, SEARCH_MEMO_FULL, SEARCH_NO_MEMORY = 0, 1, 2, 3, 4
_SEARCH_MODULE: Any = None


def _search_module() -> Any:
    global _SEARCH_MODULE
    if _SEARCH_MODULE is None:
        name = _extension_name("_fh_lincheck_", LINCHECK_DECLS, LINCHECK_SOURCE)
        module = _load_extension(name, _build_extension(name, LINCHECK_DIR, LINCHECK_DECLS, LINCHECK_SOURCE))
        assert module.ffi.sizeof("fhl_op") == SEARCH_OP.size, "fhl_op layout"
        assert module.ffi.sizeof("fhl_res") == SEARCH_RES.size, "fhl_res layout"
        _SEARCH_MODULE = module
    return _SEARCH_MODULE


class NativeSearch:
    """One partition's search in native code (see lincheck.c): :meth:`advance` runs it
    in slices; the memo never grows past the bytes each slice is given."""

    def __init__(self, config: dict[str, int], ops: bytes, n_ops: int, resources: bytes, n_resources: int,
                 bindings: list[int], blob: bytes, capacity: int) -> None:  # fmt: skip
        module = _search_module()
        ffi, lib = module.ffi, module.lib
        self._ffi, self._lib = ffi, lib
        self.n_ops = n_ops
        cfg = ffi.new("fhl_config *")
        for name, value in config.items():
            setattr(cfg, name, value)
        self._keep = [cfg, ffi.new("fhl_op[]", max(n_ops, 1)), ffi.new("fhl_res[]", max(n_resources, 1)),
                      ffi.new("int32_t[]", list(bindings) or [0]), ffi.new("uint8_t[]", bytes(blob) or b"\0")]  # fmt: skip
        ffi.memmove(self._keep[1], ops, len(ops))
        ffi.memmove(self._keep[2], resources, len(resources))
        self._s = lib.fhl_new(cfg, self._keep[1], n_ops, self._keep[2], n_resources, self._keep[3], len(bindings),
                              self._keep[4], len(blob), capacity)  # fmt: skip
        if self._s == ffi.NULL:
            raise MemoryError(f"the native linearizability search could not allocate a partition of {n_ops} ops")

    def advance(self, iterations: int, memo_cap: int) -> int:
        """Up to ``iterations`` search steps, the memo bounded by ``memo_cap`` bytes; one of
        SEARCH_RUNNING, SEARCH_OK, SEARCH_ILLEGAL, SEARCH_MEMO_FULL, SEARCH_NO_MEMORY."""
        return self._lib.fhl_advance(self._s, iterations, max(int(memo_cap), 0))

    @property
    def memo_bytes(self) -> int:
        return self._lib.fhl_memo_bytes(self._s) if self._s is not None else 0

    @property
    def iterations(self) -> int:
        return self._lib.fhl_iterations(self._s) if self._s is not None else 0

    def longest(self) -> list[int]:
        """Op indices of the longest linearizable prefix found (the whole order when ok)."""
        out = self._ffi.new("uint32_t[]", max(self.n_ops, 1))
        n = self._lib.fhl_longest(self._s, out, self.n_ops)
        return list(out[0:n])

    def stuck(self) -> int | None:
        i = self._lib.fhl_stuck(self._s)
        return None if i < 0 else i

    def close(self) -> None:
        """Free the native memory (the memo above all); the results read so far stay."""
        if self._s is not None:
            self._lib.fhl_free(self._s)
            self._s = None

    def __del__(self) -> None:
        self.close()


__all__ += ["NativeSearch", "SEARCH_OP", "SEARCH_RES", "SEARCH_RUNNING", "SEARCH_OK", "SEARCH_ILLEGAL",
            "SEARCH_MEMO_FULL", "SEARCH_NO_MEMORY"]  # fmt: skip
