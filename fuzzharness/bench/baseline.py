"""Benchmark: does a known bug still hide the others once it is accepted in a baseline?

Runs the same ``fuzzharness fuzz`` twice (same targets, seed, number of programs): first
without a baseline, then with a baseline accepting every finding of the kind
``--accept-kind`` the first run saved (the "known bug"). It prints, for the kind
``--measure-kind`` (the other bug), in how many programs it was reported and how many
distinct signatures it had, in both runs, and how many known hits the baseline absorbed.

    python -m fuzzharness.bench.baseline --registry examples/slotmap-adapter/registry.toml \\
        --targets slotmap --variant weak-panic-alias --runs 3000

(the example's ``weak-panic-alias`` variant resolves a handle by its slot index: an
occupied slot aliases, an empty one panics; the panic is the known bug, the alias the
other). Exit 0 when the baseline run reports the other bug at least as often.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["measure", "main"]


def _fuzz(args: list[str], out: Path, extra: list[str] = ()) -> dict[str, Any]:
    command = [sys.executable, "-m", "fuzzharness.cli", *args, "--out", str(out), "--json", *extra]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)


def _tally(summary: dict[str, Any], kind: str) -> tuple[int, int]:
    hits = [f for f in summary["findings"] if f["kind"] == kind]
    return sum(f["count"] for f in hits), len(hits)


def measure(fuzz_args: list[str], accept_kind: str, measure_kind: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fh-baseline-") as tmp:
        plain = _fuzz(fuzz_args, Path(tmp) / "plain")
        accepted = [f for f in plain["findings"] if f["kind"] == accept_kind]
        entries = []
        for f in accepted:
            signature = json.loads((Path(f["path"]) / "finding.json").read_text())["signature"]
            entries.append({"signature": signature, "reason": f"known: {f['summary'][:80]}"})
        baseline = Path(tmp) / "baseline.json"
        baseline.write_text(json.dumps({"accepted": entries}, indent=1))
        with_baseline = _fuzz(fuzz_args, Path(tmp) / "baselined", ["--baseline", str(baseline)])
    plain_hits, plain_sigs = _tally(plain, measure_kind)
    base_hits, base_sigs = _tally(with_baseline, measure_kind)
    return {
        "command": ["fuzzharness", *fuzz_args], "accepted_signatures": len(entries),
        "known_hits": {"without": sum(f["count"] for f in accepted),
                       "with": sum(with_baseline.get("baselined", {}).values())},
        "other": {"kind": measure_kind, "programs_without": plain_hits, "programs_with": base_hits,
                  "signatures_without": plain_sigs, "signatures_with": base_sigs},
        "programs": plain["programs"],
        "new_findings_with": sum(1 for f in with_baseline["findings"] if f["kind"] != measure_kind),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzzharness.bench.baseline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", required=True)
    parser.add_argument("--variant", default="release")
    parser.add_argument("--registry")
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--accept-kind", default="panic", help="the known bug's finding kind (default panic)")
    parser.add_argument("--measure-kind", default="handle_alias", help="the other bug's kind (default handle_alias)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    fuzz_args = (["--registry", args.registry] if args.registry else []) + [
        "fuzz", "--targets", args.targets, "--variant", args.variant, "--runs", str(args.runs), "--seed", str(args.seed)]
    result = measure(fuzz_args, args.accept_kind, args.measure_kind)
    other = result["other"]
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"fuzzharness {' '.join(fuzz_args)}")
        print(f"  known bug ({args.accept_kind}): {result['accepted_signatures']} signature(s) accepted; "
              f"{result['known_hits']['without']} hits without the baseline, {result['known_hits']['with']} absorbed with it")
        print(f"  other bug ({other['kind']}): reported in {other['programs_without']} of {result['programs']} programs "
              f"without the baseline ({other['signatures_without']} signatures), in {other['programs_with']} with it "
              f"({other['signatures_with']} signatures)")  # fmt: skip
    return 0 if other["programs_with"] >= other["programs_without"] else 1


if __name__ == "__main__":
    sys.exit(main())
