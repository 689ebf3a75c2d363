"""Campaigns end to end on the mutants build: dedup, minimization, reports, exit codes, resume.

Each test runs `fuzzharness campaign` as a user would (a subprocess), for ~10-25 s, with
one mutant planted in the Rust shim (snapshot-shares: found within the first batch).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fuzzharness.contract.header import PROJECT_ROOT

pytestmark = pytest.mark.quality

from conftest import library_path  # noqa: E402


def _cmd(out: Path, corpus: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fuzzharness.cli", "campaign", "--targets", "rust", "--variant", "mutants",
            "--mutant", "snapshot-shares", "--out", str(out), "--corpus", str(corpus), "--json", *extra]  # fmt: skip


def _run(cmd: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT, env=env)


@pytest.fixture(autouse=True)
def _built():
    library_path("rust", "mutants")


def _deterministic_config(tmp_path: Path) -> Path:
    # corpus_rate 0: the random lane's programs depend only on the seed (see test_second_night).
    path = tmp_path / "campaign.toml"
    path.write_text("[lanes.random]\nweight = 1\ncorpus_rate = 0\n")
    return path


def test_campaign_reports_each_bug_once_minimized_with_valid_sarif_and_junit(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    proc = _run(_cmd(out, corpus, "--duration", "14", "--slice", "7", "--lanes", "random,asan",
                     "--seed", "3", "--minimize-seconds", "15"))  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "complete" and report["new"]
    ids = [f["id"] for f in report["findings"]]
    assert len(ids) == len(set(ids)), "each signature is reported once"
    assert sorted(ids) == sorted(p.name for p in (out / "findings").iterdir() if not p.name.startswith("."))
    assert any(f["count"] > 1 for f in report["findings"]), "hits of one bug are counted, not saved twice"
    for f in report["findings"]:
        assert f["program_min"] is not None, f"{f['id']} was not minimized: {f['minimized']}"
        assert f["program_min_ops"] <= 6, f["program_min"]
        assert "--mutant 1" in f["repro_min"]
    assert set(report["lanes"]) == {"random", "asan"}
    # The repro command of the minimal program reproduces it.
    first = report["findings"][0]
    replay = _run([sys.executable, "-m", "fuzzharness.cli", *first["repro_min"].split()[1:]], timeout=120)
    assert replay.returncode == 1 and "FOUND" in replay.stdout, replay.stdout[-2000:]
    schema = json.loads((PROJECT_ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    sarif = json.loads((out / "report.sarif").read_text())
    jsonschema.validate(sarif, schema)
    assert len(sarif["runs"][0]["results"]) == len(ids)
    for result in sarif["runs"][0]["results"]:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert (PROJECT_ROOT / uri).is_file() and uri.startswith("rust_shim/"), uri
    junit = ET.parse(out / "report.junit.xml").getroot()
    cases = junit.findall(".//testcase")
    assert len(cases) == len(report["lanes"]) + len(ids)
    assert int(junit.get("failures")) >= len(report["new"])
    assert "<svg" in (out / "report.html").read_text()


def test_second_night_reports_known_findings_and_exits_0(tmp_path):
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    config = _deterministic_config(tmp_path)
    common = ("--config", str(config), "--lanes", "random", "--jobs", "1", "--seed", "11", "--minimize-seconds", "2")
    first = _run(_cmd(out, corpus, "--duration", "8", "--slice", "4", *common))
    assert first.returncode == 1, first.stderr[-3000:]
    night1 = json.loads((out / "report.json").read_text())
    assert night1["new"] and not night1["known"]
    # The same seed and a shorter night: the same first programs, so only bugs seen last night.
    second = _run(_cmd(out, corpus, "--duration", "2", "--slice", "2", *common))
    night2 = json.loads((out / "report.json").read_text())
    assert night2["campaign"] != night1["campaign"] and (out / "history").is_dir()
    assert night2["known"] and not night2["new"], night2["findings"]
    assert second.returncode == 0, second.stderr[-3000:]
    assert set(night2["known"]) <= set(night1["new"])


def test_pr_mode_stops_at_the_first_new_finding_with_exit_1(tmp_path):
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    start = time.monotonic()
    proc = _run(_cmd(out, corpus, "--duration", "120", "--slice", "60", "--lanes", "random", "--until-first-finding",
                     "--minimize-seconds", "5"))  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert time.monotonic() - start < 60, "PR mode ran on after the first finding"
    report = json.loads((out / "report.json").read_text())
    assert report["new"] and report["until_first_finding"]


def test_sigkill_mid_campaign_then_resume_loses_nothing(tmp_path):
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    cmd = _cmd(out, corpus, "--duration", "16", "--slice", "4", "--lanes", "random,stress", "--seed", "5",
               "--minimize-seconds", "5")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    findings = out / "findings"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        saved = [p for p in findings.iterdir() if not p.name.startswith(".")] if findings.is_dir() else []
        journal = (out / "journal.jsonl").read_text() if (out / "journal.jsonl").exists() else ""
        if saved and '"slice_done"' in journal:
            break
        time.sleep(0.2)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before_findings = {p.name for p in findings.iterdir() if not p.name.startswith(".")}
    queue = corpus / "rust" / "queue"
    before_corpus = {p.name for p in queue.iterdir()}
    elapsed_before = max(json.loads(line).get("elapsed", 0) for line in (out / "journal.jsonl").read_text().splitlines()
                         if line.strip().endswith("}"))  # fmt: skip
    assert before_findings and 0 < elapsed_before < 16
    start = time.monotonic()
    resumed = _run(cmd)
    took = time.monotonic() - start
    assert resumed.returncode == 1, resumed.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "complete" and report["resumes"] == 1
    assert before_findings <= {f["id"] for f in report["findings"]}, "a finding saved before SIGKILL was lost"
    assert before_corpus <= {p.name for p in queue.iterdir()}, "a corpus entry was lost"
    assert report["elapsed"] >= 16 and took < 16 + 40, "resume continued the remaining time, not a new campaign"
    assert not [p for p in out.rglob(".tmp-*")], "a half-written file was left behind"
    for path in out.rglob("*.json"):
        json.loads(path.read_text())  # every JSON file is whole
