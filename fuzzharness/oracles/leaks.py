"""Leak oracles: LeakSanitizer in the worker, and the model's own accounting.

Two independent checks, both ending in a ``leak`` finding that says *which*
resource leaked, *which op* created it, and *which runtime* still holds it.

**LeakSanitizer** (sanitizer variants only). After every batch, the worker calls
``__lsan_do_recoverable_leak_check`` (:class:`LeakChecker`) with fd 2 pointed at a
temporary file, so the report is captured whole. A check costs 80 ms (Rust) to
130 ms (Go: it scans the Go heap too), so it runs once per batch, not per program;
when it finds a leak, the batch's programs are re-run singly, each followed by a
check, and the first one that leaks gets the report. The recoverable check reports
every unreachable block each time, also the ones already reported, so the checker
remembers how many leaked allocations it has seen and reports only growth. In a
sanitizer worker every trace is sent as a :class:`CheckedTrace` (a list, so
everything else sees a trace), and the supervisor attaches the report (a
``("leak", key, report)`` frame before ``("done",)``) to the trace it already
handed out.

**The model** (every variant). After the epilogue ``quiesce``, the target's
``fh_stats`` and ``fh_shutdown`` report must equal the model's. A target whose
*first* disagreement with the model is there -- more live resources or bytes than
the model, anything still pending after quiesce -- or is a ``quiesce`` that timed
out where the model says it completes, has leaked: every call of the program
behaved, only the accounting is off (:func:`leak_evidence`). A first
disagreement earlier in the program is a divergence instead (the earliest symptom
wins: the extra live resource may just be a consequence of it).
To name the resource, the harness re-runs the program in *probe* mode
(:func:`probe_program`, in the worker): just before the epilogue, ``fh_info`` on
every handle the program produced; a handle the model says is dead and the target
says is alive is the leak (:func:`attribute`). For a deferred strategy whose
reclamation never completes, the candidates are the resources that died under it.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

from fuzzharness.contract.header import Status
from fuzzharness.contract.values import StatsValue
from fuzzharness.oracles.model import StatsExpectation
from fuzzharness.programs.interpreter import Observation, run_program, steps_of
from fuzzharness.programs.sequential import Program

__all__ = ["CheckedTrace", "LeakChecker", "LeakEvidence", "leak_evidence", "probe_program", "attribute", "RUNTIMES"]

#: Which runtime holds a target's resources, for messages ("the Rust runtime").
RUNTIMES = {"rust": "the Rust runtime", "go": "the Go runtime",
            "go+rust": "the Go-Rust pair (Rust owner, Go front)"}  # fmt: skip

_SUMMARY = re.compile(r"SUMMARY: AddressSanitizer: (\d+) byte\(s\) leaked in (\d+) allocation\(s\)")


class CheckedTrace(list):
    """A trace (list of observations) with what the worker's process said about it: the
    LeakSanitizer report of its program, and what it wrote to stderr when a call
    panicked (the panic message, and its backtrace when backtraces are on)."""

    lsan_report: str | None = None
    panic_output: str | None = None


class LeakChecker:
    """Runs LeakSanitizer after each batch in a sanitizer worker (see module doc)."""

    def __init__(self) -> None:
        from fuzzharness.contract.bindings import lsan_leak_check

        self._check = lsan_leak_check
        self.seen_allocations = 0

    @staticmethod
    def wrap(trace: list[Observation]) -> "CheckedTrace":
        """The trace as a :class:`CheckedTrace`, so a report can be attached to it later."""
        return CheckedTrace(trace)

    def after_batch(self, batch: list[tuple[Any, Program]], rerun: Callable[[Program], Any]) -> list[tuple[Any, str]]:
        """``[(key, report)]`` for the program of ``batch`` that leaked (empty if none).

        One check per batch (a check costs 80-130 ms: it stops the world and scans
        the Go and Python heaps). When it finds a new leak, the batch's programs are
        re-run one at a time, each followed by a check, until the one that leaks
        is found: that is the program the finding is about.
        """
        if self._new_leak() is None:
            return []
        for key, program in batch:
            rerun(program)
            report = self._new_leak()
            if report is not None:
                return [(key, report)]
        return []  # not reproducible program by program: nothing to pin it on

    def _new_leak(self) -> str | None:
        report = self._run()
        if report is None:
            return None
        m = _SUMMARY.search(report)
        allocations = int(m.group(2)) if m else self.seen_allocations + 1
        if allocations <= self.seen_allocations:
            return None
        self.seen_allocations = allocations
        return report[-12000:]

    def _run(self) -> str | None:
        with tempfile.TemporaryFile() as capture:
            saved = os.dup(2)
            try:
                os.dup2(capture.fileno(), 2)
                leaked = self._check()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            if not leaked:
                return None
            capture.seek(0)
            return capture.read().decode("utf-8", "replace")


# ----------------------------------------------------------------------------- the model's check


@dataclass(frozen=True)
class LeakEvidence:
    """Why a trace is a leak: ``mode`` is ``alive`` or ``pending``; ``step`` where it shows."""

    mode: str
    step: int
    function: str
    expected: str
    actual: str

    def describe(self) -> str:
        what = "still alive after quiesce" if self.mode == "alive" else "never reclaimed (pending after quiesce)"
        return f"resources {what}: {self.function} expected {self.expected}, got {self.actual}"


def leak_evidence(program: Program, trace: list[Observation], expected: list[Observation], first_divergence: int | None) -> LeakEvidence | None:
    """A :class:`LeakEvidence` if the target's first disagreement with the model is a leak."""
    if first_divergence is None or first_divergence >= len(trace) or first_divergence >= len(expected):
        return None
    steps = steps_of(program)
    i = first_divergence
    step, want, got = steps[i], expected[i], trace[i]
    if step.function == "fh_quiesce" and want.status == Status.OK and got.status == Status.TIMED_OUT:
        return LeakEvidence("pending", i, step.function, "OK", "TIMED_OUT")
    epilogue = len(steps) - 2  # the epilogue's stats, then shutdown
    if i < epilogue or step.function not in ("fh_get_stats", "fh_shutdown"):
        return None
    if got.status != Status.OK or want.status != Status.OK:
        return None
    exp, act = want.value, got.value
    if not isinstance(exp, StatsExpectation) or not isinstance(act, StatsValue):
        return None
    if act.live_resources > exp.live_resources or act.live_bytes > exp.live_bytes:
        return LeakEvidence("alive", i, step.function, str(exp), str(act))
    if act.pending_resources > 0 or act.pending_bytes > 0:
        return LeakEvidence("pending", i, step.function, str(exp), str(act))
    return None


