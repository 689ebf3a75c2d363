"""Reproducing saved findings: the ``repro`` command's engine.

``repro`` loads a finding (its directory or ``finding.json``) or a bare program
file (``*.fh``), runs the program on the recorded targets, build variant and
mutant with every step streamed (so a crash still shows each step before it),
and prints the side-by-side trace. A finding *reproduces* when the run yields a
finding with the same signature; a bare program reproduces when it yields any
finding. ``--times K`` runs it K times and reports how often it reproduced: a
flaky result is reported as flaky, never as "fixed".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fuzzharness.contract.registry import load_registry, select_targets
from fuzzharness.errors import CorruptInput
from fuzzharness.execution.supervisor import DEFAULT_TIMEOUT, Failure, TargetWorker
from fuzzharness.findings.store import FINDING_FILE, Finding, load, read_text
from fuzzharness.findings.triage import Outcome, findings_for, findings_for_run, render_trace
from fuzzharness.programs.concurrent import ConcurrentProgram, is_concurrent_text
from fuzzharness.programs.concurrent import parse_text as parse_concurrent
from fuzzharness.programs.interpreter import Observation
from fuzzharness.programs.sequential import parse_text

__all__ = ["ReproResult", "reproduce", "load_input"]


@dataclass
class ReproResult:
    path: str
    expected: list[str] | None  # the saved signature, None for a bare program
    runs: int
    reproduced: int
    trace: str
    found: list[Finding] = field(default_factory=list)
    failures: dict[str, Failure] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.expected is None:  # a bare program: there is nothing to reproduce, only findings
            return f"found {len(self.found)} finding(s)" if self.reproduced else "no findings"
        if self.reproduced == 0:
            return "not reproduced"
        if self.reproduced < self.runs:
            return f"flaky: reproduced {self.reproduced} of {self.runs} runs"
        return "reproduced" + (f" in all {self.runs} runs" if self.runs > 1 else "")


def load_input(path: Path, targets: str | None, variant: str | None) -> Finding | tuple:
    """A saved finding, or for a ``.fh`` program a (program, targets, variant) triple."""
    path = Path(path)
    if path.is_dir() or path.name == FINDING_FILE:
        return load(path)
    if not path.exists():
        raise CorruptInput(f"{path}: no such file or directory")
    text = read_text(path)
    program = parse_concurrent(text, str(path)) if is_concurrent_text(text) else parse_text(text, str(path))
    names = targets or ",".join(load_registry())
    return (program, names, variant or "release")


def _run_once(program, specs, variant: str, mutant: int, timeout: float) -> tuple[dict[str, Outcome], dict]:
    outcomes: dict[str, Outcome] = {}
    partial: dict[str, list[Observation]] = {}
    for spec in specs:
        steps: list[Observation] = []
        # A variant without mutant injection is the build with the planted bug removed.
        target_mutant = mutant if spec.variant(variant).testing else 0
        with TargetWorker(spec, variant, timeout=timeout, mutant=target_mutant) as worker:
            for event in worker.run([("repro", program)], stream_ops=True):
                if event[0] == "step":
                    steps.append(event[3])
                else:
                    outcomes[spec.name] = event[2]
        if isinstance(outcomes[spec.name], Failure):
            partial[spec.name] = steps
    return outcomes, partial


def reproduce(
    path: Path,
    times: int = 1,
    targets: str | None = None,
    variant: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    mutant: int | None = None,
) -> ReproResult:
    loaded = load_input(path, targets, variant)
    if isinstance(loaded, Finding):
        program, names, run_variant, saved_mutant = loaded.program, loaded.targets, loaded.variant, loaded.mutant
        if targets:
            names = [n.strip() for n in targets.split(",")]
        expected = loaded.signature
        seed = loaded.seed
    else:
        program, names, run_variant = loaded
        saved_mutant, expected, seed = 0, None, None
    mutant = saved_mutant if mutant is None else mutant
    if variant:
        run_variant = variant
    if isinstance(program, ConcurrentProgram):
        # A concurrent run depends on the OS scheduler: replay it `times` times and count.
        names = names.split(",") if isinstance(names, str) else names
        finding = loaded if isinstance(loaded, Finding) else None
        hits, trace, found = reproduce_concurrent(finding, program, names, run_variant, mutant, times, timeout)
        return ReproResult(str(path), expected, times, hits, trace, found, {})
    specs = select_targets(names)
    reproduced = 0
    trace = ""
    found: list[Finding] = []
    failures: dict[str, Failure] = {}
    for _ in range(times):
        outcomes, partial = _run_once(program, specs, run_variant, mutant, timeout)
        run_found = findings_for(program, outcomes, variant=run_variant, seed=seed, mutant=mutant)
        hit = any(f.signature == expected for f in run_found) if expected is not None else bool(run_found)
        reproduced += hit
        if not trace or hit:
            trace = render_trace(program, outcomes, partial)
            found = run_found
            failures = {t: o for t, o in outcomes.items() if isinstance(o, Failure)}
    return ReproResult(str(path), expected, times, reproduced, trace, found, failures)


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
