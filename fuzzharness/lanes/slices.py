"""Campaign lanes: one time slice of one kind of fuzzing, run in its own process.

A *lane* is a function run for a time slice with (targets, variant, seed, findings
directory, corpus queue) that returns statistics::

    {"execs": int, "ops": int, "findings": [finding entries, as fuzz's summary],
     "coverage": int | None, "corpus_added": int, "restarts": int}

Lanes (:data:`LANES`):

* ``random``   -- random differential fuzzing (:func:`fuzzharness.lanes.fuzz.run_fuzz`, one
  job), a quarter of its programs mutated from the corpus queue;
* ``coverage`` -- coverage-guided fuzzing (atheris/libFuzzer over the byte encoding),
  provided by :func:`fuzzharness.lanes.coverage.run_lane`;
  when that module is absent the lane is *unavailable*, and the campaign report
  says so -- it is never silently skipped;
* ``stress``   -- concurrent stress with the linearizability check
  (:func:`fuzzharness.lanes.stress.run_stress`);
* ``asan``     -- random differential fuzzing on the AddressSanitizer build
  (``asan``; ``mutants-asan`` when the campaign plants a mutant).

An *exec* is one program run on the lane's whole target set.

The campaign (:mod:`fuzzharness.lanes.campaign`) starts each slice as
``python -m fuzzharness.lanes.slices SPEC.json``: the slice writes its result atomically to
the path named in the spec. The slice asks the kernel for SIGTERM when the
campaign dies (``PR_SET_PDEATHSIG``) and stops cleanly on SIGTERM or SIGINT; as it ends it
kills every process below it (libFuzzer runs in a session of its own, so a process-group
kill would miss it). Its resident memory is bounded (:func:`watch_memory`). Findings are on
disk the moment they are found, whatever happens to the slice. The same entry
point runs minimization tasks (``"lane": "minimize"``).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from fuzzharness.findings.durable import write_atomic

__all__ = ["LANES", "lane_variant", "unavailable_reason", "run_slice", "main", "kill_descendants", "watch_memory"]

LANES = ("random", "coverage", "stress", "asan")


def lane_variant(lane: str, campaign_variant: str, configured: str | None) -> str:
    """The build variant a lane runs on."""
    if configured:
        return configured
    if lane == "asan":
        return "mutants-asan" if campaign_variant.startswith("mutants") else "asan"
    if lane == "coverage":
        return "mutants-cov" if campaign_variant.startswith("mutants") else "cov"
    return campaign_variant


def unavailable_reason(lane: str, targets: list[str], variant: str) -> str | None:
    """Why a lane cannot run in this tree (None when it can): every target's library of the
    lane's variant is built, and for the coverage lane the target set is one it can load
    into one process (at most one Go runtime, coverage variants) and atheris is installed."""
    from fuzzharness.contract.registry import select_targets
    from fuzzharness.errors import FuzzHarnessError

    try:
        specs = select_targets(targets)
        if lane == "coverage":
            import tempfile

            from fuzzharness.lanes import coverage

            with tempfile.TemporaryDirectory(prefix="fh-lane-check-") as tmp:
                coverage._lane_config(specs, variant, 0, Path(tmp))  # noqa: SLF001 - the lane's own check
            coverage.custom_mutator_path()
        for spec in specs:
            spec.library(variant)
    except (FuzzHarnessError, ImportError, OSError) as exc:
        return str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
    return None


# --------------------------------------------------------------------------- the lanes


def _random(spec: dict[str, Any], variant: str) -> dict[str, Any]:
    from fuzzharness.lanes.fuzz import FuzzOptions, run_fuzz

    options = FuzzOptions(
        targets=spec["targets"], seconds=spec["seconds"], seed=spec["seed"], jobs=1, out=Path(spec["out"]),
        variant=variant, mutant=spec["mutant"] if variant.startswith("mutants") else 0, timeout=spec["timeout"],
        max_ops=int(spec["options"].get("max_ops", 48)), stop_on_first=spec["until_first"],
        corpus=Path(spec["corpus"]) if spec.get("corpus") else None,
        corpus_rate=float(spec["options"].get("corpus_rate", 0.25)), rss_limit_mb=spec.get("rss_limit_mb"),
    )  # fmt: skip
    summary = run_fuzz(options)
    if summary.fatal is not None:
        raise RuntimeError(f"{summary.fatal[0]}: {summary.fatal[1]}")
    return {"execs": summary.programs, "ops": summary.ops, "findings": summary.findings, "coverage": None,
            "corpus_added": 0, "restarts": summary.restarts}  # fmt: skip


def _stress(spec: dict[str, Any], variant: str) -> dict[str, Any]:
    from fuzzharness.lanes.stress import StressOptions, run_stress

    options = StressOptions(
        targets=spec["targets"], threads=int(spec["options"].get("threads", 4)), seconds=spec["seconds"],
        seed=spec["seed"], variant=variant, mutant=spec["mutant"] if variant.startswith("mutants") else 0,
        out=Path(spec["out"]), timeout=spec["timeout"], stop_on_first=spec["until_first"],
        rss_limit_mb=spec.get("rss_limit_mb"),
    )  # fmt: skip
    options.ops_per_thread = int(spec["options"].get("ops", 200))
    summary = run_stress(options)
    runs_per_program = max(1, len(summary.targets))
    return {"execs": summary.programs // runs_per_program, "ops": summary.ops, "findings": summary.findings,
            "coverage": None, "corpus_added": 0, "restarts": summary.restarts,
            "overlap": round(summary.overlap, 4), "unknown": summary.unknown}  # fmt: skip


def _coverage(spec: dict[str, Any], variant: str) -> dict[str, Any]:
    from fuzzharness.lanes import coverage

    extra = {"mutant": spec["mutant"] if variant.startswith("mutants") else 0, "timeout": spec["timeout"],
             "stop_on_first": spec["until_first"]}  # fmt: skip
    result = coverage.run_lane(list(spec["targets"]), float(spec["seconds"]), Path(spec["corpus"]), Path(spec["out"]),
                               int(spec["seed"]), variant=variant, **extra)  # fmt: skip
    if not isinstance(result, dict) or "execs" not in result:
        raise RuntimeError(f"fuzzharness.lanes.coverage.run_lane returned {type(result).__name__}, expected a dict with execs")
    return {"ops": 0, "coverage": None, "corpus_added": 0, "restarts": 0, **result,
            "findings": list(result.get("findings") or [])}  # fmt: skip


def _minimize(spec: dict[str, Any]) -> dict[str, Any]:
    from fuzzharness.findings.minimize import minimize_saved

    result = minimize_saved(Path(spec["finding"]), float(spec["seconds"]), float(spec["timeout"]),
                            spec.get("rss_limit_mb"))  # fmt: skip
    return {"execs": result.candidates, "ops": 0, "findings": [], "coverage": None, "corpus_added": 0,
            "restarts": 0, "minimized": result.to_json()}  # fmt: skip


def run_slice(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one slice described by ``spec`` (see :mod:`fuzzharness.lanes.campaign`); never raises."""
    start = time.monotonic()
    lane = spec["lane"]
    result: dict[str, Any] = {"lane": lane, "status": "ok", "execs": 0, "ops": 0, "findings": [], "coverage": None,
                              "corpus_added": 0, "restarts": 0}  # fmt: skip
    try:
        if lane == "minimize":
            result.update(_minimize(spec))
        else:
            variant = spec["variant"]
            run = {"random": _random, "asan": _random, "stress": _stress, "coverage": _coverage}[lane]
            result.update(run(spec, variant))
    except KeyboardInterrupt:
        result["status"] = "interrupted"
    except Exception as exc:  # noqa: BLE001 - reported in the campaign report, never lost
        result["status"] = "error"
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()[-4000:]
    result["seconds"] = round(time.monotonic() - start, 3)
    return result


