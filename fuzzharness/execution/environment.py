"""The environment of every process that loads a target: decided here, and only here.

Workers used to inherit the user's shell. One variable the user never thought about
changed everything: with ``RUST_BACKTRACE=1`` every panic a target catches at its
boundary symbolizes a backtrace (measured: 53x fewer checked ops per second, and 5 of
7 bugs missed in the same time). Allocator tunables change address reuse, and so
which stale handles alias a new resource; Go's GC settings change when finalizers run.

:func:`decide` gives every worker (``fuzz``, ``stress``, the campaign's lanes, the
mutant table, ``repro``; the coverage lane and ``bench`` children through the same
call) an environment in which those variables have known values:

* **hunting** (``purpose="hunt"``): backtraces off (``RUST_BACKTRACE=0``,
  ``RUST_LIB_BACKTRACE=0``, ``GOTRACEBACK=single``, Go's default, whose one-goroutine
  trace the crash-site parser reads); Go's GC and scheduler settings, ``GODEBUG``,
  glibc's ``MALLOC_*`` and ``GLIBC_TUNABLES``, the sanitizers' options removed (a
  sanitizer variant sets its own: :func:`fuzzharness.oracles.sanitizer.worker_environment`);
* **replaying** (``purpose="replay"``, ``repro``): the same, with backtraces on
  (``RUST_BACKTRACE=1``, ``GOTRACEBACK=all``), so a person sees where a panic came from.

The user's value of such a variable is kept only where asked: the run's own settings
(``extra``, e.g. the benchmark's ``GOGC``, a finding's recorded environment in
``repro``) and the names in ``--keep-env`` / ``FUZZHARNESS_KEEP_ENV`` (comma-separated).
What was overridden is said once per command (:func:`describe_overrides`), never
silently. :func:`fingerprint` is what a finding records of the environment it was
found in (:mod:`fuzzharness.findings.store`).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["WorkerEnvironment", "decide", "describe_overrides", "fingerprint", "kept_names", "library_hash",
           "BEHAVIOUR_VARIABLES", "KEEP_ENV"]  # fmt: skip

#: The environment variable naming variables whose user values workers keep.
KEEP_ENV = "FUZZHARNESS_KEEP_ENV"

#: Variables that change what a target does or how fast, and the value a hunting
#: worker gets (None: removed, the runtime's own default applies).
_HUNT: dict[str, str | None] = {
    "RUST_BACKTRACE": "0",
    "RUST_LIB_BACKTRACE": "0",
    "GOTRACEBACK": "single",
    "GODEBUG": None,
    "GOGC": None,
    "GOMEMLIMIT": None,
    "GOMAXPROCS": None,
    "GLIBC_TUNABLES": None,
    "ASAN_OPTIONS": None,
    "LSAN_OPTIONS": None,
    "UBSAN_OPTIONS": None,
    "TSAN_OPTIONS": None,
}
_REPLAY = {**_HUNT, "RUST_BACKTRACE": "1", "GOTRACEBACK": "all"}
#: Prefixes of such variables (glibc's malloc tunables: MALLOC_ARENA_MAX, MALLOC_PERTURB_, ...).
_PREFIXES = ("MALLOC_",)

#: Every variable name (and prefix) :func:`decide` pins: what a finding records.
BEHAVIOUR_VARIABLES = tuple(_HUNT) + _PREFIXES


def kept_names(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The names in ``FUZZHARNESS_KEEP_ENV`` (set by ``--keep-env``)."""
    raw = (environ if environ is not None else os.environ).get(KEEP_ENV, "")
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


def _pinned(name: str, table: Mapping[str, str | None]) -> bool:
    return name in table or name.startswith(_PREFIXES)


@dataclass(frozen=True)
class WorkerEnvironment:
    """A worker's whole environment, and what the harness changed in the user's."""

    env: dict[str, str]
    #: name -> (the user's value, the worker's value); None means unset
    overridden: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def relevant(self) -> dict[str, str]:
        """The behaviour-changing variables as the worker has them (set ones only)."""
        return {k: v for k, v in sorted(self.env.items()) if _pinned(k, _HUNT)}


def decide(purpose: str = "hunt", *, extra: Mapping[str, str] | None = None, keep: Iterable[str] | None = None,
           base: Mapping[str, str] | None = None) -> WorkerEnvironment:  # fmt: skip
    """The environment of a process that loads a target (see the module doc).

    ``base``: the user's environment (default ``os.environ``); ``extra``: the run's own
    settings, applied last (they win); ``keep``: names whose user value is kept
    (default: ``FUZZHARNESS_KEEP_ENV``)."""
    if purpose not in ("hunt", "replay"):
        raise ValueError(f"purpose must be 'hunt' or 'replay', got {purpose!r}")
    base = dict(os.environ if base is None else base)
    keep = kept_names(base) if keep is None else frozenset(keep)
    table = _HUNT if purpose == "hunt" else _REPLAY
    env = {k: v for k, v in base.items() if k in keep or not _pinned(k, table)}
    for name, value in table.items():
        if value is not None and name not in keep:
            env[name] = value
    for name, value in (extra or {}).items():
        env[name] = value
    overridden = {}
    for name in sorted(set(base) | set(env)):
        if _pinned(name, table) and base.get(name) != env.get(name) and name in base:
            overridden[name] = (base.get(name), env.get(name))
    return WorkerEnvironment(env, overridden)


def describe_overrides(environment: WorkerEnvironment) -> str | None:
    """One line naming what the harness changed in the user's environment, or None."""
    if not environment.overridden:
        return None
    parts = [f"{name}={old!s} -> " + ("unset" if new is None else new) for name, (old, new) in environment.overridden.items()]
    return ("environment: workers run with " + ", ".join(parts)
            + f" (keep a value with --keep-env NAME or {KEEP_ENV})")  # fmt: skip


@functools.lru_cache(maxsize=64)
def _hash_file(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_hash(path: Path | str) -> str | None:
    """sha256 of a built library (None if it cannot be read)."""
    try:
        st = os.stat(path)
        return _hash_file(str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        return None


def fingerprint(libraries: Mapping[str, Path | str], variant: str, purpose: str = "hunt",
                base: Mapping[str, str] | None = None) -> dict:  # fmt: skip
    """What a finding records of the environment it was found in: the behaviour-changing
    variables as the worker had them, the build variant, each library's sha256 and the
    CPU count."""
    return {
        "variables": decide(purpose, base=base).relevant(),
        "variant": variant,
        "libraries": {name: library_hash(path) for name, path in sorted(libraries.items())},
        "cpu_count": os.cpu_count(),
    }
