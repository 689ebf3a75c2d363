"""Memory oracles: running workers under AddressSanitizer, and reading what crashed them.

Two halves, both free of cffi:

**The worker environment** (:func:`worker_environment`). A variant declared with
``sanitizer = "asan"`` in ``targets/registry.toml`` is a library built with
AddressSanitizer (Rust ``-Zsanitizer=address`` on stable with ``RUSTC_BOOTSTRAP``,
Go ``-asan``). Such a library leaves ``__asan_*`` undefined, so its worker runs with
GCC's ``libasan.so`` preloaded (``gcc -print-file-name=libasan.so``; GCC's runtime
works with Rust's LLVM instrumentation, see ``shared/TOOLCHAIN-FACTS.md``), with:

* ``halt_on_error=1:abort_on_error=0``: the first memory error ends the worker with
  a report on stderr (exit status :data:`ASAN_EXITCODE`), which the supervisor keeps
  as a crash and :func:`parse_report` reads;
* ``detect_leaks=1:leak_check_at_exit=0``: LeakSanitizer is armed, but it runs only
  when the worker asks for it (``__lsan_do_recoverable_leak_check`` after every
  program, see :mod:`fuzzharness.execution.worker`), so every leak is pinned on the program
  that caused it, and the interpreter's own exit never reports anything;
* ``PYTHONMALLOC=malloc``: with pymalloc, LSan sees ~120 false leaks in arena
  memory; with the system allocator it sees none. The suppressions file
  (:data:`LSAN_SUPPRESSIONS`) names only CPython allocator frames, never
  ``_cffi_backend`` or ``ffi_call`` (every real leak through cffi has those);
* the Rust library is opened with ``RTLD_NODELETE`` by :mod:`fuzzharness.contract.bindings`
  (an unloaded slab would look leaked).

**The parser** (:func:`parse_report`). Whatever a dead or leaking worker printed
-- an ASan or LSan report, a Go ``panic:``/``fatal error:`` with its goroutine
trace, a cgo pointer-check failure, a Rust panic that could not unwind, or
Python's fault handler stack -- becomes a :class:`CrashReport`: a ``kind`` that
names the bug class (``heap-use-after-free``, ``double-free``, ``leak``,
``go-panic`` ...), the access (``READ of size 1``), the stack frames (demangled;
Python, cffi, libffi, libc and sanitizer-runtime frames trimmed) and a *crash
state*: the kind plus the top three frames in project code, as ClusterFuzz
deduplicates crashes. Addresses, sizes and pids never enter the state, so one bug
found twice has one state.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from fuzzharness.contract.header import PROJECT_ROOT

__all__ = [
    "Frame",
    "CrashReport",
    "parse_report",
    "worker_environment",
    "libasan_path",
    "LSAN_SUPPRESSIONS",
    "ASAN_EXITCODE",
    "STATE_DEPTH",
    "demangle",
]

#: Exit status of a worker stopped by an ASan report (distinct from the worker's own 0/3).
ASAN_EXITCODE = 86
#: Frames of project code in a crash state (ClusterFuzz uses 3).
STATE_DEPTH = 3
LSAN_SUPPRESSIONS = PROJECT_ROOT / "targets" / "lsan.supp"


# ----------------------------------------------------------------------------- environment


@functools.lru_cache(maxsize=None)
def libasan_path() -> str:
    """The ASan runtime to preload: GCC's ``libasan.so`` (absolute path)."""
    from fuzzharness.errors import MissingToolchain

    gcc = shutil.which("gcc")
    if gcc is None:
        raise MissingToolchain("sanitizer variants need gcc's libasan (Debian: apt-get install gcc)")
    path = subprocess.run([gcc, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        raise MissingToolchain(f"gcc has no libasan.so ({path!r}); install libasan (Debian: apt-get install gcc)")
    return os.path.realpath(path)


def worker_environment(sanitizer: str | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """Extra environment for a worker of a variant built with ``sanitizer`` (None: nothing).

    Options already present in ``base`` (the user's ``ASAN_OPTIONS``) come first, so
    ours win where they clash: the harness depends on them.
    """
    if sanitizer is None:
        return {}
    base = base if base is not None else dict(os.environ)
    asan = ":".join([
        "halt_on_error=1", "abort_on_error=0", f"exitcode={ASAN_EXITCODE}",
        "detect_leaks=1", "leak_check_at_exit=0", "symbolize=1", "print_summary=1",
        "allocator_may_return_null=1", "handle_segv=1", "handle_abort=0",
        "detect_stack_use_after_return=0", "verify_asan_link_order=0",
    ])  # fmt: skip
    lsan = ":".join([f"suppressions={LSAN_SUPPRESSIONS}", "print_suppressions=0", "report_objects=1"])
    preload = " ".join(filter(None, [libasan_path(), base.get("LD_PRELOAD")]))
    return {
        "LD_PRELOAD": preload,
        "ASAN_OPTIONS": ":".join(filter(None, [base.get("ASAN_OPTIONS"), asan])),
        "LSAN_OPTIONS": ":".join(filter(None, [base.get("LSAN_OPTIONS"), lsan])),
        "PYTHONMALLOC": "malloc",
        "FUZZHARNESS_SANITIZER": sanitizer,
    }


# ----------------------------------------------------------------------------- the parser


@dataclass(frozen=True)
class Frame:
    """One stack frame: a function and, when known, ``file:line`` (else the module)."""

    function: str
    location: str = ""
    project: bool = False

    def __str__(self) -> str:
        return f"{self.function} {self.location}".strip()


@dataclass
class CrashReport:
    """What a sanitizer, a runtime or the fault handler said about a dead or leaking worker.

    ``kind``: ``heap-use-after-free``, ``double-free``, ``heap-buffer-overflow``,
    ``leak``, any other ASan bug type as ASan names it (``SEGV``,
    ``stack-buffer-overflow``, ...), ``go-panic``, ``go-fatal``, ``cgo-pointer-check``,
    ``rust-panic-abort``, ``rust-panic``, ``signal`` (only a fault handler stack) or
    ``unknown``. ``tool`` says who reported it (asan, lsan, go, rust, python).
    """

    kind: str
    tool: str
    headline: str = ""
    access: str = ""
    frames: list[Frame] = field(default_factory=list)
    #: for ASan: where the memory was freed / allocated; for LSan: the leak's allocation stack
    freed_by: list[Frame] = field(default_factory=list)
    allocated_by: list[Frame] = field(default_factory=list)
    leaked_bytes: int = 0
    leaked_objects: int = 0

    @property
    def project_frames(self) -> list[Frame]:
        frames = self.frames if self.kind != "leak" else self.allocated_by
        return [f for f in frames if f.project]

    @property
    def location(self) -> str:
        """The top project frame with its file:line (or the top frame at all)."""
        frames = self.project_frames or (self.frames if self.kind != "leak" else self.allocated_by)
        return str(frames[0]) if frames else "no frames"

    @property
    def state(self) -> list[str]:
        """The crash state: kind, then the top project functions (up to :data:`STATE_DEPTH`)."""
        return [self.kind, *[f.function for f in self.project_frames[:STATE_DEPTH]]]

    def describe(self) -> str:
        text = self.kind + (f" ({self.access})" if self.access else "")
        return f"{text} in {self.location}"

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "tool": self.tool,
            "headline": self.headline,
            "access": self.access,
            "location": self.location,
            "state": self.state,
            "frames": [str(f) for f in self.frames[:16]],
            "freed_by": [str(f) for f in self.freed_by[:8]],
            "allocated_by": [str(f) for f in self.allocated_by[:8]],
            "leaked_bytes": self.leaked_bytes,
            "leaked_objects": self.leaked_objects,
        }


_RUST_HASH = re.compile(r"::h[0-9a-f]{16}\b")
_MANGLED = re.compile(r"\b_ZN[\w$.]+E\b|\b_R[\w$]+")


@functools.lru_cache(maxsize=4096)
def _cxxfilt(name: str) -> str:
    tool = shutil.which("c++filt")
    if tool is None:
        return name
    try:
        out = subprocess.run([tool, name], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return name
    return out or name


_RUST_ESCAPES = {
    "$LT$": "<", "$GT$": ">", "$u20$": " ", "$u7b$": "{", "$u7d$": "}", "$RF$": "&", "$BP$": "*",
    "$LP$": "(", "$RP$": ")", "$C$": ",", "$u5b$": "[", "$u5d$": "]", "$u27$": "'", "$SP$": "@",
}  # fmt: skip
_RUST_ESCAPE = re.compile("|".join(re.escape(k) for k in _RUST_ESCAPES))


def demangle(name: str) -> str:
    """A readable function name: Rust/C++ symbols demangled (c++filt), Rust legacy
    escapes (``_$LT$``, ``$u7b$``) undone, Rust hashes dropped."""
    name = _MANGLED.sub(lambda m: _cxxfilt(m.group(0)), name)
    if "$" in name:
        name = _RUST_ESCAPE.sub(lambda m: _RUST_ESCAPES[m.group(0)], name)
        name = name.replace("_<", "<").replace("..", "::")
    return _RUST_HASH.sub("", name)


#: Frames that are never the bug: the interpreter, cffi, libffi, libc, the sanitizer runtime.
_NOISE = re.compile(
    r"(^|/)(python3?[\d.]*|libpython[\d.]*\.so[\d.]*|_cffi_backend[\w.-]*\.so|libffi\.so[\d.]*|libc\.so[\d.]*"
    r"|libasan\.so[\d.]*|ld-linux[\w.-]*\.so[\d.]*)(\+|\)|$)"
    r"|^(_Py|Py[A-Z]|_PyEval|cfunction_|method_vectorcall|ffi_call|_cffi_|cdata_call|__libc_|_start$|__interceptor_"
    r"|__asan_|__lsan_|__sanitizer_|malloc$|calloc$|realloc$|free$|operator new|operator delete|start_thread$|clone3?$"
    r"|__GI_|__pthread_|raise$|abort$|__rust_|rust_panic|std::|core::|alloc::|<core::|<alloc::|<std::)"
    r"|(^|/)(nptl|sysdeps|csu|libio|stdlib)/|^/rustc/|^\.\./\.\./\.\./"
)
# Project code: the shims' sources (Go with -trimpath: fuzzharness/go_shim/...; Rust: the
# crate's own files are relative, src/..., dependencies' are absolute).
_PROJECT_FILE = re.compile(r"(rust_shim|go_shim|kits/rust|kits/go)/|^src/")
_PROJECT_FUNC = re.compile(
    r"^(fuzzharness_rust::|<fuzzharness_rust::|fh_|_cgoexp_|main\.|fuzzharness/go_shim|table\.|\(\*?table\)|"
    r"fuzzharness_)"
)

_ASAN_HEADER = re.compile(r"^==\d+==ERROR: AddressSanitizer: (.*)$", re.M)
_LSAN_HEADER = re.compile(r"^==\d+==ERROR: LeakSanitizer: detected memory leaks", re.M)
_ASAN_FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+(?: in (.+?))?(?: ([^\s()]+:\d+(?::\d+)?)|\s+\(([^)]*)\))?\s*$")
_ACCESS = re.compile(r"^(READ|WRITE) of size (\d+)", re.M)
_LEAK = re.compile(r"^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\) allocated from:", re.M)
_GO_PANIC = re.compile(r"^panic: (.*?)(?: \[recovered\])?$", re.M)
_GO_FATAL = re.compile(r"^fatal error: (.*)$", re.M)
_GO_FUNC = re.compile(r"^([\w./*()\-\[\]{}]+?)\((?:[^)]*)\)$")
_GO_FILE = re.compile(r"^\t(\S+?:\d+)(?: \+0x[0-9a-f]+)?$")
_RUST_PANIC = re.compile(r"panicked at ([^\n]+?:\d+):\d+:?\n?(.*)", re.M)
_PY_FATAL = re.compile(r"^Fatal Python error: (.*)$", re.M)
_PY_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+) in (\S+)', re.M)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def _is_project(function: str, location: str) -> bool:
    return bool(_PROJECT_FILE.search(location) or _PROJECT_FUNC.search(function))


def _short_location(location: str) -> str:
    """``/abs/path/rust_shim/src/table.rs:12:7`` -> ``rust_shim/src/table.rs:12``."""
    m = _PROJECT_FILE.search(location)
    if m:
        location = location[m.start():]
    elif "/rustc/" in location or "/.cargo/" in location:
        location = location.rsplit("/", 2)[-1] if "/" in location else location
    parts = location.split(":")
    if len(parts) >= 3 and parts[-1].isdigit() and parts[-2].isdigit():
        location = ":".join(parts[:-1])
    return location


def _asan_frames(block: str) -> list[Frame]:
    """The first ``#0 #1 ...`` stack in ``block``, noise trimmed."""
    frames: list[Frame] = []
    started = False
    for line in block.splitlines():
        m = _ASAN_FRAME.match(line)
        if not m:
            if started:
                break
            continue
        started = True
        function = demangle((m.group(2) or "").strip())
        location = m.group(3) or m.group(4) or ""
        if _NOISE.search(function) or (not function and _NOISE.search(location)) or _NOISE.search(location.split("+")[0]):
            continue
        if not function and not location:
            continue
        frames.append(Frame(function or "??", _short_location(location), _is_project(function, location)))
    return frames


def _section(text: str, title: str) -> str:
    i = text.find(title)
    return text[i + len(title):] if i >= 0 else ""


def _parse_asan(text: str, m: re.Match) -> CrashReport:
    headline = m.group(1).strip()
    body = text[m.end():]
    bug = headline.split(" on ")[0].split(" (")[0].strip()
    if bug.startswith("attempting "):
        bug = bug.removeprefix("attempting ")
    bug = bug.split(":")[0].strip()
    access = ""
    if a := _ACCESS.search(body[:2000]):
        access = f"{a.group(1)} of size {a.group(2)}"
    elif "caused by a READ" in body[:2000]:
        access = "READ"
    elif "caused by a WRITE" in body[:2000]:
        access = "WRITE"
    end = body.find("SUMMARY: AddressSanitizer")
    body = body if end < 0 else body[:end]
    return CrashReport(
        kind=bug,
        tool="asan",
        headline=_ADDRESS.sub("0x?", headline),
        access=access,
        frames=_asan_frames(body),
        freed_by=_asan_frames(_section(body, "freed by thread")),
        allocated_by=_asan_frames(_section(body, "previously allocated by thread")),
    )


def _parse_lsan(text: str, m: re.Match) -> CrashReport:
    body = text[m.end():]
    leaks = list(_LEAK.finditer(body))
    # Direct leaks first: an indirect leak is only reachable from a direct one.
    leaks.sort(key=lambda x: x.group(1) != "Direct")
    allocated = _asan_frames(body[leaks[0].end():]) if leaks else []
    total_bytes = sum(int(x.group(2)) for x in leaks)
    total_objects = sum(int(x.group(3)) for x in leaks)
    first = leaks[0] if leaks else None
    headline = (
        f"{first.group(1)} leak of {first.group(2)} byte(s) in {first.group(3)} object(s)" if first else "memory leaks"
    )
    return CrashReport(
        kind="leak", tool="lsan", headline=headline, allocated_by=allocated,
        leaked_bytes=total_bytes, leaked_objects=total_objects,
    )  # fmt: skip


def _go_frames(text: str) -> list[Frame]:
    """Frames of the first goroutine trace after a Go panic/fatal error."""
    frames: list[Frame] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        fm = _GO_FUNC.match(line)
        if not fm or i + 1 >= len(lines):
            continue
        loc = _GO_FILE.match(lines[i + 1])
        if not loc:
            continue
        function = fm.group(1)
        if function.startswith(("runtime.", "runtime/", "panic(")) and not function.startswith("runtime.cgocheck"):
            continue
        location = loc.group(1)
        frames.append(Frame(function, _short_location(location), _is_project(function, location)))
        if len(frames) >= 24:
            break
    return frames


def parse_report(stderr: str) -> CrashReport | None:
    """The first report found in a worker's stderr, or None if there is none.

    Order matters: a sanitizer report is the most precise; a Go panic or a Rust
    abort next; the Python fault handler's stack (which only names the contract
    function on the Python side) last.
    """
    if m := _ASAN_HEADER.search(stderr):
        return _parse_asan(stderr, m)
    if m := _LSAN_HEADER.search(stderr):
        return _parse_lsan(stderr, m)
    if m := _GO_PANIC.search(stderr):
        message = _ADDRESS.sub("0x?", m.group(1))
        kind = "cgo-pointer-check" if "cgo argument has Go pointer" in message or "cgo result" in message else "go-panic"
        return CrashReport(kind, "go", headline=message[:160], frames=_go_frames(stderr[m.end():]))
    if m := _GO_FATAL.search(stderr):
        message = _ADDRESS.sub("0x?", m.group(1))
        return CrashReport("go-fatal", "go", headline=message[:160], frames=_go_frames(stderr[m.end():]))
    if m := _RUST_PANIC.search(stderr):
        location = m.group(1).strip()
        cannot_unwind = "cannot unwind" in stderr or "non-unwinding panic" in stderr or "aborting" in stderr
        frame = Frame(f"rust panic at {location}", location, True)
        return CrashReport(
            "rust-panic-abort" if cannot_unwind else "rust-panic", "rust",
            headline=_ADDRESS.sub("0x?", m.group(2).strip())[:160], frames=[frame],
        )  # fmt: skip
    if m := _PY_FATAL.search(stderr):
        frames = [
            Frame(f"fh call {func}", f"{os.path.basename(path)}:{line}", True)
            for path, line, func in _PY_FRAME.findall(stderr[m.end():])
            if path.endswith("contract/bindings.py")
        ]
        return CrashReport("signal", "python", headline=m.group(1).strip(), frames=frames[:1])
    return None
