"""The mutant suite: proof, with planted bugs, that the harness finds each bug class.

``fuzzharness mutants`` builds the ``mutants`` and ``mutants-asan`` variants, and for
every mutant of ``targets/include/fuzzharness_testing_decls.h`` and every target
runs the mode that suits the bug (:data:`PLAN`) for at most ``budget`` seconds,
stopping at the first finding of the kind the bug should produce. It then replays
the saved finding with ``repro`` and records whether it reproduces. Each row says:
mutant, target, mode, detected or not, the finding's kind (and whether it fits the
bug), time to detection, and whether repro reproduced it.

Guarantees:

* a mutant a shim does not implement (``fh_test_set_mutant`` returns
  ``FH_UNSUPPORTED``) is ``n/a`` for that target, never "detected" and never "missed";
* a mutant whose mode is not available in this tree (``stress``, for the racy
  mutants, comes from :mod:`fuzzharness.lanes.stress`) is ``needs stress``: reported, not
  hidden, and not counted as detected;
* every applicable mutant is detected, as a kind that fits the bug, with a saved
  finding that ``repro`` reproduces (a concurrent one within :data:`REPRO_TRIES`
  replays), or the command exits 1;
* at most ``parallel`` (default 2: the reference machine has 2 cores) mutant x
  target jobs run at once; each is a normal ``fuzz`` run with one job process.

A *mode* is a function ``(Job, out_dir) -> Detection``; :data:`MODES` maps names to
modes, so another mode (stress, coverage-guided) is added by registering one.

Which targets: a plan's ``on`` says where the bug lives. The cross-runtime mutants
(guard-one-side, cleanup-unreachable) run on pairs (go+rust) only, the others on
single-runtime targets only; other combinations get no row.

Which variant: memory-error mutants (stale use-after-free, double release, bounds
off by one, Go cache use-after-free) run under ``mutants-asan`` so that the finding
is the ASan kind; the others run on plain ``mutants`` (faster, and a leak is then
found by the model's accounting, which names the resource).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from fuzzharness.contract.header import Mutant, Status
from fuzzharness.contract.registry import TargetSpec, build, select_targets
from fuzzharness.errors import FuzzHarnessError
from fuzzharness.findings.detection import Detection

__all__ = ["Plan", "PLAN", "Job", "Detection", "Row", "MODES", "run_suite", "print_table"]


@dataclass(frozen=True)
class Plan:
    """How to hunt one mutant: the mode, the build variant, the finding kinds that fit it."""

    mode: str
    variant: str
    kinds: tuple[str, ...]
    timeout: float = 10.0  #: per-program timeout (seconds before a hang)
    #: which targets the bug lives in: "single" (single-runtime targets) or "pair"
    #: (cross-runtime pairs, e.g. go+rust: the bug is in how the two runtimes share a
    #: resource); a (mutant, target) combination outside it gets no row
    on: str = "single"


_MEMORY = ("heap_use_after_free",)
PLAN: dict[Mutant, Plan] = {
    Mutant.SNAPSHOT_SHARES: Plan("fuzz", "mutants", ("divergence",)),
    Mutant.SEGFAULT: Plan("fuzz", "mutants", ("crash",)),
    Mutant.HANG: Plan("fuzz", "mutants", ("hang",), timeout=2.0),
    Mutant.ABORT: Plan("fuzz", "mutants", ("crash",)),
    Mutant.CAUGHT_PANIC: Plan("fuzz", "mutants", ("panic",)),
    Mutant.SKIP_GENERATION: Plan("fuzz", "mutants", ("divergence",)),
    Mutant.STALE_USE_AFTER_FREE: Plan("fuzz", "mutants-asan", _MEMORY),
    Mutant.DOUBLE_RELEASE: Plan("fuzz", "mutants-asan", ("double_free",)),
    Mutant.GENERATION_WRAP: Plan("fuzz", "mutants", ("divergence",)),
    Mutant.LEAK_ON_ERROR: Plan("fuzz", "mutants", ("leak",)),
    Mutant.EARLY_FREE: Plan("fuzz", "mutants", ("divergence",)),
    Mutant.BOUNDS_OFF_BY_ONE: Plan("fuzz", "mutants-asan", ("heap_buffer_overflow",)),
    Mutant.RACY_ACQUIRE: Plan("stress", "mutants", ("non_linearizable", "divergence")),
    Mutant.RECLAIM_NEVER: Plan("fuzz", "mutants", ("leak",)),
    Mutant.GO_CACHE_USE_AFTER_FREE: Plan("fuzz", "mutants-asan", _MEMORY),
    Mutant.SHARED_LAST_ERROR: Plan("stress", "mutants", ("non_linearizable", "divergence")),
    Mutant.RACY_REFCOUNT: Plan("stress", "mutants", ("non_linearizable", "divergence")),
    Mutant.UNSYNC_WRITER: Plan("stress", "mutants", ("non_linearizable", "divergence")),
    # A snapshot pinning its origin after the lock is let go, racing a release (issue 16).
    Mutant.SNAPSHOT_PIN_RACE: Plan("stress", "mutants", ("non_linearizable", "divergence")),
    # A 4-byte magic in the written data: the coverage-guided lane (fuzzharness.lanes.coverage) on
    # the libFuzzer-instrumented build; random generation would have to guess 32 bits.
    Mutant.MAGIC_CRASH: Plan("coverage", "mutants-cov", ("crash",)),
    # Cross-runtime pair (go+rust): the owner frees when ITS count reaches zero although
    # Go still holds references; under ASan Go's next use of it is a use-after-free, and
    # without ASan the early death shows as a status/byte divergence from the pair model.
    Mutant.GUARD_ONE_SIDE: Plan("fuzz", "mutants-asan", _MEMORY + ("divergence",), on="pair"),
    # Go's cleanup keeps its own wrapper reachable: never runs, the owner never gets the
    # acknowledgement, quiesce times out (a leak, as RECLAIM_NEVER is found).
    Mutant.CLEANUP_UNREACHABLE: Plan("fuzz", "mutants", ("leak",), on="pair"),
}


#: How often the mutant table replays a concurrent finding before calling it not reproduced.
REPRO_TRIES = 20


@dataclass(frozen=True)
class Job:
    mutant: Mutant
    target: TargetSpec
    plan: Plan
    budget: float
    seed: int = 0


@dataclass
class Row:
    mutant: str
    number: int
    target: str
    mode: str
    variant: str
    status: str  #: detected / missed / n/a / needs stress / error
    kind: str | None = None
    kind_fits: bool | None = None
    seconds: float | None = None
    reproduced: bool | None = None
    path: str | None = None
    summary: str = ""
    expected_kinds: list[str] = field(default_factory=list)


def fuzz_mode(job: Job, out: Path) -> Detection:
    """Random differential fuzzing with the mutant on, stopped at the first fitting finding."""
    from fuzzharness.lanes.fuzz import FuzzOptions, run_fuzz

    options = FuzzOptions(
        targets=[job.target.name], seconds=job.budget, seed=job.seed, jobs=1, out=out,
        variant=job.plan.variant, mutant=int(job.mutant), timeout=job.plan.timeout,
        stop_on_first=True, stop_kinds=job.plan.kinds,
        batch=4,  # the stop is checked per batch; some mutants make programs slow (quiesce times out)
    )  # fmt: skip
    start = time.time()
    summary = run_fuzz(options)
    if summary.fatal is not None:
        raise FuzzHarnessError(f"{summary.fatal[0]}: {summary.fatal[1]}")
    return Detection.from_hits(summary.findings, job.plan.kinds, start, summary.programs)


def stress_mode(job: Job, out: Path) -> Detection:
    """Concurrent stress (:func:`fuzzharness.lanes.stress.hunt_mutant`)."""
    from fuzzharness.lanes.stress import hunt_mutant

    return hunt_mutant(job, out)


def coverage_mode(job: Job, out: Path) -> Detection:
    """The coverage-guided lane (:func:`fuzzharness.lanes.coverage.coverage_mode`)."""
    from fuzzharness.lanes.coverage import coverage_mode as run

    return run(job, out)


MODES: dict[str, Callable[[Job, Path], Detection]] = {"fuzz": fuzz_mode, "stress": stress_mode, "coverage": coverage_mode}


def _supported(specs: list[TargetSpec], mutants: list[Mutant]) -> dict[tuple[str, int], bool]:
    """Which (target, mutant) pairs the shims implement, asked from one worker each."""
    from fuzzharness.execution.supervisor import TargetWorker

    out = {}
    for spec in specs:
        with TargetWorker(spec, "mutants") as worker:
            for m in mutants:
                reply = worker.request(("mutant", int(m)), 10.0)
                out[spec.name, int(m)] = reply is not None and reply[1] == Status.OK
            worker.request(("mutant", 0), 10.0)
    return out


def _run_job(job: Job, out: Path, repro: bool) -> Row:
    name = job.mutant.name.lower().replace("_", "-")
    row = Row(name, int(job.mutant), job.target.name, job.plan.mode, job.plan.variant, "missed",
              expected_kinds=list(job.plan.kinds))  # fmt: skip
    try:
        found = MODES[job.plan.mode](job, out / f"{int(job.mutant):02d}-{name}-{job.target.name}")
    except FuzzHarnessError as exc:
        row.status, row.summary = "error", str(exc)
        return row
    if found.note:
        row.status = found.note
        return row
    if not found.detected:
        row.summary = f"nothing found in {job.budget:g} s ({found.programs} programs)"
        return row
    row.status, row.kind, row.seconds, row.path, row.summary = "detected", found.kind, found.seconds, found.path, found.summary
    row.kind_fits = found.kind in job.plan.kinds
    if repro and found.path:
        from fuzzharness.findings.repro import reproduce

        # A concurrent finding depends on an interleaving: replay it up to REPRO_TRIES
        # times and count it reproduced at the first success (repro --times says how flaky).
        tries = REPRO_TRIES if job.plan.mode == "stress" else 1
        try:
            row.reproduced = any(
                reproduce(Path(found.path), timeout=job.plan.timeout).reproduced > 0 for _ in range(tries)
            )
        except FuzzHarnessError as exc:
            row.reproduced = False
            row.summary += f" (repro failed: {exc})"
    return row


def run_suite(
    targets: str = "rust,go,go+rust",
    budget: float = 60.0,
    out: Path = Path("corpus/mutants"),
    mutants: list[int] | None = None,
    parallel: int = 2,
    build_first: bool = True,
    repro: bool = True,
    seed: int = 0,
    progress: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Hunt every mutant on every target; one :class:`Row` per pair, in mutant order."""
    specs = select_targets(targets)
    chosen = [Mutant(m) for m in mutants] if mutants else [m for m in Mutant if m != Mutant.NONE]
    variants = sorted({PLAN[m].variant for m in chosen})
    if build_first:
        built = set()
        for spec in specs:  # a pair is built by building its members, once each
            for member in spec.members.values() if spec.members else [spec]:
                for variant in ["mutants", *variants]:
                    if variant in member.variants and (member.name, variant) not in built:
                        build(member, variant, quiet=True)
                        built.add((member.name, variant))
    supported = _supported(specs, chosen)
    rows: list[Row] = []
    jobs = []
    for m in chosen:
        for spec in specs:
            plan = PLAN[m]
            if (plan.on == "pair") != spec.pair:
                continue  # the bug does not live in this kind of target (see Plan.on)
            if not supported[spec.name, int(m)]:
                rows.append(Row(m.name.lower().replace("_", "-"), int(m), spec.name, plan.mode, plan.variant, "n/a",
                                summary="the shim does not implement it (FH_UNSUPPORTED)",
                                expected_kinds=list(plan.kinds)))  # fmt: skip
            else:
                jobs.append(Job(m, spec, plan, budget, seed))
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for row in pool.map(lambda j: _run_job(j, out, repro), jobs):
            rows.append(row)
            if progress is not None:
                progress(row)
    rows.sort(key=lambda r: (r.number, r.target))
    return rows


