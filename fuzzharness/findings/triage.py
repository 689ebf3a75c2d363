"""Triage: turn one program's outcomes on every target into findings, and render traces.

An *outcome* per target is either a trace (a list of observations) or a
:class:`~fuzzharness.execution.supervisor.Failure` (crash or hang, with the steps done so
far when they were streamed). :func:`findings_for` checks traces with
:mod:`fuzzharness.oracles.differential`, classifies failures, and gives each finding a
signature that names the bug and not the random data around it:

* divergence: target, the contract function, what differed, expected/actual status;
* panic: target, the function that returned PANIC;
* crash: target, how it died, the crash site parsed from stderr (Go ``panic:``
  line and first project frame, Rust ``panicked at`` location); a crash by a signal
  (a fault handler stack, or a signal ASan caught: ``SEGV`` -> ``SIGSEGV``) is
  ``crash, target, SIGNAL, in fh call <function in flight>`` on every build, so the
  plain and the ASan lanes save one bug once (ASan's frames stay in the details);
* hang: target and the contract function that never returned;
* memory errors (ASan) and leaks: see :mod:`fuzzharness.findings.memory`.

:func:`findings_for_run` does the same for one run of a concurrent program (``stress``):
a failure, the problems of :func:`~fuzzharness.oracles.concurrent_model.check_run`, and a
non-linearizable partition with its timeline files.

:func:`render_trace` draws the side-by-side trace people read in ``repro``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any, Callable, Union

from fuzzharness.contract.handles import HandlePolicy
from fuzzharness.contract.header import Status
from fuzzharness.execution.supervisor import Failure
from fuzzharness.findings.baseline import Baseline
from fuzzharness.findings.memory import leak_findings, memory_error_finding
from fuzzharness.findings.store import Finding, FindingKind
from fuzzharness.oracles.concurrent_model import (
    _FUNCTION,
    ConcurrentRun,
    RunCheck,
    check_run,
    describe_input,
    describe_output,
    ownership_model,
)
from fuzzharness.oracles.differential import (
    Divergence,
    check_program,
    expected_trace,
    is_pair_target,
    observation_problem,
    policy_of,
    render_observation,
    render_value,
)
from fuzzharness.oracles.linearizability import CheckResult
from fuzzharness.oracles.opaque import check_opaque
from fuzzharness.oracles.sanitizer import parse_report
from fuzzharness.oracles.timeline import render_html, render_text
from fuzzharness.programs.concurrent import ConcurrentProgram
from fuzzharness.programs.interpreter import Observation, steps_of
from fuzzharness.programs.sequential import Program

__all__ = ["Outcome", "findings_for", "findings_for_run", "divergence_signature", "render_trace", "crash_site"]

Outcome = Union[list[Observation], Failure]

_GO_PANIC = re.compile(r"^(panic: .*?)(?: \[recovered\])?$", re.M)
_GO_FRAME = re.compile(r"^(main\.\w[\w.]*|fuzzharness/go_shim/[\w/.]+)\(", re.M)
_RUST_PANIC = re.compile(r"panicked at ([^\n:]+:\d+):\d+", re.M)
_PY_FRAME = re.compile(r'File "[^"]*contract/bindings\.py", line \d+ in (\w+)')
_ADDRESS = re.compile(r"0x[0-9a-f]+")


def crash_site(stderr: str) -> list[str]:
    """Up to two stable frames describing where a process died, parsed from its stderr."""
    site = []
    if m := _GO_PANIC.search(stderr):
        site.append(_ADDRESS.sub("0x?", m.group(1))[:120])
        if f := _GO_FRAME.search(stderr, m.end()):
            site.append(f.group(1))
    elif panics := _RUST_PANIC.findall(stderr):
        # An escaped panic prints two: the project's own, then Rust's "panic in a function
        # that cannot unwind" inside the standard library; a truncated stderr tail may keep
        # only the second. The project's location names the bug wherever it appears.
        ours = [loc for loc in panics if "/rustc/" not in loc and not loc.startswith("library/")]
        site.append(f"rust panic at {(ours or panics)[0]}")
    if py := _PY_FRAME.findall(stderr):
        site.append(f"in fh call {py[0]}")
    if "fatal error:" in stderr and not site:
        site.append(stderr[stderr.index("fatal error:"):].splitlines()[0][:120])
    return site or ["no crash site in stderr"]


#: Frames of the native runner (fuzzharness.contract.bindings.NativeRunner) on a Python stack.
_RUNNER_FRAMES = ("in fh call execute", "in fh call run_sequential")


def _name_runner_call(site: list[str], failure: Failure, program: Program) -> list[str]:
    """A program run by the native runner shows the runner on the Python stack, not the
    contract call: name the call from the step in flight the worker published, as the
    interpreter's stack would have (``in fh call write``), so a finding of ``fuzz``
    (native runner) and its ``repro`` (interpreter) have the same signature."""
    steps = steps_of(program)
    if failure.steps_done is None or not 0 <= failure.steps_done < len(steps):
        return site
    function = steps[failure.steps_done].function
    name = "stats" if function == "fh_get_stats" else function.removeprefix("fh_")
    return [f"in fh call {name}" if s in _RUNNER_FRAMES else s for s in site]


#: ASan's names of the signals it caught -> the signal a plain build dies of.
_ASAN_SIGNALS = {"SEGV": "SIGSEGV", "BUS": "SIGBUS", "FPE": "SIGFPE", "ILL": "SIGILL", "ABRT": "SIGABRT"}


def _call_in_flight(failure: Failure, program: Program) -> str | None:
    """``in fh call <function>``: the contract call a dead worker was in (its step in flight)."""
    steps = steps_of(program)
    if failure.steps_done is None or not 0 <= failure.steps_done < len(steps):
        return None
    function = steps[failure.steps_done].function
    return "in fh call " + ("stats" if function == "fh_get_stats" else function.removeprefix("fh_"))


def _signal_crash_signature(target: str, signal: str, failure: Failure, program: Program, site: list[str]) -> list[str]:
    """The signature of a crash by a signal, the same whichever build (plain or ASan) saw it:
    ``crash, target, SIGSEGV, in fh call write``. A sanitizer names more frames than a plain
    build can, so its frames stay in the details and the summary, not in the signature: one
    bug found by the random and the asan lanes is saved (and reported) once."""
    calls = [s for s in site if s.startswith("in fh call")]
    call = calls[0] if calls else _call_in_flight(failure, program)
    return [FindingKind.crash.name, target, signal, call or "no crash site in stderr"]


def _failure_finding(target: str, failure: Failure, program: Program, common: dict[str, Any]) -> Finding:
    report = parse_report(failure.stderr_tail) if failure.kind == "crash" else None
    if report is not None and report.tool == "asan":
        finding = memory_error_finding(target, failure, report, program, common)
        if finding.kind is FindingKind.crash and report.kind in _ASAN_SIGNALS:
            finding.signature = _signal_crash_signature(target, _ASAN_SIGNALS[report.kind], failure, program, [])
            finding.details["crash_site"] = finding.signature[3:]
        return finding
    kind = {"hang": FindingKind.hang, "oom": FindingKind.oom}.get(failure.kind, FindingKind.crash)
    site = _name_runner_call(crash_site(failure.stderr_tail), failure, program)
    how = failure.describe()
    if report is not None:  # a Go panic, a Rust abort, a fault handler stack: its kind and place
        how = f"{report.kind}, {how}"
    signature = [kind.name, target, failure.signal_name or str(failure.returncode), *site]
    fault_handler_only = report is None or report.tool == "python"
    if kind is FindingKind.crash and failure.signal_name and fault_handler_only:
        # Killed by a signal with nothing but the fault handler's stack: as under ASan.
        signature = _signal_crash_signature(target, failure.signal_name, failure, program, site)
    if kind in (FindingKind.hang, FindingKind.oom):
        signature = [kind.name, target, *[s for s in site if s.startswith("in fh call")]]
    return Finding(
        kind=kind,
        targets=[target],
        program=program,
        summary=f"{target}: {how}" + (f" ({'; '.join(site)})" if site else ""),
        signature=signature,
        details={
            "returncode": failure.returncode,
            "signal": failure.signal_name,
            "crash_site": site,
            "stderr_tail": failure.stderr_tail[-6000:],
            "steps_done": failure.steps_done,
            "crash_kind": report.kind if report else "unknown",
            "report": report.to_json() if report else None,
        },
        **common,
    )


def divergence_signature(div: Divergence) -> list[str]:
    """The signature of a divergence's finding: what names the bug, not the data around it."""
    panic = div.actual_status == Status.PANIC.name
    kind = FindingKind.panic if panic else FindingKind[div.kind]
    signature = [kind.name, div.target, div.against if div.against == "model" else "target", div.function]
    if not panic and kind not in (FindingKind.aba, FindingKind.handle_alias):  # those name the bug by kind and call
        signature += [div.aspect, div.expected_status, div.actual_status]
    return signature


