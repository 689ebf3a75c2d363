"""The differential check: every target against the model, and targets against each other.

For each step of a program run, a target's :class:`~fuzzharness.execution.Observation`
must match the model's prediction: the status; on OK the output (handle value,
bytes read, resource info, stats within the model's range); on an error, a
message from the right function naming the handle. After the epilogue
(quiesce, stats, shutdown) this is also the leak check: what the target still
holds must equal what the model says is alive.

Targets that agree with the model are then compared with each other on what
the model leaves open (the moment deferred memory is freed is not compared;
everything else is). The first disagreement of each target is a
:class:`Divergence`; later steps are not compared, since they depend on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .contract import Status
from .execution import ModelBackend, Observation, Step, run_program, steps_of
from .model import StatsExpectation, StatsValue
from .program import Program

__all__ = [
    "Divergence",
    "expected_trace",
    "check_against_model",
    "check_between",
    "check_program",
    "render_value",
    "render_observation",
    "status_name",
    "value_matches",
    "observation_problem",
]


@dataclass(frozen=True)
class Divergence:
    """The first step where ``target`` disagrees with ``against`` (the model or a target)."""

    target: str
    against: str
    step: int
    function: str
    label: str
    aspect: str  # "status", "value", "message", "missing-step"
    expected: str
    actual: str
    expected_status: str
    actual_status: str

    def summary(self) -> str:
        return (
            f"{self.target} vs {self.against} at step {self.step} `{self.label}`: "
            f"{self.aspect} expected {self.expected}, got {self.actual}"
        )


def status_name(status: int | None) -> str:
    if status is None:
        return "-"
    try:
        return Status(status).name
    except ValueError:
        return f"UNKNOWN({status})"


def render_value(value: Any) -> str:
    """A short, readable rendering of an output value."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:#x}"
    if isinstance(value, bytes):
        text = value[:32].hex()
        return f'x"{text}"' + (f"...({len(value)} bytes)" if len(value) > 32 else "")
    return str(value)


def render_observation(obs: Observation) -> str:
    text = status_name(obs.status)
    if obs.status == Status.OK and obs.value is not None:
        text += " " + render_value(obs.value)
    return text


def expected_trace(program: Program) -> list[Observation]:
    """The model's prediction for every step of ``program``."""
    return run_program(program, ModelBackend(), deferred_strategy=1)


_HEX = re.compile(r"0[xX]([0-9a-fA-F]{1,16})\b")


def _message_problem(step: Step, obs: Observation) -> str | None:
    message = obs.message or ""
    if not message.startswith(step.function + ":"):
        return f"a message starting {step.function + ':'!r}"
    if obs.handle is not None and obs.handle not in {int(h, 16) for h in _HEX.findall(message)}:
        return f"a message naming handle {obs.handle:#x}"
    return None


def value_matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, StatsExpectation):
        return isinstance(actual, StatsValue) and expected.admits(actual)
    return expected == actual


def observation_problem(step: Step, want: Observation, got: Observation) -> tuple[str, str, str] | None:
    """``(aspect, expected, actual)`` if ``got`` breaks the model's prediction ``want``."""
    if got.status != want.status:
        return "status", status_name(want.status), status_name(got.status)
    if got.status == Status.OK:
        if not value_matches(want.value, got.value):
            return "value", render_value(want.value), render_value(got.value)
        return None
    problem = _message_problem(step, got)
    return None if problem is None else ("message", problem, repr(got.message))


def check_against_model(
    target: str, steps: list[Step], expected: list[Observation], actual: list[Observation]
) -> Divergence | None:
    """The first step where a target's trace leaves the model's prediction, if any."""
    for i, want in enumerate(expected):
        got = actual[i] if i < len(actual) else None
        problem = ("missing-step", render_observation(want), "no result") if got is None else (
            observation_problem(steps[i], want, got)
        )
        if problem is not None:
            aspect, expected_text, actual_text = problem
            return Divergence(
                target, "model", i, steps[i].function, steps[i].label, aspect, expected_text, actual_text,
                status_name(want.status), status_name(got.status if got else None),
            )  # fmt: skip
    return None


def _comparable(value: Any, deferred: bool) -> Any:
    if isinstance(value, StatsValue) and deferred:
        # When deferred memory is freed is each target's own business: compare the sum.
        return (value.live_resources, value.live_bytes, value.created, value.reclaimed + value.pending_resources)
    return value


def check_between(
    steps: list[Step], deferred: bool, a: tuple[str, list[Observation]], b: tuple[str, list[Observation]]
) -> Divergence | None:
    """The first step where two targets' traces differ (statuses and outputs)."""
    (name_a, trace_a), (name_b, trace_b) = a, b
    for i in range(max(len(trace_a), len(trace_b))):
        if i >= len(trace_a) or i >= len(trace_b):
            return Divergence(
                name_b, name_a, i, steps[i].function, steps[i].label, "missing-step",
                "a result" if i < len(trace_a) else "no result", "a result" if i < len(trace_b) else "no result",
                status_name(trace_a[i].status if i < len(trace_a) else None),
                status_name(trace_b[i].status if i < len(trace_b) else None),
            )  # fmt: skip
        x, y = trace_a[i], trace_b[i]
        if x.status != y.status or _comparable(x.value, deferred) != _comparable(y.value, deferred):
            return Divergence(
                name_b, name_a, i, steps[i].function, steps[i].label,
                "status" if x.status != y.status else "value",
                render_observation(x), render_observation(y), status_name(x.status), status_name(y.status),
            )  # fmt: skip
    return None


def check_program(program: Program, traces: dict[str, list[Observation]]) -> list[Divergence]:
    """All divergences of one program run: each target against the model, then pairwise."""
    steps = steps_of(program)
    expected = expected_trace(program)
    found = []
    clean = []
    for target, trace in traces.items():
        div = check_against_model(target, steps, expected, trace)
        if div is None:
            clean.append((target, trace))
        else:
            found.append(div)
    deferred = program.config.strategy == "deferred"
    for i in range(1, len(clean)):
        div = check_between(steps, deferred, clean[0], clean[i])
        if div is not None:
            found.append(div)
    return found
