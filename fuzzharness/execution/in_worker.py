"""Work a worker does besides running sequential programs: concurrent runs and benchmarks.

Called by :mod:`fuzzharness.execution.worker` for the requests ``stress``
(:func:`run_concurrent`), ``bench`` (:func:`bench_throughput`, for
:mod:`fuzzharness.bench.throughput`) and ``stress-bench`` (:func:`bench_stress_runner`,
for :mod:`fuzzharness.bench.stress_bench`). Everything here runs in the worker process,
on the one library it loaded; the harness side of each lives in the layer above.
"""

from __future__ import annotations

import time
from typing import Any

from fuzzharness.contract.bindings import H_RAW, H_SHARED, CallRecorder, NativeOp, NativeRunner, bare_loop
from fuzzharness.contract.header import Status, Strategy
from fuzzharness.oracles.concurrent_model import ConcurrentRun
from fuzzharness.programs.concurrent import ConcurrentProgram, native_setup, native_threads, perturb_hooks
from fuzzharness.programs.interpreter import run_program, run_program_native
from fuzzharness.programs.sequential import Program

__all__ = ["run_concurrent", "bench_throughput", "bench_stress_runner"]

_RUNNERS: dict[int, Any] = {}
_CALIBRATION: dict[int, dict[str, float]] = {}
#: whether the library's test build took the runner's in-call perturbation hook
_HOOKED: dict[int, bool] = {}


def calibrate(library: Any, runner: Any, immediate: int = 0) -> dict[str, float]:
    """The target's call time, measured once per worker: a scratch session (init, one
    64-byte resource, 2,000 infos and 2,000 8-byte reads in a C loop, the best of 3,
    shutdown) and the cost of one runner spin iteration. ``spins_per_call``: spin
    iterations as long as one call, the unit of generated schedules. A session that
    cannot be opened falls back to 100 ns per call."""
    cached = _CALIBRATION.get(id(library))
    if cached is not None:
        return cached
    call_ns = 100.0
    status, _ = library.init(8, immediate, 1 << 16, 1 << 20)
    if status == Status.OK:
        status, handle = library.create(64)
        if status == Status.OK:
            timings = [runner.bare_loop(code, handle, 0, length, 2000) for code, length in ((6, 0), (4, 8)) * 3]
            call_ns = min(max(sum(sorted(timings)[:2]) / 2, 5.0), 100_000.0)
        library.shutdown()
    spin_ns = max(runner.spin_ns(), 0.1)
    cached = _CALIBRATION[id(library)] = {"call_ns": call_ns, "spin_ns": spin_ns, "spins_per_call": call_ns / spin_ns}
    return cached


def _sync_wait_ns(program: ConcurrentProgram, calibration: dict[str, float]) -> int:
    """The longest a re-synchronization waits, in ns (the schedule's ``sync_wait`` in its unit)."""
    s = program.schedule
    per_unit = calibration["call_ns"] if s.unit == "call" else calibration["spin_ns"]
    return int(s.sync_wait * per_unit)


def run_concurrent(library: Any, program: ConcurrentProgram, deferred: int, immediate: int = 0) -> ConcurrentRun:
    """Runs inside a worker: one concurrent program on the native runner (``immediate``:
    the target's strategy for the immediate class, GUARDED on a pair). Spins of a
    schedule in call units are sized by :func:`calibrate`; a target whose test build
    takes the runner's in-call perturbation hook (``fh_test_set_perturb``) is perturbed
    inside its calls too (:func:`~fuzzharness.programs.concurrent.perturb_hooks`). A program with ``tickets``
    is a gated replay: the calls start in the recorded invocation order (and its
    re-synchronization points only spin their jitter: the tickets order the threads)."""
    runner = _RUNNERS.get(id(library))
    if runner is None:
        runner = _RUNNERS[id(library)] = NativeRunner(library)
        _HOOKED[id(library)] = runner.install_perturb(library)
    calibration = calibrate(library, runner, immediate)
    scale = calibration["spins_per_call"]
    sync_wait = _sync_wait_ns(program, calibration)
    cfg = program.config
    strategy = immediate if cfg.strategy == "immediate" else deferred
    status, _ = library.init(cfg.capacity, strategy, cfg.max_resource_bytes, cfg.max_total_bytes)
    run = ConcurrentRun(status)
    if status != Status.OK:
        return run
    run.setup = runner.run([native_setup(program.setup)])[0]
    pool = [rec.out for op, rec in zip(program.setup, run.setup) if op.produces_handle]
    gated = program.tickets is not None
    run.threads = runner.run(native_threads(program, scale, sync=not gated), shared=pool, sync_wait_ns=sync_wait,
                             sync_quorum=program.schedule.sync_quorum,
                             tickets=[list(row) for row in program.tickets] if gated else None,
                             spread=bool(program.schedule.spread),
                             hooks=perturb_hooks(program, scale) if _HOOKED.get(id(library)) else None)  # fmt: skip
    keys, handles = [("h", k) for k in range(len(pool))], list(pool)
    for t, (ops, recs) in enumerate(zip(program.threads, run.threads)):
        produced = [rec.out for op, rec in zip(ops, recs) if op.produces_handle]
        keys += [("l", t, j) for j in range(len(produced))]
        handles += produced
    run.epilogue_keys = keys
    epilogue = [NativeOp(6, H_RAW, value=h) for h in handles] + [NativeOp(7), NativeOp(8), NativeOp(7)]
    run.epilogue = runner.run([epilogue])[0]
    run.shutdown = library.shutdown()
    return run


