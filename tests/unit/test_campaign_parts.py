"""Campaign building blocks that need no target: config, durations, journal, minimizer ops, reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fuzzharness.contract.header import PROJECT_ROOT
from fuzzharness.errors import CorruptInput, InvalidArgument
from fuzzharness.findings.durable import Journal, read_journal, write_atomic
from fuzzharness.findings.minimize import remove_ops, search
from fuzzharness.lanes.campaign import load_config, parse_duration
from fuzzharness.programs.sequential import Create, Program, Read, Ref, Release, Snapshot, Tweak, Write


def test_durations():
    assert parse_duration("8h") == 8 * 3600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90m") == 5400
    assert parse_duration("45s") == 45
    assert parse_duration(300) == 300
    for bad in ("", "soon", "-5", "0"):
        with pytest.raises(InvalidArgument):
            parse_duration(bad)


def test_the_committed_config_loads_and_names_every_lane():
    config = load_config(PROJECT_ROOT / "ci" / "campaign.toml")
    assert config.duration == 8 * 3600 and config.jobs == 2 and config.slice == 60
    assert set(config.lanes) == {"random", "coverage", "stress", "asan"}
    assert config.lanes["stress"].options == {"threads": 4, "ops": 200}


def test_a_config_with_an_unknown_field_is_one_line_naming_it(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[campaign]\nduraton = '1h'\n")
    with pytest.raises(CorruptInput, match="duraton"):
        load_config(path)
    path.write_text("[lanes.quantum]\nweight = 1\n")
    with pytest.raises(CorruptInput, match="quantum"):
        load_config(path)


def test_journal_survives_a_partial_last_line(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.append({"t": "a"})
        journal.append({"t": "b"})
    with open(path, "ab") as fh:
        fh.write(b'{"t": "half')  # a process killed in the middle of a write
    assert [r["t"] for r in read_journal(path)] == ["a", "b"]
    with Journal(path) as journal:
        journal.append({"t": "c"})
    assert [r["t"] for r in read_journal(path)] == ["a", "b", "c"]


def test_write_atomic_leaves_no_temporary_files(tmp_path):
    write_atomic(tmp_path / "x.json", "1")
    write_atomic(tmp_path / "x.json", "2")
    assert os.listdir(tmp_path) == ["x.json"] and (tmp_path / "x.json").read_text() == "2"


def test_removing_a_create_removes_its_users_and_renumbers_handles():
    program = Program(ops=(Create(4), Create(8), Write(Ref(1), 0, b"ab"), Snapshot(Ref(0)), Read(Tweak(2, 1), 0, 1),
                           Release(Ref(1))))  # fmt: skip
    smaller = remove_ops(program, {0})
    # h0 gone: the snapshot of h0 and the read of that snapshot (h2^1) go too; h1 becomes h0.
    assert smaller.ops == (Create(8), Write(Ref(0), 0, b"ab"), Release(Ref(0)))


def test_search_finds_the_one_op_that_matters():
    ops = tuple(Create(i) for i in range(20)) + (Read(Ref(3), 0, 9),) + tuple(Create(1) for _ in range(10))
    program = Program(ops=ops)

    def keeps(candidates):
        for i, c in enumerate(candidates):
            if any(isinstance(op, Read) and op.length >= 5 for op in c.ops):
                return i
        return None

    result, tried, complete = search(program, keeps, deadline=float("inf"))
    assert complete and tried > 0
    assert result.ops == (Create(0), Read(Ref(0), 0, 5)) or len(result.ops) == 2


def _fake_report(tmp_path: Path) -> dict:
    from fuzzharness.lanes.campaign import CampaignConfig, State
    from fuzzharness.report.campaign_report import build_report

    findings = tmp_path / "findings" / "divergence-rust-abc"
    findings.mkdir(parents=True)
    (findings / "finding.json").write_text(json.dumps({
        "id": "divergence-rust-abc", "kind": "divergence", "targets": ["rust"], "variant": "mutants", "mutant": 1,
        "summary": "rust vs model at step 5", "signature": ["divergence", "rust", "model", "fh_read"],
        "details": {"divergence": {"function": "fh_read"}}, "found_at": 1.0}))  # fmt: skip
    (findings / "program.fh").write_text("# fuzzharness program v1\nconfig capacity=1 strategy=immediate "
                                         "max_resource_bytes=65536 max_total_bytes=1048576\nh0 = create 1\n")  # fmt: skip
    state = State(CampaignConfig(targets=["rust"]), 1, "2026-01-01T00:00:00Z", {"crash-rust-old"})
    state.apply({"t": "lane_status", "lane": "coverage", "status": "unavailable", "reason": "no module"})
    state.apply({"t": "slice_done", "n": 0, "lane": "random", "elapsed": 10.0,
                 "result": {"seconds": 10.0, "execs": 1000, "findings": [{"id": "divergence-rust-abc"}]}})  # fmt: skip
    state.apply({"t": "finding", "id": "divergence-rust-abc", "kind": "divergence", "lane": "random", "elapsed": 3.0})
    state.apply({"t": "finding", "id": "crash-rust-old", "kind": "crash", "lane": "random", "elapsed": 4.0})
    return build_report(state, tmp_path, tmp_path / "queue", final=True, elapsed=10.0)


def test_reports_separate_new_from_known_and_sarif_is_valid(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from fuzzharness.report.campaign_report import to_junit, to_markdown, to_sarif, write_all

    report = _fake_report(tmp_path)
    assert report["new"] == ["divergence-rust-abc"] and report["known"] == ["crash-rust-old"]
    assert report["exit_code"] == 1
    sarif = to_sarif(report)
    schema = json.loads((PROJECT_ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    loc = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "rust_shim/src/ffi.rs"  # the shim export of fh_read
    assert "New findings (1)" in to_markdown(report) and "Known findings (1)" in to_markdown(report)
    import xml.etree.ElementTree as ET

    root = ET.fromstring(to_junit(report))
    assert root.get("failures") == "1" and root.get("skipped") == "2"  # coverage unavailable, one known finding
    write_all(report, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html and "src=" not in html  # self-contained: inline plots, nothing fetched
