"""Nothing is written outside the output tree: a symbolic link inside it (a finding
directory, the findings folder, a minimization's output file) is refused, never followed."""

from __future__ import annotations

import json

import pytest
from hardening_helpers import assert_one_line, campaign_args, cli

from fuzzharness.errors import InvalidArgument
from fuzzharness.findings.minimize import MIN_INFO_FILE, MIN_PROGRAM_FILE, minimize_saved
from fuzzharness.findings.store import SCHEMA, Finding, FindingKind, save
from fuzzharness.programs.sequential import parse_text

PROGRAM = ("# fuzzharness program v1\nconfig capacity=4 strategy=immediate max_resource_bytes=65536 "
           "max_total_bytes=1048576\nh0 = create 8\n")  # fmt: skip


def _finding(directory) -> None:
    directory.mkdir(parents=True)
    (directory / "program.fh").write_text(PROGRAM)
    (directory / "finding.json").write_text(json.dumps({
        "schema": SCHEMA, "id": "divergence-rust-000000000000", "kind": "divergence", "targets": ["rust"],
        "variant": "release", "mutant": 0, "seed": 1, "summary": "s", "signature": ["divergence", "rust"],
        "details": {}, "found_at": 1.0, "program_file": "program.fh"}))  # fmt: skip


def _tree(path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_minimizing_a_symlinked_finding_directory_writes_nothing_through_it(tmp_path):
    outside = tmp_path / "elsewhere" / "finding"
    _finding(outside)
    before = _tree(outside.parent)
    link = tmp_path / "out" / "findings" / "divergence-rust-000000000000"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidArgument, match="is a symbolic link; refusing to write a minimization"):
        minimize_saved(link, seconds=2)
    assert _tree(outside.parent) == before


@pytest.mark.parametrize("name", [MIN_PROGRAM_FILE, MIN_INFO_FILE])
def test_a_symlinked_minimization_output_file_is_refused(tmp_path, name):
    directory = tmp_path / "out" / "findings" / "f"
    _finding(directory)
    target = tmp_path / "victim"
    target.write_text("precious")
    (directory / name).symlink_to(target)
    with pytest.raises(InvalidArgument, match=f"{name}: is a symbolic link"):
        minimize_saved(directory, seconds=2)
    assert target.read_text() == "precious"


def test_saving_into_a_symlinked_findings_directory_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    link = tmp_path / "findings"
    link.symlink_to(outside, target_is_directory=True)
    finding = Finding(kind=FindingKind.divergence, targets=["rust"], variant="release", mutant=0, seed=1,
                      program=parse_text(PROGRAM, "p"), summary="s", signature=["divergence", "rust"], trace="")  # fmt: skip
    with pytest.raises(InvalidArgument, match="findings: is a symbolic link"):
        save(finding, link)
    assert not any(outside.iterdir())


def test_a_campaign_whose_findings_folder_is_a_symlink_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "findings").symlink_to(outside, target_is_directory=True)
    proc = cli(*campaign_args(tmp_path / "out", tmp_path / "corpus", "--duration", "5"), timeout=60)
    assert_one_line(proc, f"{tmp_path / 'out' / 'findings'}: is a symbolic link")
    assert not any(outside.iterdir())
