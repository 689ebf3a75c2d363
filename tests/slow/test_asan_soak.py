"""The 10-minute soak: zero findings on the correct shims under AddressSanitizer.

Slow (10 minutes of fuzz then 10 of stress): excluded from the default test command;
run it with `pytest -m slow tests/slow`. CI runs the short versions in
tests/quality/test_sanitizers.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import TARGETS, library_path

SOAK_SECONDS = 600


def run(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "fuzzharness.cli", *args, "--json"], capture_output=True,
                          text=True, timeout=SOAK_SECONDS + 300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["fuzz", "stress"])
def test_asan_soak_finds_nothing_on_correct_shims(command, tmp_path):
    for target in TARGETS:
        library_path(target, "asan")
    summary = run(command, "--targets", ",".join(TARGETS), "--variant", "asan",
                  "--seconds", str(SOAK_SECONDS), "--out", str(tmp_path))  # fmt: skip
    assert summary["findings"] == [] and summary["programs"] > 0
