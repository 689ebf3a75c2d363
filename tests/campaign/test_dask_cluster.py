"""Campaigns on a Dask cluster (issue 14): a real ``dask scheduler`` and ``dask worker`` processes
on 127.0.0.1 (:class:`fuzzharness.lanes.local_cluster.LocalDaskCluster`), the campaign run as a
user runs it, with one mutant planted in the Rust shim (snapshot-shares: found within the
first batch of every slice).

* a worker SIGKILLed mid-campaign: its running slice is rescheduled on the other worker, every
  finding that reached the client before the kill is in the report, each signature is saved and
  reported once although both workers found it, the report's per-worker table lists both;
* the campaign client SIGKILLed, then restarted with the same ``--out``: the slices it had
  started ran on and their results reach the resumed campaign;
* the parts that need no cluster: what the client accepts from a worker, the config fields,
  the per-worker table from journal records, the local path not importing ``distributed``.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import library_path
from fuzzharness.contract.header import PROJECT_ROOT
from fuzzharness.errors import CorruptInput, InvalidArgument
from fuzzharness.lanes.cluster import (
    check_address,
    save_shipped_corpus,
    save_shipped_finding,
    save_shipped_minimization,
)
from fuzzharness.lanes.local_cluster import LocalDaskCluster

pytestmark = pytest.mark.quality


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}


def _campaign(out: Path, corpus: Path, address: str, tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fuzzharness.cli", "campaign", "--targets", "rust", "--variant", "mutants",
            "--mutant", "snapshot-shares", "--lanes", "random", "--out", str(out), "--corpus", str(corpus), "--json",
            "--scheduler", address, *extra]  # fmt: skip


def _journal(out: Path) -> list[dict]:
    path = out / "journal.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass  # the line being written
    return records


def _saved(out: Path) -> set[str]:
    findings = out / "findings"
    return {p.name for p in findings.iterdir() if not p.name.startswith(".")} if findings.is_dir() else set()


def _running_on(records: list[dict], name: str, lane: str | None = None) -> list[int]:
    done = {r["n"] for r in records if r.get("t") == "slice_done"}
    return [r["n"] for r in records if r.get("t") == "slice_worker" and r.get("name") == name and r["n"] not in done
            and lane in (None, r["lane"])]  # fmt: skip


def _finders(records: list[dict]) -> dict[str, set[str]]:
    """Finding id -> the workers that sent it as it was found."""
    out: dict[str, set[str]] = {}
    for r in records:
        if r.get("t") == "finding" and r.get("event"):
            out.setdefault(r["id"], set()).add(r["name"])
    return out


def _well_within(records: list[dict], slices: list[int]) -> list[int]:
    """Those of ``slices`` that started 2 s ago or more and have 5 s or more left."""
    now = max((r.get("elapsed", 0) for r in records), default=0)
    seconds = {r["n"]: r["seconds"] for r in records if r.get("t") == "slice"}
    started = {r["n"]: r["elapsed"] for r in records if r.get("t") == "slice_worker"}
    return [n for n in slices if now - started[n] >= 2 and started[n] + seconds[n] - now >= 5]


@pytest.fixture(autouse=True)
def _built():
    library_path("rust", "mutants")


def test_a_worker_killed_mid_campaign_loses_nothing_found_and_its_slice_runs_again(tmp_path):
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    with LocalDaskCluster(tmp_path / "cluster", workers=2, threads=1) as cluster:
        cmd = _campaign(out, corpus, cluster.address, tmp_path, "--duration", "60", "--slice", "15", "--seed", "7",
                        "--minimize-seconds", "8")  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        deadline = time.monotonic() + 120
        victim: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            records = _journal(out)
            # A fuzzing slice on worker-1 with time left, once both workers have sent the same finding.
            victim = _well_within(records, _running_on(records, "worker-1", "random"))
            if victim and any(len(names) == 2 for names in _finders(records).values()):
                break
            time.sleep(0.2)
        assert victim and proc.poll() is None, "worker-1 never ran a slice while both workers sent findings"
        found_before = _saved(out) | {r["id"] for r in _journal(out) if r.get("t") == "finding"}
        cluster.kill_worker(1)
        stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    records = _journal(out)
    ids = [f["id"] for f in report["findings"]]
    assert report["status"] == "complete" and report["new"]
    assert found_before <= set(ids), "a finding that reached the client before the kill was lost"
    assert len(ids) == len(set(ids)) and set(ids) == _saved(out), "each signature is saved and reported once"
    both = [fid for fid, names in _finders(records).items() if len(names) == 2]
    assert both and set(both) <= set(ids), "a finding both workers sent is one report entry"
    assert all(f["id"].startswith("divergence-rust-") for f in report["findings"]), ids
    # The slice that was running on worker-1 ran again on worker-0 and was closed there.
    for n in victim:
        starts = [r["name"] for r in records if r.get("t") == "slice_worker" and r["n"] == n]
        [done] = [r for r in records if r.get("t") == "slice_done" and r["n"] == n]
        assert starts[:1] == ["worker-1"] and "worker-0" in starts[1:], starts
        assert done.get("name") == "worker-0" and done["result"]["status"] in ("ok", "skipped"), done
    # Minimized on the cluster: each minimization ran on a worker, and what one produced came back.
    minimized = [r for r in records if r.get("t") == "slice_done" and r["lane"] == "minimize"]
    assert minimized and all(r.get("worker") for r in minimized), minimized
    by_id = {f["id"]: f for f in report["findings"]}
    for r in minimized:
        assert (by_id[r["finding"]]["program_min"] is not None) == (r["result"]["status"] == "ok"), r
    # The per-worker table: both workers, the lost one with its lost slice; the cluster's total.
    workers = {w["name"]: w for w in report["cluster"]["workers"]}
    assert set(workers) == {"worker-0", "worker-1"}, workers
    assert workers["worker-1"]["lost"] >= 1 and workers["worker-0"]["execs"] > 0
    assert sum(w["execs"] for w in workers.values()) == report["execs"] == report["cluster"]["execs"]
    assert report["cluster"]["execs_per_second"] > 0
    markdown = (out / "report.md").read_text()
    assert "## Workers" in markdown and "worker-0" in markdown and "worker-1" in markdown
    assert "worker-1" in (out / "report.html").read_text()
    assert not [p for p in out.rglob(".tmp-*")]


def test_the_campaign_client_killed_and_resumed_collects_what_its_slices_did(tmp_path):
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    with LocalDaskCluster(tmp_path / "cluster", workers=2, threads=1) as cluster:
        cmd = _campaign(out, corpus, cluster.address, tmp_path, "--duration", "24", "--slice", "12", "--seed", "5",
                        "--minimize-seconds", "4")  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            records = _journal(out)
            running = _running_on(records, "worker-0") + _running_on(records, "worker-1")
            if _saved(out) and len(running) == 2:
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        found_before = _saved(out)
        orphans = _running_on(_journal(out), "worker-0") + _running_on(_journal(out), "worker-1")
        assert found_before and orphans
        resumed = subprocess.run(cmd, cwd=PROJECT_ROOT, env=_env(), capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 1, resumed.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "complete" and report["resumes"] == 1 and report["elapsed"] >= 24
    assert found_before <= {f["id"] for f in report["findings"]}
    records = _journal(out)
    for n in orphans:
        [done] = [r for r in records if r.get("t") == "slice_done" and r["n"] == n]
        assert done["result"]["status"] == "ok" and done["result"]["execs"] > 0 and done.get("worker"), done
    assert set(report["lanes"]) == {"random"} and report["lanes"]["random"]["execs"] > 0


# --------------------------------------------------------------------------- without a cluster


def _finding_files(fid: str) -> dict[str, bytes]:
    return {"finding.json": json.dumps({"id": fid, "kind": "divergence", "targets": ["rust"]}).encode(),
            "program.fh": b"create 4\n"}  # fmt: skip


def test_what_a_worker_ships_is_saved_once_and_bad_names_are_refused(tmp_path):
    fid = "divergence-rust-0123456789ab"
    assert save_shipped_finding(tmp_path, fid, _finding_files(fid))["id"] == fid
    assert sorted(p.name for p in (tmp_path / fid).iterdir()) == ["finding.json", "program.fh"]
    (tmp_path / fid / "program.fh").write_text("kept\n")
    save_shipped_finding(tmp_path, fid, _finding_files(fid))  # a second copy: the first stays
    assert (tmp_path / fid / "program.fh").read_text() == "kept\n"
    for bad_id, files in (("../escape", _finding_files("../escape")), (".hidden", _finding_files(".hidden")),
                          ("divergence-rust-aaaaaaaaaaaa", _finding_files("divergence-rust-bbbbbbbbbbbb")),
                          ("divergence-rust-cccccccccccc", {"program.fh": b""}),
                          ("divergence-rust-dddddddddddd", {**_finding_files("divergence-rust-dddddddddddd"),
                                                            "../x": b""})):  # fmt: skip
        with pytest.raises(CorruptInput, match="cluster worker"):
            save_shipped_finding(tmp_path, bad_id, files)
    assert sorted(p.name for p in tmp_path.iterdir()) == [fid], "nothing half-written or outside"
    queue = tmp_path / "queue"
    assert save_shipped_corpus(queue, {"0123456789abcdef.bin": b"\x01", "a" * 40: b"\x02"}) == 2
    assert save_shipped_corpus(queue, {"0123456789abcdef.bin": b"\x01"}) == 0
    with pytest.raises(CorruptInput, match="corpus entry"):
        save_shipped_corpus(queue, {"../../etc.bin": b""})
    save_shipped_minimization(tmp_path / fid, {"program.min.fh": base64.b64encode(b"create 1\n").decode()})
    assert (tmp_path / fid / "program.min.fh").read_bytes() == b"create 1\n"
    with pytest.raises(CorruptInput, match="minimization"):
        save_shipped_minimization(tmp_path / fid, {"finding.json": base64.b64encode(b"{}").decode()})


def test_scheduler_addresses_and_config_fields(tmp_path):
    from fuzzharness.lanes.campaign import load_config

    assert check_address(" tcp://127.0.0.1:8786 ") == "tcp://127.0.0.1:8786"
    for bad in ("127.0.0.1:8786", "tcp://127.0.0.1", "http://x:1", ""):
        with pytest.raises(InvalidArgument, match="not a Dask scheduler address"):
            check_address(bad)
    path = tmp_path / "c.toml"
    path.write_text('[campaign]\nscheduler = "tcp://127.0.0.1:8786"\ncluster_build = true\n')
    config = load_config(path)
    assert config.scheduler == "tcp://127.0.0.1:8786" and config.cluster_build is True
    path.write_text("[campaign]\ncluster_build = 1\n")
    with pytest.raises(CorruptInput, match="cluster_build: must be true or false"):
        load_config(path)
    path.write_text("[campaign]\nscheduler = 8786\n")
    with pytest.raises(CorruptInput, match="scheduler: must be a Dask scheduler address"):
        load_config(path)


def test_the_per_worker_table_comes_from_the_journal(tmp_path):
    from fuzzharness.lanes.campaign import CampaignConfig, State
    from fuzzharness.report.campaign_report import build_report, to_markdown

    state = State(CampaignConfig(targets=["rust"], scheduler="tcp://127.0.0.1:1"), 1, "c", set())
    a = {"worker": "tcp://127.0.0.1:2", "name": "a", "host": "h1"}
    b = {"worker": "tcp://127.0.0.1:3", "name": "b", "host": "h2"}
    for record in (
        {"t": "slice", "n": 0, "lane": "random", "seconds": 10},
        {"t": "slice", "n": 1, "lane": "random", "seconds": 10},
        {"t": "slice_worker", "n": 0, "event": "x/0", **a},
        {"t": "slice_worker", "n": 1, "event": "y/0", **b},
        {"t": "finding", "id": "f1", "kind": "divergence", "count": 1, "event": "y/1", **b},
        {"t": "slice_worker", "n": 1, "event": "z/0", **a},  # b died; slice 1 ran again on a
        {"t": "finding", "id": "f1", "kind": "divergence", "count": 1, "event": "z/1", **a},
        {"t": "slice_done", "n": 0, "lane": "random", "result": {"seconds": 10, "execs": 100, "findings": []}, **a},
        {"t": "slice_done", "n": 1, "lane": "random", "result": {"seconds": 10, "execs": 300,
                                                                 "findings": [{"id": "f1", "count": 5}]}, **a},  # fmt: skip
    ):
        state.apply(record)
    assert state.attempts[1] == ["tcp://127.0.0.1:3", "tcp://127.0.0.1:2"]
    assert state.events == {"x/0", "y/0", "y/1", "z/0", "z/1"}
    report = build_report(state, tmp_path, tmp_path / "queue", final=True, elapsed=20.0)
    rows = {w["name"]: w for w in report["cluster"]["workers"]}
    assert {k: rows["a"][k] for k in ("slices", "lost", "execs", "execs_per_second", "hits", "first_found")} == \
        {"slices": 2, "lost": 0, "execs": 400, "execs_per_second": 20.0, "hits": 1, "first_found": 0}
    assert rows["b"]["slices"] == 0 and rows["b"]["lost"] == 1 and rows["b"]["first_found"] == 1
    assert report["cluster"]["execs_per_second"] == 20.0 and report["execs"] == 400
    assert "| b (tcp://127.0.0.1:3) | h2 | 0 | 1 |" in to_markdown(report)
    local = State(CampaignConfig(targets=["rust"]), 1, "c", set())
    assert build_report(local, tmp_path, tmp_path / "queue", final=True, elapsed=1.0)["cluster"] is None


def test_the_local_campaign_does_not_import_distributed():
    code = ("import sys, fuzzharness.cli, fuzzharness.lanes.campaign, fuzzharness.report.campaign_report; "
            "sys.exit(1 if 'distributed' in sys.modules or 'dask' in sys.modules else 0)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code], env=_env(), cwd=PROJECT_ROOT).returncode == 0


def test_the_benchmark_states_the_overhead_per_size():
    from fuzzharness.bench.cluster import overheads

    rows = [{"mode": "local", "slots": 1, "execs_per_second": 200.0}, {"mode": "local", "slots": 2, "execs_per_second": 380.0},
            {"mode": "dask", "slots": 1, "execs_per_second": 190.0}, {"mode": "dask", "slots": 2, "execs_per_second": 399.0},
            {"mode": "dask", "slots": 3, "execs_per_second": 500.0}]  # fmt: skip
    assert overheads(rows) == {"1": 0.05, "2": -0.05, "3": None}
