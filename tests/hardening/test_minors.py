"""The issue's minor items, each a real command or call: escaped control characters, reports
archived on a new night, durations, repro's hints and per-path results, retargeted
signatures, target lists, bench --size, build naming every missing tool, cov in --help,
make campaign building cov, equal file modes in a finding, plots with legends from 0."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from hardening_helpers import ROOT, assert_one_line, campaign_args, cli

from conftest import library_path
from fuzzharness import cli as cli_module
from fuzzharness.contract import registry
from fuzzharness.errors import InvalidArgument
from fuzzharness.findings.durable import write_atomic
from fuzzharness.findings.repro import retarget
from fuzzharness.findings.store import SCHEMA, Finding, FindingKind, save
from fuzzharness.lanes.campaign import CampaignConfig, State, parse_duration
from fuzzharness.programs.sequential import parse_text
from fuzzharness.report.campaign_report import build_report, to_html
from fuzzharness.report.text import printable

PROGRAM = ("# fuzzharness program v1\nconfig capacity=4 strategy=immediate max_resource_bytes=65536 "
           "max_total_bytes=1048576\nh0 = create 8\n")  # fmt: skip


def _finding(directory: Path, **changes) -> Path:
    directory.mkdir(parents=True)
    (directory / "program.fh").write_text(PROGRAM)
    data = {"schema": SCHEMA, "id": "divergence-rust-000000000000", "kind": "divergence", "targets": ["rust"],
            "variant": "release", "mutant": 0, "seed": 1, "summary": "s", "signature": ["divergence", "rust"],
            "details": {}, "found_at": 1.0, "program_file": "program.fh", **changes}  # fmt: skip
    (directory / "finding.json").write_text(json.dumps(data))
    return directory


@pytest.mark.parametrize("text, seconds", [("1h30", 5400), ("1h30m", 5400), ("1m30", 90), ("90m", 5400), ("300", 300),
                                           ("45s", 45), ("2h", 7200)])  # fmt: skip
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["\u0661\u0662", "nan", "1x", "", "0", "99999h", "1h-30"])
def test_bad_durations_are_refused(text):
    with pytest.raises(InvalidArgument, match="duration"):
        parse_duration(text)


def test_control_characters_from_finding_files_are_escaped_on_output(tmp_path):
    library_path("rust", "release")
    d = _finding(tmp_path / "f", summary="evil \u202e summary", signature=["divergence", "rust", "\u2066x"])
    hostile = tmp_path / "bad\x1b[2Jname"
    proc = cli("repro", str(d), str(hostile), timeout=120)
    assert "\x1b" not in proc.stdout + proc.stderr and "\u2066" not in proc.stdout
    assert "\\u2066x" in proc.stdout and "bad\\x1b[2Jname" in proc.stderr
    assert printable("a\x1b[2J\x9b\u202eb\n\t") == "a\\x1b[2J\\x9b\\u202eb\n\t"


def test_a_bad_second_path_does_not_hide_the_first_result(tmp_path):
    library_path("rust", "release")
    d = _finding(tmp_path / "f")
    proc = cli("repro", str(d), str(tmp_path / "missing"), timeout=120)
    assert f"== {d}" in proc.stdout and "verdict: NOT REPRODUCED" in proc.stdout
    assert_one_line(proc, f"{tmp_path / 'missing'}: no such file or directory")


def test_repro_of_a_findings_folder_gives_a_hint(tmp_path):
    _finding(tmp_path / "findings" / "divergence-rust-000000000000")
    proc = cli("repro", str(tmp_path / "findings"), timeout=60)
    assert_one_line(proc, f"a folder of 1 finding(s), not one finding; replay them with `fuzzharness repro {tmp_path / 'findings'}/*`")


def test_repro_on_other_targets_expects_the_signature_with_the_target_replaced():
    assert retarget(["panic", "rust", "create"], ["rust"], ["go"]) == ["panic", "go", "create"]
    assert retarget(["crash", "go+rust", "SIGSEGV"], ["go+rust"], ["rust"]) == ["crash", "rust", "SIGSEGV"]
    assert retarget(["divergence", "rust", "model"], ["rust"], ["rust", "go"]) == ["divergence", "rust", "model"]


@pytest.mark.parametrize("command", [["fuzz", "--seconds", "1"], ["repro", "x"], ["covfuzz", "--seconds", "1"]])
def test_a_target_list_with_an_empty_name_is_refused(tmp_path, command):
    proc = cli(*command, "--targets", "rust,,go", timeout=60)
    assert_one_line(proc, "--targets: 'rust,,go' has an empty name")
    proc = cli(*campaign_args(tmp_path / "out", tmp_path / "corpus", "--duration", "5", targets="rust,"), timeout=60)
    assert_one_line(proc, "--targets: 'rust,' has an empty name")


@pytest.mark.parametrize("size, needle", [("2000000", "--size: bytes per resource from 1 to 1048576, got 2000000"),
                                          ("1048576", "--size 1048576 x --live 2000 x 2 threads is more than 1024 MiB")])  # fmt: skip
def test_bench_size_is_validated(tmp_path, size, needle):
    proc = cli("bench", "--targets", "rust", "--size", size, "--live", "2000", "--out", str(tmp_path / "b"),
               "--no-progress", timeout=60)  # fmt: skip
    assert_one_line(proc, needle)
    assert not (tmp_path / "b").exists()


def test_build_names_every_missing_tool_at_once(monkeypatch, capsys):
    monkeypatch.setattr(registry.shutil, "which", lambda tool: None)
    assert cli_module.main(["build"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cargo (for rust" in err[0] and "go (for go" in err[0], err


def test_help_lists_the_cov_variants_and_make_campaign_builds_them():
    proc = cli("build", "--help", timeout=60)
    assert "cov and mutants-cov" in " ".join(proc.stdout.split())
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^campaign: .*\bbuild-cov\b", makefile, re.M)


def test_a_new_night_archives_the_previous_reports(tmp_path):
    library_path("rust", "release")
    args = campaign_args(tmp_path / "out", tmp_path / "corpus", "--lanes", "random", "--duration", "2", "--slice", "2")
    assert cli(*args).returncode == 0
    first = json.loads((tmp_path / "out" / "report.json").read_text())
    assert cli(*args).returncode == 0
    night = tmp_path / "out" / "history" / first["campaign"].replace(":", "")
    assert json.loads((night / "report.json").read_text()) == first
    assert {p.name for p in night.iterdir()} >= {"journal.jsonl", "report.md", "report.html", "report.junit.xml"}
    assert json.loads((tmp_path / "out" / "report.json").read_text())["campaign"] != first["campaign"]


def test_files_of_one_finding_have_the_same_mode(tmp_path):
    finding = Finding(kind=FindingKind.divergence, targets=["rust"], variant="release", mutant=0, seed=1,
                      program=parse_text(PROGRAM, "p"), summary="s", signature=["divergence", "rust"], trace="t")  # fmt: skip
    saved = save(finding, tmp_path / "findings")
    write_atomic(saved / "minimized.json", "{}\n")  # as the minimizer writes
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in saved.iterdir()}
    assert len(set(modes.values())) == 1, modes
    assert stat.S_IMODE(saved.stat().st_mode) & 0o055 == 0o055  # the team can read and enter it


def test_plots_start_at_0_with_a_legend(tmp_path):
    state = State(CampaignConfig(out=tmp_path, corpus=tmp_path), 1, "2026-01-01T00:00:00Z", set())
    state.apply({"t": "slice", "n": 0, "lane": "random", "seed": 1, "seconds": 60.0})
    state.apply({"t": "slice_done", "n": 0, "lane": "random", "elapsed": 120.0, "corpus_size": 3,
                 "result": {"status": "ok", "execs": 500, "seconds": 60.0}})  # fmt: skip
    html = to_html(build_report(state, tmp_path, tmp_path / "queue", final=True, elapsed=130.0))
    assert html.count('id="legend_1"') == 2  # both plots have a legend
    assert ">0<" in html or ">0.0<" in html or "0 " in html


def test_a_go_rust_campaign_marks_the_coverage_lane_unavailable_instead_of_failing_its_slices(tmp_path):
    proc = cli(*campaign_args(tmp_path / "out", tmp_path / "corpus", "--lanes", "coverage", "--duration", "5",
                              targets="go+rust"), timeout=60)  # fmt: skip
    assert_one_line(proc, "coverage (unavailable)", code=4)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["lanes"]["coverage"]["status"] == "unavailable" and report["lanes"]["coverage"]["slices"] == 0
    assert "no build variant 'cov'" in report["lanes"]["coverage"]["reason"]