def _divergence_finding(div: Divergence, program: Program, common: dict[str, Any]) -> Finding:
    signature = divergence_signature(div)
    kind = FindingKind[signature[0]]
    return Finding(
        kind=kind,
        targets=[div.target] + ([div.against] if div.against != "model" else []),
        program=program,
        summary=div.summary(),
        signature=signature,
        details={"divergence": vars(div)},
        **common,
    )


def findings_for(
    program: Program,
    outcomes: dict[str, Outcome],
    *,
    variant: str,
    seed: int | None,
    mutant: int = 0,
    probe: Callable[[str, Program], Any] | None = None,
    baseline: Baseline | None = None,
) -> list[Finding]:
    """Every finding of one program run over several targets, with readable traces.

    Memory findings come from :mod:`fuzzharness.findings.memory`: an ASan report in a
    crash's stderr, a LeakSanitizer report attached to a trace, or a first divergence
    that is the model's leak accounting. ``probe(target, program)`` (optional) re-runs
    a program in probe mode to name a leaked resource. ``baseline``: known bugs the
    check goes on past (:mod:`fuzzharness.findings.baseline`); their findings are
    returned too, for the caller to count and not save."""
    common = {"variant": variant, "seed": seed, "mutant": mutant}
    traces = {t: o for t, o in outcomes.items() if not isinstance(o, Failure)}
    findings = [
        _failure_finding(t, o, program, common) for t, o in outcomes.items() if isinstance(o, Failure)
    ]
    go_on = (lambda div: baseline.accepts(divergence_signature(div))) if baseline else None
    divergences = check_program(program, traces, go_on=go_on)
    for div in divergences:
        finding = _divergence_finding(div, program, common)
        output = getattr(traces.get(div.target), "panic_output", None)
        if finding.kind is FindingKind.panic and output:
            # what the library said when it panicked (one message per signature is kept)
            finding.details["panic_output"] = output
        findings.append(finding)
    findings = leak_findings(program, traces, divergences, findings, common, probe)
    if findings:
        text = render_trace(program, outcomes)
        for f in findings:
            f.trace = text
    return findings


