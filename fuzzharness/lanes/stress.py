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
timeline and an HTML timeline. Each target is judged under its own handle policy
(``TargetSpec.policy``: exact values, or its own opaque ones); when a target has its own
handle system, the programs also read through forged values
(:func:`~fuzzharness.programs.concurrent.forge`). The summary reports the
fraction of thread ops that overlapped another thread's op on the same resource: the
evidence that the calls really ran concurrently; per target also the overlap per
resource and the share of the threads' time spent inside calls, and the rate of thread
ops the checker decided (``checked_ops_per_s``).

Threads: by default as many as the cores (:func:`default_threads`, at least 2); more
threads than cores is *oversubscribed* (said in the summary): threads then also
collide through preemption inside a call, but run one after another more often.

Every run's history ends in exactly one of three books (``programs == histories_checked
+ unknown + histories_unchecked``): *checked* (the linearizability check reached a
verdict, linearizable or not), *unknown* (the check ran out of time) or *unchecked* (no
check ran: init failed, the setup diverged, or the worker died). Unknown and unchecked
are never clean: a run that checked nothing says so and exits non-zero
(:meth:`StressSummary.exit_code`).

Program seeds: program n of a run with seed S is ``generate(Random(S * 2**32 + n))``.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from fuzzharness.contract.registry import select_targets
from fuzzharness.execution.environment import decide
from fuzzharness.execution.supervisor import DEFAULT_TIMEOUT, TargetWorker
from fuzzharness.findings.store import Finding, merge_hits, save
from fuzzharness.findings.triage import findings_for_run
from fuzzharness.oracles.concurrent_model import RunCheck
from fuzzharness.oracles.linearizability import CheckResult
from fuzzharness.programs.concurrent import generate

__all__ = ["StressOptions", "StressSummary", "run_stress", "print_summary", "hunt_mutant", "program_seed", "cores", "default_threads",
           "EXIT_CLEAN", "EXIT_FOUND", "EXIT_INCONCLUSIVE"]  # fmt: skip


#: Exit statuses of :meth:`StressSummary.exit_code` (0 and 1 as every command's; 4 is
#: stress's own: nothing found, but not everything checked).
EXIT_CLEAN, EXIT_FOUND, EXIT_INCONCLUSIVE = 0, 1, 4


def program_seed(seed: int, n: int) -> int:
    return seed * (1 << 32) + n


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def default_threads(oversubscribe: bool = False) -> int:
    """Threads per program when none are asked for: no more than the cores (at least 2,
    so that something can collide); ``oversubscribe``: twice the cores (threads then
    also collide through preemption, in the middle of a call)."""
    return max(2, cores()) * (2 if oversubscribe else 1)


# --------------------------------------------------------------------------- harness side


@dataclass
class StressOptions:
    targets: list[str]
    threads: int = field(default_factory=default_threads)
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
    #: histories whose linearizability check ran out of time (never clean)
    unknown: int = 0
    #: histories whose linearizability check reached a verdict (linearizable or not)
    histories_checked: int = 0
    #: runs with no check at all: init failed, the setup diverged, or the worker died
    histories_unchecked: int = 0
    check_seconds: float = 0.0
    #: thread ops in histories the checker reached a verdict on (checked ops / check_seconds)
    checked_ops: int = 0
    restarts: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: per target: programs, overlap (overlapping, ops), overlap per resource, in-call ns, thread ns
    per_target: dict[str, dict[str, Any]] = field(default_factory=dict)
    cores: int = field(default_factory=cores)

    @property
    def overlap(self) -> float:
        return self.overlapping / self.overlap_total if self.overlap_total else 0.0

    @property
    def oversubscribed(self) -> bool:
        return self.threads > self.cores

    def add_check(self, target: str, check: RunCheck) -> None:
        """Book one run's overlap and in-call time, for the run and for its target."""
        self.overlapping += check.overlap[0]
        self.overlap_total += check.overlap[1]
        row = self.per_target.setdefault(target, {"programs": 0, "overlapping": 0, "overlap_total": 0,
                                                  "in_call_ns": 0, "thread_ns": 0, "by_resource": {}})  # fmt: skip
        row["programs"] += 1
        row["overlapping"] += check.overlap[0]
        row["overlap_total"] += check.overlap[1]
        row["in_call_ns"] += check.in_call[0]
        row["thread_ns"] += check.in_call[1]
        for label, (o, t) in check.overlap_by_resource.items():
            before = row["by_resource"].get(label, (0, 0))
            row["by_resource"][label] = (before[0] + o, before[1] + t)

    @property
    def nothing_checked(self) -> bool:
        """No history of the run reached a verdict (including a run of no program)."""
        return self.histories_checked == 0

    def add(self, found: dict[str, Any]) -> None:
        merge_hits(self.findings, [found])

    def count(self, check: RunCheck | None) -> None:
        """Book one run's history: checked, unknown, or unchecked (``check`` None: the
        worker died; a check without a verdict: init failed or the setup diverged)."""
        verdict = check.verdict if check is not None else None
        if verdict is None:
            self.histories_unchecked += 1
        elif verdict.result is CheckResult.unknown:
            self.unknown += 1
        else:
            self.histories_checked += 1
            self.checked_ops += sum(1 for op in check.history if op.client < self.threads)

    def exit_code(self) -> int:
        """The ``stress`` command's exit status:

        * ``EXIT_FOUND`` (1): there are findings (whatever else was or was not checked;
          the summary says that too);
        * ``EXIT_INCONCLUSIVE`` (4): no findings, but not every history was decided: some
          check ran out of time (unknown) or never ran (unchecked), which includes a run
          that checked nothing at all. A timeout or a skipped check is never a pass;
        * ``EXIT_CLEAN`` (0): no findings, at least one history, and every history
          checked and found linearizable.
        """
        if self.findings:
            return EXIT_FOUND
        if self.nothing_checked or self.unknown or self.histories_unchecked:
            return EXIT_INCONCLUSIVE
        return EXIT_CLEAN

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["overlap_fraction"] = round(self.overlap, 4)
        out["nothing_checked"] = self.nothing_checked
        out["oversubscribed"] = self.oversubscribed
        out["checked_ops_per_s"] = round(self.checked_ops / self.check_seconds) if self.check_seconds else 0
        out["environment"] = run_environment()
        for row in out["per_target"].values():
            row["overlap_fraction"] = (
                round(row["overlapping"] / row["overlap_total"], 4) if row["overlap_total"] else 0.0
            )
            row["in_call_share"] = round(row["in_call_ns"] / row["thread_ns"], 4) if row["thread_ns"] else 0.0
            row["overlap_by_resource"] = {label: round(o / t, 4) if t else 0.0
                                          for label, (o, t) in sorted(row.pop("by_resource").items())}  # fmt: skip
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
    policies = {spec.name: spec.policy for spec in specs}
    # A handle system of the target's own is also tried with forged values (as fuzz does);
    # runs of contract-layout targets only keep the programs their seeds always gave.
    forged = any(policy.opaque for policy in policies.values())
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
                                   vias=any(spec.pair for spec in specs), forged=forged)  # fmt: skip
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
                                                    check_timeout=options.check_timeout,
                                                    policy=policies[name])  # fmt: skip
                    summary.check_seconds += time.monotonic() - t0
                    summary.programs += 1
                    summary.ops += programs[seed].op_count
                    summary.count(check)
                    if check is not None:
                        summary.add_check(name, check)
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


