"""The engine finds this: races planted in the shims are caught by `stress`; the correct
shims run clean. Everything goes through the real command line, as a user runs it.

Budget: a fixed number of programs and a fixed seed (deterministic programs and
schedule perturbation; the OS scheduler still varies), sized so that each race
is caught on the 2-core development machine well within the run (it is caught
in the first program there; the budget leaves a wide margin).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import TARGETS, library_path


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
    assert summary["overlapping"] > 0  # the threads really ran at the same time
