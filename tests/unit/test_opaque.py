"""The learned-handle check (fuzzharness.oracles.opaque) on handle systems of their own.

A fake target wraps the reference model behind a handle system of its own (random
64-bit values, or planted weaknesses: values reused after death, a forged neighbour
that aliases, stale told apart wrongly), runs generated programs through the same
interpreter as a worker does, and the check must: pass every correct system (no false
positive), and name each weakness with its own kind.
"""

from __future__ import annotations

import random

import pytest

from fuzzharness.contract.handles import EXACT, HandlePolicy
from fuzzharness.contract.header import Status
from fuzzharness.contract.values import StatsValue
from fuzzharness.oracles.differential import check_program
from fuzzharness.oracles.model import ModelBackend
from fuzzharness.programs.interpreter import run_program
from fuzzharness.programs.sequential import (
    Acquire,
    Config,
    Create,
    Program,
    Raw,
    Read,
    Ref,
    Release,
    Tweak,
    Write,
    generate,
)

OPAQUE = HandlePolicy("opaque")
LENIENT = HandlePolicy("opaque", "after-death", "invalid-or-stale")


class FakeTarget:
    """The model behind another handle system. ``weakness``: None (correct), ``"aba"``
    (values are a 2-bit counter: reissued after death), ``"alias"`` (a value one off a
    live handle reaches that resource), ``"stale-as-invalid"`` (a dead handle answers
    INVALID instead of STALE)."""

    def __init__(self, seed: int, weakness: str | None = None) -> None:
        self.rng = random.Random(seed)
        self.weakness = weakness
        self.model = ModelBackend()
        self.to_model: dict[int, int] = {}
        self.dead: set[int] = set()
        self.counter = 0
        self.error: str | None = None

    def _new_value(self) -> int:
        if self.weakness == "aba":
            self.counter += 1
            return 0x1000 + (self.counter % 4)
        while True:
            value = self.rng.getrandbits(64)
            if value and value not in self.to_model:
                return value

    def _translate(self, value: int) -> int:
        if value in self.to_model:
            return self.to_model[value]
        if self.weakness == "alias":
            for near in (value ^ 1, value - 1, value + 1):
                if near in self.to_model and near not in self.dead:
                    return self.to_model[near]
        return 0xFFFF_FFFF_FFFF_FFFF

    def _answer(self, function: str, result: tuple, handle: int | None = None) -> tuple:
        status, value = result
        if self.weakness == "stale-as-invalid" and status == Status.STALE_HANDLE:
            status = Status.INVALID_HANDLE
        self.error = None if status == Status.OK else (
            f"fh_{function}: " + (f"handle {handle:#x}: " if handle is not None else "") + Status(status).name)
        return status, value

    def init(self, *args):
        self.to_model.clear()
        self.dead.clear()
        return self._answer("init", self.model.init(*args))

    def shutdown(self):
        return self._answer("shutdown", as_value(self.model.shutdown()))

    def stats(self):
        return self._answer("stats", as_value(self.model.stats()))

    def quiesce(self):
        return self._answer("quiesce", self.model.quiesce())

    def last_error(self):
        return self.error

    def _produce(self, function: str, result: tuple) -> tuple:
        status, model_value = result
        if status != Status.OK:
            return self._answer(function, result)
        value = self._new_value()
        stale = [v for v, m in self.to_model.items() if v == value]
        for v in stale:
            del self.to_model[v]
        self.to_model[value] = model_value
        self.dead.discard(value)
        return self._answer(function, (status, value))

    def create(self, size, **via):
        return self._produce("create", self.model.create(size, **via))

    def snapshot(self, handle, **via):
        status, value = self.model.snapshot(self._translate(handle), **via)
        if status != Status.OK:
            return self._answer("snapshot", (status, value), handle)
        return self._produce("snapshot", (status, value))

    def release(self, handle, **via):
        model_handle = self._translate(handle)
        result = self.model.release(model_handle, **via)
        if result[0] == Status.OK and self.model.info(model_handle)[0] != Status.OK:
            self.dead.add(handle)
        return self._answer("release", result, handle)

    def __getattr__(self, name):
        def call(handle, *args, **via):
            return self._answer(name, getattr(self.model, name)(self._translate(handle), *args, **via), handle)

        return call


