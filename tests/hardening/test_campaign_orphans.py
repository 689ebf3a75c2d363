"""Nothing a campaign starts outlives it: its lane slices, and the coverage lane's libFuzzer
processes (in sessions of their own), die when the campaign's process group is killed --
by SIGTERM (as ``timeout -s TERM`` does) or by SIGKILL -- and a restart never runs beside
what a killed campaign left."""

from __future__ import annotations

import signal

import psutil
import pytest
from hardening_helpers import campaign_args, journal, kill_all, processes_mentioning, start, stop, wait_for, wait_gone

from conftest import library_path


def _libfuzzer_running(tmp_path) -> bool:
    return any("fh-coverage-lane" in " ".join(p.cmdline()) for p in processes_mentioning(str(tmp_path)))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_the_campaign_group_leaves_no_slice_and_no_libfuzzer(tmp_path, sig):
    library_path("rust", "cov")
    library_path("rust", "release")
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    proc = start(*campaign_args(out, corpus, "--lanes", "coverage,random", "--jobs", "2", "--duration", "120",
                                "--slice", "60", "--seed", "9"), log=tmp_path / "campaign.log")  # fmt: skip
    try:
        wait_for(lambda: _libfuzzer_running(tmp_path), 90, "the coverage lane's libFuzzer process")
        code = stop(proc, sig)
        left = wait_gone(str(tmp_path), 45)
        assert not left, f"left running: {[(p.pid, p.cmdline()[:3]) for p in left]}"
        if sig == signal.SIGTERM:
            log = (tmp_path / "campaign.log").read_text()
            assert code == 5, log[-3000:]
            assert "Traceback" not in log
    finally:
        stop(proc, signal.SIGKILL)
        kill_all(str(tmp_path))


def test_a_restart_collects_what_the_killed_campaign_left_before_it_starts_anything(tmp_path):
    library_path("rust", "release")
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    args = campaign_args(out, corpus, "--lanes", "random", "--duration", "16", "--slice", "8", "--seed", "4")
    proc = start(*args, log=tmp_path / "first.log")
    try:
        wait_for(lambda: any(r["t"] == "slice" for r in journal(out)), 60, "the first slice")
        old = [r["pid"] for r in journal(out) if r["t"] == "slice"]
        proc.kill()  # the campaign process alone: its slice keeps running until it notices
        proc.wait(timeout=10)
        again = start(*args, log=tmp_path / "second.log")
        assert again.wait(timeout=240) == 0, (tmp_path / "second.log").read_text()[-3000:]
        records = journal(out)
        resume = next(i for i, r in enumerate(records) if r["t"] == "resume")
        first_new = next(i for i, r in enumerate(records) if r["t"] == "slice" and i > resume)
        closed = {r["n"] for r in records[:first_new] if r["t"] == "slice_done"}
        started_before = {r["n"] for r in records[:resume] if r["t"] == "slice"}
        assert started_before <= closed, "a new slice started before the dead campaign's slices were collected"
        assert not any(psutil.pid_exists(pid) and str(tmp_path) in " ".join(psutil.Process(pid).cmdline())
                       for pid in old)  # fmt: skip
        assert not wait_gone(str(tmp_path), 30)
    finally:
        stop(proc, signal.SIGKILL)
        kill_all(str(tmp_path))
