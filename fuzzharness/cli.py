"""The ``fuzzharness`` command line.

Exit codes, for every command:
  0  nothing found / not reproduced / success
  1  findings / reproduced
  2  bad usage or bad input (one line naming the offender; never a traceback)
  3  internal error (a bug in the harness: the traceback is printed)
  4  inconclusive: nothing found, but the run checked nothing (no program ran, or no
     concurrent history could be checked) or some checks were undecided (unknown)
  5  interrupted (SIGINT/SIGTERM): whatever was found is saved, but the run is not clean

Every command that starts workers takes ``--keep-env NAME[,NAME]``: the user's values
of those behaviour-changing variables are passed to workers (by default the harness
decides them: fuzzharness.execution.environment); what it overrides is said once.

Every command takes ``--registry FILE`` (before or after the command's name; default:
``$FUZZHARNESS_REGISTRY``): a registry of the user's own targets, added to the bundled
ones. It is checked before the command runs (a bad file: exit 2, one line) and put into
``FUZZHARNESS_REGISTRY`` as an absolute path, so every process the command starts
(workers, fuzz jobs, campaign slices, benchmark children) sees the same targets.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from fuzzharness import __version__
from fuzzharness.contract.header import ABI_MAJOR, ABI_MINOR, Mutant, parse_mutant
from fuzzharness.errors import FuzzHarnessError, InvalidArgument, UserError
from fuzzharness.report.text import printable

EXIT_CLEAN, EXIT_FOUND, EXIT_USAGE, EXIT_INTERNAL, EXIT_INCONCLUSIVE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 5


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


def target_list(text: str, flag: str = "--targets") -> list[str]:
    """``rust,go`` -> ["rust", "go"]; an empty name (``rust,,go``, a trailing comma) is refused."""
    names = [t.strip() for t in str(text).split(",")]
    if not names or any(not t for t in names):
        raise InvalidArgument(f"{flag}: {str(text)[:80]!r} has an empty name (give names separated by single commas)")
    return names


def _mutant(text: str) -> int:
    try:
        return parse_mutant(text)
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fuzzharness",
        description="Differential fuzzing and stress testing of Go/Rust FFI ownership contracts.",
        epilog="Exit codes: 0 clean, 1 findings/reproduced, 2 bad usage or input, 3 internal error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} (contract ABI {ABI_MAJOR}.{ABI_MINOR})")
    _add_registry_option(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="build the target shims (cargo, go)", description="Build target libraries.")
    p.add_argument("--target", action="append", help="target to build (repeatable; default: all)")
    p.add_argument("--variant", default="release",
                   help="build variant: release, asan, mutants, mutants-asan, or the libFuzzer coverage "
                        "builds cov and mutants-cov (default: release; `fuzzharness targets` lists each "
                        "target's)")  # fmt: skip

    p = sub.add_parser("targets", help="list registered targets",
                       description="List targets, ABI versions, build state, handle policies.")  # fmt: skip
    p.add_argument("--targets", help="comma-separated targets (default: every registered target)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("fuzz", help="random differential fuzzing", description="Run random differential fuzzing.")
    p.add_argument("--targets", default="rust,go", help="comma-separated targets (default: rust,go)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=_positive(float), help="time budget (default 30)")
    budget.add_argument("--runs", type=_positive(int), help="number of programs instead of a time budget")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0); every program's own seed is recorded")
    p.add_argument("--jobs", type=_positive(int), default=None, help="parallel job processes (default: one per core)")
    p.add_argument("--out", type=Path, default=Path("corpus/crashes"), help="findings directory (default corpus/crashes)")
    p.add_argument("--variant", default="release", help="build variant (default release)")
    p.add_argument("--mutant", type=_mutant, default=0, help="inject a mutant (mutants variant only), e.g. snapshot-shares")
    p.add_argument("--timeout", type=_positive(float), default=10.0, help="seconds before a program counts as a hang")
    p.add_argument("--max-ops", type=_positive(int), default=48, help="longest generated program (default 48 ops)")
    p.add_argument("--until-first-finding", action="store_true",
                   help="stop at the first new finding (every job), e.g. to time how long a bug takes to show")
    p.add_argument("--baseline", type=Path, metavar="FILE",
                   help="known findings to accept and fuzz past: a JSON file of signatures "
                        "(see 'fuzzharness baseline'); their hits are counted, not saved, and do not fail the run")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("baseline", help="write a baseline accepting the findings saved in a directory",
                       description="Write a baseline file (for fuzz --baseline) accepting every finding saved "
                                   "under FINDINGS_DIR.")  # fmt: skip
    p.add_argument("findings", type=Path, metavar="FINDINGS_DIR", help="a findings directory (e.g. corpus/crashes)")
    p.add_argument("--out", type=Path, required=True, help="the baseline file to write")
    p.add_argument("--reason", default="", help="why these are accepted (kept in the file)")

    p = sub.add_parser("repro", help="replay saved findings", description="Replay saved findings or program files.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="finding directory, finding.json, or program .fh")
    p.add_argument("--times", type=_positive(int), default=1, help="runs per finding; reports how often it reproduced")
    p.add_argument("--targets", help="override the recorded targets")
    p.add_argument("--variant", help="override the recorded build variant")
    p.add_argument("--mutant", type=_mutant, help="override the recorded mutant (mutants variant only)")
    p.add_argument("--timeout", type=_positive(float), default=10.0, help="seconds before a step counts as a hang")
    p.add_argument("--json", action="store_true", help="print results as JSON")

    p = sub.add_parser("abi-check", help="check every target's exports against the contract header",
                       description="Fail when a registered target's exports drift from the header: its Rust or "
                                   "Go sources, and with --built its built libraries' symbols against the ABI "
                                   "version each reports. Says how each target was checked and names what "
                                   "could not be checked; exit 1 only on drift.")  # fmt: skip
    p.add_argument("--built", action="store_true", help="also check exported symbols of the built libraries")
    p.add_argument("--targets", help="comma-separated targets (default: every registered target)")

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
    p = sub.add_parser("bench", help="benchmark: reclamation latency, pending garbage and throughput per strategy",
                       description="Run every target x strategy x threads x GOGC configuration in its own process "
                                   "under a native-thread load, measure reclamation latency from the targets' "
                                   "reclamation events (HdrHistogram), pending garbage, RSS, throughput with and "
                                   "without events; write bench.json, bench.md and plots into --out. Exit 1 if a "
                                   "configuration timed out, crashed, failed or its books do not balance.")  # fmt: skip
    p.add_argument("--targets", default="rust,go", help="comma-separated targets (default: rust,go)")
    p.add_argument("--strategies", default="immediate,epoch,go-cleanup,guarded",
                   help="comma-separated strategies; those a target does not implement are skipped (default: all)")  # fmt: skip
    p.add_argument("--threads", default="1,2", help="comma-separated load thread counts (default: 1,2)")
    p.add_argument("--gogc", default="default", help="comma-separated GOGC values for Go targets, 'default' = unset")
    p.add_argument("--seconds", type=_positive(float), default=5.0, help="load time per configuration (default 5)")
    p.add_argument("--live", type=_positive(int), default=64, help="live resources per thread (default 64)")
    p.add_argument("--size", type=_positive(int), default=64, help="bytes per resource (default 64)")
    p.add_argument("--mix", default="replace=30,acqrel=20,write=20,read=20,snapshot=10",
                   help="op mix weights (replace, acqrel, write, read, snapshot)")  # fmt: skip
    p.add_argument("--overhead-pairs", type=int, default=4,
                   help="pairs of short sessions without / with events for the overhead ratio (default 4; 0: none)")  # fmt: skip
    p.add_argument("--timeout", type=_positive(float), help="seconds per configuration before it is timed out "
                   "(default: --seconds + the overhead sessions + 60)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("bench-out"), help="output directory (default bench-out)")
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    p.add_argument("--json", action="store_true", help="print bench.json instead of the table")
    p = sub.add_parser("mutants", help="prove the harness finds every planted bug (mutant suite)",
                       description="Build the mutants variants, hunt each planted bug on each target, "
                       "replay what was found; exit 1 if an applicable mutant goes undetected.")  # fmt: skip
    p.add_argument("--budget-seconds", type=_positive(float), default=60.0, help="per mutant and target (default 60)")
    p.add_argument("--targets", default="rust,go,go+rust",
                   help="comma-separated targets (default rust,go,go+rust); pair-only mutants run on pairs, "
                        "the others on single-runtime targets")  # fmt: skip
    p.add_argument("--mutant", type=_mutant, action="append", help="only this mutant (repeatable; default: all)")
    p.add_argument("--exclude", type=_mutant, action="append", default=[],
                   help="leave this mutant out (repeatable); the table says which were left out")  # fmt: skip
    p.add_argument("--parallel", type=_positive(int), default=2, help="mutant x target jobs at once (default 2)")
    p.add_argument("--out", type=Path, default=Path("corpus/mutants"), help="findings directory (default corpus/mutants)")
    p.add_argument("--no-build", action="store_true", help="use the libraries already built")
    p.add_argument("--no-repro", action="store_true", help="do not replay the findings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the rows as JSON")

    p = sub.add_parser("campaign", help="nightly campaign: all lanes for hours, resumable, with reports",
                       description="Run random, coverage-guided, stress and sanitizer lanes side by side for a "
                                   "duration, minimize and deduplicate findings, write report.{json,md,html,sarif,"
                                   "junit.xml} into --out. Restarting with the same --out resumes an unfinished "
                                   "campaign. Exit 1 only for NEW findings (not in the known-findings index).")  # fmt: skip
    p.add_argument("--config", type=Path, help="campaign TOML file (see ci/campaign.toml)")
    p.add_argument("--targets", help="comma-separated targets (default: the config's, else rust,go)")
    p.add_argument("--duration", help="total time, e.g. 8h, 90m, 300 (default: the config's, else 8h)")
    p.add_argument("--jobs", type=_positive(int), help="lane slices at once (default: the config's, else 2)")
    p.add_argument("--out", type=Path, help="state and reports directory (default campaign-out)")
    p.add_argument("--corpus", type=Path, help="corpus root, shared across nights (default corpus/campaign)")
    p.add_argument("--known", type=Path, help="known-findings index (default <corpus>/known-findings.json)")
    p.add_argument("--lanes", help="only these lanes, comma-separated (random,coverage,stress,asan)")
    p.add_argument("--seed", type=int, help="campaign seed (default: from the start time; recorded)")
    p.add_argument("--slice", help="length of one lane slice (default 60s)")
    p.add_argument("--variant", help="build variant of the random and stress lanes (default release)")
    p.add_argument("--mutant", type=_mutant, help="plant a mutant (with --variant mutants)")
    p.add_argument("--minimize-seconds", type=_positive(float), help="time bound per finding minimization (default 60)")
    p.add_argument("--until-first-finding", action="store_true", help="PR mode: stop at the first new finding")
    p.add_argument("--scheduler", help="run the slices on this Dask cluster, e.g. tcp://127.0.0.1:8786 "
                                       "(needs the cluster extra; default: the config's, else this machine)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print report.json's summary as JSON")

    p = sub.add_parser("cluster-bench", help="benchmark: one campaign locally (--jobs N) and through Dask (N one-thread workers)")
    p.add_argument("--seconds", type=_positive(float), default=60.0, help="campaign duration per run (default 60)")
    p.add_argument("--sizes", default="1,2", help="slot counts to compare (default 1,2)")
    p.add_argument("--out", type=Path, help="write cluster-bench.json into this directory")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("campaign-bench", help="benchmark: campaign execs/s with all lanes vs each lane alone",
                       description="Run a short campaign with each lane alone, then with all lanes, and print "
                                   "execs/s of each (same jobs and duration; fresh output each).")  # fmt: skip
    p.add_argument("--config", type=Path, help="campaign TOML file (default: built-in defaults)")
    p.add_argument("--targets", help="comma-separated targets")
    p.add_argument("--seconds", type=_positive(float), default=30.0, help="per run (default 30)")
    p.add_argument("--jobs", type=_positive(int), help="slots (default: the config's, else 2)")
    p.add_argument("--out", type=Path, help="also write bench.json here (a campaign --out shows it in its report)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("covfuzz", help="coverage-guided fuzzing (libFuzzer via atheris) on instrumented builds",
                       description="Run the coverage-guided lane: libFuzzer mutates program encodings, keeps "
                                   "inputs that reach new code of the instrumented targets (variant cov or "
                                   "mutants-cov) in the corpus, and every crash or divergence is replayed on "
                                   "the uninstrumented build and saved as a finding.")  # fmt: skip
    p.add_argument("--targets", default="rust,go", help="comma-separated targets, at most one Go (default: rust,go)")
    p.add_argument("--seconds", type=_positive(float), default=60.0, help="time budget (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of libFuzzer's runs (default 0)")
    p.add_argument("--variant", default="cov", help="coverage build variant: cov or mutants-cov (default cov)")
    p.add_argument("--mutant", type=_mutant, default=0, help="inject a mutant (mutants-cov only), e.g. magic-crash")
    p.add_argument("--corpus", type=Path, default=Path("corpus/queue"), help="corpus directory (default corpus/queue)")
    p.add_argument("--out", type=Path, default=Path("corpus/crashes"), help="findings directory (default corpus/crashes)")
    p.add_argument("--timeout", type=_positive(float), default=10.0, help="seconds before an input counts as a hang")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("corpus-min", help="minimize a coverage corpus (libFuzzer -merge=1)",
                       description="Replace a corpus directory by a subset with the same coverage.")  # fmt: skip
    p.add_argument("--targets", default="rust,go", help="comma-separated targets (default: rust,go)")
    p.add_argument("--corpus", type=Path, default=Path("corpus/queue"), help="corpus directory (default corpus/queue)")
    p.add_argument("--variant", default="cov", help="coverage build variant (default cov)")
    p.add_argument("--mutant", type=_mutant, default=0, help="inject a mutant (mutants-cov only)")

    p = sub.add_parser("new-target", help="write a skeleton adapter of the contract for your library",
                       description="Write a skeleton Rust or Go adapter of the contract into --dir, to be filled "
                                   "in around your library; prints the files written.")  # fmt: skip
    p.add_argument("name", metavar="NAME", help="the target's name in the registry")
    p.add_argument("--language", required=True, choices=("rust", "go"), help="language of the adapter")
    p.add_argument("--dir", type=Path, help="directory to write into (default: ./NAME)")

    for command in sub.choices.values():  # `fuzzharness fuzz --registry F` as well as `fuzzharness --registry F fuzz`
        _add_registry_option(command)
        _add_keep_env_option(command)
    return parser


def _add_keep_env_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-env", metavar="NAME[,NAME]", default=argparse.SUPPRESS,
                        help="pass your values of these behaviour-changing variables (RUST_BACKTRACE, GOGC, "
                             "MALLOC_*, ...) to workers; by default the harness decides them")  # fmt: skip


def _add_registry_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's parser does not overwrite the value given before the subcommand.
    parser.add_argument("--registry", type=Path, metavar="FILE", default=argparse.SUPPRESS,
                        help="a registry TOML file of your own targets, added to the bundled ones; paths in it "
                             "are relative to its directory, or to its root key "
                             "(default: $FUZZHARNESS_REGISTRY, if set)")  # fmt: skip


# --------------------------------------------------------------------------- commands


def cmd_build(args: argparse.Namespace) -> int:
    from fuzzharness.contract.registry import build, check_tools, load_registry, select_targets

    # Without --target: every single-runtime target (a pair is built by building its members).
    specs = select_targets(args.target) if args.target else [s for s in load_registry().values() if not s.pair]
    for spec in specs:
        spec.variant(args.variant)  # an unknown variant: one line naming the variants, before any build
    check_tools(specs)  # every missing tool named at once, not the first target's only
    for spec in specs:
        print(f"building {spec.name} ({args.variant}) ...", file=sys.stderr, flush=True)
        path = build(spec, args.variant)
        print(f"built {spec.name} ({args.variant}): {path}")
    from fuzzharness.contract.bindings import build_runner

    print(f"built native runner: {build_runner()}")
    return EXIT_CLEAN


def _policy_text(row: dict[str, Any]) -> str:
    """``exact``, or e.g. ``opaque, reuse after-death, invalid-or-stale`` (defaults left out)."""
    parts = [row["handles"]]
    if row["reuse"] != "never":
        parts.append(f"reuse {row['reuse']}")
    if row["stale_status"] != "distinct":
        parts.append(row["stale_status"])
    return ", ".join(parts)


def cmd_targets(args: argparse.Namespace) -> int:
    from fuzzharness.contract.registry import REGISTRY_FILE, load_registry, select_targets
    from fuzzharness.execution.supervisor import TargetWorker

    registry = load_registry()
    specs = select_targets(args.targets, registry) if args.targets is not None else list(registry.values())
    rows = []
    for spec in specs:
        for name, variant in spec.variants.items():
            paths = [m.variants[name].library for m in spec.members.values()] if spec.pair else [variant.library]
            row = {"target": spec.name, "language": spec.language, "variant": name,
                   "library": " + ".join(map(str, paths)), "built": all(p.is_file() for p in paths), "abi": None,
                   "strategies": [s.name.lower() for s in spec.strategies],
                   "handles": spec.policy.handles, "reuse": spec.policy.reuse,
                   "stale_status": spec.policy.stale_status,
                   "registry": str(spec.registry) if spec.registry else None}  # fmt: skip
            if spec.pair:
                row["pair"] = {role: m.name for role, m in spec.members.items()}
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
    from rich.table import Table

    from fuzzharness.report.progress import make_console

    table = Table(title=f"targets (harness speaks contract ABI {ABI_MAJOR}.{ABI_MINOR})")
    for col in ("target", "language", "variant", "built", "abi", "strategies", "handles", "library"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["target"], r["language"], r["variant"], "yes" if r["built"] else "no",
                      r["abi"] or "-", ",".join(r["strategies"]), _policy_text(r), r["library"])  # fmt: skip
    make_console().print(table)
    users = sorted({r["registry"] for r in rows if r["registry"] and Path(r["registry"]) != REGISTRY_FILE})
    for path in users:
        print(f"targets of {path}: {', '.join(dict.fromkeys(r['target'] for r in rows if r['registry'] == path))}")
    return EXIT_CLEAN


def cmd_fuzz(args: argparse.Namespace) -> int:
    from fuzzharness.lanes.fuzz import FuzzOptions, run_fuzz
    from fuzzharness.report.progress import FuzzProgress, print_summary

    seconds = args.seconds if args.seconds or args.runs else 30.0
    if args.mutant and args.variant == "release":
        raise InvalidArgument("--mutant needs a build variant with mutant injection: add --variant mutants")
    options = FuzzOptions(
        targets=target_list(args.targets),
        seconds=seconds if not args.runs else None,
        runs=args.runs,
        seed=args.seed,
        jobs=args.jobs,
        out=args.out,
        variant=args.variant,
        mutant=args.mutant,
        timeout=args.timeout,
        max_ops=args.max_ops,
        baseline=args.baseline,
        stop_on_first=args.until_first_finding,
    )
    from fuzzharness.contract.registry import select_targets

    if args.baseline is not None:
        from fuzzharness.findings.baseline import load_baseline

        load_baseline(args.baseline)  # a bad file: exit 2 before anything runs
    for spec in select_targets(options.targets):
        spec.library(options.variant)  # a bad name or an unbuilt target: exit 2 before any display
    _say_environment()
    with FuzzProgress(options, enabled=not args.json) as progress:
        summary = run_fuzz(options, progress.update)
    if summary.fatal is not None:
        from fuzzharness import errors

        name, message = summary.fatal
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, UserError):
            raise cls(message)
        raise FuzzHarnessError(f"{name}: {message}\n" + "\n".join(summary.errors))
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print_summary(summary)
    if summary.findings:
        return EXIT_FOUND
    if "interrupted" in summary.errors:
        return EXIT_INTERRUPTED
    if summary.programs == 0:
        print("fuzzharness: no program ran: nothing was checked", file=sys.stderr)
        return EXIT_INCONCLUSIVE
    return EXIT_CLEAN


def cmd_baseline(args: argparse.Namespace) -> int:
    from fuzzharness.findings.baseline import baseline_from_findings

    if not args.findings.is_dir():
        raise InvalidArgument(f"{args.findings}: not a findings directory")
    count = baseline_from_findings(args.findings, args.out, args.reason)
    print(f"{args.out}: accepts {count} signature(s) from {args.findings}")
    return EXIT_CLEAN


def cmd_repro(args: argparse.Namespace) -> int:
    from fuzzharness.findings.repro import reproduce
    from fuzzharness.report.text import printable

    if args.targets is not None:
        target_list(args.targets)
    results, errors = [], []
    for path in args.paths:
        try:
            # One result at a time: a bad later path never hides an earlier path's result.
            r = reproduce(path, args.times, args.targets, args.variant, args.timeout, args.mutant)
        except UserError as exc:
            errors.append(str(exc))
            if not args.json:
                print(f"fuzzharness: error: {printable(str(exc))}", file=sys.stderr, flush=True)
            continue
        results.append(r)
        if not args.json:
            _print_repro(r, printable)
    if args.json:
        print(json.dumps([{"path": r.path, "signature": r.expected, "runs": r.runs, "reproduced": r.reproduced,
                           "verdict": r.verdict, "found": [f.summary for f in r.found]} for r in results]
                         + [{"error": e} for e in errors], indent=2))  # fmt: skip
    if any(r.reproduced for r in results):
        return EXIT_FOUND
    return EXIT_USAGE if errors else EXIT_CLEAN


def _print_repro(r: Any, printable: Any) -> None:
    """One repro result, every text from the finding's files with its control characters escaped."""
    lines = [f"== {r.path}"]
    if r.expected:
        lines.append(f"   signature: {' | '.join(r.expected)}")
    lines.append(r.trace.rstrip("\n"))
    for target, failure in r.failures.items():
        tail = failure.stderr_tail.strip().splitlines()[-20:]
        lines.append(f"   {target} {failure.describe()}; last lines of its stderr:")
        lines += ["     | " + line for line in tail]
    lines += [f"   found: [{f.kind.name}] {f.summary}" for f in r.found]
    lines.append(f"   verdict: {r.verdict.upper()}\n")
    print(printable("\n".join(line for line in lines if line)), flush=True)


