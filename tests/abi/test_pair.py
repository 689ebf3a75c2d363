"""The cross-runtime pair go+rust (contract 1.1) through the real release libraries.

The checks live in ``pair_checks.py`` and run in a fresh interpreter (attaching the
Go front is once per process, see there); each check is one test here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import library_path

HERE = Path(__file__).parent
CHECK_NAMES = [
    "versions_and_roles",
    "pair_session_strategies",
    "per_runtime_references",
    "both_runtimes_see_the_same_bytes_and_slots",
    "go_cleanup_keeps_go_released_memory_pending_until_quiesce",
    "reclaim_events_through_the_owner",
    "generated_programs_match_the_pair_model",
]


@pytest.fixture(scope="module")
def pair_results() -> dict[str, tuple[bool, str]]:
    owner, foreign = library_path("rust"), library_path("go")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent.parent), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(HERE / "pair_checks.py"), str(owner), str(foreign)],
                          capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip(), f"pair checks died (rc {proc.returncode}):\n{proc.stderr[-4000:]}"
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [name for name, _, _ in results] == CHECK_NAMES
    return {name: (ok, detail) for name, ok, detail in results}


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_pair(pair_results, name):
    ok, detail = pair_results[name]
    assert ok, detail
