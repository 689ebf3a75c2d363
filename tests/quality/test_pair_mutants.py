"""The engine finds this, across runtimes: planted bugs of the go+rust pair (contract 1.1).

* guard-one-side (mutant 20, in the Rust owner): the owner frees a resource when ITS
  references are gone although Go still holds some -- caught as a use-after-free under
  ASan, or as a divergence from the pair model without it;
* cleanup-unreachable (mutant 21, in the Go front): Go's GC cleanup can never run, the
  owner never gets the acknowledgement -- caught as a leak (quiesce times out).

Through the real command line, as a user runs it; each finding is replayed by ``repro``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import library_path


def fuzzharness(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fuzzharness.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def hunt(variant: str, mutant: str, out, *extra: str) -> dict:
    for target in ("rust", "go"):
        library_path(target, variant)
    proc = fuzzharness("fuzz", "--json", "--targets", "go+rust", "--variant", variant, "--mutant", mutant,
                       "--out", str(out), *extra)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def assert_reproduces(finding: dict) -> None:
    proc = fuzzharness("repro", finding["path"])
    assert proc.returncode == 1 and "REPRODUCED" in proc.stdout, proc.stdout + proc.stderr


def mutant_table(mutant: str, out) -> dict:
    """One row of ``fuzzharness mutants`` (hunt until the first fitting finding, then repro)."""
    for target in ("rust", "go"):
        for variant in ("mutants", "mutants-asan"):
            library_path(target, variant)
    proc = fuzzharness("mutants", "--json", "--no-build", "--targets", "go+rust", "--mutant", mutant,
                       "--budget-seconds", "30", "--out", str(out))  # fmt: skip
    rows = json.loads(proc.stdout)
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.quality
def test_guarded_release_freeing_after_one_runtime_is_caught_as_use_after_free_or_divergence(tmp_path):
    row = mutant_table("guard-one-side", tmp_path)
    assert (row["target"], row["variant"], row["status"]) == ("go+rust", "mutants-asan", "detected"), row
    assert row["kind"] in ("heap_use_after_free", "divergence") and row["kind_fits"], row
    assert row["reproduced"], row


@pytest.mark.quality
def test_guarded_release_freeing_after_one_runtime_is_a_divergence_without_asan(tmp_path):
    summary = hunt("mutants", "guard-one-side", tmp_path, "--runs", "1500")
    divergences = [f for f in summary["findings"] if f["kind"] == "divergence"]
    assert divergences, summary["findings"]
    assert all(f["targets"] == ["go+rust"] for f in divergences)
    assert_reproduces(divergences[0])


@pytest.mark.quality
def test_go_cleanup_that_can_never_run_is_caught_as_a_leak(tmp_path):
    row = mutant_table("cleanup-unreachable", tmp_path)
    assert (row["target"], row["status"], row["kind"]) == ("go+rust", "detected", "leak"), row
    assert "never reclaimed" in row["summary"] and row["reproduced"], row


@pytest.mark.quality
def test_correct_pair_has_no_findings(tmp_path):
    summary = hunt("mutants", "none", tmp_path, "--runs", "400")
    assert summary["findings"] == [], summary["findings"]
    assert summary["programs"] == 400


@pytest.mark.quality
def test_stress_on_the_pair_finds_the_owners_racy_reference_count(tmp_path):
    """Threads acquire and release one resource through both runtimes at once; with the
    owner's count updated non-atomically (racy-refcount in Rust) the history of the pair
    is not linearizable against the per-runtime model."""
    for target in ("rust", "go"):
        library_path(target, "mutants")
    proc = fuzzharness("stress", "--json", "--targets", "go+rust", "--variant", "mutants", "--mutant", "racy-refcount",
                       "--threads", "4", "--seconds", "15", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    summary = json.loads(proc.stdout)
    kinds = {f["kind"] for f in summary["findings"]}
    assert kinds & {"non_linearizable", "divergence"}, summary["findings"]


@pytest.mark.quality
def test_stress_on_the_correct_pair_is_clean(tmp_path):
    for target in ("rust", "go"):
        library_path(target, "release")
    proc = fuzzharness("stress", "--json", "--targets", "go+rust", "--threads", "4", "--runs", "8",
                       "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["findings"] == [] and summary["programs"] == 8 and summary["unknown"] == 0
    assert summary["overlapping"] > 0  # the runtimes' calls really ran at once
