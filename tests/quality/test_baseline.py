"""One known bug must not hide the others: a baseline makes the fuzzer go on past it.

The worked example's ``weak-panic-alias`` variant has two bugs from one naive lookup: an
empty slot panics, an occupied one aliases. Accepting the panic in a baseline must
make the alias show in more programs (the check goes on past the accepted, state-
neutral panic), absorb every known hit, and add no finding of another kind (a panic
after the accepted one is its echo, not a new bug).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fuzzharness.bench.baseline import measure

pytestmark = pytest.mark.quality
ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "examples" / "slotmap-adapter" / "registry.toml"


@pytest.fixture(scope="module")
def built():
    proc = subprocess.run([sys.executable, "-m", "fuzzharness.cli", "--registry", str(REGISTRY), "build",
                           "--target", "slotmap", "--variant", "weak-panic-alias"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_baseline_of_the_known_panic_lets_the_alias_show_in_more_programs(built):
    result = measure(["--registry", str(REGISTRY), "fuzz", "--targets", "slotmap", "--variant", "weak-panic-alias",
                      "--runs", "800", "--seed", "1"], "panic", "handle_alias")  # fmt: skip
    other = result["other"]
    assert result["accepted_signatures"] > 0
    assert result["known_hits"]["with"] >= result["known_hits"]["without"] > 0
    assert other["programs_with"] > 1.3 * other["programs_without"] > 0, result
    assert result["new_findings_with"] == 0, result
