"""The model checked against a target whose handle values are its own (``handles = "opaque"``).

The reference model issues handles in the contract's layout. A library nobody here
wrote issues whatever its handle system gives (pointers, counters, slot-map keys),
so its values can never be *predicted*; they are *learned* from its trace. The
check replays one program against the model in lock-step with one target's recorded
trace (:class:`ReplayBackend`): the program's handle operands are resolved from the
target's own values (so ``hK``, ``hK^mask``, ``hK+1`` and raw values mean what they
meant in the worker), each value is translated to the resource the target issued it
for, the model answers for that resource, and the target's answer is compared.

What is checked, beyond the statuses, bytes, infos, stats and messages the exact
check compares (see :mod:`fuzzharness.contract.handles` for the policy):

* a produced handle is non-zero and distinct from every live handle;
* a value that named a resource that died, issued again, is **ABA** (kind ``aba``,
  naming both resources) unless the target declares ``reuse = "after-death"``;
* an op on a value that is not a live handle *of that target* (never issued,
  forged, dead, from a closed session) must fail with a handle status; OK, or a
  status about a resource (BOUNDS, READ_ONLY, ...), is **handle_alias** (the value
  reached a resource it does not name); a forged value that *equals* a live handle
  is that resource, so aliasing is checked, never guessed;
* INVALID_HANDLE for a value never issued, STALE_HANDLE for a dead one, unless the
  target declares ``stale_status = "invalid-or-stale"``.

The replay also yields the target's trace in the model's value space
(:attr:`ReplayBackend.canonical`), so targets with different handle systems can be
compared with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from fuzzharness.contract.handles import HandlePolicy
from fuzzharness.contract.header import Status
from fuzzharness.oracles.model import ModelBackend
from fuzzharness.programs.interpreter import Observation, Step, run_program, steps_of
from fuzzharness.programs.sequential import Program

__all__ = ["OpaqueCheck", "ReplayBackend", "check_opaque", "NEVER_ISSUED"]

#: A model-space value no model ever issues (slot beyond any capacity): INVALID_HANDLE.
NEVER_ISSUED = 0xFFFF_FFFF_FFFF_FFFF

_HANDLE_ERRORS = (Status.INVALID_HANDLE, Status.STALE_HANDLE)
_PRODUCERS = ("create", "snapshot")


@dataclass
class Problem:
    """The first disagreement of the replay: ``aspect`` as in a divergence, ``kind`` the
    finding kind (``divergence``, ``aba``, ``handle_alias``)."""

    step: int
    kind: str
    aspect: str
    expected: str
    actual: str
    expected_status: int | None
    actual_status: int | None


@dataclass
class _Issued:
    """One resource as the target named it: its value, the step that produced it, and
    the model's handle for it."""

    number: int
    value: int
    step: int
    model: int


