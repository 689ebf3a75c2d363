"""Concurrent stress: the ``stress`` command's engine, and its half inside a worker.

In the worker (:func:`run_in_worker`), a
:class:`~fuzzharness.concurrent_program.ConcurrentProgram` runs on the native
runner (:class:`fuzzharness._native.NativeRunner`): ``init``; the setup on one
thread; the threads on N OS threads behind a start barrier, with the program's
seeded schedule perturbation; then the epilogue (infos on every handle, stats,
quiesce, stats) and ``shutdown``. Nothing of a run is decided in the worker: it
returns a :class:`~fuzzharness.concurrent_model.ConcurrentRun`.

In the harness (:func:`run_stress`), for each target a
:class:`~fuzzharness.supervisor.TargetWorker` runs generated programs (a dead or
silent worker is a ``crash`` / ``hang`` finding with the program that caused it,
and the worker is restarted), each run is checked by
:func:`~fuzzharness.concurrent_model.check_run`, and every finding is saved with
its program (which records the schedule seed), the recorded history, a text
timeline and an HTML timeline. A history whose check ran out of time is counted
as *unknown*, never as clean. The summary reports the fraction of thread ops
that overlapped another thread's op on the same resource: the evidence that
the calls really ran concurrently.

Program seeds: program n of a run with seed S is ``generate(Random(S * 2**32 + n))``.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .concurrent_model import (
    _FUNCTION,
    ConcurrentRun,
    RunCheck,
    check_run,
    describe_input,
    describe_output,
    ownership_model,
)
from .concurrent_program import ConcurrentProgram, generate, native_setup, native_threads
from .contract import Status
from .findings import Finding, FindingKind, merge_hits, save
from .linearizability import CheckResult
from .registry import select_targets
from .supervisor import DEFAULT_TIMEOUT, Failure, TargetWorker
from .timeline import render_html, render_text
from .triage import crash_site

__all__ = ["StressOptions", "StressSummary", "run_stress", "run_in_worker", "findings_for_run", "reproduce_concurrent",
           "program_seed"]  # fmt: skip

HISTORY_FILE = "history.json"
TIMELINE_FILE = "timeline.txt"
HTML_FILE = "timeline.html"


def program_seed(seed: int, n: int) -> int:
    return seed * (1 << 32) + n


# --------------------------------------------------------------------------- worker side

_RUNNERS: dict[int, Any] = {}


def run_in_worker(library: Any, program: ConcurrentProgram, deferred: int, immediate: int = 0) -> ConcurrentRun:
    """Runs inside a worker: one concurrent program on the native runner (``immediate``:
    the target's strategy for the immediate class, GUARDED on a pair)."""
    from ._native import H_RAW, NativeOp, NativeRunner

    runner = _RUNNERS.get(id(library))
    if runner is None:
        runner = _RUNNERS[id(library)] = NativeRunner(library)
    cfg = program.config
    strategy = immediate if cfg.strategy == "immediate" else deferred
    status, _ = library.init(cfg.capacity, strategy, cfg.max_resource_bytes, cfg.max_total_bytes)
    run = ConcurrentRun(status)
    if status != Status.OK:
        return run
    run.setup = runner.run([native_setup(program.setup)])[0]
    pool = [rec.out for op, rec in zip(program.setup, run.setup) if op.produces_handle]
    run.threads = runner.run(native_threads(program), shared=pool)
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


# --------------------------------------------------------------------------- harness side


@dataclass
class StressOptions:
    targets: list[str]
    threads: int = 4
    seconds: float | None = 20.0
    runs: int | None = None  #: programs per target instead of a time budget
    seed: int = 0
    ops_per_thread: int = 200
    variant: str = "release"
    mutant: int = 0
    out: Path = Path("corpus/crashes")
    timeout: float = DEFAULT_TIMEOUT
    check_timeout: float = 10.0
    strategy: str | None = None  #: immediate / deferred; None: random per program
    batch: int = 4
    stop_on_first: bool = False  #: end the run after the batch that found something
    rss_limit_mb: int | None = None  #: kill and restart a worker above this RSS (an ``oom`` finding)


@dataclass
class StressSummary:
    targets: list[str]
    threads: int
    seed: int
    seconds: float = 0.0
    programs: int = 0
    ops: int = 0
    overlapping: int = 0
    overlap_total: int = 0
    unknown: int = 0
    check_seconds: float = 0.0
    restarts: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def overlap(self) -> float:
        return self.overlapping / self.overlap_total if self.overlap_total else 0.0

    def add(self, found: dict[str, Any]) -> None:
        merge_hits(self.findings, [found])

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["overlap_fraction"] = round(self.overlap, 4)
        return out


def _history_json(check: RunCheck) -> str:
    ops = [
        {"id": op.id, "thread": op.client, "op": check.labels.get(op.id, ""), "call": describe_input(op.input),
         "result": describe_output(op.output), "invoke_ns": op.call, "return_ns": op.ret}
        for op in check.history
    ]  # fmt: skip
    return json.dumps({"ops": ops, "overlap": list(check.overlap)}, indent=1) + "\n"


def findings_for_run(
    target: str, program: ConcurrentProgram, outcome: ConcurrentRun | Failure, *, variant: str, mutant: int,
    seed: int | None, check_timeout: float = 10.0,
) -> tuple[list[Finding], RunCheck | None]:  # fmt: skip
    """The findings of one run of one concurrent program on one target."""
    common = {"variant": variant, "mutant": mutant, "seed": seed, "program": program, "targets": [target]}
    if isinstance(outcome, Failure):
        kind = {"hang": FindingKind.hang, "oom": FindingKind.oom}.get(outcome.kind, FindingKind.crash)
        site = crash_site(outcome.stderr_tail)
        signature = [kind.name, target, "stress", outcome.signal_name or str(outcome.returncode)] if kind is FindingKind.crash else [kind.name, target, "stress"]
        return [Finding(kind=kind, summary=f"{target}: {outcome.describe()} during a concurrent run ({'; '.join(site)})",
                        signature=signature + (site if kind is FindingKind.crash else []),
                        details={"returncode": outcome.returncode, "signal": outcome.signal_name, "crash_site": site,
                                 "stderr_tail": outcome.stderr_tail[-6000:]}, **common)], None  # fmt: skip
    from .differential import is_pair_target

    check = check_run(program, outcome, check_timeout, pair=is_pair_target(target))
    found = []
    for problem in check.problems:
        kind = FindingKind[problem.kind]
        found.append(Finding(kind=kind, summary=f"{target}: {problem.summary}",
                             signature=[kind.name, target, "stress", problem.function, problem.aspect],
                             details={"problem": asdict(problem)}, **common))  # fmt: skip
    verdict = check.verdict
    if verdict is not None and verdict.result is CheckResult.illegal:
        part = verdict.illegal[0]
        stuck = part.operations[part.stuck] if part.stuck is not None else None
        where = check.labels.get(stuck.id, "?") if stuck else "?"
        model = ownership_model({}, {}, False)
        result = describe_output(stuck.output) if stuck else "?"
        label = lambda op_id: check.labels.get(op_id, str(op_id))  # noqa: E731
        text = render_text(part, model, label)
        summary = (f"{target}: non-linearizable history on {part.key}: after a linearizable prefix of "
                   f"{len(part.longest)} ops, `{where}` -> {result} cannot be placed")  # fmt: skip
        # The signature names the bug, not the random data around it: the contract function
        # of the op that cannot be placed (a torn write shows as a read, a racy count as an
        # acquire, release or info), stable across runs of the same race.
        function = _FUNCTION.get(stuck.input[0], stuck.input[0]) if stuck else "unknown"
        finding = Finding(kind=FindingKind.non_linearizable, summary=summary,
                          signature=["non_linearizable", target, "stress", function],
                          details={"partition": str(part.key), "prefix": len(part.longest), "stuck": where,
                                   "overlap": list(check.overlap), "schedule_seed": program.schedule.seed},
                          trace=text, **common)  # fmt: skip
        finding.files = {TIMELINE_FILE: text, HTML_FILE: render_html(part, model, summary, label),
                         HISTORY_FILE: _history_json(check)}  # fmt: skip
        found.append(finding)
    for f in found:
        if not f.trace:
            f.trace = _history_text(check)
        f.files.setdefault(HISTORY_FILE, _history_json(check))
    return found, check


def _history_text(check: RunCheck) -> str:
    ops = sorted(check.history, key=lambda o: o.call)
    t0 = ops[0].call if ops else 0
    return "".join(
        f"{(op.call - t0) / 1000:>10.2f} {(op.ret - t0) / 1000:>10.2f}  {check.labels.get(op.id, ''):<36} -> {describe_output(op.output)}\n"
        for op in ops
    )


def _record(summary: StressSummary, finding: Finding, out: Path) -> None:
    path = save(finding, out)
    summary.add({"id": finding.id, "kind": finding.kind.name, "targets": finding.targets, "summary": finding.summary,
                 "seed": finding.seed, "path": str(path or out / finding.id), "new": path is not None,
                 "found_at": time.time()})  # fmt: skip


def run_stress(options: StressOptions, progress: Callable[[StressSummary], None] | None = None) -> StressSummary:
    specs = select_targets(options.targets)
    for spec in specs:
        spec.library(options.variant)
    summary = StressSummary([s.name for s in specs], options.threads, options.seed)
    workers = {spec.name: TargetWorker(spec, options.variant, timeout=options.timeout, mutant=options.mutant,
                                       rss_limit_mb=options.rss_limit_mb) for spec in specs}  # fmt: skip
    start = time.monotonic()
    deadline = start + options.seconds if options.seconds and not options.runs else None
    n = 0
    try:
        for worker in workers.values():
            worker.start()
        while True:
            if options.runs is not None and n >= options.runs:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            size = options.batch if options.runs is None else min(options.batch, options.runs - n)
            batch = []
            for _ in range(size):
                seed = program_seed(options.seed, n)
                program = generate(random.Random(seed), options.threads, options.ops_per_thread, options.strategy,
                                   vias=any(spec.pair for spec in specs))  # fmt: skip
                batch.append((seed, program))
                n += 1
            programs = dict(batch)
            for name, worker in workers.items():
                for event in worker.run(batch, kind="stress"):
                    if event[0] not in ("result", "failure"):
                        continue
                    seed, outcome = event[1], event[2]
                    t0 = time.monotonic()
                    found, check = findings_for_run(name, programs[seed], outcome, variant=options.variant,
                                                    mutant=options.mutant, seed=seed,
                                                    check_timeout=options.check_timeout)  # fmt: skip
                    summary.check_seconds += time.monotonic() - t0
                    summary.programs += 1
                    summary.ops += programs[seed].op_count
                    if check is not None:
                        summary.overlapping += check.overlap[0]
                        summary.overlap_total += check.overlap[1]
                        if check.verdict is not None and check.verdict.result is CheckResult.unknown:
                            summary.unknown += 1
                    for finding in found:
                        _record(summary, finding, options.out)
            summary.restarts = sum(w.restarts for w in workers.values())
            summary.seconds = time.monotonic() - start
            if progress is not None:
                progress(summary)
            if options.stop_on_first and summary.findings:
                break
    finally:
        for worker in workers.values():
            worker.close()
    summary.seconds = time.monotonic() - start
    return summary


def print_summary(summary: StressSummary) -> None:
    print(f"stress: {summary.programs} program runs on {', '.join(summary.targets)} with {summary.threads} threads, "
          f"{summary.ops} thread ops in {summary.seconds:.1f} s (seed {summary.seed})")  # fmt: skip
    print(f"   overlap: {summary.overlap:.1%} of thread ops overlapped another thread's op on the same resource "
          f"({summary.overlapping}/{summary.overlap_total})")  # fmt: skip
    rate = summary.ops / summary.check_seconds if summary.check_seconds else 0
    print(f"   checker: {summary.check_seconds:.1f} s ({rate:,.0f} ops/s)")
    if summary.unknown:
        print(f"   UNKNOWN: {summary.unknown} history(ies) not decided within the check time limit (not a pass)")
    if summary.restarts:
        print(f"   worker restarts: {summary.restarts}")
    for f in summary.findings:
        print(f"   [{f['kind']}] x{f['count']} {f['summary']}\n      saved: {f['path']}")
    verdict = f"{len(summary.findings)} finding(s)" if summary.findings else "clean"
    if not summary.findings and summary.unknown:
        verdict = "no findings, but some histories unknown"
    print(f"   verdict: {verdict.upper()}")


# --------------------------------------------------------------------------- repro


def reproduce_concurrent(finding: Finding | None, program: ConcurrentProgram, names: list[str], variant: str,
                         mutant: int, times: int, timeout: float) -> tuple[int, str, list[Finding]]:  # fmt: skip
    """Replay a concurrent program ``times`` times per target; returns (runs that
    reproduced, a trace to show, the findings of the last reproducing run).
    A finding reproduces when a run yields a finding with its signature; a bare
    program when a run yields any finding."""
    reproduced = 0
    trace = ""
    shown: list[Finding] = []
    specs = select_targets(names)
    for _ in range(times):
        hit = False
        run_found: list[Finding] = []
        for spec in specs:
            target_mutant = mutant if spec.variant(variant).testing else 0
            with TargetWorker(spec, variant, timeout=timeout, mutant=target_mutant) as worker:
                for event in worker.run([("repro", program)], kind="stress"):
                    if event[0] in ("result", "failure"):
                        found, _ = findings_for_run(spec.name, program, event[2], variant=variant, mutant=mutant,
                                                    seed=finding.seed if finding else None)  # fmt: skip
                        run_found += found
        if finding is not None:
            hit = any(f.signature == finding.signature for f in run_found)
        else:
            hit = bool(run_found)
        reproduced += hit
        if hit or not trace:
            shown = run_found
            trace = "".join(f.trace for f in run_found[:1]) or "(every check passed on this run)\n"
    return reproduced, trace, shown


def hunt_mutant(job: Any, out: Path) -> Any:
    """The ``stress`` mode of ``fuzzharness mutants``: stress one target with one racy
    mutant switched on until the first finding or the job's budget; returns a
    :class:`fuzzharness.mutants.Detection`."""
    from .mutants import Detection

    options = StressOptions(
        targets=[job.target.name], threads=4, seconds=job.budget, seed=job.seed, variant=job.plan.variant,
        mutant=int(job.mutant), out=out, timeout=job.plan.timeout, batch=1, stop_on_first=True,
    )  # fmt: skip
    start = time.time()
    summary = run_stress(options)
    if not summary.findings:
        return Detection(False, programs=summary.programs)
    fitting = [f for f in summary.findings if f["kind"] in job.plan.kinds]
    best = min(fitting or summary.findings, key=lambda f: f["found_at"])
    return Detection(
        True, best["kind"], round(best["found_at"] - start, 1), best["path"], best["summary"], summary.programs
    )
