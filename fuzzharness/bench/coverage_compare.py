"""Benchmark: the coverage lane's execs/s against a raw atheris harness, side by side.

The raw harness (``bench/raw_atheris.py``) is libFuzzer over the same instrumented
libraries with nothing around the calls; the coverage lane
(:func:`fuzzharness.lanes.coverage.run_lane`) adds its structure-aware mutator, its
sampled model check, crash bookkeeping and the check of every input it kept. Each runs
``seconds`` on the same targets and variant with the same ``-max_len``, one after the
other, ``rounds`` times alternately; each figure is the best round's execs over the
run's wall time. Figures, not pass/fail::

    python -m fuzzharness.bench.coverage_compare --targets rust --seconds 20 [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fuzzharness.contract.header import PROJECT_ROOT
from fuzzharness.lanes.coverage import MAX_LEN, run_lane

__all__ = ["measure", "raw_execs", "main"]

RAW_HARNESS = PROJECT_ROOT / "bench" / "raw_atheris.py"
_UNITS = re.compile(r"stat::number_of_executed_units:\s*(\d+)")


def raw_execs(targets: str, seconds: float, variant: str = "cov", seed: int = 1) -> dict[str, Any]:
    """One run of the raw harness: ``{"execs", "seconds", "execs_per_s"}``."""
    with tempfile.TemporaryDirectory(prefix="fh-raw-atheris-") as tmp:
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(RAW_HARNESS), f"--targets={targets}", f"--variant={variant}",
             f"-max_total_time={max(1, round(seconds))}", f"-max_len={MAX_LEN}", f"-seed={seed}",
             "-print_final_stats=1", tmp],
            capture_output=True, text=True, timeout=seconds * 3 + 120, cwd=tmp,
        )  # fmt: skip
        wall = time.monotonic() - start
    found = _UNITS.findall(proc.stderr)
    if not found:
        raise RuntimeError(f"the raw harness printed no stats (exit {proc.returncode}): {proc.stderr[-1500:]}")
    execs = int(found[-1])
    return {"execs": execs, "seconds": round(wall, 2), "execs_per_s": execs / wall}


def lane_execs(targets: str, seconds: float, variant: str = "cov", seed: int = 1) -> dict[str, Any]:
    """One run of the coverage lane on a fresh corpus: its figures and execs/s."""
    with tempfile.TemporaryDirectory(prefix="fh-lane-") as tmp:
        result = run_lane(targets.split(","), seconds, Path(tmp) / "corpus", Path(tmp) / "out", seed, variant)
    if result["errors"]:
        raise RuntimeError(f"the coverage lane failed: {result['errors']}")
    return {"execs": result["execs"], "seconds": result["seconds"],
            "execs_per_s": result["execs"] / max(result["seconds"], 1e-9), "kept_checked": result.get("kept_checked")}  # fmt: skip


def measure(targets: str = "rust", seconds: float = 20.0, variant: str = "cov", rounds: int = 1) -> dict[str, Any]:
    """The two side by side: each one's best round, and the ratio lane / raw."""
    raw: list[dict[str, Any]] = []
    lane: list[dict[str, Any]] = []
    for r in range(rounds):
        raw.append(raw_execs(targets, seconds, variant, seed=r + 1))
        lane.append(lane_execs(targets, seconds, variant, seed=r + 1))
    best_raw = max(raw, key=lambda x: x["execs_per_s"])
    best_lane = max(lane, key=lambda x: x["execs_per_s"])
    return {
        "targets": targets, "variant": variant, "seconds": seconds, "rounds": rounds, "max_len": MAX_LEN,
        "raw_execs_per_s": round(best_raw["execs_per_s"], 1), "lane_execs_per_s": round(best_lane["execs_per_s"], 1),
        "lane_vs_raw": round(best_lane["execs_per_s"] / best_raw["execs_per_s"], 3), "raw_runs": raw,
        "lane_runs": lane,
    }  # fmt: skip


def print_table(row: dict[str, Any]) -> None:
    from rich.table import Table

    from fuzzharness.report.progress import make_console

    table = Table(title=f"coverage lane vs raw atheris ({row['targets']}, {row['variant']}, {row['seconds']:g} s)")
    for col in ("raw atheris execs/s", "coverage lane execs/s", "lane / raw"):
        table.add_column(col, justify="right")
    table.add_row(f"{row['raw_execs_per_s']:,.0f}", f"{row['lane_execs_per_s']:,.0f}", f"{row['lane_vs_raw']:.2f}x")
    make_console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzzharness.bench.coverage_compare",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--targets", default="rust", help="comma-separated, at most one Go (default rust)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per run (default 20)")
    parser.add_argument("--variant", default="cov", help="a coverage build (default cov)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating runs of each (default 1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    row = measure(args.targets, args.seconds, args.variant, args.rounds)
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        print_table(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