class _ProbeBackend:
    """Forwards every call to a library; just before the epilogue, asks ``fh_info`` of
    every handle the program produced."""

    def __init__(self, library: Any, program: Program) -> None:
        self.library = library
        self.program = program
        self.steps = steps_of(program)
        #: the call before which the infos are taken: the epilogue's quiesce
        self.epilogue = len(self.steps) - 3
        self.calls = 0
        #: the latest value of each hK (a repeat's body produces one per iteration; 0: failed)
        self.handles: list[int] = [0] * program.handle_producers
        self.infos: list[tuple[int, int, str | None]] | None = None

    def last_error(self) -> str | None:
        return self.library.last_error()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.library, name)

        def call(*args: Any, **via: Any) -> Any:
            index = self.calls
            self.calls += 1
            if index == self.epilogue and self.infos is None:
                self.infos = []
                for h in self.handles:
                    status, info = self.library.info(h)
                    self.infos.append((h, int(status), str(info) if info is not None else None))
            status, value = method(*args, **via)
            produces = self.steps[index].produces if index < len(self.steps) else None
            if produces is not None:
                self.handles[produces] = value if status == Status.OK else 0
            return status, value

        return call


def probe_program(
    program: Program, library: Any, deferred: int, immediate: int = 0
) -> list[tuple[int, int, str | None]]:
    """Run ``program`` and return ``(handle, fh_info status, info)`` per produced handle,
    taken just before the epilogue (runs in the worker). ``immediate``: the target's
    strategy for the immediate class (a pair: GUARDED)."""
    backend = _ProbeBackend(library, program)
    run_program(program, backend, deferred, None, immediate)
    return backend.infos or []


def _producers(program: Program) -> list[tuple[int, str]]:
    """(call index, call text) of the last call producing each hK, in handle order: the
    op's position for a program of plain ops (the calls after init, restarts and repeat
    iterations counted one by one otherwise)."""
    last: dict[int, tuple[int, str]] = {}
    for i, step in enumerate(steps_of(program)):
        if step.produces is not None:
            last[step.produces] = (i - 1, step.label)
    return [last.get(k, (-1, f"h{k}")) for k in range(program.handle_producers)]


def _model_handles(program: Program, pair: bool = False) -> tuple[list[int], list[bool]]:
    """The model's produced handles and whether each is alive before the epilogue."""
    probe = _ProbeBackend.__new__(_ProbeBackend)
    from fuzzharness.oracles.model import ModelBackend

    model = ModelBackend(pair)
    probe.__init__(model, program)
    run_program(program, probe, deferred_strategy=1)
    alive = [status == Status.OK for _, status, _ in probe.infos or []]
    return probe.handles, alive


def attribute(
    program: Program, target: str, evidence: LeakEvidence, probe: list[tuple[int, int, str | None]] | None
) -> dict[str, Any]:
    """Name the leaked resource(s): details for the finding (``resources`` and ``message``)."""
    from fuzzharness.oracles.differential import is_pair_target

    runtime = RUNTIMES.get(target, f"the {target} runtime")
    producers = _producers(program)
    model_handles, model_alive = _model_handles(program, is_pair_target(target))
    named = []
    if evidence.mode == "alive" and probe:
        for k, (handle, status, info) in enumerate(probe):
            if k < len(model_alive) and not model_alive[k] and status == Status.OK and handle:
                named.append((k, handle, info))
    if evidence.mode == "pending" or not named:
        # Candidates: resources the model says died (deferred reclamation may still hold them).
        named = [(k, model_handles[k], None) for k in range(len(model_handles)) if model_handles[k] and not model_alive[k]]
        certain = False
    else:
        certain = True
    resources = []
    for k, handle, info in named:
        op_index, text = producers[k] if k < len(producers) else (-1, "?")
        resources.append({"slot": f"h{k}", "handle": f"{handle:#x}", "created_by_op": op_index, "op": text, "info": info})
    state = "is still alive in" if evidence.mode == "alive" else "was never reclaimed by"
    if resources and certain:
        parts = [f"{r['slot']} (created by op {r['created_by_op']} `{r['op']}`)" for r in resources]
        message = f"{', '.join(parts)} {state} {runtime} ({target} target) after its last release"
    elif resources:
        parts = [f"{r['slot']} (op {r['created_by_op']} `{r['op']}`)" for r in resources]
        message = f"one of {', '.join(parts)} {state} {runtime} ({target} target): {evidence.describe()}"
    else:
        message = f"{runtime} ({target} target) holds resources the model does not know: {evidence.describe()}"
    return {"resources": resources, "message": message, "certain": certain, "runtime": runtime}
