"""Exit codes a scheduler can trust: an interrupted run is 5, a run that checked nothing is 4
(never 0), each said in one line without a traceback."""

from __future__ import annotations

import json
import signal
import time

import pytest
from hardening_helpers import assert_one_line, campaign_args, cli, journal, kill_all, start, stop, wait_for, wait_gone

from conftest import library_path
from fuzzharness import cli as cli_module
from fuzzharness.bench import reclamation


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_campaign_exits_5_and_says_so_everywhere(tmp_path, sig):
    library_path("rust", "release")
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    proc = start(*campaign_args(out, corpus, "--lanes", "random", "--duration", "60", "--slice", "30", "--seed", "2"),
                 log=tmp_path / "log")  # fmt: skip
    try:
        wait_for(lambda: any(r["t"] == "slice" for r in journal(out)), 60, "the first slice")
        time.sleep(2)
        assert stop(proc, sig) == 5, (tmp_path / "log").read_text()[-3000:]
        log = (tmp_path / "log").read_text()
        assert "Traceback" not in log and "interrupted" in log
        report = json.loads((out / "report.json").read_text())
        assert report["status"] == "interrupted" and report["exit_code"] == 5
        assert "exit code 5" in (out / "report.md").read_text()
        assert not wait_gone(str(tmp_path), 30)
    finally:
        stop(proc, signal.SIGKILL)
        kill_all(str(tmp_path))


def test_a_campaign_whose_every_lane_is_unavailable_exits_4_naming_the_lane(tmp_path):
    config = tmp_path / "campaign.toml"
    config.write_text('[lanes.random]\nvariant = "no-such-variant"\n')
    proc = cli(*campaign_args(tmp_path / "out", tmp_path / "corpus", "--config", str(config), "--lanes", "random",
                              "--duration", "5"), timeout=60)  # fmt: skip
    line = assert_one_line(proc, "no lane did a single exec", code=4)
    assert "random (unavailable)" in line
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["exit_code"] == 4 and report["lanes"]["random"]["status"] == "unavailable"
    assert "no-such-variant" in report["lanes"]["random"]["reason"]


def test_a_ctrl_c_fuzz_exits_5_without_a_traceback(tmp_path):
    library_path("rust", "release")
    proc = start("fuzz", "--targets", "rust", "--seconds", "60", "--jobs", "2", "--out", str(tmp_path / "out"),
                 log=tmp_path / "log")  # fmt: skip
    try:
        time.sleep(6)
        code = stop(proc, signal.SIGINT)  # the whole foreground group, as a terminal's Ctrl-C
        log = (tmp_path / "log").read_text(errors="replace")
        assert "Traceback" not in log and "KeyboardInterrupt" not in log, log[-3000:]
        assert code == 5, log[-3000:]
        assert not wait_gone(str(tmp_path), 30)
    finally:
        stop(proc, signal.SIGKILL)
        kill_all(str(tmp_path))


def test_a_bench_that_measured_nothing_exits_4(tmp_path, monkeypatch, capsys):
    library_path("rust", "release")
    monkeypatch.setattr(reclamation, "run_bench", lambda options, progress: {"configurations": []})
    monkeypatch.setattr(reclamation, "print_summary", lambda report: None)
    code = cli_module.main(["bench", "--targets", "rust", "--out", str(tmp_path / "bench"), "--no-progress"])
    assert code == 4
    assert "measured nothing (no configuration ran)" in capsys.readouterr().err
    assert reclamation.measured_nothing({"configurations": [{"status": "ok", "throughput": {"calls": 0}}]})
    assert reclamation.measured_nothing({"configurations": [{"status": "ok", "throughput": {"calls": 5}}]}) is None
