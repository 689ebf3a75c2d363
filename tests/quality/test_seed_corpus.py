"""The committed seed corpus: readable programs covering every contract rule, clean on both shims."""

from __future__ import annotations

import pytest

from conftest import TARGETS, library_path
from fuzzharness.contract.header import PROJECT_ROOT, Status
from fuzzharness.contract.registry import load_registry
from fuzzharness.execution.supervisor import TargetWorker
from fuzzharness.findings.triage import findings_for
from fuzzharness.oracles.differential import expected_trace
from fuzzharness.programs.sequential import parse_text

SEEDS = sorted((PROJECT_ROOT / "corpus" / "seeds").glob("*.fh"))


def test_seeds_reach_every_status_the_model_can_predict():
    statuses = {obs.status for seed in SEEDS for obs in expected_trace(parse_text(seed.read_text(), str(seed)))}
    assert statuses >= {Status.OK, Status.INVALID_HANDLE, Status.STALE_HANDLE, Status.BOUNDS,
                        Status.READ_ONLY, Status.EXHAUSTED, Status.OVERFLOW}  # fmt: skip


@pytest.mark.parametrize("target", TARGETS)
def test_every_seed_runs_clean(target):
    library_path(target)
    programs = [(seed.name, parse_text(seed.read_text(), str(seed))) for seed in SEEDS]
    with TargetWorker(load_registry()[target]) as worker:
        outcomes = {e[1]: e[2] for e in worker.run(programs) if e[0] in ("result", "failure")}
    for name, program in programs:
        assert findings_for(program, {target: outcomes[name]}, variant="release", seed=None) == [], name