class ReplayBackend:
    """A :class:`~fuzzharness.programs.interpreter.Backend` that answers with a target's
    recorded observations and checks each against the model (see the module doc).

    Driven by :func:`~fuzzharness.programs.interpreter.run_program`, so operands are
    resolved exactly as the worker resolved them on the target."""

    def __init__(self, trace: list[Observation], steps: list[Step], policy: HandlePolicy, pair: bool,
                 compare: Callable[[Step, Observation, Observation], tuple[str, str, str] | None],
                 render: Callable[[Any], str], go_on: Callable[[Problem], bool] | None = None) -> None:  # fmt: skip
        self.trace, self.steps, self.policy = trace, steps, policy
        self.go_on = go_on
        #: problems passed because ``go_on`` accepted them (known bugs), in order
        self.passed: list[Problem] = []
        self.model = ModelBackend(pair)
        self.compare, self.render = compare, render
        self.i = 0  # the step being answered
        self.problem: Problem | None = None
        #: the target's trace with handle values in the model's space (None where unknown)
        self.canonical: list[Observation] = []
        #: the model's own prediction in its value space, step by step
        self.expected: list[Observation] = []
        self.live: dict[int, _Issued] = {}  # target value -> resource
        self.dead: dict[int, _Issued] = {}  # target value -> the last resource it named
        self.by_model: dict[int, _Issued] = {}  # model value -> resource
        #: values issued in a closed session (and not issued again since): never valid
        #: again; INVALID or STALE, whatever the policy (a new session cannot know them)
        self.closed: dict[int, _Issued] = {}
        self._operand: int | None = None  # the handle value of the call being answered
        self.sessions = 0
        self._message: str | None = None

    # -- the Backend protocol ---------------------------------------------------------

    def last_error(self) -> str | None:
        return self._message

    def init(self, *args: Any) -> tuple[int, Any]:
        if self.sessions:  # a new session: everything of the closed one is closed
            self._bury_all()
            self.closed.update(self.dead)
            self.dead.clear()
        self.sessions += 1
        return self._answer("init", self.model.init(*args), None)

    def shutdown(self) -> tuple[int, Any]:
        result = self._answer("shutdown", self.model.shutdown(), None)
        self._bury_all()
        return result

    def stats(self) -> tuple[int, Any]:
        return self._answer("stats", self.model.stats(), None)

    def quiesce(self) -> tuple[int, Any]:
        return self._answer("quiesce", self.model.quiesce(), None)

    def create(self, size: int, **via: Any) -> tuple[int, Any]:
        return self._answer("create", self.model.create(size, **via), None)

    def __getattr__(self, name: str) -> Callable[..., tuple[int, Any]]:
        if name not in ("acquire", "release", "write", "read", "snapshot", "info"):
            raise AttributeError(name)

        def call(handle: int, *args: Any, **via: Any) -> tuple[int, Any]:
            self._operand = handle
            model_handle = self._translate(handle)
            result = getattr(self.model, name)(model_handle, *args, **via)
            answer = self._answer(name, result, handle, model_handle)
            if name == "release" and result[0] == Status.OK:
                self._maybe_bury(handle, model_handle)
            return answer

        return call

    # -- bookkeeping ------------------------------------------------------------------

    def _translate(self, value: int) -> int:
        issued = self.live.get(value) or self.dead.get(value)  # closed-session values: never issued here
        return issued.model if issued is not None else NEVER_ISSUED

    def _model_alive(self, model_handle: int) -> bool:
        model = self.model.model
        return model is not None and model.info(model_handle)[0] == Status.OK

    def _maybe_bury(self, value: int, model_handle: int) -> None:
        issued = self.live.get(value)
        if issued is not None and issued.model == model_handle and not self._model_alive(model_handle):
            del self.live[value]
            self.dead[value] = issued

    def _bury_all(self) -> None:
        self.dead.update(self.live)
        self.live.clear()

    def _record(self, got: Observation, want: Observation, canonical_value: Any, model_handle: int | None) -> None:
        self.expected.append(want)
        self.canonical.append(Observation(got.status, canonical_value, got.message, model_handle))

    def _fail(self, kind: str, aspect: str, expected: str, actual: str, want: Any, got: Any) -> None:
        if self.problem is not None:
            return
        problem = Problem(self.i, kind, aspect, expected, actual, want, got)
        if self.passed and got == Status.PANIC:
            return  # a panic after a passed known bug: the known bug's consequence
        if self.go_on is not None and self.go_on(problem):
            self.passed.append(problem)
        else:
            self.problem = problem

    def _statuses_agree(self, want: int, got: int) -> bool:
        if want == got:
            return True
        either = self.policy.invalid_or_stale or (self._operand in self.closed and self._operand not in self.live)
        return either and want in _HANDLE_ERRORS and got in _HANDLE_ERRORS

    def _describe(self, issued: _Issued) -> str:
        label = self.steps[issued.step].label if issued.step < len(self.steps) else f"step {issued.step}"
        return f"resource #{issued.number} (`{label}`, value {issued.value:#x})"

    def _answer(self, function: str, result: tuple[int, Any], handle: int | None,
                model_handle: int | None = None) -> tuple[int, Any]:  # fmt: skip
        """Compare the model's ``result`` with the target's observation of this step and
        return the target's (status, value) for the interpreter to go on with."""
        m_status, m_value = result
        if handle is None:
            self._operand = None
        want = Observation(m_status, m_value if m_status == Status.OK else None, None, model_handle)
        if self.i >= len(self.trace):  # the target stopped (a crash or hang is reported on its own)
            self.i += 1
            self._message = None
            self.expected.append(want)
            return m_status, m_value
        got = self.trace[self.i]
        step = self.steps[self.i] if self.i < len(self.steps) else None
        self._message = got.message
        canonical = got.value
        if self.problem is None:
            canonical = self._check(function, step, want, got, handle)
        self._record(got, want, canonical, model_handle)
        self.i += 1
        return got.status, got.value

    def _check(self, function: str, step: Step | None, want: Observation, got: Observation, handle: int | None) -> Any:
        if not self._statuses_agree(want.status, got.status):
            # A value that is no live handle reached a resource: the call succeeded, or failed
            # on that resource's own terms (BOUNDS, READ_ONLY, EXHAUSTED, ...), not the handle's.
            reached = got.status not in (*_HANDLE_ERRORS, Status.PANIC, Status.NOT_INITIALIZED)
            if reached and want.status in _HANDLE_ERRORS and handle is not None:
                issued = self.dead.get(handle)
                closed = self.closed.get(handle)
                what = (f"a handle of {self._describe(issued)}, dead" if issued is not None
                        else f"a handle of {self._describe(closed)} of a closed session" if closed is not None
                        else "never issued by this target (forged or random)")  # fmt: skip
                self._fail("handle_alias", "status", f"{Status(want.status).name} (value {handle:#x} is {what})",
                           _name(got.status), want.status, got.status)  # fmt: skip
            else:
                self._fail("divergence", "status", _name(want.status), _name(got.status), want.status, got.status)
            return got.value
        if got.status != Status.OK:
            if step is not None and want.status == got.status:
                problem = self.compare(step, want, got)  # the message names the function and handle
                if problem is not None:
                    self._fail("divergence", *problem, want.status, got.status)
            return None
        if function in _PRODUCERS:
            return self._check_new_handle(got.value, want.value)
        if step is not None:
            problem = self.compare(step, want, got)
            if problem is not None:
                self._fail("divergence", *problem, want.status, got.status)
        return got.value

    def _check_new_handle(self, value: Any, model_value: int) -> int:
        if not isinstance(value, int) or value == 0:
            self._fail("divergence", "value", "a non-zero handle", self.render(value), Status.OK, Status.OK)
            return model_value
        if value in self.live:
            self._fail("divergence", "value", "a handle distinct from every live one",
                       f"{value:#x}, the handle of live {self._describe(self.live[value])}", Status.OK, Status.OK)  # fmt: skip
            return model_value
        issued = _Issued(len(self.by_model) + 1, value, self.i, model_value)
        earlier = self.dead.get(value)
        if earlier is not None and not self.policy.reuse_after_death:
            self._fail("aba", "value", "a value never issued before (the registry declares reuse = \"never\")",
                       f"{value:#x} again, for resource #{issued.number}: it named {self._describe(earlier)}, "
                       f"which died", Status.OK, Status.OK)  # fmt: skip
        self.dead.pop(value, None)
        self.closed.pop(value, None)  # a new session may issue its values again: now it names this one
        self.live[value] = issued
        self.by_model[model_value] = issued
        return model_value


