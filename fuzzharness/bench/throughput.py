"""Benchmark: the harness's sequential throughput against bare cffi calls.

For each target, the same generated programs are run four ways, in one run:

* **bare**: the exact contract calls the programs make, replayed straight through
  cffi in a tight loop inside the worker (no interpreter, no model, no IPC);
* **interpreted**: the worker's program interpreter alone (operand resolution,
  observations, last-error fetches), still without the model;
* **native**: the worker's fast path (:func:`~fuzzharness.programs.interpreter.run_program_native`:
  one native-runner call per program, the same observations), without the model;
* **checked**: the full pipeline of ``fuzz`` with one job: the supervisor sends
  batches to the worker, and every trace is checked against the model.

It prints ops/s for each, and the ratio bare/checked: how much the checking
harness costs relative to the calls it checks. Figures, not pass/fail: run
``fuzzharness throughput`` and read them side by side.
"""

from __future__ import annotations

import random
import time
from typing import Any

from fuzzharness.contract.registry import select_targets
from fuzzharness.execution.supervisor import TargetWorker
from fuzzharness.lanes.fuzz import program_seed
from fuzzharness.oracles.differential import check_program
from fuzzharness.programs.sequential import generate

__all__ = ["measure", "print_table"]


def measure(targets: str, n_programs: int = 400, seed: int = 1) -> list[dict[str, Any]]:
    programs = [generate(random.Random(program_seed(seed, 0, i))) for i in range(n_programs)]
    rows = []
    for spec in select_targets(targets):
        with TargetWorker(spec) as worker:
            reply = worker.request(("bench", programs), timeout=600)
            if not reply or reply[0] != "bench":
                raise RuntimeError(f"benchmark in the {spec.name} worker failed: {reply}")
            inner = reply[1]
            start = time.perf_counter()
            ops = 0
            for batch_start in range(0, n_programs, 32):
                batch = list(enumerate(programs[batch_start : batch_start + 32], batch_start))
                for event in worker.run(batch):
                    if event[0] == "result":
                        trace = event[2]
                        ops += len(trace)
                        if check_program(programs[event[1]], {spec.name: trace}):
                            raise RuntimeError(f"{spec.name}: divergence while benchmarking; run fuzz first")
            checked = (time.perf_counter() - start) / ops
        rows.append(
            {
                "target": spec.name,
                "programs": n_programs,
                "ops": ops,
                "bare_ops_per_s": 1 / inner["bare_s_per_op"],
                "interpreted_ops_per_s": 1 / inner["interpreted_s_per_op"],
                "native_ops_per_s": 1 / inner["native_s_per_op"],
                "checked_ops_per_s": 1 / checked,
                "bare_ns_per_op": inner["bare_s_per_op"] * 1e9,
                "checked_us_per_op": checked * 1e6,
                "slowdown_checked_vs_bare": checked / inner["bare_s_per_op"],
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from fuzzharness.report.progress import make_console

    table = Table(title="sequential throughput (ops/s; higher is better)")
    for col in ("target", "ops", "bare cffi", "interpreted", "native runner", "checked (model+IPC)", "bare/checked"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["target"],
            str(r["ops"]),
            f"{r['bare_ops_per_s']:,.0f}",
            f"{r['interpreted_ops_per_s']:,.0f}",
            f"{r['native_ops_per_s']:,.0f}",
            f"{r['checked_ops_per_s']:,.0f}",
            f"{r['slowdown_checked_vs_bare']:.1f}x",
        )
    make_console().print(table)
