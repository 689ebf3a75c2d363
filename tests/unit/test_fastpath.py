"""The fast path of the differential check (fuzzharness.oracles.fastmodel, packed traces).

Pure Python: the fast model against the Python model on generated and hand-made
programs, packed traces against observations (pack/unpack), and the guarantee that
matters: a packed trace the fast path accepts is one the reference check passes.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from fuzzharness.contract.header import Status
from fuzzharness.contract.values import ResourceInfo, StatsValue
from fuzzharness.lanes.fuzz import PAIR_VIA_RATE, program_seed
from fuzzharness.oracles import fastmodel
from fuzzharness.oracles.differential import divergences_from_model, expected_trace
from fuzzharness.oracles.fastmodel import Prediction, accepts, disagreement, predict, prediction_of
from fuzzharness.oracles.model import StatsExpectation
from fuzzharness.programs.interpreter import Observation, message_fits, pack, steps_of, unpack
from fuzzharness.programs.sequential import (
    Acquire,
    Config,
    Create,
    Info,
    Nudge,
    Program,
    Quiesce,
    Raw,
    Read,
    Ref,
    Release,
    Repeat,
    Restart,
    Snapshot,
    Stats,
    Tweak,
    Write,
    generate,
)  # fmt: skip


def _programs(n: int, seed: int = 3) -> list[Program]:
    return [generate(random.Random(program_seed(seed, 1, i)), 48, via_rate=PAIR_VIA_RATE) for i in range(n)]


def test_status_numbers_are_the_headers():
    assert (fastmodel._OK, fastmodel._INVALID, fastmodel._STALE, fastmodel._EXHAUSTED, fastmodel._BOUNDS,
            fastmodel._READ_ONLY, fastmodel._OVERFLOW, fastmodel._NOT_HELD) == (
        Status.OK, Status.INVALID_HANDLE, Status.STALE_HANDLE, Status.EXHAUSTED, Status.BOUNDS, Status.READ_ONLY,
        Status.OVERFLOW, Status.NOT_HELD)  # fmt: skip


@pytest.mark.parametrize("pair", [False, True])
def test_fast_model_agrees_with_the_python_model_on_generated_programs(pair):
    for program in _programs(1500):
        assert disagreement(program, pair) is None, program


HAND_MADE = [
    # slot reuse, stale and forged handles, a nudge and a tweak
    Program(Config(capacity=2), (Create(8), Release(Ref(0)), Create(4), Acquire(Ref(0)), Info(Ref(1)),
                                 Info(Nudge(1, 1)), Release(Tweak(1, 1 << 32)), Release(Raw(0)))),  # fmt: skip
    # read-only snapshots, bounds, overflow of offset + length
    Program(Config(capacity=4), (Create(16), Write(Ref(0), 8, b"abcdefgh"), Snapshot(Ref(0)), Write(Ref(1), 0, b"x"),
                                 Read(Ref(1), 8, 8), Read(Ref(0), 12, 8), Read(Ref(0), (1 << 64) - 2, 4), Info(Ref(1)))),  # fmt: skip
    # exhaustion by capacity and by bytes, deferred reclamation before and after quiesce
    Program(Config(capacity=2, strategy="deferred", max_resource_bytes=64, max_total_bytes=96),
            (Create(64), Create(64), Create(65), Create(16), Create(1), Release(Ref(0)), Stats(), Quiesce(), Stats(),
             Create(0))),  # fmt: skip
    # a restart (handles of the old session named in the new one) and a repeat
    Program(Config(capacity=3, strategy="deferred"),
            (Create(8), Release(Ref(0)), Restart(), Info(Ref(0)), Repeat(5, (Create(8), Write(Ref(1), 0, b"ab"),
                                                                            Release(Ref(1)))), Stats())),  # fmt: skip
    # runtime selectors (a pair: NOT_HELD, per-runtime counts)
    Program(Config(capacity=4, strategy="deferred"),
            (Create(8, via="owner"), Release(Ref(0), via="foreign"), Acquire(Ref(0), via="foreign"),
             Release(Ref(0), via="owner"), Info(Ref(0)), Release(Ref(0)), Stats())),  # fmt: skip
]


@pytest.mark.parametrize("program", HAND_MADE)
@pytest.mark.parametrize("pair", [False, True])
def test_fast_model_agrees_on_hand_made_programs(program, pair):
    assert disagreement(program, pair) is None
    assert predict(program, pair) == prediction_of(expected_trace(program, pair))


def test_a_wrong_fast_model_is_a_disagreement(monkeypatch):
    program = HAND_MADE[0]
    real = fastmodel.predict

    def off_by_one(p, pair=False):
        got = real(p, pair)
        key = list(got.key)
        key[2] = Status.STALE_HANDLE
        return Prediction(tuple(key), got.bounds)

    monkeypatch.setattr(fastmodel, "predict", off_by_one)
    problem = disagreement(program)
    assert problem is not None and "step 1" in problem and "key" in problem


def _target_trace(program: Program, pair: bool = False) -> list[Observation]:
    """What a correct target would return: the model's trace, with messages naming the call."""
    steps = steps_of(program)
    out = []
    for i, obs in enumerate(expected_trace(program, pair)):
        value = obs.value
        if isinstance(value, StatsExpectation):
            value = StatsValue(value.live_resources, value.live_bytes, value.created,
                               value.reclaimed_settled + value.unsettled, 0, 0)  # fmt: skip
        message = None
        if obs.status != Status.OK:
            message = f"{steps[i].function}: handle {obs.handle:#x} refused" if obs.handle is not None else (
                f"{steps[i].function}: refused")
        out.append(Observation(obs.status, value, message, obs.handle))
    return out


