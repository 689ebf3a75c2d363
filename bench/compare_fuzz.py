#!/usr/bin/env python3
"""``make fuzz``'s figure, this tree against an earlier commit, measured in one run.

Creates (or reuses) a git worktree of ``--commit`` under ``build/compare-<commit>``
(git-ignored), builds its release libraries there (its own Go and Rust shims, its own
harness), then runs ``make fuzz``'s command -- ``fuzzharness fuzz --targets
rust,go,go+rust --seconds S`` with each tree's own defaults -- in the old tree and in
this one, alternately ``--rounds`` times, and prints both checked-ops/s figures (the
median of the rounds) and their ratio. ``--json`` prints them as JSON.

    .venv/bin/python bench/compare_fuzz.py                       # against the commit before issue 12
    .venv/bin/python bench/compare_fuzz.py --commit HEAD~3 --seconds 60 --json

The default commit, d871ab9, is the last commit before the fast path (issue 12).
Exit status: 0 when both runs finished cleanly, 1 otherwise (the table still says why).
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

ROOT = Path(__file__).resolve().parent.parent
#: The last commit before issue 12's fast path.
PREVIOUS = "d871ab9"
TARGETS = "rust,go,go+rust"


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FUZZHARNESS_REGISTRY")}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def worktree(commit: str) -> Path:
    """A worktree of ``commit`` under build/ (created once), its release libraries built."""
    sha = subprocess.run(["git", "rev-parse", "--short", commit], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()  # fmt: skip
    path = ROOT / "build" / f"compare-{sha}"
    if not (path / ".git").exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
    proc = _run([sys.executable, "-m", "fuzzharness.cli", "build", "--variant", "release"], path, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"building {sha} in {path} failed:\n{proc.stdout}\n{proc.stderr}")
    return path


def fuzz_figure(tree: Path, seconds: float, extra: list[str]) -> dict:
    """One ``make fuzz``-style run in ``tree``: its summary (ops_per_second, programs, ...)."""
    with tempfile.TemporaryDirectory(prefix="compare-fuzz-") as out:
        cmd = [sys.executable, "-m", "fuzzharness.cli", "fuzz", "--targets", TARGETS, "--seconds", str(seconds),
               "--json", "--out", out, *extra]  # fmt: skip
        proc = _run(cmd, tree, timeout=seconds * 4 + 300)
    try:
        summary = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-400:]}"}
    summary["exit"] = proc.returncode
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", default=PREVIOUS, help=f"the earlier commit (default {PREVIOUS})")
    parser.add_argument("--seconds", type=float, default=30.0, help="per run (default 30, as make fuzz)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating runs per tree (default 1)")
    parser.add_argument("--new-args", default="", help="extra fuzz arguments for this tree only, e.g. '--jobs 2'")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    old_tree = worktree(args.commit)
    runs: dict[str, list[dict]] = {"previous": [], "current": []}
    for _ in range(args.rounds):
        runs["previous"].append(fuzz_figure(old_tree, args.seconds, []))
        runs["current"].append(fuzz_figure(ROOT, args.seconds, args.new_args.split()))
    figures = {name: statistics.median(r.get("ops_per_second", 0.0) for r in rs) for name, rs in runs.items()}
    ratio = figures["current"] / figures["previous"] if figures["previous"] else None
    clean = all("error" not in r and r.get("exit") == 0 for rs in runs.values() for r in rs)
    result = {
        "commit": args.commit, "seconds": args.seconds, "rounds": args.rounds, "targets": TARGETS,
        "previous_ops_per_second": round(figures["previous"], 1), "current_ops_per_second": round(figures["current"], 1),
        "ratio": round(ratio, 2) if ratio else None, "clean": clean,
        "runs": {name: [{k: r.get(k) for k in ("ops_per_second", "programs", "ops", "jobs", "seconds", "exit",
                                               "error", "fast_accepted")} for r in rs]
                 for name, rs in runs.items()},
    }  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"make fuzz ({TARGETS}, {args.seconds:g} s, median of {args.rounds}):")
        print(f"  previous ({args.commit}): {figures['previous']:>12,.0f} checked ops/s")
        print(f"  current  (this tree): {figures['current']:>12,.0f} checked ops/s")
        print(f"  ratio current/previous: {result['ratio']}x")
        for name, rs in runs.items():
            for r in rs:
                if "error" in r or r.get("exit"):
                    print(f"  {name}: {r.get('error') or 'exit ' + str(r.get('exit'))}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
