"""Memory findings: ASan reports and leaks turned into findings with the right kind.

Called by :mod:`fuzzharness.findings.triage`. Guarantees:

* a worker killed by an AddressSanitizer report becomes a finding whose kind is the
  bug ASan names (``heap_use_after_free``, ``double_free``, ``heap_buffer_overflow``;
  any other ASan report is ``memory_error``, except signals ASan merely caught --
  ``SEGV`` and friends -- which stay ``crash``). Its signature is ClusterFuzz's crash
  state: kind, target, and the top three frames in project code (never addresses,
  sizes or thread ids), so one bug is saved once;
* a program whose trace carries a LeakSanitizer report is a ``leak`` finding with
  signature ``leak, target, lsan, <top project frames of the allocation stack>``;
* a target whose *first* disagreement with the model is the leak accounting
  (:func:`fuzzharness.oracles.leaks.leak_evidence`) is a ``leak`` finding, not a
  divergence, with signature ``leak, target, model, alive|pending``, and its
  details name the resource, the op that created it and the runtime that holds it
  (:func:`fuzzharness.oracles.leaks.attribute`, with a probe re-run when one is available).
  When LeakSanitizer reported the same program, one ``leak`` finding carries both.
"""

from __future__ import annotations

from typing import Any, Callable

from fuzzharness.findings.store import Finding, FindingKind
from fuzzharness.oracles.differential import Divergence, expected_for
from fuzzharness.oracles.leaks import attribute, leak_evidence
from fuzzharness.oracles.sanitizer import CrashReport, parse_report
from fuzzharness.programs.sequential import Program

__all__ = ["memory_error_finding", "leak_findings", "finding_kind_for"]

_ASAN_KINDS = {
    "heap-use-after-free": FindingKind.heap_use_after_free,
    "double-free": FindingKind.double_free,
    "heap-buffer-overflow": FindingKind.heap_buffer_overflow,
}
_SIGNALS = {"SEGV", "BUS", "FPE", "ILL", "ABRT", "stack-overflow", "unknown-crash"}


def finding_kind_for(report: CrashReport) -> FindingKind:
    if report.kind == "leak":
        return FindingKind.leak
    if report.tool == "asan":
        if report.kind in _SIGNALS:
            return FindingKind.crash
        return _ASAN_KINDS.get(report.kind, FindingKind.memory_error)
    return FindingKind.crash


def memory_error_finding(target: str, failure: Any, report: CrashReport, program: Program, common: dict[str, Any]) -> Finding:
    kind = finding_kind_for(report)
    state = report.state
    freed = next((f for f in report.freed_by if f.project), None)
    extra = f"; freed by {freed}" if freed and kind in (FindingKind.heap_use_after_free, FindingKind.double_free) else ""
    return Finding(
        kind=kind,
        targets=[target],
        program=program,
        summary=f"{target}: {report.describe()}{extra}",
        signature=[kind.name, target, *state],
        details={
            "returncode": failure.returncode,
            "signal": failure.signal_name,
            "crash_kind": report.kind,
            "report": report.to_json(),
            "stderr_tail": failure.stderr_tail[-8000:],
            "steps_done": failure.steps_done,
        },
        **common,
    )


def _lsan_report(trace: Any) -> CrashReport | None:
    text = getattr(trace, "lsan_report", None)
    return parse_report(text) if text else None


def leak_findings(
    program: Program,
    traces: dict[str, list],
    divergences: list[Divergence],
    findings: list[Finding],
    common: dict[str, Any],
    probe: Callable[[str, Program], Any] | None = None,
) -> list[Finding]:
    """``findings`` with leak divergences turned into leak findings and LSan leaks added."""

    out = []
    leaked: dict[str, Finding] = {}
    for finding in findings:
        div = (finding.details or {}).get("divergence")
        if finding.kind is not FindingKind.divergence or not div or div["against"] != "model":
            out.append(finding)
            continue
        target = div["target"]
        evidence = leak_evidence(program, traces[target], expected_for(program, target, traces[target]), div["step"])
        if evidence is None:
            out.append(finding)
            continue
        probed = None
        if probe is not None and evidence.mode == "alive":
            try:
                probed = probe(target, program)
            except Exception:  # noqa: BLE001 - naming is best effort; the leak stands
                probed = None
        named = attribute(program, target, evidence, probed)
        leak = Finding(
            kind=FindingKind.leak,
            targets=[target],
            program=program,
            summary=f"{target}: leak: {named['message']}",
            signature=[FindingKind.leak.name, target, "model", evidence.mode],
            details={"divergence": div, "leak": {**named, "mode": evidence.mode, "evidence": evidence.describe()}},
            **common,
        )
        leaked[target] = leak
        out.append(leak)
    for target, trace in traces.items():
        report = _lsan_report(trace)
        if report is None:
            continue
        lsan = {"lsan": report.to_json(), "lsan_report": getattr(trace, "lsan_report", "")[-6000:]}
        where = report.location
        if target in leaked:  # the model named the resource; LSan confirms it and adds the stack
            leaked[target].details.update(lsan)
            leaked[target].summary += f" (LeakSanitizer: {report.headline}, allocated in {where})"
            continue
        out.append(
            Finding(
                kind=FindingKind.leak,
                targets=[target],
                program=program,
                summary=f"{target}: leak: LeakSanitizer: {report.headline}, allocated in {where}",
                signature=[FindingKind.leak.name, target, "lsan", *report.state[1:]],
                details=lsan,
                **common,
            )
        )
    return out