def _failure(row: Row) -> str:
    if row.status != "detected":
        return row.status
    return "kind does not fit" if row.kind_fits is False else "does not reproduce"


def undetected(rows: list[Row]) -> list[Row]:
    """Applicable rows that failed: not detected, detected as a kind that does not fit
    the bug, or whose saved finding does not reproduce (n/a rows are not applicable)."""
    return [
        r for r in rows
        if r.status != "n/a" and (r.status != "detected" or r.kind_fits is False or r.reproduced is False)
    ]  # fmt: skip


def to_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def print_table(rows: list[Row], budget: float) -> None:
    from rich.table import Table

    from fuzzharness.report.progress import make_console

    table = Table(title=f"mutant suite (budget {budget:g} s per mutant and target)")
    for col in ("#", "mutant", "target", "mode", "variant", "detected", "kind", "fits", "time", "repro"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r.number), r.mutant, r.target, r.mode, r.variant,
            {"detected": "yes", "missed": "NO"}.get(r.status, r.status), r.kind or "-",
            "-" if r.kind_fits is None else ("yes" if r.kind_fits else "no"),
            "-" if r.seconds is None else f"{r.seconds:.1f} s",
            "-" if r.reproduced is None else ("yes" if r.reproduced else "NO"),
        )  # fmt: skip
    console = make_console()
    console.print(table)
    for r in rows:
        if r.status == "detected":
            console.print(f"  {r.number:2d} {r.target:4s} {r.summary[:200]}", markup=False, highlight=False)
    missing = undetected(rows)
    applicable = [r for r in rows if r.status != "n/a"]
    console.print(f"{len(applicable) - len(missing)} of {len(applicable)} applicable mutant x target pairs detected, "
                  "with a fitting kind and a reproducing finding"
                  + (f"; FAILED: {', '.join(f'{r.mutant}/{r.target} ({_failure(r)})' for r in missing)}" if missing else ""),
                  markup=False, highlight=False)  # fmt: skip
