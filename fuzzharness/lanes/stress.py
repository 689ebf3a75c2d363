"""Concurrent stress: the ``stress`` command's engine, and its half inside a worker.

In the worker (:func:`run_in_worker`), a
:class:`~fuzzharness.programs.concurrent.ConcurrentProgram` runs on the native
runner (:class:`fuzzharness.contract.bindings.NativeRunner`): ``init``; the setup on one
thread; the threads on N OS threads behind a start barrier, with the program's
seeded schedule perturbation; then the epilogue (infos on every handle, stats,
quiesce, stats) and ``shutdown``. Nothing of a run is decided in the worker: it
returns a :class:`~fuzzharness.oracles.concurrent_model.ConcurrentRun`.

In the harness (:func:`run_stress`), for each target a
:class:`~fuzzharness.execution.supervisor.TargetWorker` runs generated programs (a dead or
silent worker is a ``crash`` / ``hang`` finding with the program that caused it,
and the worker is restarted), each run is checked by
:func:`~fuzzharness.oracles.concurrent_model.check_run`, and every finding is saved with
its program (which records the schedule seed), the recorded history, a text
timeline and an HTML timeline. A history whose check ran out of time is counted
as *unknown*, never as clean. The summary reports the fraction of thread ops
that overlapped another thread's op on the same resource: the evidence that
the calls really ran concurrently.

Program seeds: program n of a run with seed S is ``generate(Random(S * 2**32 + n))``.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from fuzzharness.contract.registry import select_targets
from fuzzharness.execution.supervisor import DEFAULT_TIMEOUT, TargetWorker
from fuzzharness.findings.store import Finding, merge_hits, save
from fuzzharness.findings.triage import findings_for_run
from fuzzharness.oracles.linearizability import CheckResult
from fuzzharness.programs.concurrent import generate

__all__ = ["StressOptions", "StressSummary", "run_stress", "print_summary", "hunt_mutant", "program_seed"]



def program_seed(seed: int, n: int) -> int:
    return seed * (1 << 32) + n


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


def hunt_mutant(job: Any, out: Path) -> Any:
    """The ``stress`` mode of ``fuzzharness mutants``: stress one target with one racy
    mutant switched on until the first finding or the job's budget; returns a
    :class:`fuzzharness.findings.detection.Detection`."""
    from fuzzharness.findings.detection import Detection

    options = StressOptions(
        targets=[job.target.name], threads=4, seconds=job.budget, seed=job.seed, variant=job.plan.variant,
        mutant=int(job.mutant), out=out, timeout=job.plan.timeout, batch=1, stop_on_first=True,
    )  # fmt: skip
    start = time.time()
    summary = run_stress(options)
    return Detection.from_hits(summary.findings, job.plan.kinds, start, summary.programs)
