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

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from fuzzharness.contract.header import Status
from fuzzharness.contract.registry import load_registry, select_targets, use_registry, user_registry
from fuzzharness.errors import CorruptInput
from fuzzharness.execution.supervisor import DEFAULT_TIMEOUT, Failure, TargetWorker
from fuzzharness.findings.store import FINDING_FILE, Finding, environment_of, load, read_text
from fuzzharness.findings.triage import HISTORY_FILE, Outcome, findings_for, findings_for_run, render_trace
from fuzzharness.programs.concurrent import ConcurrentProgram, is_concurrent_text, tickets_from_history
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
    if path.is_dir() and not (path / FINDING_FILE).exists():
        inside = sorted(p.parent.name for p in path.glob(f"*/{FINDING_FILE}"))
        if inside:
            raise CorruptInput(f"{path}: a folder of {len(inside)} finding(s), not one finding; replay them with "
                               f"`fuzzharness repro {path}/*` or one of them, e.g. {path / inside[0]}")  # fmt: skip
        raise CorruptInput(f"{path}: a directory without {FINDING_FILE}: not a saved finding")
    if path.is_dir() or path.name == FINDING_FILE:
        return load(path)
    if not path.exists():
        raise CorruptInput(f"{path}: no such file or directory")
    text = read_text(path)
    program = parse_concurrent(text, str(path)) if is_concurrent_text(text) else parse_text(text, str(path))
    names = targets or ",".join(load_registry())
    return (program, names, variant or "release")


def retarget(signature: list[str], recorded: list[str], given: list[str]) -> list[str]:
    """The signature to expect when a finding is replayed on other targets: its target
    (second element) replaced by the one given in its place (same position in the list)."""
    mapping = dict(zip(recorded, given)) if len(recorded) == len(given) else {}
    if len(signature) < 2 or signature[1] not in mapping:
        return list(signature)
    return [signature[0], mapping[signature[1]], *signature[2:]]


#: Lines of a panic's output shown (the message and the innermost frames come first).
PANIC_LINES = 40
#: Variables a replay sets itself: backtraces on (fuzzharness.execution.environment).
_REPLAY_OWN = ("RUST_BACKTRACE", "RUST_LIB_BACKTRACE", "GOTRACEBACK")


def _run_once(program, specs, variant: str, mutant: int, timeout: float,
              env: dict[str, str] | None = None) -> tuple[dict[str, Outcome], dict]:  # fmt: skip
    outcomes: dict[str, Outcome] = {}
    partial: dict[str, list[Observation]] = {}
    for spec in specs:
        steps: list[Observation] = []
        # A variant without mutant injection is the build with the planted bug removed.
        target_mutant = mutant if spec.variant(variant).testing else 0
        with TargetWorker(spec, variant, timeout=timeout, mutant=target_mutant, env=env, purpose="replay") as worker:
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
        expected = loaded.signature
        if targets:
            names = [n.strip() for n in targets.split(",")]
            expected = retarget(expected, loaded.targets, names)
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
        history = (Path(path) if Path(path).is_dir() else Path(path).parent) / HISTORY_FILE
        hits, trace, found = reproduce_concurrent(finding, program, names, run_variant, mutant, times, timeout,
                                                  history if finding is not None else None)  # fmt: skip
        return ReproResult(str(path), expected, times, hits, trace, found, {})
    recorded = loaded.environment if isinstance(loaded, Finding) else {}
    notes = _adopt_registry(recorded)
    specs = select_targets(names)
    env = {k: v for k, v in recorded.get("variables", {}).items() if k not in _REPLAY_OWN}
    notes += environment_differences(recorded, specs, run_variant)
    reproduced = 0
    trace = ""
    found: list[Finding] = []
    failures: dict[str, Failure] = {}
    for _ in range(times):
        outcomes, partial = _run_once(program, specs, run_variant, mutant, timeout, env)
        run_found = findings_for(program, outcomes, variant=run_variant, seed=seed, mutant=mutant)
        hit = any(f.signature == expected for f in run_found) if expected is not None else bool(run_found)
        reproduced += hit
        if not trace or hit:
            trace = render_trace(program, outcomes, partial) + _panic_text(outcomes)
            found = run_found
            failures = {t: o for t, o in outcomes.items() if isinstance(o, Failure)}
    if notes:
        trace = "".join(f"   environment: {note}\n" for note in notes) + trace
    return ReproResult(str(path), expected, times, reproduced, trace, found, failures)


def _adopt_registry(recorded: dict) -> list[str]:
    """Use the registry a finding was found with when none is given (a target of the
    user's own is unknown without it); a note says so."""
    path = recorded.get("registry")
    if not isinstance(path, str) or not path or user_registry() is not None:
        return []
    if not Path(path).is_file():
        return [f"found with the registry {path}, which is not on this machine: give --registry FILE"]
    use_registry(path)
    return [f"using the registry the finding was found with: {path}"]


