"""The differential check: every target against the model, and targets against each other.

For each step of a program run, a target's :class:`~fuzzharness.programs.interpreter.Observation`
must match the model's prediction: the status; on OK the output (handle value,
bytes read, resource info, stats within the model's range); on an error, a
message from the right function naming the handle. After the epilogue
(quiesce, stats, shutdown) this is also the leak check: what the target still
holds must equal what the model says is alive.

Targets that agree with the model are then compared with each other on what
the model leaves open (the moment deferred memory is freed is not compared;
everything else is). The first disagreement of each target is a
:class:`Divergence`; later steps are not compared, since they depend on it.

Cross-runtime pairs (a registry target with ``pair = {...}``, e.g. ``go+rust``)
are always checked against the *pair* model (per-runtime counts, NOT_HELD,
guarded reclamation: ``ModelBackend(pair=True)``). A pair and a single-runtime
target are compared with each other only when the two models predict the same
trace for the program (:func:`models_agree`: same statuses, same outputs, stats
compared as targets are compared): a program that releases through a runtime
holding no reference (NOT_HELD on the pair, OK on a single target) has no
common expectation, and the comparison is skipped -- never silently:
:func:`cross_check_skipped` says which programs, and ``fuzz`` counts them in its
summary (``cross_checked`` / ``cross_skipped``). Pairs are compared with pairs,
single targets with single targets, as before.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping

from fuzzharness.contract.handles import EXACT, HandlePolicy
from fuzzharness.contract.header import Status
from fuzzharness.contract.values import StatsValue
from fuzzharness.oracles.model import ModelBackend, StatsExpectation
from fuzzharness.oracles.opaque import check_opaque
from fuzzharness.programs.interpreter import Observation, Step, message_fits, run_program, steps_of
from fuzzharness.programs.sequential import Program

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
    "is_pair_target",
    "models_agree",
    "cross_check_skipped",
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
    #: the finding kind: "divergence", or on an opaque-handle target "aba" (a dead
    #: resource's value issued again) or "handle_alias" (a value that is no live handle
    #: of the target was accepted); see fuzzharness.oracles.opaque
    kind: str = "divergence"

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


def expected_trace(program: Program, pair: bool = False) -> tuple[Observation, ...]:
    """The model's prediction for every step of ``program`` (``pair``: on a
    cross-runtime pair, with per-runtime counts).

    Memoized (the model is deterministic and programs are immutable): one fuzzed
    program's prediction is asked for by the pair/single cross-check, by
    :func:`check_program`, by triage and by the leak check, and the model is the
    costliest step of the checked pipeline."""
    return _expected_trace(program, pair)


@functools.lru_cache(maxsize=256)
def _expected_trace(program: Program, pair: bool) -> tuple[Observation, ...]:
    return tuple(run_program(program, ModelBackend(pair), deferred_strategy=1))


def _registered_policies() -> dict[str, HandlePolicy]:
    return _policies_of(os.environ.get("FUZZHARNESS_REGISTRY", ""))


@functools.lru_cache(maxsize=8)
def _policies_of(user_registry: str) -> dict[str, HandlePolicy]:
    """Policies of the bundled registry plus ``user_registry`` (cached per user registry)."""
    try:
        from fuzzharness.contract.registry import load_registry

        return {name: spec.policy for name, spec in load_registry().items()}
    except Exception:  # noqa: BLE001 - no registry (unit tests with made-up names): exact
        return {}


def policy_of(name: str, policies: Mapping[str, HandlePolicy] | None = None) -> HandlePolicy:
    """Target ``name``'s handle policy (from ``policies`` if given, else the registry;
    exact when unknown)."""
    return (policies if policies is not None else _registered_policies()).get(name, EXACT)


def _registered_pairs() -> frozenset[str]:
    return _pairs_of(os.environ.get("FUZZHARNESS_REGISTRY", ""))


@functools.lru_cache(maxsize=8)
def _pairs_of(user_registry: str) -> frozenset[str]:
    try:
        from fuzzharness.contract.registry import load_registry

        return frozenset(name for name, spec in load_registry().items() if spec.pair)
    except Exception:  # noqa: BLE001 - no registry (unit tests with made-up names): no pairs
        return frozenset()


def is_pair_target(name: str, pairs: Collection[str] | None = None) -> bool:
    """Whether target ``name`` is a cross-runtime pair (from ``pairs`` if given, else
    the registry)."""
    return name in (pairs if pairs is not None else _registered_pairs())


def _projection(obs: Observation) -> tuple:
    value = obs.value
    if isinstance(value, StatsExpectation):  # when memory is freed is each target's business
        value = (value.live_resources, value.live_bytes, value.created, value.reclaimed_settled + value.unsettled)
    return (obs.status, value)


def models_agree(program: Program) -> bool:
    """True when the pair model and the single-runtime model predict the same trace
    for ``program`` (statuses and outputs; for a deferred program the stats as
    targets are compared, freed-or-pending summed), so a pair's trace and a single
    target's trace can be compared with each other."""
    single, pair = expected_trace(program), expected_trace(program, pair=True)
    return len(single) == len(pair) and all(_projection(a) == _projection(b) for a, b in zip(single, pair))


