"""Benchmark: the same campaign on this machine and through Dask, measured in one run.

Runs one campaign configuration four ways (by default), each for ``seconds`` with a fresh
``--out`` and corpus:

* ``local --jobs 1`` and ``local --jobs 2``: the local campaign, one or two slices at once;
* ``dask 1 worker`` and ``dask 2 workers``: the same campaign through ``--scheduler`` on a
  local cluster of real ``dask scheduler`` / ``dask worker`` processes
  (:class:`fuzzharness.lanes.local_cluster.LocalDaskCluster`), each worker with one thread,
  so it runs one slice at a time like one local job (a slice is the same processes either way).

For each it reports the campaign's execs/s (executions of the fuzzing lanes over the
campaign's elapsed time, connection and survey of the cluster included) and, for each size,
**the overhead of going through Dask**: ``1 - dask execs/s / local execs/s`` (negative: Dask
was faster, within noise). The cluster's start-up (processes, registration) is measured
apart, as ``startup_seconds``: a long campaign pays it once. Because execs/s on a shared
machine moves with its load, each row also has the costs Dask adds, read from the journal:
``slice_cost`` (mean wall time of a slice beyond its time inside its process, both ways),
``dispatch_seconds`` (submission to start on a worker) and ``connect_seconds`` (campaign time
spent connecting). Each local/Dask pair runs back to back. Figures, not pass/fail; on a
machine shared with other work the noise is of the same order as the overhead, so read the
rows of one run side by side.

``python -m fuzzharness.bench.cluster --seconds 60 --out build/cluster-bench`` writes
``cluster-bench.json`` there and prints the table.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from fuzzharness.errors import FuzzHarnessError, InvalidArgument
from fuzzharness.findings.durable import read_journal, write_atomic
from fuzzharness.lanes.campaign import JOURNAL_FILE, CampaignConfig, run_campaign
from fuzzharness.lanes.local_cluster import LocalDaskCluster

__all__ = ["default_config", "measure", "overheads", "print_table", "main"]


def default_config() -> CampaignConfig:
    """The campaign of the cluster test: Rust, the mutants build with snapshot-shares planted,
    the random lane, 15 s slices (so a 60 s campaign has several slices per slot)."""
    config = CampaignConfig(targets=["rust"], variant="mutants", mutant=1, slice=15.0, minimize_seconds=8.0, seed=7)
    for name, lane in config.lanes.items():
        lane.enabled = name == "random"
    return config


def _run(config: CampaignConfig, label: str, mode: str, slots: int, seconds: float, tmp: Path,
         progress: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    c = copy.deepcopy(config)
    c.out, c.corpus, c.known, c.duration, c.until_first_finding = tmp / "out", tmp / "corpus", None, seconds, False
    start = time.monotonic()
    report = run_campaign(c, lambda m: progress(f"{label}: {m}")).report
    row = {"run": label, "mode": mode, "slots": slots, "execs": report["execs"], "elapsed": report["elapsed"],
           "execs_per_second": report["execs_per_second"], "wall_seconds": round(time.monotonic() - start, 1),
           "findings": len(report["findings"]),
           "slices": sum(lane["slices"] for lane in report["lanes"].values())}  # fmt: skip
    row.update(_costs(c.out / JOURNAL_FILE))
    if report.get("cluster"):
        row["workers"] = [{k: w[k] for k in ("name", "slices", "execs", "execs_per_second")}
                          for w in report["cluster"]["workers"]]  # fmt: skip
    return row


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _costs(journal: Path) -> dict[str, float | None]:
    """From a campaign's journal: ``slice_cost`` -- mean wall time of a fuzzing slice beyond the
    time it ran inside its process (start, collection; the same measure both ways);
    ``dispatch_seconds`` -- mean time from a submission to the start on a worker (first attempts);
    ``connect_seconds`` -- campaign time spent connecting to and surveying the cluster."""
    started, submitted, costs, gaps = {}, {}, [], []
    connect = None
    for record in read_journal(journal):
        t = record.get("t")
        if t == "cluster":
            connect = round(float(record["elapsed"]), 3)
        elif t == "slice":
            started[record["n"]] = submitted[record["n"]] = float(record["elapsed"])
        elif t == "slice_worker" and record["n"] in submitted:
            gaps.append(float(record["elapsed"]) - submitted.pop(record["n"]))
        elif t == "slice_done" and record["lane"] != "minimize" and record["n"] in started:
            inside = record["result"].get("seconds")
            if record["result"].get("status") == "ok" and inside:
                costs.append(float(record["elapsed"]) - started[record["n"]] - float(inside))
    return {"slice_cost": _mean(costs), "dispatch_seconds": _mean(gaps), "connect_seconds": connect}


def measure(config: CampaignConfig | None = None, seconds: float = 60.0, sizes: tuple[int, ...] = (1, 2),
            progress: Callable[[str], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Run the campaign locally with ``--jobs n`` and through Dask with n one-thread workers,
    for every n in ``sizes``; returns the rows and the overhead per size."""
    if seconds <= 0 or not sizes or any(n < 1 for n in sizes):
        raise InvalidArgument(f"cluster bench: needs positive seconds and sizes, got {seconds} and {sizes}")
    config = config or default_config()
    say = progress or (lambda message: None)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fh-cluster-bench-") as tmp:
        for n in sizes:  # each pair back to back: the machine's load drifts less within a pair
            c = copy.deepcopy(config)
            c.jobs, c.scheduler = n, None
            rows.append(_run(c, f"local --jobs {n}", "local", n, seconds, Path(tmp) / f"local-{n}", say))
            started = time.monotonic()
            with LocalDaskCluster(Path(tmp) / f"cluster-{n}", workers=n, threads=1) as cluster:
                startup = round(time.monotonic() - started, 1)
                c = copy.deepcopy(config)
                c.scheduler = cluster.address
                label = f"dask {n} worker" + ("s" if n > 1 else "")
                rows.append({**_run(c, label, "dask", n, seconds, Path(tmp) / f"dask-{n}", say), "startup_seconds": startup})
    return {"targets": config.targets, "variant": config.variant, "mutant": config.mutant, "seconds": seconds,
            "slice": config.slice, "lanes": [n for n, lane in config.lanes.items() if lane.enabled],
            "rows": rows, "overhead": overheads(rows)}  # fmt: skip


