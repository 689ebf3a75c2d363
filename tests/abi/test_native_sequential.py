"""The native runner's sequential path gives exactly the reference interpreter's trace.

Workers run ``fuzz`` programs through :func:`fuzzharness.programs.interpreter.run_program_native`
(one native call per program); :func:`fuzzharness.programs.interpreter.run_program` stays the
reference. For generated programs on both real release libraries and both strategy
classes, the two must agree observation for observation: status, value (handles,
bytes read, infos, stats), ``fh_last_error`` message and handle passed.

One relaxation, for the deferred class only: a ``stats`` op of the program (before
the epilogue's ``quiesce``) may split the dead resources differently between
``reclaimed`` and ``pending`` -- when deferred memory is freed is the target's
business, and two runs of the *reference* on Rust's epoch strategy differ there
too (5 of these 300 programs did when this was written). So may the shutdown of a
``restart``. Everything else, the epilogue's stats and shutdown report included,
must be identical.

Programs with a ``restart`` or a ``repeat`` run through the interpreter on the
library (the runner runs one flat op list); nudged operands ``hK+d`` run natively
(the runner's FHR_H_LOCAL_ADD): both are held to the reference here too.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from conftest import TARGETS, load_library
from fuzzharness.contract.bindings import NO_STEP, NativeRunner
from fuzzharness.contract.registry import load_registry
from fuzzharness.programs.interpreter import Observation, run_program, run_program_native, steps_of
from fuzzharness.programs.sequential import (
    Acquire,
    Config,
    Create,
    Info,
    Nudge,
    Program,
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
    extended_forms,
    generate,
)

PROGRAMS = 300


def both(target: str, program: Program):
    library = load_library(target)
    deferred = load_registry()[target].deferred
    runner = NativeRunner(library)
    return run_program(program, library, deferred), run_program_native(program, library, runner, deferred)


def reclamation_agnostic(program: Program, trace: list[Observation]) -> list:
    """The trace with the reclaimed/pending split merged in each program ``stats`` value
    and each restart's shutdown report (the epilogue's stay exact)."""
    out: list = list(trace)
    steps = steps_of(program)
    for i in range(1, min(len(out), len(steps) - 3)):
        step = steps[i]
        if (step.function == "fh_get_stats" or isinstance(step.op, Restart)) and out[i].value is not None:
            v = out[i].value
            out[i] = (out[i].status, v.live_resources, v.live_bytes, v.created, v.reclaimed + v.pending_resources)
    return out


@pytest.mark.parametrize("strategy", ["immediate", "deferred"])
@pytest.mark.parametrize("target", TARGETS)
def test_native_path_gives_the_reference_trace(target, strategy, session_lock):
    compared = steps = 0
    for n in range(PROGRAMS):
        program = generate(random.Random(7_000_000 + n))
        program = dataclasses.replace(program, config=dataclasses.replace(program.config, strategy=strategy))
        reference, native = both(target, program)
        if strategy == "deferred":
            reference, native = reclamation_agnostic(program, reference), reclamation_agnostic(program, native)
        assert native == reference, f"program {n} ({strategy}):\n{program}"
        compared += 1
        steps += len(reference)
    assert compared == PROGRAMS and steps > PROGRAMS * 5


@pytest.mark.parametrize("target", TARGETS)
def test_native_path_edge_cases(target, session_lock):
    # Failed producers resolve to 0; forged and tweaked handles; empty read and write; messages.
    program = Program(Config(capacity=1, max_resource_bytes=16, max_total_bytes=16), (
        Create(8), Create(8), Write(Ref(1), 0, b"x"), Read(Tweak(0, 1 << 32), 0, 4), Read(Ref(0), 0, 0),
        Write(Ref(0), 0, b""), Release(Raw(0xDEAD)), Release(Ref(0)), Read(Ref(0), 0, 8),
    ))  # fmt: skip
    reference, native = both(target, program)
    assert native == reference
    assert sum(1 for obs in reference if obs.message) >= 4, "the messages were compared"
    # A failed init ends the run after its own observation, with its message.
    library = load_library(target)
    assert library.init(4, 0, 1 << 16, 1 << 20)[0] == 0
    try:
        reference, native = both(target, program)
    finally:
        library.shutdown()
    assert native == reference and len(native) == 1 and native[0].status != 0 and native[0].message


def with_restarts_and_repeats(n: int) -> list[Program]:
    """The first ``n`` generated programs (from a seed of their own) that hold a restart
    or a repeat (the generator draws one in ~6% of programs)."""
    out, seed = [], 8_000_000
    while len(out) < n:
        program = generate(random.Random(seed))
        seed += 1
        if extended_forms(program) & {"restart", "repeat"}:
            out.append(program)
    return out


@pytest.mark.parametrize("strategy", ["immediate", "deferred"])
@pytest.mark.parametrize("target", TARGETS)
def test_native_path_gives_the_reference_trace_with_restarts_and_repeats(target, strategy, session_lock):
    programs = with_restarts_and_repeats(40)
    for n, program in enumerate(programs):
        program = dataclasses.replace(program, config=dataclasses.replace(program.config, strategy=strategy))
        reference, native = both(target, program)
        assert len(reference) == len(steps_of(program)) or reference[-1].status != 0
        if strategy == "deferred":
            reference, native = reclamation_agnostic(program, reference), reclamation_agnostic(program, native)
        assert native == reference, f"program {n} ({strategy}):\n{program}"
    assert sum("restart" in extended_forms(p) for p in programs) >= 10
    assert sum("repeat" in extended_forms(p) for p in programs) >= 10


@pytest.mark.parametrize("target", TARGETS)
def test_native_path_new_forms_edge_cases(target, session_lock):
    # Nudges: next slot, previous value, next generation, around a failed producer (0 - 1
    # wraps to all ones); a repeat reusing one slot, its last handle after the loop; a
    # restart, then values of the closed session; a repeat naming handles before it.
    nudges = Program(Config(capacity=1, max_resource_bytes=16, max_total_bytes=16), (
        Create(8), Write(Ref(0), 0, b"abcdefgh"), Read(Nudge(0, 1), 0, 1), Read(Nudge(0, -1), 0, 1),
        Read(Nudge(0, 1 << 32), 0, 1), Create(8), Release(Nudge(1, -1)), Info(Nudge(1, 1)),
    ))  # fmt: skip
    blocks = Program(Config(capacity=2), (
        Create(8), Repeat(300, (Create(4), Write(Ref(1), 0, b"\x01"), Release(Ref(1)))), Read(Ref(1), 0, 1),
        Restart(), Acquire(Ref(0)), Info(Nudge(1, 1)), Create(2),
        Repeat(5, (Snapshot(Ref(2)), Info(Ref(3)), Release(Ref(3)))),
        Repeat(3, (Create(1),)), Stats(),
    ))  # fmt: skip
    for program in (nudges, blocks):
        reference, native = both(target, program)
        assert native == reference
        assert len(native) == len(steps_of(program))
    # A failed first init ends a program with a restart too, after its own observation.
    library = load_library(target)
    assert library.init(4, 0, 1 << 16, 1 << 20)[0] == 0
    try:
        reference, native = both(target, blocks)
    finally:
        library.shutdown()
    assert native == reference and len(native) == 1 and native[0].status != 0


class _Watch:
    """A library that notes the published progress (the step in flight) at each call."""

    CALLS = {"init", "shutdown", "create", "acquire", "release", "write", "read", "snapshot", "info", "stats", "quiesce"}

    def __init__(self, library, progress: bytearray) -> None:
        self.library, self.progress, self.seen = library, progress, []

    def __getattr__(self, name):
        method = getattr(self.library, name)
        if name not in self.CALLS:
            return method

        def call(*args, **kwargs):
            self.seen.append(int.from_bytes(self.progress, "little"))
            return method(*args, **kwargs)

        return call


@pytest.mark.parametrize("target", TARGETS)
def test_interpreted_programs_publish_the_step_in_flight(target, session_lock):
    """A worker killed or hung by its target is pinned to the step the progress buffer
    names: the interpreter path publishes it before every call, as the runner does."""
    library = load_library(target)
    progress = bytearray(8)
    runner = NativeRunner(library, progress)
    watch = _Watch(library, progress)
    program = Program(Config(capacity=2), (Create(8), Repeat(4, (Create(1), Release(Ref(1)))), Restart(), Release(Ref(0))))
    trace = run_program_native(program, watch, runner, load_registry()[target].deferred)
    assert watch.seen == list(range(len(trace))) and len(trace) == len(steps_of(program))
    assert int.from_bytes(progress, "little") == NO_STEP