def cmd_abi_check(args: argparse.Namespace) -> int:
    from fuzzharness.contract.abi_check import check_targets
    from fuzzharness.contract.header import DECLS_HEADER
    from fuzzharness.contract.registry import load_registry, select_targets

    registry = load_registry()
    if args.targets is not None:
        registry = {spec.name: spec for spec in select_targets(args.targets, registry)}
    results = check_targets(built=args.built, registry=registry)
    for result in results:
        print(f"abi-check: {result.target}: " + ("DRIFT" if result.problems else "ok" if result.checked else "NOT CHECKED"))
        for how in result.checked:
            print(f"    checked: {how}")
        for why in result.unchecked:
            print(f"    not checked: {why}")
    problems = [problem for result in results for problem in result.problems]
    for problem in problems:
        print(f"abi-check: {problem}")
    unchecked = [r.target for r in results if not r.checked]
    if unchecked:
        print(f"abi-check: could not check {', '.join(unchecked)} at all (see above)")
    if problems:
        return EXIT_FOUND
    checked = [r.target for r in results if r.checked]
    print(f"abi-check: no drift from {DECLS_HEADER.name} in {', '.join(checked) or 'any target'}")
    return EXIT_CLEAN


def cmd_new_target(args: argparse.Namespace) -> int:
    from fuzzharness.contract.scaffold import new_target  # lazily: only this command needs it

    directory = args.dir if args.dir is not None else Path(args.name)
    written = new_target(args.name, args.language, directory)
    for path in written:
        print(path)
    print(f"new-target: wrote {len(written)} file(s) of a {args.language} adapter {args.name!r} into {directory}",
          file=sys.stderr)  # fmt: skip
    return EXIT_CLEAN


