"""The fast path on the real libraries: the same traces, the same findings, fewer costs.

* A packed trace (the worker's runner records, no object per step) unpacks to exactly
  the observations of the reference path, on rust, go and go+rust; every program of a
  correct shim is accepted by the fast model without the reference check.
* ``fuzz`` finds the same findings (ids, kinds, signatures) with the fast path as with
  the reference path, on a planted bug, with the same seed; and checks everything of a
  correct run on the fast path (``fast_accepted``).
* ``--jobs`` defaults to the core count; targets the fast path does not cover say so.
"""

from __future__ import annotations

import os
import random

import pytest

from conftest import library_path
from fuzzharness.contract.header import parse_mutant
from fuzzharness.contract.registry import load_registry, select_targets
from fuzzharness.execution.supervisor import BatchRun, TargetWorker
from fuzzharness.lanes.fuzz import PAIR_VIA_RATE, FuzzOptions, fast_path_note, program_seed, run_fuzz
from fuzzharness.oracles.differential import check_program
from fuzzharness.oracles.fastmodel import accepts, predict
from fuzzharness.programs.interpreter import interpreted, unpack
from fuzzharness.programs.sequential import generate

TARGETS = ("rust", "go", "go+rust")


@pytest.mark.abi
@pytest.mark.parametrize("target", TARGETS)
def test_packed_traces_are_the_reference_traces(target):
    for member in ("rust", "go"):
        library_path(member)
    spec = select_targets(target)[0]
    programs = [(n, generate(random.Random(program_seed(21, 0, n)), 48, via_rate=PAIR_VIA_RATE)) for n in range(400)]
    by_key = dict(programs)
    with TargetWorker(spec) as worker:
        reference = {e[1]: e[2] for e in worker.run(programs) if e[0] == "result"}
        packed = BatchRun({target: worker}, programs, packed=True).wait()
    assert len(reference) == len(packed) == len(programs)
    compared = 0
    for key, outcome in packed.items():
        trace = outcome[target]
        assert isinstance(trace, tuple), trace
        program = by_key[key]
        # Deferred reclamation is timed by the target: only immediate programs repeat exactly.
        if program.config.strategy == "immediate":
            assert unpack(program, trace) == reference[key], program
            compared += 1
        assert not check_program(program, {target: unpack(program, trace)})
        assert accepts(predict(program, bool(spec.pair)), trace), program
    assert compared > 100 and any(interpreted(p) for _, p in programs)


@pytest.mark.quality
def test_fast_and_reference_paths_find_the_same(tmp_path):
    library_path("rust", "mutants")
    found = {}
    for fast in (True, False):
        summary = run_fuzz(FuzzOptions(targets=["rust"], seconds=None, runs=1500, seed=4, jobs=1, variant="mutants",
                                       mutant=parse_mutant("snapshot-shares"), out=tmp_path / str(fast), fast_path=fast))  # fmt: skip
        assert not summary.errors, summary.errors
        found[fast] = sorted((f["id"], f["kind"], f["summary"]) for f in summary.findings)
        assert (summary.fast_accepted > 0) is fast
        assert summary.check_path.startswith("fast" if fast else "reference")
    assert found[True], "the planted bug was not found"
    assert found[True] == found[False]


@pytest.mark.quality
def test_a_correct_run_is_checked_on_the_fast_path(tmp_path):
    for member in ("rust", "go"):
        library_path(member)
    summary = run_fuzz(FuzzOptions(targets=list(TARGETS), seconds=None, runs=600, seed=9, out=tmp_path))
    assert not summary.errors and not summary.findings, (summary.errors, summary.findings)
    assert summary.jobs == (os.cpu_count() or 1)
    assert summary.programs == 600
    # Every program is accepted on the fast path, or judged the reference way and clean.
    assert summary.fast_accepted >= 0.9 * summary.programs
    assert summary.cross_checked + summary.cross_skipped == 600


def test_targets_the_fast_path_does_not_cover_say_so():
    registry = load_registry()
    assert fast_path_note([registry["rust"], registry["go"]], "release").startswith("fast path")
    assert "sanitizer" in fast_path_note([registry["rust"]], "asan")
    opaque = [spec for spec in registry.values() if spec.policy.opaque]
    for spec in opaque:
        assert fast_path_note([registry["rust"], spec], "release").startswith("reference path: opaque")