def overheads(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Slots -> 1 - (execs/s through Dask) / (execs/s locally with as many jobs); None without both."""
    out: dict[str, float | None] = {}
    for dask in (r for r in rows if r["mode"] == "dask"):
        local = next((r for r in rows if r["mode"] == "local" and r["slots"] == dask["slots"]), None)
        rate = local["execs_per_second"] if local else 0
        out[str(dask["slots"])] = round(1 - dask["execs_per_second"] / rate, 4) if rate else None
    return out


def print_table(result: dict[str, Any], file: Any = None) -> None:
    file = file or sys.stdout
    print(f"campaign execs/s, {result['seconds']:g} s each: targets {','.join(result['targets'])} "
          f"({result['variant']}{', mutant ' + str(result['mutant']) if result['mutant'] else ''}), "
          f"lanes {','.join(result['lanes'])}, {result['slice']:g} s slices", file=file)  # fmt: skip
    def sec(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    print(f"{'run':<16} {'slots':>5} {'slices':>6} {'execs':>9} {'elapsed':>8} {'execs/s':>9} {'slice cost':>10} "
          f"{'dispatch':>9} {'connect':>8} {'start-up':>8}", file=file)  # fmt: skip
    for row in result["rows"]:
        print(f"{row['run']:<16} {row['slots']:>5} {row['slices']:>6} {row['execs']:>9,} {row['elapsed']:>7.1f}s "
              f"{row['execs_per_second']:>9,.1f} {sec(row.get('slice_cost')):>10} {sec(row.get('dispatch_seconds')):>9} "
              f"{sec(row.get('connect_seconds')):>8} {sec(row.get('startup_seconds')):>8}", file=file)  # fmt: skip
    for slots, overhead in result["overhead"].items():
        text = "n/a" if overhead is None else f"{overhead * 100:+.1f} % (positive: fewer execs/s through Dask)"
        print(f"overhead of Dask with {slots} worker(s) vs --jobs {slots}: {text}", file=file)
    print("slice cost: mean wall time of a slice beyond its time inside its process; dispatch: submission to start on "
          "a worker; connect: campaign time to connect and survey the cluster; start-up: the local cluster's processes "
          "until every worker registered (paid once, outside the campaign)", file=file)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzzharness.bench.cluster",
                                     description="execs/s of one campaign locally (--jobs N) and through Dask "
                                                 "(N one-thread workers), measured in one run.")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=60.0, help="per run (default 60)")
    parser.add_argument("--sizes", default="1,2", help="slots to compare, comma-separated (default 1,2)")
    parser.add_argument("--out", type=Path, help="write cluster-bench.json here")
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(s) for s in args.sizes.split(",") if s)
    except ValueError:
        print(f"cluster bench: --sizes {args.sizes!r} is not a list of numbers", file=sys.stderr)
        return 2
    try:
        result = measure(seconds=args.seconds, sizes=sizes, progress=lambda m: print(m, file=sys.stderr, flush=True))
    except FuzzHarnessError as exc:
        print(f"cluster bench: {exc}", file=sys.stderr)
        return 2
    if args.out:
        write_atomic(args.out / "cluster-bench.json", json.dumps(result, indent=2) + "\n")
    print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
