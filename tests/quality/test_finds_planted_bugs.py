"""The engine finds this: planted bugs are found by `fuzz`, saved, and reproduced by `repro`.

Everything goes through the real command line in a subprocess, as a user runs it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import TARGETS, library_path


def fuzzharness(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fuzzharness.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def fuzz_json(*args: str) -> tuple[int, dict]:
    proc = fuzzharness("fuzz", "--json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.quality
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    "mutant, kind, function",
    [
        ("snapshot-shares", "divergence", "`read "),
        ("skip-generation", "divergence", None),
        ("segfault", "crash", "SIGSEGV (in fh call write)"),
    ],
)
def test_fuzz_finds_planted_bug_and_repro_reproduces_it(target, mutant, kind, function, tmp_path):
    library_path(target, "mutants")
    out = tmp_path / "findings"
    code, summary = fuzz_json(
        "--targets", target, "--variant", "mutants", "--mutant", mutant, "--runs", "3000", "--out", str(out)
    )
    assert code == 1, summary
    found = [f for f in summary["findings"] if f["kind"] == kind]
    assert found, summary["findings"]
    if function:
        assert any(function in f["summary"] for f in found), found
    # Duplicates of one bug are saved once.
    saved = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert len(saved) == len({f["id"] for f in summary["findings"]})

    finding_dir = found[0]["path"]
    proc = fuzzharness("repro", finding_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    marker = "!! killed by" if kind == "crash" else "<<"  # the step where it went wrong
    assert marker in proc.stdout and "REPRODUCED" in proc.stdout
    assert re.search(rf"^step +operation +model +{target}$", proc.stdout, re.M), proc.stdout

    # With the planted bug removed (the release build has no mutant code), it no longer reproduces.
    proc = fuzzharness("repro", finding_dir, "--variant", "release")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NOT REPRODUCED" in proc.stdout


@pytest.mark.quality
def test_correct_shims_fuzz_clean():
    for target in TARGETS:
        library_path(target)
    code, summary = fuzz_json(
        "--targets", "rust,go", "--runs", "300", "--jobs", "2", "--out", "/nonexistent/never-written"
    )
    assert code == 0, summary["findings"]
    assert summary["programs"] == 300 and summary["ops"] > 300 * 3 * 2
    assert summary["findings"] == [] and summary["errors"] == []