def environment_differences(recorded: dict, specs: list, variant: str) -> list[str]:
    """What differs between the environment a finding was found in and this machine's
    (the recorded variables are applied to the replay; the rest is said)."""
    if not recorded:
        return []
    notes = []
    here = environment_of([s.name for s in specs], variant)
    for name, digest in sorted(recorded.get("libraries", {}).items()):
        now = here["libraries"].get(name)
        if digest and now and digest != now:
            notes.append(f"{name}'s library differs from the one the finding was found with (sha256 {digest[:12]} then, "
                         f"{now[:12]} now): a rebuilt or changed library")  # fmt: skip
    if recorded.get("cpu_count") not in (None, here["cpu_count"]):
        notes.append(f"found on {recorded['cpu_count']} CPUs, replayed on {here['cpu_count']}")
    then, now = recorded.get("variables", {}), here["variables"]
    changed = sorted(k for k in set(then) | set(now) if k not in _REPLAY_OWN and then.get(k) != now.get(k))
    if changed:
        notes.append("applied the recorded " + ", ".join(f"{k}={then.get(k, 'unset')}" for k in changed)
                     + " (this machine's workers would have " + ", ".join(f"{k}={now.get(k, 'unset')}" for k in changed) + ")")  # fmt: skip
    return notes


def _panic_text(outcomes: dict[str, Outcome]) -> str:
    """What each target wrote when a call panicked (message and backtrace: backtraces
    are on in a replay)."""
    out = []
    for target, outcome in outcomes.items():
        output = getattr(outcome, "panic_output", None)
        if output:
            step = next((i for i, obs in enumerate(outcome) if obs.status == Status.PANIC), None)
            lines = output.strip().splitlines()
            shown = lines[:PANIC_LINES] + ([f"... ({len(lines) - PANIC_LINES} more lines)"] if len(lines) > PANIC_LINES else [])
            out.append(f"   {target} panicked at step {step}; its stderr:\n" + "".join(f"     | {line}\n" for line in shown))
    return "".join(out)


def reproduce_concurrent(finding: Finding | None, program: ConcurrentProgram, names: list[str], variant: str,
                         mutant: int, times: int, timeout: float,
                         history: Path | None = None) -> tuple[int, str, list[Finding]]:  # fmt: skip
    """Replay a concurrent program ``times`` times per target; returns (runs that
    reproduced, a trace to show, the findings of the last reproducing run).
    A finding reproduces when a run yields a finding with its signature; a bare
    program when a run yields any finding.

    With the finding's recorded history (``history``: its ``history.json``), the
    program is also replayed ``times`` times *gated*: a ticket per op, the calls
    starting in the recorded invocation order
    (:func:`~fuzzharness.programs.concurrent.tickets_from_history`). The count returned
    is the free-running one; the trace starts with both rates, side by side. A gated
    replay fixes the order in which calls start, not how long each takes: it makes a
    reproduction likelier, never certain."""
    tickets = _tickets(program, history)
    specs = select_targets(names)

    def replay(prog: ConcurrentProgram) -> tuple[bool, list[Finding]]:
        run_found: list[Finding] = []
        for spec in specs:
            target_mutant = mutant if spec.variant(variant).testing else 0
            with TargetWorker(spec, variant, timeout=timeout, mutant=target_mutant) as worker:
                for event in worker.run([("repro", prog)], kind="stress"):
                    if event[0] in ("result", "failure"):
                        found, _ = findings_for_run(spec.name, prog, event[2], variant=variant, mutant=mutant,
                                                    seed=finding.seed if finding else None)  # fmt: skip
                        run_found += found
        if finding is not None:
            return any(f.signature == finding.signature for f in run_found), run_found
        return bool(run_found), run_found

    reproduced = gated_hits = 0
    trace = ""
    shown: list[Finding] = []
    for _ in range(times):
        hit, run_found = replay(program)
        reproduced += hit
        if hit or not trace:
            shown = run_found
            trace = "".join(f.trace for f in run_found[:1]) or "(every check passed on this run)\n"
    if tickets is not None:
        gated = dataclasses.replace(program, tickets=tickets)
        for _ in range(times):
            hit, run_found = replay(gated)
            gated_hits += hit
            if hit and not reproduced:
                shown = run_found
                trace = "".join(f.trace for f in run_found[:1]) or trace
        rates = (f"free-running: reproduced {reproduced} of {times}; ticket-gated (calls started in the "
                 f"recorded order): reproduced {gated_hits} of {times}\n")  # fmt: skip
    else:
        rates = f"free-running: reproduced {reproduced} of {times} (no recorded history: no gated replay)\n"
    return reproduced, rates + trace, shown


def _tickets(program: ConcurrentProgram, history: Path | None) -> tuple[tuple[int, ...], ...] | None:
    """The gated replay's tickets from a saved ``history.json`` (None: none, or unreadable)."""
    import json

    if history is None or not history.is_file():
        return None
    try:
        data = json.loads(read_text(history))
    except (ValueError, RecursionError, CorruptInput):
        return None
    ops = data.get("ops") if isinstance(data, dict) else None
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        return None
    return tickets_from_history(program, ops)
