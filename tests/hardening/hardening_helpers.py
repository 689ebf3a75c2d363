"""What the hardening tests share: run a real ``fuzzharness`` command, check it refused in
one line, and find every process a run left behind.

A command is run as a user would (``python -m fuzzharness.cli ...`` in a subprocess, in
a session of its own so the test can signal its process group as a terminal would).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*args: str, timeout: float = 180, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fuzzharness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=ENV)  # fmt: skip


def start(*args: str, log: Path) -> subprocess.Popen:
    """Start a command in its own session (its pid is its process group), output into ``log``."""
    with open(log, "wb") as fh:
        return subprocess.Popen([sys.executable, "-m", "fuzzharness.cli", *args], stdout=fh, stderr=fh, cwd=ROOT,
                                env=ENV, start_new_session=True)  # fmt: skip


def campaign_args(out: Path, corpus: Path, *extra: str, targets: str = "rust") -> list[str]:
    """A small campaign (by default on Rust, release build: no finding expected)."""
    return ["campaign", "--targets", targets, "--out", str(out), "--corpus", str(corpus), "--jobs", "1", *extra]


def assert_one_line(proc: subprocess.CompletedProcess, needle: str, code: int = 2) -> str:
    """Exit ``code``, no traceback, exactly one stderr line, naming ``needle``; returns it."""
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("campaign: ")]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert needle in lines[0], lines[0]
    return lines[0]


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line mentions ``text`` (a test's tmp_path): what a run left."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and text in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return [p for p in found if p.pid != os.getpid()]


def wait_gone(text: str, seconds: float = 40.0) -> list[psutil.Process]:
    """Wait until no process mentions ``text``; returns those still alive after ``seconds``."""
    deadline = time.monotonic() + seconds
    left = processes_mentioning(text)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = processes_mentioning(text)
    return left


def kill_all(text: str) -> None:
    """Clean-up after a failed test: SIGKILL what a run left behind (only processes naming ``text``)."""
    for p in processes_mentioning(text):
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def journal(out: Path) -> list[dict[str, Any]]:
    path = out / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 90) -> int:
    """Signal a started command's process group and wait for its exit code."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    return proc.wait(timeout=timeout)
