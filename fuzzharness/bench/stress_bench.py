"""Benchmark of the concurrent stress machinery: the ``stress-bench`` command.

Printed in one run, per target:

* **runner vs bare loop**: ns per op of the native runner executing a
  sequential op list (4096 identical ops: read 8 bytes, info, acquire) with
  timestamps off (the batch mode) and on (the stress mode), against a bare C
  loop calling the same contract function with the same arguments. Each figure
  is the minimum of several repetitions (least disturbed by the machine);
* **aggregate ops/s** of generated concurrent programs with 1, 2 and 4 threads:
  thread ops divided by the wall time of the native threads phase;
* **overlap**: the fraction of thread ops (4 threads) whose [invoke, return]
  interval overlaps another thread's op on the same resource, and the share of
  the threads' time spent inside calls;
* **checker speed**: ops per second of the linearizability search (native, and
  the Python search for comparison; partitioning and encoding included) and of the
  whole check of a run (history built from the records, setup, messages, epilogue,
  overlap: ``check_run``) on a history of ~10,000 thread ops (4 threads x 2,500
  ops), from a real run; the best of 3 checks (the Python search: one).

Figures, not pass/fail. Everything runs in worker subprocesses, as ``stress`` does.
"""

from __future__ import annotations

import random
import time
from typing import Any

from fuzzharness.contract.registry import select_targets
from fuzzharness.execution.supervisor import TargetWorker
from fuzzharness.oracles.concurrent_model import check_run
from fuzzharness.oracles.linearizability import CheckResult
from fuzzharness.programs.concurrent import generate

__all__ = ["measure", "print_report"]

#: Checks of the 10k-op history timed; the figures are the fastest (least disturbed by the machine).
_CHECK_REPEAT = 3



def measure(targets: str, seed: int = 7) -> list[dict[str, Any]]:
    rows = []
    programs_by_threads = {
        n: [generate(random.Random(seed * 1000 + n * 10 + i), n, 200, "immediate") for i in range(6)] for n in (1, 2, 4)
    }
    big = generate(random.Random(seed), 4, 2500, "immediate")
    overlap_programs = [generate(random.Random(seed * 7 + i), 4, 200, "immediate") for i in range(6)]
    for spec in select_targets(targets):
        with TargetWorker(spec, timeout=120) as worker:
            reply = worker.request(("stress-bench", programs_by_threads), timeout=600)
            if not reply or reply[0] != "stress-bench":
                raise RuntimeError(f"stress benchmark in the {spec.name} worker failed: {reply}")
            row: dict[str, Any] = {"target": spec.name, **reply[1]}
            overlapping = total = inside = life = 0
            for event in worker.run(list(enumerate(overlap_programs)), kind="stress"):
                if event[0] == "result":
                    check = check_run(overlap_programs[event[1]], event[2])
                    overlapping += check.overlap[0]
                    total += check.overlap[1]
                    inside += check.in_call[0]
                    life += check.in_call[1]
            row["overlap"] = overlapping / total if total else 0.0
            row["in_call_share"] = inside / life if life else 0.0
            for event in worker.run([("big", big)], kind="stress"):
                if event[0] == "result":
                    seconds = search = float("inf")
                    for _ in range(_CHECK_REPEAT):  # the best of a few, as the runner's figures
                        start = time.perf_counter()
                        check = check_run(big, event[2], timeout=600)
                        seconds = min(seconds, time.perf_counter() - start)
                        verdict = check.verdict
                        search = min(search, verdict.seconds if verdict else 0.0)
                    python = check_run(big, event[2], timeout=600, native=False).verdict
                    row["checker"] = {"ops": len(check.history), "seconds": seconds,
                                      "ops_per_s": len(check.history) / seconds,
                                      "search_seconds": search,
                                      "search_ops_per_s": len(check.history) / search if search else 0.0,
                                      "python_search_ops_per_s": len(check.history) / python.seconds
                                      if python and python.seconds else 0.0,
                                      "partitions": len(verdict.partitions) if verdict else 0,
                                      "native_partitions": sum(p.native for p in verdict.partitions) if verdict else 0,
                                      "memo_peak_bytes": max((p.memo_bytes for p in verdict.partitions), default=0)
                                      if verdict else 0,
                                      "result": verdict.result.name if verdict else "setup-problem",
                                      "clean": not check.problems and verdict is not None
                                      and verdict.result is CheckResult.ok}  # fmt: skip
        rows.append(row)
    return rows


def print_report(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from fuzzharness.report.progress import make_console

    console = make_console()
    clocks = ", ".join(sorted({r.get("clock", "?") for r in rows}))
    table = Table(title=f"native runner vs bare C loop (ns per op, min of repeats; lower is better; stamps: {clocks})")
    for col in ("target", "op", "bare C loop", "runner (batch)", "ratio", "runner + timestamps", "ratio"):
        table.add_column(col, justify="right")
    for r in rows:
        for name, f in r["per_op"].items():
            table.add_row(r["target"], name, f"{f['bare']:.1f}", f"{f['runner']:.1f}", f"{f['runner'] / f['bare']:.2f}x",
                          f"{f['runner_ts']:.1f}", f"{f['runner_ts'] / f['bare']:.2f}x")  # fmt: skip
    console.print(table)
    table = Table(title="concurrent programs: aggregate ops/s, overlap, checker speed (10k-op history)")
    for col in ("target", "call ns", "1 thread", "2 threads", "4 threads", "overlap (4 thr)", "in calls",
                "search ops/s", "python search", "search / runner 4 thr", "whole check ops/s"):
        table.add_column(col, justify="right")
    for r in rows:
        t = r["threads"]
        c = r.get("checker", {})
        runner4 = t[4]["ops_per_s"]
        ratio = c.get("search_ops_per_s", 0) / runner4 if runner4 else 0.0
        table.add_row(r["target"], f"{r.get('calibration', {}).get('call_ns', 0):.0f}",
                      *(f"{t[n]['ops_per_s']:,.0f}" for n in (1, 2, 4)), f"{r['overlap']:.1%}",
                      f"{r.get('in_call_share', 0):.1%}",
                      f"{c.get('search_ops_per_s', 0):,.0f} ({c.get('ops', 0)} ops, {c.get('result', '?')})",
                      f"{c.get('python_search_ops_per_s', 0):,.0f}", f"{ratio:.2f}x",
                      f"{c.get('ops_per_s', 0):,.0f}")  # fmt: skip
    console.print(table)
