"""Hostile finding files: every one refused in one line, exit 2, no traceback, no hang.

Findings travel between machines and teams, so ``finding.json`` and ``program.fh`` are
untrusted input. Each case below is a real ``fuzzharness repro`` of a saved finding
made hostile in one way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "schema": None, "id": "divergence-rust-000000000000", "kind": "divergence", "targets": ["rust"],
    "variant": "release", "mutant": 0, "seed": 1, "summary": "s", "signature": ["divergence", "rust"],
    "details": {}, "found_at": 1.0, "program_file": "program.fh",
}  # fmt: skip


def schema() -> str:
    from fuzzharness.findings.store import SCHEMA

    return SCHEMA


def finding_dir(tmp_path: Path, text: str | None = None, **changes) -> Path:
    d = tmp_path / "finding"
    d.mkdir()
    data = {**GOOD, "schema": schema(), **changes}
    (d / "finding.json").write_text(text if text is not None else json.dumps(data))
    (d / "program.fh").write_text("# fuzzharness program v1\nconfig capacity=4 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576\nh0 = create 8\n")
    return d


def repro(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fuzzharness.cli", "repro", str(path)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)  # fmt: skip


def assert_refused(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], proc.stderr


@pytest.mark.parametrize("text, needle", [
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ('{"found_at": 1e400}', "finding.json"),
    ('{"found_at": NaN}', "finding.json"),
    ("\xff\xfe not json", "finding.json"),
])  # fmt: skip
def test_hostile_json_is_one_line(tmp_path, text, needle):
    assert_refused(repro(finding_dir(tmp_path, text=text)), needle)


@pytest.mark.parametrize("changes, needle", [
    ({"seed": 1 << 100}, "'seed'"),
    ({"mutant": 1 << 40}, "'mutant'"),
    ({"summary": "\ud800"}, "lone surrogate"),
    ({"signature": ["divergence", "\x1b[2J"]}, "control character"),
    ({"found_at": "yesterday"}, "'found_at'"),
])  # fmt: skip
def test_hostile_fields_are_one_line(tmp_path, changes, needle):
    assert_refused(repro(finding_dir(tmp_path, **changes)), needle)


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    d = finding_dir(tmp_path)
    (d / "finding.json").unlink()
    os.mkfifo(d / "finding.json")
    assert_refused(repro(d), "not a regular file")


def test_a_fifo_program_is_refused_not_waited_on(tmp_path):
    d = finding_dir(tmp_path)
    (d / "program.fh").unlink()
    os.mkfifo(d / "program.fh")
    assert_refused(repro(d), "not a regular file")
