"""One campaign per ``--out``: a second start fails at once naming the holder; the lock of a
dead campaign is taken over (the kernel released it) and the campaign resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import hardening_helpers as h
import pytest

from conftest import library_path
from fuzzharness.findings.durable import OutLock, OutLocked


def test_a_second_campaign_on_one_out_fails_naming_the_holder_then_takes_a_dead_ones_lock(tmp_path):
    library_path("rust", "release")
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    args = h.campaign_args(out, corpus, "--lanes", "random", "--duration", "40", "--slice", "5", "--seed", "3")
    first = h.start(*args, log=tmp_path / "first.log")
    try:
        h.wait_for(lambda: any(r["t"] == "slice" for r in h.journal(out)), 60, "the first campaign's first slice")
        second = h.cli(*args, timeout=60)
        line = h.assert_one_line(second, f"in use by pid {first.pid}")
        assert "campaign" in line and "started" in line and str(out) in line
        assert [r["t"] for r in h.journal(out)].count("start") == 1 and not any(r["t"] == "resume" for r in h.journal(out))
        os.kill(first.pid, signal.SIGKILL)  # the holder dies without cleaning up: its lock file stays
        first.wait(timeout=10)
        assert (out / ".lock").exists()
        resumed = h.cli(*args, timeout=240)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        records = h.journal(out)
        assert [r["t"] for r in records].count("resume") == 1 and [r["t"] for r in records].count("end") == 1
        assert json.loads((out / "report.json").read_text())["status"] == "complete"
        assert not h.wait_gone(str(tmp_path)), "a slice outlived its campaign"
    finally:
        h.stop(first, signal.SIGKILL)
        h.kill_all(str(tmp_path))


def test_the_lock_names_its_holder_and_goes_with_it(tmp_path):
    held = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom fuzzharness.findings.durable import OutLock\n"
                             f"OutLock({str(tmp_path)!r}, 'campaign'); print('held', flush=True); time.sleep(60)"],
                            cwd=h.ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert held.stdout.readline().strip() == "held"
        with pytest.raises(OutLocked, match=f"in use by pid {held.pid} on .*campaign"):
            OutLock(tmp_path, "campaign")
    finally:
        held.kill()
        held.wait()
    with OutLock(tmp_path, "campaign"):  # the holder died: its lock went with it
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
