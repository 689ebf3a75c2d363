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
too (5 of these 300 programs did when this was written). Everything else, the
epilogue's stats and shutdown report included, must be identical.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from conftest import TARGETS, load_library
from fuzzharness.contract.bindings import NativeRunner
from fuzzharness.contract.registry import load_registry
from fuzzharness.programs.interpreter import Observation, run_program, run_program_native
from fuzzharness.programs.sequential import (
    Config,
    Create,
    Program,
    Raw,
    Read,
    Ref,
    Release,
    Stats,
    Tweak,
    Write,
    generate,
)

PROGRAMS = 300


def both(target: str, program: Program):
    library = load_library(target)
    deferred = load_registry()[target].deferred
    runner = NativeRunner(library)
    return run_program(program, library, deferred), run_program_native(program, library, runner, deferred)


def reclamation_agnostic(program: Program, trace: list[Observation]) -> list:
    """The trace with each program ``stats`` value's reclaimed/pending split merged."""
    out: list = list(trace)
    for i, op in enumerate(program.ops, start=1):
        if isinstance(op, Stats) and i < len(out) and out[i].value is not None:
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
