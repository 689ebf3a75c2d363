"""A lane's status is the same in report.json, report.md, report.html and report.junit.xml,
and a failed or unbuilt lane is never ``ok``; an interrupted slice's time goes back to its
lane, so the lane is scheduled again."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from hardening_helpers import campaign_args, cli

from conftest import library_path
from fuzzharness.lanes.campaign import CampaignConfig, State
from fuzzharness.report.campaign_report import build_report, write_all


def _statuses(out: Path) -> dict[str, dict[str, str]]:
    """Each lane's status as each report format shows it."""
    report = json.loads((out / "report.json").read_text())
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    junit = ET.parse(out / "report.junit.xml").getroot()
    shown: dict[str, dict[str, str]] = {}
    for name, lane in report["lanes"].items():
        row = next(line for line in md.splitlines() if line.startswith(f"| {name} |"))
        md_status = row.split("|")[2].strip().split(":")[0]
        html_status = "ok" if f"<td>{name}</td><td>ok" in html else next(
            s for s in ("unavailable", "error", "interrupted") if f"<td>{name}</td><td>{s}" in html)  # fmt: skip
        case = next(c for c in junit.iter("testcase") if c.get("classname") == "campaign.lanes" and c.get("name") == name)
        junit_status = ("error" if case.find("failure") is not None else
                        case.find("skipped").get("message").split(":")[0].split()[-1] if case.find("skipped") is not None
                        else "ok")  # fmt: skip
        shown[name] = {"json": lane["status"], "md": md_status, "html": html_status, "junit": junit_status}
    return shown


def test_an_unbuilt_lane_is_unavailable_in_every_format_and_the_others_ok(tmp_path):
    library_path("rust", "release")
    config = tmp_path / "c.toml"
    config.write_text('[lanes.asan]\nvariant = "no-such-variant"\n')
    out = tmp_path / "out"
    proc = cli(*campaign_args(out, tmp_path / "corpus", "--config", str(config), "--lanes", "random,asan",
                              "--duration", "6", "--slice", "3", "--seed", "1"), timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    shown = _statuses(out)
    assert shown["asan"] == dict.fromkeys(("json", "md", "html", "junit"), "unavailable"), shown
    assert shown["random"] == dict.fromkeys(("json", "md", "html", "junit"), "ok"), shown


def _state(tmp_path: Path) -> State:
    state = State(CampaignConfig(out=tmp_path / "out", corpus=tmp_path / "corpus"), 1, "2026-01-01T00:00:00Z", set())
    records = [
        {"t": "slice", "n": 0, "lane": "random", "seed": 1, "seconds": 60.0},
        {"t": "slice_done", "n": 0, "lane": "random", "result": {"status": "error", "error": "boom", "execs": 50, "seconds": 3.0}},
        {"t": "slice", "n": 1, "lane": "asan", "seed": 2, "seconds": 60.0},
        {"t": "slice_done", "n": 1, "lane": "asan", "result": {"status": "interrupted", "execs": 0, "seconds": 5.0}},
        {"t": "slice", "n": 2, "lane": "stress", "seed": 3, "seconds": 60.0},
        {"t": "slice_done", "n": 2, "lane": "stress", "result": {"status": "ok", "execs": 10, "seconds": 60.0}},
    ]  # fmt: skip
    for record in records:
        state.apply(record)
    return state


def test_a_failed_lane_is_error_and_an_interrupted_one_interrupted_in_every_format(tmp_path):
    state = _state(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    write_all(build_report(state, out, tmp_path / "queue", final=True, elapsed=70.0), out)
    shown = _statuses(out)
    assert shown["random"] == dict.fromkeys(("json", "md", "html", "junit"), "error"), shown
    assert shown["asan"] == dict.fromkeys(("json", "md", "html", "junit"), "interrupted"), shown
    assert shown["stress"] == dict.fromkeys(("json", "md", "html", "junit"), "ok"), shown


def test_an_interrupted_slice_gives_its_unused_time_back_to_its_lane(tmp_path):
    state = _state(tmp_path)
    assert state.lanes["asan"]["scheduled"] == 5.0  # 60 s planned, 5 s run: the lane is behind, scheduled first
    assert state.lanes["stress"]["scheduled"] == 60.0 and state.lanes["random"]["scheduled"] == 60.0