def cross_check_skipped(program: Program, targets: Collection[str], pairs: Collection[str] | None = None) -> bool:
    """True when ``targets`` mix a pair and single-runtime targets and the comparison
    between them is skipped for ``program`` (the two models disagree on it)."""
    kinds = {is_pair_target(t, pairs) for t in targets}
    return len(kinds) == 2 and not models_agree(program)


def _message_problem(step: Step, obs: Observation) -> str | None:
    # The question is message_fits's (the worker asks it of packed traces); this says what is wrong.
    if message_fits(step.function, obs.handle, obs.message):
        return None
    if not (obs.message or "").startswith(step.function + ":"):
        return f"a message starting {step.function + ':'!r}"
    return f"a message naming handle {obs.handle:#x}"


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
    target: str, steps: list[Step], expected: list[Observation], actual: list[Observation],
    go_on: Callable[[Divergence], bool] | None = None,
) -> Divergence | None:
    """The first step where a target's trace leaves the model's prediction, if any."""
    found = divergences_from_model(target, steps, expected, actual, go_on)
    return found[-1] if found else None


def divergences_from_model(
    target: str, steps: list[Step], expected: list[Observation], actual: list[Observation],
    go_on: Callable[[Divergence], bool] | None = None,
) -> list[Divergence]:
    """Where a target's trace leaves the model's prediction: the first divergence, or,
    when ``go_on(divergence)`` accepts it (a known bug, see :func:`passable`), that one
    and then the next, and so on; the last one is the first not passed."""
    found: list[Divergence] = []
    for i, want in enumerate(expected):
        got = actual[i] if i < len(actual) else None
        problem = ("missing-step", render_observation(want), "no result") if got is None else (
            observation_problem(steps[i], want, got)
        )
        if problem is not None:
            aspect, expected_text, actual_text = problem
            div = Divergence(
                target, "model", i, steps[i].function, steps[i].label, aspect, expected_text, actual_text,
                status_name(want.status), status_name(got.status if got else None),
            )  # fmt: skip
            if found and div.actual_status == Status.PANIC.name:
                continue  # a panic after a passed known bug: the known bug's consequence
            found.append(div)
            if go_on is None or not passable(div) or not go_on(div):
                break
    return found


def passable(div: Divergence) -> bool:
    """Whether checking may go on past a (known) divergence: only when the model and
    the target both failed the call, so the model's state cannot have left the
    target's (a wrong OK, or a wrong value, ends the check of a program)."""
    return div.expected_status not in ("OK", "None") and div.actual_status not in ("OK", "None") and (
        div.aspect in ("status", "message"))


def _comparable(value: Any, deferred: bool) -> Any:
    if isinstance(value, StatsValue) and deferred:
        # When deferred memory is freed is each target's own business: compare the sum.
        return (value.live_resources, value.live_bytes, value.created, value.reclaimed + value.pending_resources)
    return value


def _handle_error_class(status: int | None) -> int | None:
    """INVALID_HANDLE and STALE_HANDLE as one status, for targets that may not tell them apart."""
    return Status.STALE_HANDLE if status == Status.INVALID_HANDLE else status