def as_value(result: tuple) -> tuple:
    """The model's stats expectation as a target reports it (nothing freed late)."""
    status, e = result
    return status, StatsValue(e.live_resources, e.live_bytes, e.created, e.reclaimed_settled, e.unsettled,
                              e.unsettled_bytes)  # fmt: skip


def run(program: Program, weakness: str | None = None, seed: int = 0):
    return run_program(program, FakeTarget(seed, weakness), deferred_strategy=1)


def divergences(program: Program, trace, policy: HandlePolicy):
    return check_program(program, {"lib": trace}, pairs=set(), policies={"lib": policy})


@pytest.mark.parametrize("policy", [OPAQUE, LENIENT])
def test_a_correct_handle_system_of_its_own_passes_every_generated_program(policy):
    for seed in range(400):
        program = generate(random.Random(seed))
        assert divergences(program, run(program, seed=seed), policy) == [], to_text_safe(program)


def test_the_same_system_fails_the_exact_check_at_its_first_handle():
    program = Program(Config(), (Create(8), Info_of(0)))
    found = divergences(program, run(program), EXACT)
    assert found and found[0].function == "fh_create" and found[0].aspect == "value"


def test_a_dead_value_issued_again_is_aba_naming_both_resources():
    ops = []
    for k in range(6):
        ops += [Create(8), Release(Ref(k))]
    program = Program(Config(capacity=4), tuple(ops))
    found = divergences(program, run(program, "aba"), OPAQUE)
    assert [d.kind for d in found] == ["aba"]
    assert "resource #1" in found[0].actual and "died" in found[0].actual
    assert divergences(program, run(program, "aba"), LENIENT) == []  # reuse after death is declared


def test_a_forged_neighbour_that_reaches_a_live_resource_is_an_alias():
    program = Program(Config(), (Create(8), Write(Ref(0), 0, b"secret"), Read(Tweak(0, 1), 0, 6)))
    found = divergences(program, run(program, "alias"), OPAQUE)
    assert [d.kind for d in found] == ["handle_alias"] and "never issued" in found[0].expected
    assert divergences(program, run(program), OPAQUE) == []


def test_a_forged_value_equal_to_a_live_handle_is_that_resource():
    program = Program(Config(), (Create(8), Create(8)))
    trace = run(program)
    live = trace[2].value
    forged = Program(Config(), (Create(8), Create(8), Write(Raw(live), 0, b"x"), Read(Ref(1), 0, 1)))
    target = FakeTarget(0)
    trace = run_program(forged, target, deferred_strategy=1)
    assert trace[3].status == Status.OK and trace[4].value == b"x"
    assert divergences(forged, trace, OPAQUE) == []


def test_stale_told_as_invalid_diverges_unless_declared_indistinguishable():
    program = Program(Config(), (Create(8), Release(Ref(0)), Acquire(Ref(0))))
    trace = run(program, "stale-as-invalid")
    found = divergences(program, trace, OPAQUE)
    assert [(d.kind, d.aspect, d.expected_status, d.actual_status) for d in found] == [
        ("divergence", "status", "STALE_HANDLE", "INVALID_HANDLE")]
    assert divergences(program, trace, HandlePolicy("opaque", stale_status="invalid-or-stale")) == []


def test_an_opaque_target_is_cross_checked_with_an_exact_one_in_the_models_value_space():
    for seed in range(100):
        program = generate(random.Random(seed))
        traces = {"lib": run(program, seed=seed), "ref": run_program(program, ModelBackend(), deferred_strategy=1)}
        policies = {"lib": OPAQUE, "ref": EXACT}
        # the model backend itself has no messages: only compare what the two agree on
        found = [d for d in check_program(program, traces, pairs=set(), policies=policies) if d.target == "lib"]
        assert found == []


def Info_of(k: int):  # noqa: N802 - reads like the op
    from fuzzharness.programs.sequential import Info

    return Info(Ref(k))


def to_text_safe(program: Program) -> str:
    from fuzzharness.programs.sequential import to_text

    return to_text(program)
