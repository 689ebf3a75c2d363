"""Benchmark: the harness's sequential throughput against bare cffi calls.

For each target, the same generated programs are run four ways, in one run:

* **bare**: the exact contract calls the programs make, replayed straight through
  cffi in a tight loop inside the worker (no interpreter, no model, no IPC);
* **interpreted**: the worker's program interpreter alone (operand resolution,
  observations, last-error fetches), still without the model;
* **native**: the worker's fast path (:func:`~fuzzharness.programs.interpreter.run_program_native`:
  one native-runner call per program, the same observations), without the model;
* **checked**: the full pipeline of ``fuzz`` with one job: the supervisor sends
  batches to the worker, which answers with packed traces; every trace is checked
  against the fast model's prediction while the next batch runs, and a program it
  does not accept goes through the reference check (:mod:`fuzzharness.oracles.fastmodel`).

It prints ops/s for each (the best of :data:`ROUNDS` interleaved rounds), and the
ratio bare/checked: how much the checking harness costs relative to the calls it
checks. Figures, not pass/fail: run ``fuzzharness throughput`` (``--json`` for the
rows as JSON) and read them side by side.
"""

from __future__ import annotations

import random
import time
from typing import Any

from fuzzharness.contract.registry import select_targets
from fuzzharness.execution.supervisor import BatchRun, TargetWorker
from fuzzharness.lanes.fuzz import program_seed
from fuzzharness.oracles.differential import check_program
from fuzzharness.oracles.fastmodel import accepts, predict
from fuzzharness.programs.interpreter import unpack
from fuzzharness.programs.sequential import Program, generate

__all__ = ["measure", "print_table"]

#: Rounds per measurement (each figure is its best round).
ROUNDS = 5


def measure(targets: str, n_programs: int = 400, seed: int = 1, rounds: int = ROUNDS) -> list[dict[str, Any]]:
    """One row per target. The ways are measured ``rounds`` times, interleaved (bare,
    interpreted and native in the worker, then checked), and each figure is its best
    round: on a shared machine a round can lose its core to anything, and the ratio
    should compare the paths, not the moments."""
    programs = [generate(random.Random(program_seed(seed, 0, i))) for i in range(n_programs)]
    rows = []
    for spec in select_targets(targets):
        inner: dict[str, float] = {}
        checked = float("inf")
        with TargetWorker(spec) as worker:
            for _ in range(rounds):
                reply = worker.request(("bench", programs), timeout=600)
                if not reply or reply[0] != "bench":
                    raise RuntimeError(f"benchmark in the {spec.name} worker failed: {reply}")
                for name, value in reply[1].items():
                    inner[name] = value if name == "ops" else min(inner.get(name, value), value)
                start = time.perf_counter()
                ops = _checked_run(worker, spec.name, bool(spec.pair), programs)
                checked = min(checked, (time.perf_counter() - start) / ops)
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
                "rounds": rounds,
            }
        )
    return rows


def _checked_run(worker: TargetWorker, name: str, pair: bool, programs: list[Program]) -> int:
    """``fuzz``'s pipeline on one worker: batches of 32 as packed traces, each batch
    checked while the next one runs; a program the fast prediction does not accept is
    unpacked and judged by the reference check. Returns the steps checked."""
    batches = [list(enumerate(programs[i : i + _BATCH], i)) for i in range(0, len(programs), _BATCH)]
    ops = 0
    inflight = BatchRun({name: worker}, batches[0], packed=True)
    for k, batch in enumerate(batches):
        outcomes = inflight.wait()
        if k + 1 < len(batches):
            inflight = BatchRun({name: worker}, batches[k + 1], packed=True)
        for key, program in batch:
            trace = outcomes[key][name]
            if not isinstance(trace, tuple):
                raise RuntimeError(f"{name}: program {key} did not run: {trace}")
            ops += len(trace[0]) // 2
            if accepts(predict(program, pair), trace):
                continue
            if check_program(program, {name: unpack(program, trace)}):
                raise RuntimeError(f"{name}: divergence while benchmarking; run fuzz first")
    return ops


#: Programs per batch, as ``fuzz`` sends them.
_BATCH = 128


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
