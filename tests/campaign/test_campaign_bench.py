"""`fuzzharness campaign-bench`: the campaign's execs/s with all lanes, beside each lane alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import library_path
from fuzzharness.contract.header import PROJECT_ROOT

pytestmark = pytest.mark.quality


def test_bench_prints_all_lanes_beside_each_lane_alone(tmp_path):
    library_path("rust", "release")
    config = tmp_path / "campaign.toml"
    config.write_text("[lanes.coverage]\nenabled = false\n[lanes.asan]\nenabled = false\n"
                      "[lanes.stress]\nops = 20\n")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    cmd = [sys.executable, "-m", "fuzzharness.cli", "campaign-bench", "--config", str(config), "--targets", "rust",
           "--seconds", "4", "--jobs", "1", "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=PROJECT_ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert [line.split()[0] + " " + line.split()[1] for line in lines[2:]] == ["random alone", "stress alone", "all lanes"]
    result = json.loads((tmp_path / "bench.json").read_text())
    rows = {row["run"]: row for row in result["rows"]}
    for name in ("random", "stress"):
        alone = rows[f"{name} alone"]
        assert alone["execs"] > 0 and alone["execs_per_second"] > 0 and set(alone["lanes"]) == {name}, alone
    together = rows["all lanes"]
    assert set(together["lanes"]) == {"random", "stress"} and together["execs_per_second"] > 0, together
    assert "random" in lines[-1] and "stress" in lines[-1], "the all-lanes row shows each lane's rate"
