"""The differential check flags exactly what differs, at the first step it differs."""

from __future__ import annotations

from dataclasses import replace

from fuzzharness.contract.header import Status
from fuzzharness.contract.values import StatsValue
from fuzzharness.oracles.differential import check_program, expected_trace
from fuzzharness.programs.interpreter import Observation, steps_of
from fuzzharness.programs.sequential import Config, Create, Program, Read, Ref, Release, Write


def as_target_trace(program):
    """What a perfect target returns: the model's own outcomes, with messages and concrete stats."""
    steps = steps_of(program)
    out = []
    for step, obs in zip(steps, expected_trace(program)):
        value = obs.value
        if hasattr(value, "admits"):
            value = StatsValue(value.live_resources, value.live_bytes, value.created,
                               value.reclaimed_settled + value.unsettled, 0, 0)  # fmt: skip
        message = None
        if obs.status != Status.OK:
            message = f"{step.function}: handle {obs.handle or 0:#x} is not live"
        out.append(Observation(obs.status, value, message, obs.handle))
    return out


PROGRAM = Program(Config(capacity=2), (Create(4), Write(Ref(0), 0, b"ab"), Read(Ref(0), 0, 2), Release(Ref(0)), Release(Ref(0))))


def test_a_perfect_target_is_clean():
    assert check_program(PROGRAM, {"a": as_target_trace(PROGRAM), "b": as_target_trace(PROGRAM)}) == []


def test_wrong_bytes_are_a_value_divergence_at_that_step():
    trace = as_target_trace(PROGRAM)
    trace[3] = replace(trace[3], value=b"zz")
    [div] = check_program(PROGRAM, {"rust": trace})
    assert (div.target, div.against, div.step, div.function, div.aspect) == ("rust", "model", 3, "fh_read", "value")
    assert div.expected == 'x"6162"' and div.actual == 'x"7a7a"'


def test_wrong_status_and_missing_step_and_bad_message():
    trace = as_target_trace(PROGRAM)
    trace[5] = Observation(Status.OK)  # double release accepted
    assert check_program(PROGRAM, {"go": trace})[0].aspect == "status"
    assert check_program(PROGRAM, {"go": as_target_trace(PROGRAM)[:4]})[0].aspect == "missing-step"
    trace = as_target_trace(PROGRAM)
    trace[5] = replace(trace[5], message="fh_acquire: wrong function")
    assert check_program(PROGRAM, {"go": trace})[0].aspect == "message"
    trace[5] = replace(trace[5], message="fh_release: no handle named")
    assert check_program(PROGRAM, {"go": trace})[0].aspect == "message"


def test_leak_shows_in_the_epilogue_stats():
    trace = as_target_trace(PROGRAM)
    trace[-2] = replace(trace[-2], value=StatsValue(1, 4, 1, 0, 0, 0))
    [div] = check_program(PROGRAM, {"rust": trace})
    assert div.label == "stats (epilogue)"
