"""The ``fuzzharness`` command line.

Exit codes, for every command:
  0  nothing found / not reproduced / success
  1  findings / reproduced
  2  bad usage or bad input (one line naming the offender; never a traceback)
  3  internal error (a bug in the harness: the traceback is printed)
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from . import __version__
from .contract import ABI_MAJOR, ABI_MINOR, Mutant
from .errors import FuzzHarnessError, InvalidArgument, UserError

EXIT_CLEAN, EXIT_FOUND, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _mutant(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        return Mutant[text.upper().replace("-", "_")]
    except KeyError:
        names = ", ".join(f.name.lower().replace("_", "-") for f in Mutant)
        raise argparse.ArgumentTypeError(f"unknown mutant {text!r} (known: {names})") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fuzzharness",
        description="Differential fuzzing and stress testing of Go/Rust FFI ownership contracts.",
        epilog="Exit codes: 0 clean, 1 findings/reproduced, 2 bad usage or input, 3 internal error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} (contract ABI {ABI_MAJOR}.{ABI_MINOR})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="build the target shims (cargo, go)", description="Build target libraries.")
    p.add_argument("--target", action="append", help="target to build (repeatable; default: all)")
    p.add_argument("--variant", default="release",
                   help="build variant: release, asan, mutants or mutants-asan (default: release)")  # fmt: skip

    p = sub.add_parser("targets", help="list registered targets", description="List targets, ABI versions, build state.")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("fuzz", help="random differential fuzzing", description="Run random differential fuzzing.")
    p.add_argument("--targets", default="rust,go", help="comma-separated targets (default: rust,go)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=_positive(float), help="time budget (default 30)")
    budget.add_argument("--runs", type=_positive(int), help="number of programs instead of a time budget")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0); every program's own seed is recorded")
    p.add_argument("--jobs", type=_positive(int), default=1, help="parallel job processes (default 1)")
    p.add_argument("--out", type=Path, default=Path("corpus/crashes"), help="findings directory (default corpus/crashes)")
    p.add_argument("--variant", default="release", help="build variant (default release)")
    p.add_argument("--mutant", type=_mutant, default=0, help="inject a mutant (mutants variant only), e.g. snapshot-shares")
    p.add_argument("--timeout", type=_positive(float), default=10.0, help="seconds before a program counts as a hang")
    p.add_argument("--max-ops", type=_positive(int), default=48, help="longest generated program (default 48 ops)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("repro", help="replay saved findings", description="Replay saved findings or program files.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="finding directory, finding.json, or program .fh")
    p.add_argument("--times", type=_positive(int), default=1, help="runs per finding; reports how often it reproduced")
    p.add_argument("--targets", help="override the recorded targets")
    p.add_argument("--variant", help="override the recorded build variant")
    p.add_argument("--mutant", type=_mutant, help="override the recorded mutant (mutants variant only)")
    p.add_argument("--timeout", type=_positive(float), default=10.0, help="seconds before a step counts as a hang")
    p.add_argument("--json", action="store_true", help="print results as JSON")

    p = sub.add_parser("abi-check", help="check the shims' exports against the contract header",
                       description="Fail when a shim's exported signatures drift from the header.")  # fmt: skip
    p.add_argument("--built", action="store_true", help="also check exported symbols of the built libraries")

    p = sub.add_parser("throughput", help="benchmark: checked ops/s vs bare cffi calls",
                       description="Measure the harness's sequential throughput against a bare loop of the same calls.")  # fmt: skip
    p.add_argument("--targets", default="rust,go")
    p.add_argument("--programs", type=_positive(int), default=400, help="programs per measurement (default 400)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("stress", help="concurrent stress: native threads, linearizability check",
                       description="Run generated concurrent programs on native threads and check each "
                                   "recorded history for linearizability against the model.")  # fmt: skip
    p.add_argument("--targets", default="rust,go", help="comma-separated targets (default: rust,go)")
    p.add_argument("--threads", type=_positive(int), default=4, help="native threads per program (default 4)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=_positive(float), help="time budget (default 20)")
    budget.add_argument("--runs", type=_positive(int), help="number of programs (each run on every target)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0); every program's seed is recorded")
    p.add_argument("--ops", type=_positive(int), default=None, help="ops per thread (default 200)")
    p.add_argument("--strategy", choices=("immediate", "deferred"), help="reclamation class (default: random)")
    p.add_argument("--out", type=Path, default=Path("corpus/crashes"), help="findings directory (default corpus/crashes)")
    p.add_argument("--variant", default="release", help="build variant (default release)")
    p.add_argument("--mutant", type=_mutant, default=0, help="inject a mutant (mutants variant only), e.g. racy-refcount")
    p.add_argument("--timeout", type=_positive(float), default=10.0, help="seconds before a program counts as a hang")
    p.add_argument("--check-timeout", type=_positive(float), default=10.0,
                   help="seconds per history for the linearizability check; beyond it the result is unknown")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("stress-bench", help="benchmark: native runner vs bare C loop, ops/s by threads, checker speed",
                       description="Print the concurrent-stress figures: runner per-op cost against a bare C loop, "
                                   "aggregate ops/s with 1, 2 and 4 threads, overlap, and checker speed.")  # fmt: skip
    p.add_argument("--targets", default="rust,go")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("mutants", help="prove the harness finds every planted bug (mutant suite)",
                       description="Build the mutants variants, hunt each planted bug on each target, "
                       "replay what was found; exit 1 if an applicable mutant goes undetected.")  # fmt: skip
    p.add_argument("--budget-seconds", type=_positive(float), default=60.0, help="per mutant and target (default 60)")
    p.add_argument("--targets", default="rust,go")
    p.add_argument("--mutant", type=_mutant, action="append", help="only this mutant (repeatable; default: all)")
    p.add_argument("--parallel", type=_positive(int), default=2, help="mutant x target jobs at once (default 2)")
    p.add_argument("--out", type=Path, default=Path("corpus/mutants"), help="findings directory (default corpus/mutants)")
    p.add_argument("--no-build", action="store_true", help="use the libraries already built")
    p.add_argument("--no-repro", action="store_true", help="do not replay the findings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    return parser


# --------------------------------------------------------------------------- commands


def cmd_build(args: argparse.Namespace) -> int:
    from .registry import build, load_registry, select_targets

    specs = select_targets(args.target) if args.target else list(load_registry().values())
    for spec in specs:
        print(f"building {spec.name} ({args.variant}) ...", file=sys.stderr, flush=True)
        path = build(spec, args.variant)
        print(f"built {spec.name} ({args.variant}): {path}")
    from ._native import build_runner

    print(f"built native runner: {build_runner()}")
    return EXIT_CLEAN


def cmd_targets(args: argparse.Namespace) -> int:
    from .registry import load_registry
    from .supervisor import TargetWorker

    rows = []
    for spec in load_registry().values():
        for name, variant in spec.variants.items():
            row = {"target": spec.name, "language": spec.language, "variant": name,
                   "library": str(variant.library), "built": variant.library.is_file(), "abi": None,
                   "strategies": [s.name.lower() for s in spec.strategies]}  # fmt: skip
            if row["built"]:
                try:
                    with TargetWorker(spec, name) as worker:
                        row["abi"] = "%d.%d" % worker.abi
                except FuzzHarnessError as exc:
                    row["abi"] = f"error: {exc}"
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_CLEAN
    from .progress import make_console
    from rich.table import Table

    table = Table(title=f"targets (harness speaks contract ABI {ABI_MAJOR}.{ABI_MINOR})")
    for col in ("target", "language", "variant", "built", "abi", "strategies", "library"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["target"], r["language"], r["variant"], "yes" if r["built"] else "no",
                      r["abi"] or "-", ",".join(r["strategies"]), r["library"])  # fmt: skip
    make_console().print(table)
    return EXIT_CLEAN


def cmd_fuzz(args: argparse.Namespace) -> int:
    from .fuzzer import FuzzOptions, run_fuzz
    from .progress import FuzzProgress, print_summary

    seconds = args.seconds if args.seconds or args.runs else 30.0
    if args.mutant and args.variant == "release":
        raise InvalidArgument("--mutant needs a build variant with mutant injection: add --variant mutants")
    options = FuzzOptions(
        targets=[t for t in args.targets.split(",") if t],
        seconds=seconds if not args.runs else None,
        runs=args.runs,
        seed=args.seed,
        jobs=args.jobs,
        out=args.out,
        variant=args.variant,
        mutant=args.mutant,
        timeout=args.timeout,
        max_ops=args.max_ops,
    )
    from .registry import select_targets

    for spec in select_targets(options.targets):
        spec.library(options.variant)  # a bad name or an unbuilt target: exit 2 before any display
    with FuzzProgress(options, enabled=not args.json) as progress:
        summary = run_fuzz(options, progress.update)
    if summary.fatal is not None:
        from . import errors

        name, message = summary.fatal
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, UserError):
            raise cls(message)
        raise FuzzHarnessError(f"{name}: {message}\n" + "\n".join(summary.errors))
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print_summary(summary)
    return EXIT_FOUND if summary.findings else EXIT_CLEAN


def cmd_repro(args: argparse.Namespace) -> int:
    from .repro import reproduce

    results = [reproduce(p, args.times, args.targets, args.variant, args.timeout, args.mutant) for p in args.paths]
    if args.json:
        print(json.dumps([{"path": r.path, "signature": r.expected, "runs": r.runs, "reproduced": r.reproduced,
                           "verdict": r.verdict, "found": [f.summary for f in r.found]} for r in results], indent=2))  # fmt: skip
    else:
        for r in results:
            print(f"== {r.path}")
            if r.expected:
                print(f"   signature: {' | '.join(r.expected)}")
            print(r.trace, end="")
            for target, failure in r.failures.items():
                tail = failure.stderr_tail.strip().splitlines()[-20:]
                print(f"   {target} {failure.describe()}; last lines of its stderr:")
                print("\n".join("     | " + line for line in tail))
            for f in r.found:
                print(f"   found: [{f.kind.name}] {f.summary}")
            print(f"   verdict: {r.verdict.upper()}\n")
    return EXIT_FOUND if any(r.reproduced for r in results) else EXIT_CLEAN


def cmd_abi_check(args: argparse.Namespace) -> int:
    from .abi_check import check_all

    problems = check_all(built=args.built)
    for problem in problems:
        print(f"abi-check: {problem}")
    if problems:
        return EXIT_FOUND
    print("abi-check: every shim's exports match targets/include/fuzzharness_decls.h")
    return EXIT_CLEAN


def cmd_throughput(args: argparse.Namespace) -> int:
    from .throughput import measure, print_table

    rows = measure(args.targets, args.programs, args.seed)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return EXIT_CLEAN


def cmd_stress(args: argparse.Namespace) -> int:
    from .stress import StressOptions, print_summary, run_stress

    if args.mutant and args.variant == "release":
        raise InvalidArgument("--mutant needs a build variant with mutant injection: add --variant mutants")
    options = StressOptions(
        targets=[t for t in args.targets.split(",") if t],
        threads=args.threads,
        seconds=args.seconds if args.seconds or args.runs else 20.0,
        runs=args.runs,
        seed=args.seed,
        variant=args.variant,
        mutant=args.mutant,
        out=args.out,
        timeout=args.timeout,
        check_timeout=args.check_timeout,
        strategy=args.strategy,
    )
    if args.ops:
        options.ops_per_thread = args.ops
    if not 1 <= args.threads <= 64:
        raise InvalidArgument(f"--threads must be 1..64, got {args.threads}")

    def progress(summary) -> None:
        if not args.json:
            print(f"\r   {summary.programs} runs, {summary.ops} ops, {len(summary.findings)} finding(s), "
                  f"{summary.seconds:.0f} s", end="", file=sys.stderr, flush=True)  # fmt: skip

    summary = run_stress(options, progress)
    if not args.json:
        print(file=sys.stderr)
        print_summary(summary)
    else:
        print(json.dumps(summary.to_json(), indent=2))
    return EXIT_FOUND if summary.findings else EXIT_CLEAN


def cmd_stress_bench(args: argparse.Namespace) -> int:
    from .stress_bench import measure, print_report

    report = measure(args.targets)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return EXIT_CLEAN


def cmd_mutants(args: argparse.Namespace) -> int:
    from .mutants import print_table, run_suite, to_json, undetected

    def progress(row: Any) -> None:
        if not args.json:
            print(f"  {row.mutant}/{row.target}: {row.status}" + (f" ({row.kind}, {row.seconds} s)" if row.kind else ""),
                  file=sys.stderr, flush=True)  # fmt: skip

    rows = run_suite(args.targets, args.budget_seconds, args.out, args.mutant, args.parallel,
                     build_first=not args.no_build, repro=not args.no_repro, seed=args.seed, progress=progress)  # fmt: skip
    if args.json:
        print(json.dumps(to_json(rows), indent=2))
    else:
        print_table(rows, args.budget_seconds)
    return EXIT_FOUND if undetected(rows) else EXIT_CLEAN


COMMANDS = {
    "mutants": cmd_mutants,
    "stress": cmd_stress,
    "stress-bench": cmd_stress_bench,
    "build": cmd_build,
    "targets": cmd_targets,
    "fuzz": cmd_fuzz,
    "repro": cmd_repro,
    "abi-check": cmd_abi_check,
    "throughput": cmd_throughput,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"fuzzharness: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fuzzharness: interrupted", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception:  # noqa: BLE001 - the last line of defence: say it is our bug
        traceback.print_exc()
        print("fuzzharness: internal error (a bug in fuzzharness; please report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
