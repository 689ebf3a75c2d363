"""Benchmark: does the user's shell still change what fuzzing finds, or how fast?

Runs the same ``fuzzharness fuzz`` (same targets, seed and number of programs) with the
parent shell's backtrace variables set (``RUST_BACKTRACE=1 GOTRACEBACK=all
RUST_LIB_BACKTRACE=1``) and without, alternating, ``rounds`` times each, and prints
checked ops/s of both, their ratio, and whether the two found the same findings.
Since workers' environments are decided by the harness
(:mod:`fuzzharness.execution.environment`), the ratio should be ~1 and the findings
identical; before that, a target whose failures are caught panics ran 53x slower.

    python -m fuzzharness.bench.environment --targets rust --variant mutants --mutant caught-panic --runs 3000

(``--registry FILE`` is passed on, for a target of your own.) Exit 0 when ops/s are
within ``--tolerance`` (default 10%) and the findings match, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["measure", "main"]

NOISY = {"RUST_BACKTRACE": "1", "RUST_LIB_BACKTRACE": "1", "GOTRACEBACK": "all"}


def _fuzz(args: list[str], env: dict[str, str], out: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "fuzzharness.cli", *args, "--out", str(out), "--json"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)


def measure(fuzz_args: list[str], rounds: int = 2) -> dict[str, Any]:
    """ops/s and finding ids of ``fuzzharness fuzz *fuzz_args`` with and without the
    noisy variables in the parent's environment, alternating ``rounds`` times."""
    quiet = {k: v for k, v in os.environ.items() if k not in NOISY}
    noisy = {**quiet, **NOISY}
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory(prefix="fh-envbench-") as tmp:
        for r in range(rounds):
            for name, env in (("without", quiet), ("with", noisy)):
                summary = _fuzz(fuzz_args, env, Path(tmp) / f"{name}-{r}")
                runs[name].append({"ops_per_second": summary["ops_per_second"], "programs": summary["programs"],
                                   "findings": sorted(f["id"] for f in summary["findings"])})  # fmt: skip
    rate = {name: statistics.median(r["ops_per_second"] for r in rs) for name, rs in runs.items()}
    findings = {name: sorted({i for r in rs for i in r["findings"]}) for name, rs in runs.items()}
    return {"command": ["fuzzharness", *fuzz_args], "noisy": NOISY, "runs": runs, "median_ops_per_second": rate,
            "ratio": rate["with"] / rate["without"] if rate["without"] else 0.0,
            "same_findings": findings["with"] == findings["without"], "findings": findings}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzzharness.bench.environment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", required=True)
    parser.add_argument("--variant", default="release")
    parser.add_argument("--mutant")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--registry")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    fuzz_args = (["--registry", args.registry] if args.registry else []) + [
        "fuzz", "--targets", args.targets, "--variant", args.variant, "--runs", str(args.runs), "--seed", str(args.seed)]
    if args.mutant:
        fuzz_args += ["--mutant", args.mutant]
    result = measure(fuzz_args, args.rounds)
    ok = abs(result["ratio"] - 1) <= args.tolerance and result["same_findings"]
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"fuzzharness {' '.join(fuzz_args)}  ({args.rounds} rounds each, alternating)")
        for name in ("without", "with"):
            label = "shell without backtrace variables" if name == "without" else "shell with " + " ".join(f"{k}={v}" for k, v in NOISY.items())
            rates = ", ".join(f"{r['ops_per_second']:,.0f}" for r in result["runs"][name])
            print(f"  {label:<62} median {result['median_ops_per_second'][name]:>10,.0f} ops/s  ({rates});"
                  f" findings: {len(result['findings'][name])}")  # fmt: skip
        print(f"  ratio with/without: {result['ratio']:.3f}; same findings: {result['same_findings']}"
              f" -> {'OK' if ok else 'DIFFERENT'} (tolerance {args.tolerance:.0%})")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