def _name(status: int | None) -> str:
    try:
        return Status(status).name
    except ValueError:
        return str(status)


@dataclass
class OpaqueCheck:
    """The result of replaying one target's trace: the first problem (None: it agrees),
    the model's prediction and the target's trace in the model's value space."""

    problem: Problem | None
    expected: list[Observation]
    canonical: list[Observation]
    #: known problems the check went on past (``go_on``), before ``problem``
    passed: list[Problem]


def check_opaque(program: Program, trace: list[Observation], policy: HandlePolicy, pair: bool,
                 compare: Callable[[Step, Observation, Observation], tuple[str, str, str] | None],
                 render: Callable[[Any], str], steps: list[Step] | None = None,
                 go_on: Callable[[Problem], bool] | None = None) -> OpaqueCheck:  # fmt: skip
    """Replay ``program`` against the model along ``trace`` (see the module doc).
    ``compare(step, want, got)`` is the exact check of one non-handle observation
    (``(aspect, expected, actual)`` or None), ``render`` how values are shown;
    ``go_on(problem)`` accepts a problem to check past (a known bug)."""
    steps = steps if steps is not None else steps_of(program)
    backend = ReplayBackend(trace, steps, policy, pair, compare, render, go_on)
    run_program(program, backend, deferred_strategy=1)
    if backend.problem is None and len(trace) > backend.i:
        backend.problem = Problem(backend.i, "divergence", "missing-step", "no more steps", "a result",
                                  None, trace[backend.i].status)  # fmt: skip
    if backend.problem is None and backend.i > len(trace):
        want = backend.expected[len(trace)] if len(trace) < len(backend.expected) else None
        backend.problem = Problem(len(trace), "divergence", "missing-step",
                                  _name(want.status) if want else "a result", "no result",
                                  want.status if want else None, None)  # fmt: skip
    return OpaqueCheck(backend.problem, backend.expected, backend.canonical, backend.passed)