def bench_throughput(library: Any, programs: list[Program], deferred: int, immediate: int = 0) -> dict[str, float]:
    """Runs inside a worker: seconds per op for the interpreter, the native path and the bare calls."""
    recorder = CallRecorder(library)
    for program in programs:
        run_program(program, recorder, deferred, None, immediate)
    start = time.perf_counter()
    ops = 0
    for program in programs:
        ops += len(run_program(program, library, deferred, None, immediate))
    interpreted = (time.perf_counter() - start) / ops
    runner = NativeRunner(library)
    start = time.perf_counter()
    for program in programs:
        run_program_native(program, library, runner, deferred, immediate)
    native = (time.perf_counter() - start) / ops
    bare = bare_loop(library, recorder.calls, repeat=3)
    return {"ops": ops, "interpreted_s_per_op": interpreted, "native_s_per_op": native, "bare_s_per_op": bare}


#: stress-bench: best of _REPEAT timings of _N identical ops
_REPEAT = 15
_N = 4096


def bench_stress_runner(library: Any, programs_by_threads: dict[int, list]) -> dict[str, Any]:
    """Runs inside a worker: runner vs bare-loop costs, and threads-phase throughput."""
    runner = NativeRunner(library)
    out: dict[str, Any] = {"per_op": {}, "threads": {}, "clock": runner.clock_source()}
    out["calibration"] = calibrate(library, runner)
    scale = out["calibration"]["spins_per_call"]
    assert library.init(4, Strategy.IMMEDIATE, 1 << 16, 1 << 20)[0] == Status.OK
    handle = library.create(64)[1]
    cases = {"read 8 bytes": (4, 8), "info": (6, 0), "acquire": (1, 0)}
    for name, (code, length) in cases.items():
        prepared = runner.prepare([[NativeOp(code, H_SHARED, 0, length=length)] * _N], shared=[handle])
        best = {"bare": float("inf"), "runner": float("inf"), "runner_ts": float("inf")}
        for _ in range(_REPEAT):
            best["bare"] = min(best["bare"], runner.bare_loop(code, handle, 0, length, _N))
            best["runner"] = min(best["runner"], runner.execute(prepared, timestamps=False) / _N)
            best["runner_ts"] = min(best["runner_ts"], runner.execute(prepared, timestamps=True) / _N)
        out["per_op"][name] = best
    library.shutdown()
    for threads, programs in programs_by_threads.items():
        ops = ns = 0
        for program in programs:
            cfg = program.config
            library.init(cfg.capacity, Strategy.IMMEDIATE, cfg.max_resource_bytes, cfg.max_total_bytes)
            setup = runner.run([native_setup(program.setup)])[0]
            pool = [r.out for op, r in zip(program.setup, setup) if op.produces_handle]
            prepared = runner.prepare(native_threads(program, scale), shared=pool,
                                      sync_wait_ns=_sync_wait_ns(program, out["calibration"]),
                                      sync_quorum=program.schedule.sync_quorum,
                                      spread=bool(program.schedule.spread))  # fmt: skip
            ns += runner.execute(prepared, timestamps=True)
            ops += program.op_count
            library.quiesce()
            library.shutdown()
        out["threads"][threads] = {"ops": ops, "ops_per_s": ops / (ns / 1e9) if ns else 0.0}
    return out
