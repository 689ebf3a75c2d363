"""The coverage-guided lane (fuzzharness.lanes.coverage): libFuzzer via atheris on the cov builds.

Fast tests: the cov builds load only after libFuzzer, the lane runs and reports its
figures, and a crashing input becomes an ordinary finding that ``repro`` reproduces on
the plain mutants build. The slow test is the side-by-side measurement of the must-show:
the MAGIC_CRASH mutant (a 4-byte value compared as one 32-bit value) within 60 s,
coverage-guided lane against the random lane.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import TARGETS, library_path
from fuzzharness.contract.header import Mutant
from fuzzharness.contract.registry import load_registry
from fuzzharness.execution.supervisor import TargetWorker
from fuzzharness.findings.repro import reproduce
from fuzzharness.findings.store import load
from fuzzharness.lanes.coverage import _structure_aware_mutator, live_writes, run_lane
from fuzzharness.programs.sequential import (
    Config,
    Create,
    Program,
    Raw,
    Ref,
    Release,
    Snapshot,
    Write,
    decode,
    encode,
    generate,
)

STATS = {"execs", "findings", "coverage", "corpus_added"}


@pytest.mark.parametrize("target", TARGETS)
def test_cov_builds_load_only_after_libfuzzer(target):
    path = library_path(target, "mutants-cov")
    code = f"from fuzzharness.contract.bindings import Library; Library({str(path)!r}, with_testing=True)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "undefined symbol" in proc.stderr, proc.stderr
    # A worker of a coverage variant preloads libFuzzer RTLD_GLOBAL first.
    with TargetWorker(load_registry()[target], "mutants-cov") as worker:
        assert worker.abi[0] == 1


def test_lane_runs_both_targets_and_reports_its_figures(tmp_path):
    for target in TARGETS:
        library_path(target, "cov")
    result = run_lane(list(TARGETS), 5, tmp_path / "corpus", tmp_path / "out", seed=3, variant="cov")
    assert STATS <= set(result), result
    assert result["execs"] > 50, result
    assert isinstance(result["coverage"], int) and result["coverage"] > 0, result
    assert result["findings"] == [] and result["errors"] == [], result
    assert result["corpus_added"] > 0, result


def test_live_writes_follow_creates_limits_snapshots_and_releases():
    program = Program(Config(capacity=2), (
        Create(8), Write(Ref(0), 4, b"abcd"),  # fits: room 4
        Write(Ref(0), 6, b"abcd"),  # out of bounds
        Snapshot(Ref(0)), Write(Ref(1), 0, b"x"),  # snapshots are read-only
        Create(8),  # capacity 2 is full: fails, h2 is never live
        Write(Ref(2), 0, b"x"), Write(Raw(5), 0, b"x"),
        Release(Ref(0)), Write(Ref(0), 0, b"x"),  # released
    ))  # fmt: skip
    assert live_writes(program) == [(1, 4)]


def test_the_mutator_aims_at_live_writes_and_always_returns_a_fitting_program():
    import random

    rng = random.Random(5)

    def libfuzzer_like(data: bytes, max_size: int) -> bytes:  # stands in for atheris.Mutate
        out = bytearray(data or b"\0")
        out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out[:max_size])

    mutator = _structure_aware_mutator(libfuzzer_like)
    inputs = [encode(generate(random.Random(i), max_ops=8))[:64] for i in range(200)] + [bytes(rng.randbytes(40))]
    outputs = [mutator(data, 64, i) for i, data in enumerate(inputs * 5)]
    assert all(len(out) <= 64 for out in outputs)
    live = sum(bool(live_writes(decode(out))) for out in outputs) / len(outputs)
    assert live > 0.5, f"only {live:.0%} of the mutated inputs have a write expected to succeed"


def test_the_lane_runs_libfuzzer_with_the_structure_aware_mutator(tmp_path):
    """libFuzzer finds atheris' LLVMFuzzerCustomMutator only if its module is global before
    libFuzzer is; otherwise it silently mutates bytes (run_lane reports that as an error)."""
    library_path("rust", "cov")
    result = run_lane(["rust"], 3, tmp_path / "corpus", tmp_path / "out", seed=1, variant="cov")
    assert result["execs"] > 0 and result["errors"] == [], result


@pytest.mark.quality
@pytest.mark.parametrize("target", TARGETS)
def test_a_crashing_input_becomes_a_finding_that_repro_reproduces(target, tmp_path):
    library_path(target, "mutants-cov")
    library_path(target, "mutants")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    magic = Program(Config(capacity=2), (Create(8), Write(Ref(0), 2, b"FUZZ!")))
    (corpus / "magic").write_bytes(encode(magic))
    result = run_lane([target], 20, corpus, tmp_path / "out", seed=1, variant="mutants-cov",
                      mutant=Mutant.MAGIC_CRASH, stop_on_first=True)  # fmt: skip
    assert [f["kind"] for f in result["findings"]] == ["crash"], result
    assert result["restarts"] >= 1, result
    finding = load(result["findings"][0]["path"])
    assert finding.variant == "mutants" and finding.mutant == Mutant.MAGIC_CRASH
    assert "SIGSEGV" in finding.signature, finding.signature
    assert reproduce(result["findings"][0]["path"]).reproduced == 1


@pytest.mark.slow
@pytest.mark.quality
@pytest.mark.parametrize("target", TARGETS)
def test_magic_crash_coverage_lane_finds_it_and_random_lane_does_not(target, tmp_path):
    """The must-show, measured side by side with the same budget (60 s each)."""
    from fuzzharness.lanes.fuzz import FuzzOptions, run_fuzz

    budget = 60.0
    start = time.time()
    cov = run_lane([target], budget, tmp_path / "corpus", tmp_path / "cov", seed=0, variant="mutants-cov",
                   mutant=Mutant.MAGIC_CRASH, stop_on_first=True, stop_kinds=("crash",))  # fmt: skip
    cov_time = min((f["found_at"] - start for f in cov["findings"] if f["kind"] == "crash"), default=None)
    random_summary = run_fuzz(FuzzOptions(targets=[target], seconds=budget, out=tmp_path / "random",
                                          variant="mutants", mutant=Mutant.MAGIC_CRASH, stop_on_first=True,
                                          stop_kinds=("crash",)))  # fmt: skip
    random_crashes = [f for f in random_summary.findings if f["kind"] == "crash"]
    print(f"\n{target}: coverage lane: {'found in %.1f s' % cov_time if cov_time is not None else 'NOT found'} "
          f"({cov['execs']} execs, {cov['execs'] / max(cov['seconds'], 1e-9):.0f}/s, cov {cov['coverage']}); "
          f"random lane: {'found' if random_crashes else 'not found'} in {random_summary.seconds:.0f} s "
          f"({random_summary.programs} programs)")  # fmt: skip
    assert cov_time is not None and cov_time <= budget, cov
    assert not random_crashes, random_crashes
