"""Random differential fuzzing: the ``fuzz`` command's engine.

``fuzz`` runs ``jobs`` job processes side by side (one per core by default;
started with ``spawn``; the parent never loads a target). Each job owns one worker
per target, generates programs from its own seed, runs every program on all
targets at once (one thread per worker, the workers are separate processes),
checks the traces against the model and each other, and saves each finding
atomically the moment it is found. Jobs report progress to the parent through a
queue; the parent draws the progress display and prints the summary.

The checked path is bulk and pipelined: a batch is serialized once for every
worker (programs the native runner runs in one call travel encoded for it), each
worker answers with packed traces (plain values, no object per step), and while
the workers run batch k the job checks batch k-1 and generates batch k+1. A
program is accepted when every target's packed trace equals the fast model's
prediction (:mod:`fuzzharness.oracles.fastmodel`); only a program some target
disagrees on is unpacked and judged by the reference path
(:func:`~fuzzharness.findings.triage.findings_for`), so the findings are the
reference path's: same seed, same programs, same findings. The fast model is held
to the Python model on one program in :data:`FAST_MODEL_SAMPLE` at run time (a
disagreement is a ``fast_model`` finding). Opaque-handle targets and sanitizer
variants are checked the reference way (:func:`fast_path_note`; the summary's
``check_path`` says which), as is everything with ``fast_path=False``.

Every program's seed is recorded: ``program_seed = seed * 2**40 + job * 2**32 + n``
regenerates it with ``generate(Random(program_seed))`` (with ``via_rate=PAIR_VIA_RATE`` when a
cross-runtime pair is among the targets).

With ``corpus`` (a directory of byte-encoded programs, e.g. a campaign's
``<corpus>/<targets>/queue``), a fraction ``corpus_rate`` of the programs are
byte-level mutations of corpus entries instead (:func:`mutate_entry`; every byte
string decodes to a valid program). Their findings record no seed (the saved
program is the input).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue as queue_module
import random
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fuzzharness.contract.header import Status
from fuzzharness.contract.registry import TargetSpec, select_targets
from fuzzharness.execution.supervisor import DEFAULT_TIMEOUT, BatchRun, TargetWorker, probe
from fuzzharness.findings.baseline import load_baseline
from fuzzharness.findings.store import Finding, FindingKind, merge_hits, save
from fuzzharness.findings.triage import findings_for
from fuzzharness.oracles.differential import cross_check_skipped
from fuzzharness.oracles.fastmodel import Prediction, accepts, disagreement, predict
from fuzzharness.programs.interpreter import unpack
from fuzzharness.programs.sequential import Program, generate, generate_long_lifetime, within_calls

#: Share of ops given a runtime selector when a cross-runtime pair is fuzzed (program.generate).
PAIR_VIA_RATE = 0.3

__all__ = ["FuzzOptions", "FuzzSummary", "run_fuzz", "program_seed", "load_corpus", "mutate_entry", "default_jobs",
           "fast_path_note"]  # fmt: skip


@dataclass
class FuzzOptions:
    targets: list[str]
    seconds: float | None = 30.0
    runs: int | None = None
    seed: int = 0
    #: job processes (None: one per core, :func:`default_jobs`)
    jobs: int | None = None
    out: Path = Path("corpus/crashes")
    variant: str = "release"
    mutant: int = 0
    batch: int = 32
    timeout: float = DEFAULT_TIMEOUT
    max_ops: int = 48
    #: stop every job at the first finding (whose kind is in ``stop_kinds``, if given):
    #: the mutant suite's "time to detection" (fuzzharness.lanes.mutants)
    stop_on_first: bool = False
    stop_kinds: tuple[str, ...] = ()
    #: directory of byte-encoded programs to mutate (campaign corpus queue), and how often
    corpus: Path | None = None
    corpus_rate: float = 0.25
    #: kill and restart a worker whose RSS exceeds this (an ``oom`` finding); None: no limit
    rss_limit_mb: int | None = None
    #: known bugs to accept and fuzz past (fuzzharness.findings.baseline); None: none
    baseline: Path | None = None
    #: a long-lifetime program (programs.sequential.generate_long_lifetime) every
    #: LONG_LIFETIME_PERIOD seconds per job, in time-bounded runs (``--runs`` keeps the
    #: seed-determined programs only)
    long_lifetimes: bool = True
    #: check with the fast path where it applies (fast_path_note); False: every program
    #: the reference way (the same findings, slower: for comparisons and debugging)
    fast_path: bool = True


@dataclass
class FuzzSummary:
    targets: list[str]
    variant: str
    seed: int
    jobs: int
    seconds: float = 0.0
    programs: int = 0
    ops: int = 0
    restarts: int = 0
    #: one entry per distinct finding (by id), with how often it was hit
    findings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: (exception name, message) of the first error that stopped a job, if any
    fatal: tuple[str, str] | None = None
    #: with a cross-runtime pair and single-runtime targets together: programs whose
    #: pair trace was (checked) / was not (skipped: the pair model and the single model
    #: expect different traces, e.g. a NOT_HELD release) compared with the single targets'
    cross_checked: int = 0
    cross_skipped: int = 0
    #: findings whose signature the baseline accepts: hits per signature (not saved, not failing)
    baselined: dict[str, int] = field(default_factory=dict)
    #: fresh worker processes started after a caught panic (so no program inherits its state)
    restarts_after_panic: int = 0
    #: programs every target's packed trace matched the fast prediction of (no reference check needed)
    fast_accepted: int = 0
    #: how the traces were checked (:func:`fast_path_note`)
    check_path: str = ""

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def add_findings(self, found: list[dict[str, Any]]) -> None:
        merge_hits(self.findings, found)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ops_per_second"] = round(self.ops_per_second, 1)
        out["new_findings"] = sum(1 for f in self.findings if f["new"])
        return out


#: Seconds before a job's first long-lifetime program, and between two of them (each costs ~1 s
#: to run and check: ~5% of a job's time; two in three reuse one slot past 2^16 versions).
LONG_LIFETIME_FIRST = 3.0
LONG_LIFETIME_PERIOD = 12.0


def program_seed(seed: int, job: int, n: int) -> int:
    return seed * (1 << 40) + job * (1 << 32) + n


def default_jobs() -> int:
    """``--jobs`` by default: one job per core."""
    return os.cpu_count() or 1


#: One program in this many has its fast prediction checked against the Python model
#: at run time (fuzzharness.oracles.fastmodel; every program is in the tests).
FAST_MODEL_SAMPLE = 64


def fast_path_note(specs: list[TargetSpec], variant: str, fast_path: bool = True) -> str:
    """How ``fuzz`` checks these targets: the fast path, or why the reference path."""
    if not fast_path:
        return "reference path: asked for (fast path off)"
    opaque = [spec.name for spec in specs if spec.policy.opaque]
    if opaque:
        return f"reference path: opaque-handle target(s) {', '.join(opaque)} are checked by replay"
    if any(spec.variant(variant).sanitizer for spec in specs):
        return "reference path: sanitizer variant (LeakSanitizer wraps every trace)"
    return "fast path (packed traces, fast model; a program some target disagrees on is judged the reference way)"


def _job(index: int, options: FuzzOptions, specs: list[TargetSpec], events: Any, stop: Any) -> None:
    """One job process: generate, run, check, save; report through ``events``.

    Pipelined: while the workers run batch k, the job checks batch k-1 and generates
    batch k+1. A program that needs the reference path's probe (a leak to name) waits
    for the batch in flight first, so a worker never serves two requests at once."""
    workers: dict[str, TargetWorker] = {}
    pairs = {spec.name for spec in specs if spec.pair}
    baseline = load_baseline(options.baseline) if options.baseline else None
    fast = fast_path_note(specs, options.variant, options.fast_path).startswith("fast")
    kinds = sorted({bool(spec.pair) for spec in specs})
    inflight: BatchRun | None = None
    try:
        for spec in specs:
            workers[spec.name] = TargetWorker(spec, options.variant, timeout=options.timeout, mutant=options.mutant,
                                              rss_limit_mb=options.rss_limit_mb)  # fmt: skip
            workers[spec.name].start()
        deadline = time.monotonic() + options.seconds if options.seconds else None
        counter = [0]
        entries = load_corpus(options.corpus) if options.corpus else []
        from_corpus: set[int] = set()
        # Long lifetimes (a slot reused 2^16 times, a table filled) are scheduled by time: by
        # chance they are too rare to be found in a minute, and too costly for every program.
        next_long = [time.monotonic() + LONG_LIFETIME_FIRST]

        def next_batch() -> list[tuple[int, Program]]:
            if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                return []
            size = options.batch
            if options.runs is not None:
                size = min(size, _share(options.runs, options.jobs, index) - counter[0])
            batch = []
            for _ in range(max(size, 0)):
                seed = program_seed(options.seed, index, counter[0])
                rng = random.Random(seed)
                if entries and rng.random() < options.corpus_rate:
                    from_corpus.add(seed)
                    batch.append((seed, mutate_entry(rng, entries, options.max_ops)))
                elif options.long_lifetimes and options.runs is None and time.monotonic() >= next_long[0]:
                    next_long[0] = time.monotonic() + LONG_LIFETIME_PERIOD
                    batch.append((seed, generate_long_lifetime(rng, options.max_ops, PAIR_VIA_RATE if pairs else 0.0)))
                else:
                    # Runtime selectors only matter to pairs: single-target runs keep plain programs.
                    batch.append((seed, generate(rng, options.max_ops, via_rate=PAIR_VIA_RATE if pairs else 0.0)))
                counter[0] += 1
            return batch

        ready: tuple[list, dict] | None = None  # the batch in flight, collected early by quiet()

        def quiet() -> None:  # the reference path may probe a worker: nothing in flight then
            nonlocal inflight, ready
            if inflight is not None:
                ready, inflight = (inflight_batch, inflight.wait()), None

        batch = next_batch()
        inflight_batch = batch
        inflight = BatchRun(workers, batch, packed=True) if batch else None
        while inflight is not None or ready is not None:
            if ready is not None:
                (batch, outcomes), ready = ready, None
            else:
                batch, outcomes = inflight_batch, inflight.wait()
                inflight = None
            upcoming = next_batch()  # generated while the batch before it is checked
            if upcoming:
                inflight, inflight_batch = BatchRun(workers, upcoming, packed=True), upcoming
            ops = 0
            found = []
            known: dict[str, int] = {}
            cross = [0, 0]  # [checked, skipped] (see FuzzSummary)
            accepted = 0
            mixed = len(kinds) == 2
            for seed, program in batch:
                per_target = outcomes[seed]
                predictions = {pair: predict(program, pair) for pair in kinds} if fast else {}
                if seed % FAST_MODEL_SAMPLE == 0:
                    for pair in predictions:
                        problem = disagreement(program, pair)
                        if problem:
                            found.append(_record(_fast_model_finding(program, pair, problem, options, seed), options.out))
                if mixed:
                    if not predictions:
                        cross[cross_check_skipped(program, list(workers), pairs)] += 1
                    else:
                        cross[predictions[False].key != predictions[True].key] += 1
                ops += sum(_steps(o) for o in per_target.values())
                if fast and _accepted(predictions, per_target, pairs):
                    accepted += 1
                    continue
                if any(isinstance(o, tuple) for o in per_target.values()):
                    per_target = {t: unpack(program, o) if isinstance(o, tuple) else o for t, o in per_target.items()}
                quiet()
                for finding in findings_for(
                    program, per_target, variant=options.variant, mutant=options.mutant,
                    seed=None if seed in from_corpus else seed,
                    probe=lambda target, p: probe(workers[target], p, options.timeout), baseline=baseline,
                ):  # fmt: skip
                    if baseline is not None and baseline.accepts(finding.signature):
                        key = " ".join(finding.signature)
                        known[key] = known.get(key, 0) + 1
                        continue
                    found.append(_record(finding, options.out))
            if options.stop_on_first and any(
                not options.stop_kinds or f["kind"] in options.stop_kinds for f in found
            ):
                stop.set()
            restarts = sum(w.restarts for w in workers.values())
            after_panic = sum(w.restarts_after_panic for w in workers.values())
            events.put(("progress", index, len(batch), ops, found, restarts, cross, known, after_panic, accepted))
    except KeyboardInterrupt:
        pass  # a Ctrl-C reaches the whole group: the parent reports it (exit 5); a job closes its workers
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which exits 3 / 2
        events.put(("error", index, type(exc).__name__, str(exc), traceback.format_exc()))
    finally:
        try:
            if inflight is not None:
                inflight.wait()
        except BaseException:  # noqa: BLE001 - closing anyway (a second Ctrl-C, a dead worker): reported above
            pass
        for worker in workers.values():
            worker.close()
        events.put(("done", index))


def _steps(outcome: Any) -> int:
    """The steps a target ran of one program (packed or not; 0 for a failure)."""
    if isinstance(outcome, tuple):
        return len(outcome[0]) // 2
    return len(outcome) if isinstance(outcome, list) else 0


def _accepted(predictions: dict[bool, Prediction], per_target: dict[str, Any], pairs: set[str]) -> bool:
    """Whether every target's packed trace is exactly its model's prediction (then the
    reference check finds nothing: see fuzzharness.oracles.fastmodel). A pair and single
    targets together: where the two models predict different traces, only if they differ
    beyond INVALID vs STALE (the reference then compares neither with the other)."""
    if len(predictions) == 2:
        single, pair = predictions[False], predictions[True]
        if single.key != pair.key and _error_classes(single.key) == _error_classes(pair.key):
            return False
    for target, outcome in per_target.items():
        prediction = predictions.get(target in pairs)
        if not isinstance(outcome, tuple) or not accepts(prediction, outcome):
            return False
    return True


def _error_classes(key: tuple) -> tuple:
    """A packed key with INVALID_HANDLE and STALE_HANDLE as one status (as the reference groups targets)."""
    return tuple(_STALE if i % 2 == 0 and v == _INVALID else v for i, v in enumerate(key))


_INVALID, _STALE = int(Status.INVALID_HANDLE), int(Status.STALE_HANDLE)


def _fast_model_finding(program: Program, pair: bool, problem: str, options: FuzzOptions, seed: int) -> Finding:
    """The finding of a fast-model disagreement: a harness bug, kept with its program."""
    return Finding(kind=FindingKind["fast_model"], targets=["fast-model"], variant=options.variant, program=program,
                   summary=problem, signature=["fast_model", "pair" if pair else "single"], seed=seed,
                   mutant=options.mutant, details={"pair": pair})  # fmt: skip


def load_corpus(directory: Path, limit: int = 4096) -> list[bytes]:
    """The byte-encoded programs of a corpus directory (at most ``limit``, smallest names first)."""
    try:
        names = sorted(p for p in Path(directory).iterdir() if p.is_file() and not p.name.startswith("."))
    except FileNotFoundError:
        return []
    out = []
    for path in names[:limit]:
        try:
            out.append(path.read_bytes()[:4096])
        except OSError:
            continue
    return out


def mutate_entry(rng: random.Random, entries: list[bytes], max_ops: int) -> Program:
    """A byte-level mutation of a corpus entry: flips, inserts, deletions, a splice with
    another entry or a fresh program's encoding. Total: any bytes decode to a program."""
    from fuzzharness.programs.sequential import decode, encode

    data = bytearray(rng.choice(entries) or b"\0")
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        pos = rng.randrange(len(data) + 1)
        if roll < 0.35 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif roll < 0.55:
            data[pos:pos] = bytes([rng.randrange(256)])
        elif roll < 0.7 and len(data) > 2:
            del data[pos : pos + rng.randint(1, 8)]
        elif roll < 0.85:
            other = rng.choice(entries)[1:]
            cut = rng.randrange(len(other) + 1)
            data[pos:] = other[cut:]
        else:
            try:
                data += encode(generate(rng, 8))[1:]
            except ValueError:
                pass
    program = decode(bytes(data))
    if len(program.ops) > 2 * max_ops:
        program = Program(program.config, program.ops[: 2 * max_ops])
    # A decoded repeat may ask for up to 2^21 calls: keep mutated entries short (long
    # lifetimes are the generator's, on purpose and rarely).
    return within_calls(program, MUTATED_MAX_CALLS)