def cmd_throughput(args: argparse.Namespace) -> int:
    from fuzzharness.bench.throughput import measure, print_table

    rows = measure(args.targets, args.programs, args.seed)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return EXIT_CLEAN


def cmd_stress(args: argparse.Namespace) -> int:
    from fuzzharness.lanes.stress import StressOptions, print_summary, run_stress

    if args.mutant and args.variant == "release":
        raise InvalidArgument("--mutant needs a build variant with mutant injection: add --variant mutants")
    options = StressOptions(
        targets=target_list(args.targets),
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

    from fuzzharness.contract.registry import select_targets

    for spec in select_targets(options.targets):
        spec.library(options.variant)  # a bad name or an unbuilt target: exit 2, one line
    _say_environment()
    summary = run_stress(options, progress)
    if not args.json:
        print(file=sys.stderr)
        print_summary(summary)
    else:
        print(json.dumps(summary.to_json(), indent=2))
    return summary.exit_code()  # 1 findings, 4 when some history was unknown or not checked at all


def cmd_stress_bench(args: argparse.Namespace) -> int:
    from fuzzharness.bench.stress_bench import measure, print_report

    report = measure(args.targets)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return EXIT_CLEAN


def cmd_bench(args: argparse.Namespace) -> int:
    from fuzzharness.bench import reclamation
    from fuzzharness.bench.reclamation import BenchOptions, BenchProgress, parse_mix, print_summary, run_bench
    from fuzzharness.contract.registry import select_targets

    def listed(text: str, what: str, kind: type = str) -> list:
        items = [t.strip() for t in text.split(",") if t.strip()]
        try:
            values = [kind(t) for t in items]
        except ValueError:
            raise InvalidArgument(f"--{what}: {text!r} is not a comma-separated list of numbers") from None
        if not values or (kind is int and min(values) < 1):
            raise InvalidArgument(f"--{what}: expected a comma-separated list of positive values, got {text!r}")
        return values

    options = BenchOptions(
        targets=listed(args.targets, "targets"), strategies=listed(args.strategies, "strategies"),
        threads=listed(args.threads, "threads", int), gogc=listed(args.gogc, "gogc"), seconds=args.seconds,
        out=args.out, live=args.live, size=args.size, io_len=min(16, args.size), mix=parse_mix(args.mix),
        overhead_pairs=args.overhead_pairs, timeout=args.timeout, seed=args.seed,
    )  # fmt: skip
    reclamation.check_size(args.size, args.live, options.threads)
    if args.overhead_pairs < 0:
        raise InvalidArgument(f"--overhead-pairs must be >= 0, got {args.overhead_pairs}")
    if max(options.threads) > 256 or max(options.threads) * (options.live + 2) + 64 > 1 << 20:
        raise InvalidArgument("--threads at most 256, and threads x (--live + 2) within the 2^20 slots of a session")
    for value in options.gogc:
        if value != "default" and value != "off" and not value.isdigit():
            raise InvalidArgument(f"--gogc: {value!r} is not 'default', 'off' or a number")
    for spec in select_targets(options.targets):
        spec.library(options.variant)  # a bad name or an unbuilt target: exit 2 before anything runs
    with BenchProgress(enabled=not (args.no_progress or args.json)) as progress:
        report = run_bench(options, progress)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_summary(report)
        print(f"report: {options.out}/bench.json, bench.md, latency_cdf.png, pending_garbage.png")
    bad = [r for r in report["configurations"] if r["status"] != "ok" or not r["consistency"]["ok"]]
    if bad:
        return EXIT_FOUND
    nothing = reclamation.measured_nothing(report)
    if nothing:
        print(f"fuzzharness: bench {options.out}: measured nothing ({nothing})", file=sys.stderr)
        return EXIT_INCONCLUSIVE
    return EXIT_CLEAN


def cmd_mutants(args: argparse.Namespace) -> int:
    from fuzzharness.lanes.mutants import print_table, run_suite, to_json, undetected

    def progress(row: Any) -> None:
        if not args.json:
            print(f"  {row.mutant}/{row.target}: {row.status}" + (f" ({row.kind}, {row.seconds} s)" if row.kind else ""),
                  file=sys.stderr, flush=True)  # fmt: skip


    chosen = args.mutant or [int(m) for m in Mutant if m != Mutant.NONE]
    excluded = set(args.exclude)
    if excluded:
        names = ", ".join(Mutant(m).name.lower().replace("_", "-") for m in sorted(excluded))
        print(f"mutants left out of this table: {names}", file=sys.stderr)
    rows = run_suite(args.targets, args.budget_seconds, args.out, [m for m in chosen if m not in excluded], args.parallel,
                     build_first=not args.no_build, repro=not args.no_repro, seed=args.seed, progress=progress)  # fmt: skip
    if args.json:
        print(json.dumps(to_json(rows), indent=2))
    else:
        print_table(rows, args.budget_seconds)
    return EXIT_FOUND if undetected(rows) else EXIT_CLEAN


def cmd_campaign(args: argparse.Namespace) -> int:
    from fuzzharness.lanes.campaign import enabled_lanes, load_config, parse_duration, run_campaign
    from fuzzharness.lanes.slices import LANES

    config = load_config(args.config)
    if args.targets is not None:
        config.targets = target_list(args.targets)
    if args.duration is not None:
        config.duration = parse_duration(args.duration, "--duration")
    if args.slice is not None:
        config.slice = parse_duration(args.slice, "--slice")
    for name in ("jobs", "out", "corpus", "known", "seed", "variant", "mutant", "minimize_seconds", "scheduler"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    if args.until_first_finding:
        config.until_first_finding = True
    if args.lanes is not None:
        chosen = target_list(args.lanes, "--lanes")
        unknown = [n for n in chosen if n not in LANES]
        if unknown:
            raise InvalidArgument(f"--lanes: unknown lane(s) {', '.join(unknown)} (lanes: {', '.join(LANES)})")
        for name, lane in config.lanes.items():
            lane.enabled = name in chosen
    if config.mutant and not config.variant.startswith("mutants"):
        raise InvalidArgument("--mutant needs a build variant with mutant injection: add --variant mutants")
    if not enabled_lanes(config):
        where = f"{args.config}" if args.config and not args.lanes else "--lanes"
        raise InvalidArgument(f"{where}: no lane is enabled with a positive weight (lanes: {', '.join(LANES)})")

    def progress(message: str) -> None:
        if not args.json:
            print(f"campaign: {message}", file=sys.stderr, flush=True)

    result = run_campaign(config, progress)
    report = result.report
    if args.json:
        print(json.dumps({k: report[k] for k in ("campaign", "status", "elapsed", "execs", "execs_per_second",
                                                 "new", "known", "exit_code", "lanes")}, indent=2, default=str))  # fmt: skip
    else:
        print(f"campaign {report['campaign']}: {report['status']}, {report['elapsed']:.0f} s, "
              f"{report['execs']:,} execs ({report['execs_per_second']:,.1f}/s); "
              f"{len(report['new'])} new finding(s), {len(report['known'])} known")  # fmt: skip
        for f in report["findings"]:
            tag = "NEW  " if f["new"] else "known"
            print(f"  {tag} [{f['kind']}] {f['summary'][:150]}\n        {f['repro']}")
        for name, lane in report["lanes"].items():
            if lane["status"] != "ok":
                why = lane["reason"] or "; ".join(lane["errors"][-1:])
                print(f"  lane {name}: {lane['status']}: {printable(why[:200])}")
        print(f"  reports: {result.out}/report.md, report.html, report.sarif, report.junit.xml")
    if result.exit_code == EXIT_INCONCLUSIVE:
        idle = ", ".join(f"{n} ({s['status']})" for n, s in report["lanes"].items()) or "none"
        print(f"fuzzharness: campaign {result.out}: no lane did a single exec: nothing was checked (lanes: {idle})",
              file=sys.stderr)  # fmt: skip
    elif result.exit_code == EXIT_INTERRUPTED:
        print(f"fuzzharness: campaign {result.out}: interrupted; run the same command again to resume", file=sys.stderr)
    return result.exit_code


def cmd_cluster_bench(args: argparse.Namespace) -> int:
    from fuzzharness.bench.cluster import measure, print_table

    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise InvalidArgument(f"--sizes takes slot counts separated by commas, got {args.sizes!r}") from None
    if not sizes or min(sizes) < 1:
        raise InvalidArgument(f"--sizes takes positive slot counts, got {args.sizes!r}")
    result = measure(seconds=args.seconds, sizes=sizes,
                     progress=lambda m: print(f"cluster-bench: {m}", file=sys.stderr, flush=True))  # fmt: skip
    if args.out is not None:
        from fuzzharness.findings.durable import write_atomic

        args.out.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out / "cluster-bench.json", json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return EXIT_CLEAN


def cmd_campaign_bench(args: argparse.Namespace) -> int:
    from fuzzharness.lanes.campaign import bench, load_config

    config = load_config(args.config)
    if args.targets is not None:
        config.targets = target_list(args.targets)
    if args.jobs:
        config.jobs = args.jobs
    result = bench(config, args.seconds, lambda m: print(f"campaign-bench: {m}", file=sys.stderr, flush=True))
    if args.out:
        from fuzzharness.findings.durable import write_atomic

        write_atomic(args.out / "bench.json", json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"campaign execs/s on {','.join(result['targets'])}, {result['jobs']} jobs, {result['seconds']:g} s per run")
        print(f"{'run':<18} {'execs':>9} {'seconds':>8} {'execs/s':>9}  per lane (execs per lane-second)")
        for row in result["rows"]:
            lanes = ", ".join(f"{k} {v:,.1f}" for k, v in (row.get("lanes") or {}).items())
            print(f"{row['run']:<18} {row['execs']:>9,} {row['seconds']:>8.0f} {row['execs_per_second']:>9,.1f}  "
                  f"{lanes or row.get('note', '')}")  # fmt: skip
    return EXIT_CLEAN



def cmd_covfuzz(args: argparse.Namespace) -> int:
    from fuzzharness.lanes.coverage import run_lane

    if args.mutant and not args.variant.startswith("mutants"):
        raise InvalidArgument("--mutant needs a coverage variant with mutant injection: add --variant mutants-cov")

    def progress(result: dict) -> None:
        if not args.json:
            print(f"   {result['execs']} execs, cov {result['coverage']}, {len(result['findings'])} finding(s), "
                  f"{result['restarts']} restart(s)", file=sys.stderr, flush=True)  # fmt: skip

    result = run_lane(target_list(args.targets), args.seconds, args.corpus, args.out, args.seed,
                      args.variant, args.mutant, timeout=args.timeout, progress=progress)  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        rate = result["execs"] / result["seconds"] if result["seconds"] else 0.0
        print(f"coverage lane ({result['variant']}): {result['execs']} execs in {result['seconds']:.1f} s "
              f"({rate:.0f}/s), cov {result['coverage']}, corpus +{result['corpus_added']}, "
              f"{result['restarts']} restart(s)")  # fmt: skip
        for f in result["findings"]:
            print(f"   [{f['kind']}] {f['summary']}\n      {f['path']}" + ("" if f["new"] else " (already saved)"))
        for error in result["errors"]:
            print(f"   error: {error}")
    return EXIT_FOUND if result["findings"] else EXIT_CLEAN


def cmd_corpus_min(args: argparse.Namespace) -> int:
    from fuzzharness.lanes.coverage import minimize_corpus

    result = minimize_corpus(target_list(args.targets), args.corpus, args.variant, args.mutant)
    print(f"corpus {args.corpus}: {result['before']} -> {result['after']} inputs")
    return EXIT_CLEAN

COMMANDS = {
    "covfuzz": cmd_covfuzz,
    "corpus-min": cmd_corpus_min,
    "campaign-bench": cmd_campaign_bench,
    "cluster-bench": cmd_cluster_bench,
    "campaign": cmd_campaign,
    "mutants": cmd_mutants,
    "stress": cmd_stress,
    "stress-bench": cmd_stress_bench,
    "bench": cmd_bench,
    "build": cmd_build,
    "targets": cmd_targets,
    "fuzz": cmd_fuzz,
    "repro": cmd_repro,
    "abi-check": cmd_abi_check,
    "throughput": cmd_throughput,
    "new-target": cmd_new_target,
    "baseline": cmd_baseline,
}


def _apply_keep_env(args: argparse.Namespace) -> None:
    """``--keep-env`` into ``FUZZHARNESS_KEEP_ENV``, for every process this one starts
    (:func:`_say_environment` says what workers do not inherit)."""
    from fuzzharness.execution.environment import KEEP_ENV

    keep = getattr(args, "keep_env", None)
    if keep is not None:
        names = [n.strip() for n in keep.split(",") if n.strip()]
        if not all(n.replace("_", "").isalnum() for n in names):
            raise InvalidArgument(f"--keep-env takes variable names separated by commas, got {keep!r}")
        os.environ[KEEP_ENV] = ",".join(names)


def _say_environment() -> None:
    """Once, when a hunting command has checked its arguments and starts its workers:
    what they will not inherit from this shell (fuzzharness.execution.environment)."""
    from fuzzharness.execution.environment import decide, describe_overrides

    line = describe_overrides(decide("hunt"))
    if line:
        print(f"fuzzharness: {line}", file=sys.stderr)


def _apply_registry(args: argparse.Namespace) -> None:
    """Make ``--registry`` (else ``$FUZZHARNESS_REGISTRY``) the user registry of this
    command and of every process it starts (the variable, absolute), checked first."""
    from fuzzharness.contract.registry import REGISTRY_ENV, use_registry

    given = getattr(args, "registry", None)
    if given is None and os.environ.get(REGISTRY_ENV, "").strip():
        given = Path(os.environ[REGISTRY_ENV].strip())
    if given is not None:
        use_registry(given)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _apply_registry(args)
        _apply_keep_env(args)
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"fuzzharness: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fuzzharness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            traceback.print_exc()
            print("fuzzharness: internal error (a bug in fuzzharness; please report it)", file=sys.stderr)
            return EXIT_INTERNAL
        where = printable(str(exc.filename)) if exc.filename else "the output"
        print(f"fuzzharness: error: {where}: {exc.strerror}: stopped; what was saved is kept", file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # noqa: BLE001 - the last line of defence: say it is our bug
        traceback.print_exc()
        print("fuzzharness: internal error (a bug in fuzzharness; please report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