#: A trace longer than this many steps is shown around what matters (long ``repeat`` blocks).
TRACE_FULL_STEPS = 400
_TRACE_HEAD, _TRACE_TAIL, _TRACE_AROUND = 60, 20, 12


def render_trace(program: Program, outcomes: dict[str, Outcome], partial: dict[str, list[Observation]] | None = None) -> str:
    """A side-by-side trace: each step, the model's expectation, each target's result.

    A result that breaks the model's prediction is marked ``<<``; the step where a
    target died or hung is marked ``!!``. ``partial`` gives the steps a failed
    target completed before it died (streamed), shown before its failure. A target
    with opaque handles issues its own values: it is marked at the first step where
    the learned-handle check (:mod:`fuzzharness.oracles.opaque`) fails. A trace of
    more than :data:`TRACE_FULL_STEPS` steps shows its head, its tail and the steps
    around every mark; the rest is counted, not printed.
    """
    steps = steps_of(program)
    names = list(outcomes)
    # Each target is marked against its own model: a cross-runtime pair against the pair
    # model (fuzzharness.oracles.differential); a second model column when both kinds are shown.
    kinds = sorted({is_pair_target(name) for name in names}) or [False]
    models = {pair: expected_trace(program, pair) for pair in kinds}
    columns = [(f"model ({'pair' if pair else 'single'})" if len(kinds) == 2 else "model", models[pair])
               for pair in kinds]  # fmt: skip
    traces = {name: (o if not isinstance(o, Failure) else (partial or {}).get(name, [])) for name, o in outcomes.items()}
    opaque_mark: dict[str, int | None] = {}
    for name in names:
        policy = policy_of(name)
        if policy.opaque:
            check = check_opaque(program, traces[name], policy, is_pair_target(name), observation_problem, render_value, steps)
            opaque_mark[name] = check.problem.step if check.problem is not None else None
    table = [["step", "operation", *[title for title, _ in columns], *names]]
    marked: set[int] = set()
    for i, step in enumerate(steps):
        row = [str(i), step.label, *[render_observation(e[i]) if i < len(e) else "-" for _, e in columns]]
        for name in names:
            outcome, trace = outcomes[name], traces[name]
            expected = models[is_pair_target(name)]
            if i < len(trace):
                obs = trace[i]
                if name in opaque_mark:
                    ok = opaque_mark[name] != i
                else:
                    ok = i < len(expected) and observation_problem(step, expected[i], obs) is None
                row.append(render_observation(obs) + ("" if ok else " <<"))
                if not ok:
                    marked.add(i)
            elif isinstance(outcome, Failure) and i == _failed_step(outcome, trace):
                row.append(f"!! {outcome.describe()}")
                marked.add(i)
            else:
                row.append("")
        table.append(row)
    rows = _elide(table, marked)
    widths = [min(max(len(r[c]) for r in rows if len(r) > 1), 48) for c in range(len(table[0]))]
    text = "".join(("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() if len(r) > 1 else r[0]) + "\n"
                   for r in rows)  # fmt: skip
    if opaque_mark:
        text = (f"(opaque handles: {', '.join(opaque_mark)} issue their own values; the model column shows the "
                f"model's, and a handle is checked by the resource it names)\n") + text
    return text


def _elide(table: list[list[str]], marked: set[int]) -> list[list[str]]:
    """The header and every step of a short trace; of a long one the head, the tail and
    the steps around each mark, with a one-cell row counting each gap."""
    header, body = table[0], table[1:]
    if len(body) <= TRACE_FULL_STEPS:
        return table
    keep = set(range(min(_TRACE_HEAD, len(body)))) | set(range(max(0, len(body) - _TRACE_TAIL), len(body)))
    for m in sorted(marked)[:8]:
        keep |= set(range(max(0, m - _TRACE_AROUND), min(len(body), m + _TRACE_AROUND + 1)))
    rows, last = [header], -1
    for i in sorted(keep):
        if i > last + 1:
            rows.append([f"   ... {i - last - 1} steps not shown ..."])
        rows.append(body[i])
        last = i
    return rows


def _failed_step(failure: Failure, streamed: list[Observation]) -> int:
    """The step a failed target was in: after its streamed steps, or the step the
    native runner reported in flight (``steps_done``) when nothing was streamed."""
    if streamed or failure.steps_done is None:
        return len(streamed)
    return failure.steps_done


# --------------------------------------------------------------------------- concurrent runs

#: Files saved beside a concurrent finding: the checked history, and the timeline of a
#: non-linearizable partition (text and HTML).
HISTORY_FILE = "history.json"
TIMELINE_FILE = "timeline.txt"
HTML_FILE = "timeline.html"


def _history_json(check: RunCheck) -> str:
    ops = [
        {"id": op.id, "thread": op.client, "op": check.labels.get(op.id, ""), "call": describe_input(op.input),
         "result": describe_output(op.output), "invoke_ns": op.call, "return_ns": op.ret}
        for op in check.history
    ]  # fmt: skip
    return json.dumps({"ops": ops, "overlap": list(check.overlap)}, indent=1) + "\n"


def findings_for_run(
    target: str, program: ConcurrentProgram, outcome: ConcurrentRun | Failure, *, variant: str, mutant: int,
    seed: int | None, check_timeout: float = 10.0, policy: HandlePolicy | None = None,
) -> tuple[list[Finding], RunCheck | None]:  # fmt: skip
    """The findings of one run of one concurrent program on one target. ``policy``: the
    target's handle policy (None: the registry's, as :func:`~fuzzharness.oracles.differential.policy_of`
    finds it; exact for a name the registry does not know)."""
    common = {"variant": variant, "mutant": mutant, "seed": seed, "program": program, "targets": [target]}
    if isinstance(outcome, Failure):
        kind = {"hang": FindingKind.hang, "oom": FindingKind.oom}.get(outcome.kind, FindingKind.crash)
        site = crash_site(outcome.stderr_tail)
        signature = [kind.name, target, "stress", outcome.signal_name or str(outcome.returncode)] if kind is FindingKind.crash else [kind.name, target, "stress"]
        return [Finding(kind=kind, summary=f"{target}: {outcome.describe()} during a concurrent run ({'; '.join(site)})",
                        signature=signature + (site if kind is FindingKind.crash else []),
                        details={"returncode": outcome.returncode, "signal": outcome.signal_name, "crash_site": site,
                                 "stderr_tail": outcome.stderr_tail[-6000:]}, **common)], None  # fmt: skip
    policy = policy if policy is not None else policy_of(target)
    check = check_run(program, outcome, check_timeout, pair=is_pair_target(target), policy=policy)
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
        on = f"{part.key[1]:#x}" if isinstance(part.key, tuple) and part.key[0] == "v" else part.key  # a value
        summary = (f"{target}: non-linearizable history on {on}: after a linearizable prefix of "
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
