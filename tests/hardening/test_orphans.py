"""No process outlives the command that started it.

A ``fuzz`` killed outright (SIGKILL: no cleanup runs) must not leave its workers behind,
even a worker stuck in a call that never returns (mutant ``hang``, mutants build).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from conftest import library_path

ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_workers_die_with_a_killed_fuzz_even_when_stuck_in_native_code(tmp_path):
    library_path("rust", "mutants")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fuzzharness.cli", "fuzz", "--targets", "rust", "--variant", "mutants",
         "--mutant", "hang", "--seconds", "60", "--timeout", "60", "--out", str(tmp_path / "out")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        workers = []
        while time.monotonic() < deadline and not workers:
            time.sleep(0.5)
            workers = [p for p in descendants(proc.pid) if "fuzzharness.execution.worker" in " ".join(p.cmdline())]
        assert workers, "no worker started"
        time.sleep(3)  # let the hang mutant trap a call
        jobs = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)  # the harness's process group: never the workers' own sessions
        proc.wait(timeout=10)
        gone, alive = psutil.wait_procs(jobs, timeout=10)
        assert not alive, f"left behind: {[(p.pid, p.cmdline()[:4]) for p in alive]}"
    finally:
        for p in descendants(proc.pid):
            p.kill()
        if proc.poll() is None:
            proc.kill()