def test_pack_then_unpack_is_the_trace():
    for program in _programs(300) + HAND_MADE:
        trace = _target_trace(program)
        assert unpack(program, pack(program, trace)) == trace


def test_a_correct_trace_is_accepted():
    for program in _programs(300) + HAND_MADE:
        for pair in (False, True):
            assert accepts(predict(program, pair), pack(program, _target_trace(program, pair)))


def _perturbed(trace: list[Observation], rng: random.Random) -> list[Observation]:
    trace = list(trace)
    i = rng.randrange(len(trace))
    obs = trace[i]
    roll = rng.randrange(5)
    if roll == 0:
        obs = dataclasses.replace(obs, status=rng.choice(list(Status)))
    elif roll == 1 and isinstance(obs.value, int):
        obs = dataclasses.replace(obs, value=obs.value ^ (1 << rng.randrange(40)))
    elif roll == 1 and isinstance(obs.value, bytes) and obs.value:
        obs = dataclasses.replace(obs, value=b"\xff" + obs.value[1:])
    elif roll == 1 and isinstance(obs.value, ResourceInfo):
        obs = dataclasses.replace(obs, value=ResourceInfo(obs.value.size, obs.value.refs + 1, obs.value.read_only))
    elif roll == 2 and isinstance(obs.value, StatsValue):  # pending that the model may or may not allow
        v = obs.value
        obs = dataclasses.replace(obs, value=StatsValue(v.live_resources, v.live_bytes, v.created,
                                                        max(v.reclaimed - 1, 0), 1, rng.choice((0, 8, 1 << 20))))  # fmt: skip
    elif roll == 3 and obs.message is not None:
        obs = dataclasses.replace(obs, message=rng.choice(("", "fh_other: x", obs.message.split(" handle")[0])))
    else:
        del trace[i:]
    trace[i : i + 1] = [obs] if i < len(trace) else []
    return trace


def test_an_accepted_trace_is_one_the_reference_check_passes():
    """The fast path's guarantee, on thousands of wrong traces: accepted => no divergence."""
    rng = random.Random(5)
    accepted = rejected = 0
    for program in _programs(400) + HAND_MADE:
        steps = steps_of(program)
        prediction = predict(program)
        expected = list(expected_trace(program))
        for _ in range(8):
            trace = _perturbed(_target_trace(program), rng)
            ok = accepts(prediction, pack(program, trace))
            found = divergences_from_model("t", steps, expected, trace)
            assert not (ok and found), (program, trace, found)
            accepted += ok
            rejected += not ok
    assert rejected > 1000 and accepted > 20  # both ways were exercised (a perturbation may stay within the model)


@pytest.mark.parametrize(
    ("function", "handle", "message", "fits"),
    [
        ("fh_read", 0x500000003, "fh_read: handle 0x500000003 is invalid (generation 5)", True),  # Rust's spelling
        ("fh_read", 0x500000003, "fh_read: handle 0x0000000500000003 is invalid", True),  # Go's
        ("fh_read", 0x5A, "fh_read: handle 0X5A is stale", True),  # any hex token the pattern reads
        ("fh_read", 0x5A, "fh_read: handle 0x5ab is stale", False),  # a longer token is another value
        ("fh_read", 0x5A, "fh_read: handle 0x5a_b", False),  # no word boundary after the digits
        ("fh_read", 0x5A, "fh_read: handle 0x5aé", False),
        ("fh_read", 0x5A, "fh_write: handle 0x5a", False),  # another function's message
        ("fh_read", None, "fh_read: bounds", True),
        ("fh_read", None, None, False),
    ],
)
def test_message_fits(function, handle, message, fits):
    assert message_fits(function, handle, message) is fits
    if message is not None and handle is not None:
        from fuzzharness.programs.interpreter import _names

        assert (message.startswith(function + ":") and _names(message.encode(), handle)) is fits
