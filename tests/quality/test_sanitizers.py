"""The memory oracles find this: ASan kinds for memory-error mutants, leaks that name their
resource, and nothing at all on the correct shims under ASan.

Through the real command line, as a user runs it. Needs the asan and mutants-asan variants
(built by 'make test').
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


def mutant_rows(mutant: str, target: str, tmp_path) -> list[dict]:
    proc = fuzzharness("mutants", "--no-build", "--json", "--budget-seconds", "30", "--targets", target,
                       "--mutant", mutant, "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.quality
@pytest.mark.parametrize("target", TARGETS)
def test_asan_variant_fuzzes_clean(target, tmp_path):
    library_path(target, "asan")
    proc = fuzzharness("fuzz", "--json", "--targets", target, "--variant", "asan", "--seconds", "8",
                       "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["programs"] > 0 and summary["findings"] == [] and summary["restarts"] == 0


@pytest.mark.quality
@pytest.mark.parametrize("target", TARGETS)
def test_asan_variant_stresses_clean(target, tmp_path):
    library_path(target, "asan")
    proc = fuzzharness("stress", "--json", "--targets", target, "--variant", "asan", "--threads", "4",
                       "--runs", "4", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["programs"] == 4 and summary["findings"] == [] and summary["restarts"] == 0


@pytest.mark.quality
def test_use_after_free_mutant_is_a_heap_use_after_free_that_reproduces(tmp_path):
    library_path("rust", "mutants-asan")
    (row,) = mutant_rows("stale-use-after-free", "rust", tmp_path)
    assert row["status"] == "detected", row
    assert row["kind"] == "heap_use_after_free" and row["reproduced"] is True, row
    saved = json.loads((tmp_path.glob("**/finding.json").__next__()).read_text())
    assert saved["details"]["report"]["access"].startswith(("READ", "WRITE"))
    assert saved["signature"][2] == "heap-use-after-free"
    assert all("0x" not in s for s in saved["signature"])


@pytest.mark.quality
def test_leak_mutant_is_a_leak_naming_its_resource(tmp_path):
    library_path("rust", "mutants")
    (row,) = mutant_rows("leak-on-error", "rust", tmp_path)
    assert row["status"] == "detected" and row["kind"] == "leak" and row["reproduced"] is True, row
    assert "created by op" in row["summary"] and "the Rust runtime (rust target)" in row["summary"], row


@pytest.mark.quality
def test_lsan_confirms_the_leak_under_asan(tmp_path):
    library_path("rust", "mutants-asan")
    out = tmp_path / "f"
    proc = fuzzharness("fuzz", "--json", "--targets", "rust", "--variant", "mutants-asan", "--mutant", "leak-on-error",
                       "--runs", "200", "--out", str(out))  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    leaks = [f for f in json.loads(proc.stdout)["findings"] if f["kind"] == "leak"]
    assert leaks, proc.stdout
    details = [json.loads((p / "finding.json").read_text())["details"] for p in out.iterdir() if p.name.startswith("leak-")]
    assert any("lsan" in d for d in details), details
