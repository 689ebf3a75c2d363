"""The engine finds this: races planted in the shims are caught by `stress`; the correct
shims run clean. Everything goes through the real command line, as a user runs it.

Budget: a fixed number of programs and a fixed seed (deterministic programs and
schedule perturbation; the OS scheduler still varies), sized so that each race
is caught on the 2-core development machine well within the run (it is caught
in the first program there; the budget leaves a wide margin).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from conftest import TARGETS, library_path
from fuzzharness.contract.handles import EXACT, HandlePolicy
from fuzzharness.contract.header import parse_mutant
from fuzzharness.contract.registry import load_registry
from fuzzharness.execution.supervisor import TargetWorker
from fuzzharness.findings.triage import findings_for_run
from fuzzharness.lanes.stress import EXIT_INCONCLUSIVE, StressOptions, program_seed, run_stress
from fuzzharness.oracles.concurrent_model import check_run
from fuzzharness.oracles.linearizability import CheckResult
from fuzzharness.programs.concurrent import generate
from fuzzharness.programs.sequential import Raw, Tweak


def fuzzharness(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fuzzharness.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.quality
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mutant", ["racy-refcount", "unsync-writer"])
def test_stress_catches_planted_race(target, mutant, tmp_path):
    library_path(target, "mutants")
    out = tmp_path / "findings"
    proc = fuzzharness("stress", "--json", "--targets", target, "--threads", "4", "--runs", "12", "--seed", "1",
                       "--variant", "mutants", "--mutant", mutant, "--out", str(out))  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)
    kinds = {f["kind"] for f in summary["findings"]}
    assert kinds & {"non_linearizable", "divergence", "crash"}, summary["findings"]
    found = summary["findings"][0]
    saved = out / found["path"].rsplit("/", 1)[-1]
    assert (saved / "program.fh").read_text().startswith("# fuzzharness concurrent program v1")
    if found["kind"] == "non_linearizable":
        assert "cannot be placed" in (saved / "timeline.txt").read_text()
        assert (saved / "timeline.html").read_text().startswith("<!doctype html>")
        # repro replays it K times and says how often it came back.
        proc = fuzzharness("repro", str(saved), "--times", "3")
        assert "REPRODUCED" in proc.stdout, proc.stdout + proc.stderr
        # Without the planted bug (release build) it does not come back.
        proc = fuzzharness("repro", str(saved), "--times", "2", "--variant", "release")
        assert proc.returncode == 0 and "NOT REPRODUCED" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.quality
def test_correct_shims_stress_clean(tmp_path):
    for target in TARGETS:
        library_path(target)
    proc = fuzzharness("stress", "--json", "--targets", "rust,go", "--threads", "4", "--runs", "20", "--seed", "3",
                       "--out", str(tmp_path / "never"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["findings"] == [] and summary["unknown"] == 0
    assert summary["programs"] == 40 and summary["overlap_total"] > 0
    assert summary["histories_checked"] == 40 and summary["histories_unchecked"] == 0
    assert summary["overlapping"] > 0  # the threads really ran at the same time


# --------------------------------------------------------------------------- handle systems of their own

OPAQUE = HandlePolicy(handles="opaque")
LENIENT = HandlePolicy(handles="opaque", reuse="after-death", stale_status="invalid-or-stale")


def _runs(target: str, variant: str, count: int, seed: int, mutant: int = 0, forged: bool = False):
    """``count`` generated programs run on ``target``: (program, outcome) pairs."""
    spec = load_registry()[target]
    batch = [(n, generate(random.Random(program_seed(seed, n)), 4, 200, vias=spec.pair, forged=forged))
             for n in range(count)]  # fmt: skip
    programs = dict(batch)
    with TargetWorker(spec, variant, mutant=mutant) as worker:
        return [(programs[e[1]], e[2]) for e in worker.run(batch, kind="stress") if e[0] in ("result", "failure")]


@pytest.mark.quality
@pytest.mark.parametrize("target", [*TARGETS, "go+rust"])
def test_bundled_shims_pass_as_opaque_handle_targets(target):
    """Any sound handle system passes the opaque checks, the contract's layout too: the
    same runs, forged values included, are clean under the exact policy and under every
    opaque one."""
    for member in TARGETS if target == "go+rust" else (target,):
        library_path(member)
    runs = _runs(target, "release", 12, seed=5, forged=True)
    assert any(isinstance(getattr(op, "handle", None), (Raw, Tweak)) for p, _ in runs for ops in p.threads for op in ops)
    assert len(runs) == 12
    pair = load_registry()[target].pair
    for program, outcome in runs:
        for policy in (EXACT, OPAQUE, LENIENT):
            result = check_run(program, outcome, pair=pair, policy=policy)
            assert result.problems == [] and result.verdict.result is CheckResult.ok, (policy, result.problems)


@pytest.mark.quality
@pytest.mark.parametrize("target", TARGETS)
def test_opaque_checks_still_catch_planted_bugs(target):
    """A racy reference count is non-linearizable whatever the handle values; 2-bit
    generations reissue values (ABA) unless the target declares reuse after death."""
    library_path(target, "mutants")

    def found(mutant: str, runs: int, policy: HandlePolicy) -> set[str]:
        number = parse_mutant(mutant)
        return {f.kind.name for program, outcome in _runs(target, "mutants", runs, seed=1, mutant=number)
                for f in findings_for_run(target, program, outcome, variant="mutants", mutant=number, seed=None,
                                          policy=policy)[0]}  # fmt: skip

    assert "non_linearizable" in found("racy-refcount", 6, OPAQUE)
    assert "aba" in found("generation-wrap", 4, OPAQUE)
    assert "aba" not in found("generation-wrap", 4, LENIENT)


# --------------------------------------------------------------------------- a run that checked nothing

#: Every history has a partition of more than 512 ops (the checker looks at the clock every
#: 512 steps), so a check time limit of a nanosecond leaves every history unknown.
NOTHING_CHECKED = ("stress", "--targets", "rust", "--runs", "2", "--ops", "1500", "--check-timeout", "1e-9")


@pytest.mark.quality
def test_a_stress_run_that_checked_nothing_is_inconclusive(tmp_path):
    library_path("rust")
    summary = run_stress(StressOptions(targets=["rust"], runs=2, ops_per_thread=1500, check_timeout=1e-9,
                                       out=tmp_path))  # fmt: skip
    assert summary.findings == [] and (summary.histories_checked, summary.unknown) == (0, 2)
    assert summary.exit_code() == EXIT_INCONCLUSIVE


@pytest.mark.quality
def test_a_stress_run_that_checked_nothing_says_so(tmp_path):
    library_path("rust")
    proc = fuzzharness(*NOTHING_CHECKED, "--out", str(tmp_path))
    assert "0 of 2 checked" in proc.stdout and "NOTHING CHECKED" in proc.stdout, proc.stdout + proc.stderr
    assert "verdict: NOTHING CHECKED (NOT A PASS)" in proc.stdout
    summary = json.loads(fuzzharness(*NOTHING_CHECKED, "--json", "--out", str(tmp_path)).stdout)
    assert summary["findings"] == [] and summary["nothing_checked"] is True
    assert (summary["histories_checked"], summary["unknown"], summary["histories_unchecked"]) == (0, 2, 0)


@pytest.mark.quality
def test_a_stress_run_that_checked_nothing_exits_non_zero(tmp_path):
    library_path("rust")
    proc = fuzzharness(*NOTHING_CHECKED, "--json", "--out", str(tmp_path))
    assert proc.returncode == EXIT_INCONCLUSIVE, proc.stdout + proc.stderr