def _die_with_parent() -> None:
    """Ask for SIGTERM when the campaign process dies (Linux PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def kill_descendants(pid: int | None = None) -> int:
    """SIGKILL every process below ``pid`` (default: this one), in whatever session it put
    itself (libFuzzer runs in its own); returns how many. Called as a slice ends, and by the
    campaign before it kills a leftover slice, so nothing a slice started outlives it."""
    try:
        import psutil

        children = psutil.Process(pid).children(recursive=True)
    except Exception:  # noqa: BLE001 - gone already, or psutil missing: nothing to collect
        return 0
    for child in children:
        try:
            child.kill()
        except Exception:  # noqa: BLE001 - exited meanwhile
            pass
    return len(children)


def watch_memory(limit_mb: int | None, what: str, on_limit: Any = None, every: float = 1.0) -> None:
    """Bound this process's resident memory: a daemon thread reads it every ``every`` s and,
    above ``limit_mb``, prints one line naming ``what`` and the bound, calls ``on_limit``
    (its last words) and exits with status 3 -- before the machine swaps. None: no bound.
    (An address-space rlimit would be inherited by the workers and break the Go runtime and
    ASan, which reserve terabytes they never touch.)"""
    if not limit_mb:
        return
    import threading

    page = os.sysconf("SC_PAGE_SIZE")

    def watch() -> None:
        while True:
            time.sleep(every)
            try:
                with open("/proc/self/statm") as fh:
                    rss_mb = int(fh.read().split()[1]) * page >> 20
            except (OSError, ValueError, IndexError):
                return
            if rss_mb > limit_mb:
                message = (f"{what} uses {rss_mb} MB, over its bound of {limit_mb} MB (rss_limit_mb): stopped; "
                           f"findings saved so far are kept")  # fmt: skip
                print(f"fuzzharness: error: {message}", file=sys.stderr, flush=True)
                try:
                    if on_limit is not None:
                        on_limit(message)
                finally:
                    os._exit(3)

    threading.Thread(target=watch, name="fuzzharness-memory-bound", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec_path = Path(argv[0])
    spec = json.loads(spec_path.read_text())
    parent = spec.get("parent_pid")
    _die_with_parent()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)

    def last_words(message: str) -> None:
        kill_descendants()
        write_atomic(Path(spec["result"]), json.dumps({"lane": spec["lane"], "status": "error", "error": message,
                                                       "execs": 0, "ops": 0, "findings": [], "seconds": 0.0}) + "\n")  # fmt: skip

    watch_memory(_slice_bound(spec.get("rss_limit_mb")), f"slice {spec_path.name}", last_words)
    try:
        if parent and os.getppid() != parent:
            result = {"lane": spec["lane"], "status": "interrupted", "execs": 0, "ops": 0, "findings": [],
                      "coverage": None, "corpus_added": 0, "restarts": 0, "seconds": 0.0}  # fmt: skip
        else:
            result = run_slice(spec)
        write_atomic(Path(spec["result"]), json.dumps(result, default=str) + "\n")
    except KeyboardInterrupt:  # a second SIGTERM while writing: the campaign journals it as lost
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        kill_descendants()  # libFuzzer and anything else the lane started, in its own session or not
    return 0


def _slice_bound(rss_limit_mb: Any) -> int | None:
    """A slice's own memory bound: its workers' bound (``rss_limit_mb``), at least 2 GiB."""
    if not isinstance(rss_limit_mb, int) or isinstance(rss_limit_mb, bool) or rss_limit_mb <= 0:
        return None
    return max(2048, rss_limit_mb)


if __name__ == "__main__":
    sys.exit(main())