#: Most contract calls a program mutated from a corpus entry may make.
MUTATED_MAX_CALLS = 4096


def _share(total: int, jobs: int, index: int) -> int:
    return total // jobs + (1 if index < total % jobs else 0)


def _record(finding: Finding, out: Path) -> dict[str, Any]:
    path = save(finding, out)
    return {
        "id": finding.id,
        "kind": finding.kind.name,
        "targets": finding.targets,
        "summary": finding.summary,
        "seed": finding.seed,
        "path": str(path or out / finding.id),
        "new": path is not None,
        "found_at": finding.found_at,
    }


def run_fuzz(options: FuzzOptions, progress: Any = None) -> FuzzSummary:
    """Run a fuzzing session; ``progress(summary, elapsed)`` is called as jobs report.

    Raises the first job's user error (e.g. a target that is not built) after
    stopping the others.
    """
    specs = select_targets(options.targets)
    for spec in specs:
        spec.library(options.variant)  # fail fast, before starting any process
    if options.jobs is None:
        options = dataclasses.replace(options, jobs=default_jobs())
    ctx = multiprocessing.get_context("spawn")
    events = ctx.Queue()
    stop = ctx.Event()
    summary = FuzzSummary([s.name for s in specs], options.variant, options.seed, options.jobs,
                           check_path=fast_path_note(specs, options.variant, options.fast_path))  # fmt: skip
    procs = [
        ctx.Process(target=_job, args=(i, options, specs, events, stop), daemon=True) for i in range(options.jobs)
    ]
    start = time.monotonic()
    for p in procs:
        p.start()
    running = set(range(options.jobs))
    restarts = [0] * options.jobs
    panic_restarts = [0] * options.jobs
    try:
        while running:
            try:
                event = events.get(timeout=0.5)
            except queue_module.Empty:
                dead = {i for i in running if not procs[i].is_alive()}
                for i in dead:
                    summary.errors.append(f"job {i} died (exit code {procs[i].exitcode})")
                running -= dead
                event = None
            if event is not None:
                if event[0] == "progress":
                    restarts[event[1]] = event[5]
                    _add_progress(summary, event, panic_restarts)
                elif event[0] == "error":
                    _, i, name, message, tb = event
                    summary.errors.append(f"job {i}: {name}: {message}")
                    summary.fatal = summary.fatal or (name, message)
                    stop.set()
                elif event[0] == "done":
                    running.discard(event[1])
            summary.seconds = time.monotonic() - start
            summary.restarts = sum(restarts)
            if progress is not None:
                progress(summary, summary.seconds)
    except KeyboardInterrupt:
        stop.set()
        summary.errors.append("interrupted")
        for p in procs:
            p.join(timeout=15)
        # Events still queued (findings are already on disk) are drained below.
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    summary.seconds = time.monotonic() - start
    while True:
        try:
            event = events.get_nowait()
        except (queue_module.Empty, OSError, ValueError):
            break
        if event[0] == "progress":
            _add_progress(summary, event, panic_restarts)
    return summary


def _add_progress(summary: FuzzSummary, event: tuple, panic_restarts: list[int]) -> None:
    """Fold one job's ``progress`` event into the summary."""
    _, i, programs, ops, found, _restarts, cross, known, after_panic, accepted = event
    summary.programs += programs
    summary.fast_accepted += accepted
    summary.ops += ops
    summary.add_findings(found)
    summary.cross_checked += cross[0]
    summary.cross_skipped += cross[1]
    for signature, hits in known.items():
        summary.baselined[signature] = summary.baselined.get(signature, 0) + hits
    panic_restarts[i] = after_panic
    summary.restarts_after_panic = sum(panic_restarts)