def check_between(
    steps: list[Step], deferred: bool, a: tuple[str, list[Observation]], b: tuple[str, list[Observation]],
    invalid_or_stale: bool = False,
) -> Divergence | None:
    """The first step where two targets' traces differ (statuses and outputs);
    ``invalid_or_stale``: one of them declares INVALID and STALE indistinguishable."""
    (name_a, trace_a), (name_b, trace_b) = a, b
    same = (lambda s, t: _handle_error_class(s) == _handle_error_class(t)) if invalid_or_stale else (
        lambda s, t: s == t)
    for i in range(max(len(trace_a), len(trace_b))):
        if i >= len(trace_a) or i >= len(trace_b):
            return Divergence(
                name_b, name_a, i, steps[i].function, steps[i].label, "missing-step",
                "a result" if i < len(trace_a) else "no result", "a result" if i < len(trace_b) else "no result",
                status_name(trace_a[i].status if i < len(trace_a) else None),
                status_name(trace_b[i].status if i < len(trace_b) else None),
            )  # fmt: skip
        x, y = trace_a[i], trace_b[i]
        if not same(x.status, y.status) or _comparable(x.value, deferred) != _comparable(y.value, deferred):
            return Divergence(
                name_b, name_a, i, steps[i].function, steps[i].label,
                "status" if x.status != y.status else "value",
                render_observation(x), render_observation(y), status_name(x.status), status_name(y.status),
            )  # fmt: skip
    return None


def check_program(
    program: Program, traces: dict[str, list[Observation]], pairs: Collection[str] | None = None,
    policies: Mapping[str, HandlePolicy] | None = None, go_on: Callable[[Divergence], bool] | None = None,
) -> list[Divergence]:
    """All divergences of one program run: each target against its model (the pair
    model for a cross-runtime pair; learned handle values for an opaque-handle target,
    :mod:`fuzzharness.oracles.opaque`), then pairwise between the targets whose model
    predictions agree (see the module doc). ``pairs``: the names of the pair targets,
    ``policies``: handle policies by target (default: both from the registry).
    ``go_on(divergence)``: True for a known bug the check may go on past (see
    :func:`passable`); the passed divergences are returned too, before the next one."""
    steps = steps_of(program)
    found = []
    clean: dict[tuple, list[tuple[str, list[Observation]]]] = {}
    for target, trace in traces.items():
        pair = is_pair_target(target, pairs)
        policy = policy_of(target, policies)
        if policy.opaque:
            def go_on_problem(problem: Any, target: str = target) -> bool:
                div = _opaque_divergence(target, steps, problem)
                return go_on is not None and passable(div) and go_on(div)

            result = check_opaque(program, trace, policy, pair, observation_problem, render_value, steps,
                                  go_on=go_on_problem if go_on is not None else None)  # fmt: skip
            divs = [_opaque_divergence(target, steps, p) for p in result.passed]
            if result.problem is not None:
                divs.append(_opaque_divergence(target, steps, result.problem))
            expected, comparable = result.expected, result.canonical
        else:
            expected = expected_trace(program, pair)
            divs = divergences_from_model(target, steps, list(expected), trace, go_on)
            comparable = trace
        if not divs:
            # Grouped by what the model predicts, INVALID and STALE as one where a member
            # may not tell them apart (compared as such, below).
            key = tuple((_handle_error_class(s), v) for s, v in map(_projection, expected))
            clean.setdefault(key, []).append((target, comparable))
        found += divs
    # Targets are compared with each other only where their models predict the same
    # trace: a pair and a single-runtime target can disagree by design, and a forged
    # value can name a live resource in one handle system and nothing in another.
    deferred = program.config.strategy == "deferred"
    for group in clean.values():
        lenient = any(policy_of(name, policies).invalid_or_stale for name, _ in group)
        for i in range(1, len(group)):
            div = check_between(steps, deferred, group[0], group[i], lenient)
            if div is not None:
                found.append(div)
    return found


def expected_for(program: Program, target: str, trace: list[Observation],
                 policies: Mapping[str, HandlePolicy] | None = None, pairs: Collection[str] | None = None,
                 ) -> list[Observation]:  # fmt: skip
    """The model's prediction for ``target``'s run of ``program``: the exact prediction,
    or for an opaque-handle target the one learned along its ``trace`` (handle values in
    the model's space; statuses, bytes and stats comparable step by step)."""
    policy = policy_of(target, policies)
    pair = is_pair_target(target, pairs)
    if not policy.opaque:
        return list(expected_trace(program, pair))
    return check_opaque(program, trace, policy, pair, observation_problem, render_value).expected


def _opaque_divergence(target: str, steps: list[Step], problem: Any) -> Divergence:
    step = steps[problem.step] if problem.step < len(steps) else None
    return Divergence(
        target, "model", problem.step, step.function if step else "?", step.label if step else "?", problem.aspect,
        problem.expected, problem.actual, status_name(problem.expected_status), status_name(problem.actual_status),
        kind=problem.kind,
    )  # fmt: skip