def run_environment() -> dict[str, Any]:
    """What the workers' Go runtime and the machine were set to (GOGC, GOMAXPROCS: as the
    harness decided them, fuzzharness.execution.environment), and the CPU count."""
    env = decide("hunt").env
    return {"GOGC": env.get("GOGC", "unset (100)"), "GOMAXPROCS": env.get("GOMAXPROCS", f"unset ({os.cpu_count()})"),
            "cpu_count": os.cpu_count()}  # fmt: skip


def print_summary(summary: StressSummary) -> None:
    env = run_environment()
    print(f"stress: {summary.programs} program runs on {', '.join(summary.targets)} with {summary.threads} threads, "
          f"{summary.ops} thread ops in {summary.seconds:.1f} s (seed {summary.seed}); GOGC {env['GOGC']}, "
          f"GOMAXPROCS {env['GOMAXPROCS']}, {env['cpu_count']} CPUs")  # fmt: skip
    print(f"   overlap: {summary.overlap:.1%} of thread ops overlapped another thread's op on the same resource "
          f"({summary.overlapping}/{summary.overlap_total})"
          + (f"; {summary.threads} threads on {summary.cores} cores (oversubscribed)" if summary.oversubscribed else ""))  # fmt: skip
    for name, row in sorted(summary.per_target.items()):
        share = row["in_call_ns"] / row["thread_ns"] if row["thread_ns"] else 0.0
        overlap = row["overlapping"] / row["overlap_total"] if row["overlap_total"] else 0.0
        print(f"      {name}: overlap {overlap:.1%}, threads inside calls {share:.1%} of their time")
    print(f"   histories: {summary.histories_checked} of {summary.programs} checked for linearizability"
          + (f", {summary.unknown} unknown (the check ran out of time)" if summary.unknown else "")
          + (f", {summary.histories_unchecked} unchecked (init failed, the setup diverged or the worker died)"
             if summary.histories_unchecked else ""))  # fmt: skip
    if summary.nothing_checked:
        print(f"   NOTHING CHECKED: no history of the {summary.programs} run(s) reached a linearizability verdict")
    else:
        rate = summary.checked_ops / summary.check_seconds if summary.check_seconds else 0
        print(f"   checker: {summary.check_seconds:.1f} s ({rate:,.0f} checked thread ops/s)")
    if summary.restarts:
        print(f"   worker restarts: {summary.restarts}")
    for f in summary.findings:
        print(f"   [{f['kind']}] x{f['count']} {f['summary']}\n      saved: {f['path']}")
    undecided = summary.unknown + summary.histories_unchecked
    if summary.findings:
        verdict = f"{len(summary.findings)} finding(s)" + (", nothing checked" if summary.nothing_checked else "")
    elif summary.nothing_checked:
        verdict = "nothing checked (not a pass)"
    elif undecided:
        verdict = f"no findings, but {undecided} history(ies) not checked (not a pass)"
    else:
        verdict = "clean"
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
