"""The plugin's ``fh_findings`` marker by use: real pytest runs (pytester) in a temporary
directory, on a folder of saved findings copied from ``corpus/regressions/``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from fuzzharness.contract.header import PROJECT_ROOT
from fuzzharness.errors import CorruptInput, InvalidArgument
from fuzzharness.pytest_plugin import saved_findings

pytest_plugins = ["pytester"]

#: A finding of the snapshot-shares mutant of the Rust shim (mutants build, mutant 1).
FINDING = PROJECT_ROOT / "corpus" / "regressions" / "divergence-rust-2354c00871b4"

#: name -> (marker file, its content): what each copy of the finding must do.
COPIES = {
    "fixed": ("fixed.json", {"fixed": True, "replay_variant": "release"}),  # gone on release: passes
    "back": (None, None),  # no marker: must not reproduce, but does on its mutants build: fails
    "known": ("expected.json", {"note": "still there"}),  # must reproduce, does: passes
    "gone": ("expected.json", {"replay_variant": "release"}),  # must reproduce, does not: fails
}

REPLAY = """
import pytest

@pytest.mark.fh_findings("regressions")
def test_saved(fh_finding):
    fh_finding.check()
"""


def copy_finding(folder: Path, name: str, marker: str | None, content: dict | None) -> Path:
    target = folder / name
    shutil.copytree(FINDING, target, ignore=shutil.ignore_patterns("fixed.json", "expected.json"))
    if marker is not None:
        (target / marker).write_text(json.dumps(content))
    return target


def outcomes_by_id(output: str) -> dict[str, str]:
    """Each test_saved[...] id's outcome, from the ``-rA`` short summary."""
    return dict((m.group(2), m.group(1)) for m in re.finditer(r"^(PASSED|FAILED) \S*test_saved\[(\w+)\]", output, re.M))


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist-n2"])
def test_a_folder_of_saved_findings_becomes_one_test_per_finding(pytester, workers):
    for name, (marker, content) in COPIES.items():
        copy_finding(pytester.path / "regressions", name, marker, content)
    pytester.makepyfile(test_replay=REPLAY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", *workers)
    output = result.stdout.str()
    assert outcomes_by_id(output) == {"fixed": "PASSED", "back": "FAILED", "known": "PASSED", "gone": "FAILED"}, output
    result.assert_outcomes(passed=2, failed=2)
    if workers:
        assert "2 workers" in output
    # A reproducing fixed finding fails with its trace: the step that broke, marked.
    assert "is back on mutants: reproduced in all 2 runs" in output
    assert re.search(r"read h2\^0x2 6 6 +OK x\"000000000000\" +STALE_HANDLE <<", output), output
    # An expected one that stopped reproducing says what to do.
    assert "the bug seems fixed; replace expected.json with fixed.json" in output


def test_a_missing_folder_or_a_bad_marker_is_a_collection_error(pytester):
    bad = copy_finding(pytester.path / "bad", "undecided", "fixed.json", {"fixed": False})
    pytester.makepyfile(
        test_missing='import pytest\n@pytest.mark.fh_findings("nowhere")\ndef test_saved(fh_finding):\n    pass\n',
        test_bad='import pytest\n@pytest.mark.fh_findings("bad")\ndef test_saved(fh_finding):\n    pass\n',
        test_unmarked="def test_saved(fh_finding):\n    pass\n",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--continue-on-collection-errors")
    output = result.stdout.str()
    assert "Traceback" not in output and "pytest_plugin.py" not in output  # one line each, no harness stack
    assert f"{pytester.path / 'nowhere'} is not a directory of saved findings" in output
    assert f"{bad / 'fixed.json'}: 'fixed' must be true; a finding that must still reproduce gets expected.json" in output
    assert "the fh_finding fixture needs @pytest.mark.fh_findings(FOLDER)" in output
    assert result.ret != 0


def test_saved_findings_reads_markers_and_skips_saves_in_progress(tmp_path):
    copy_finding(tmp_path, "a", "fixed.json", {"fixed": True, "replay_variant": "release", "note": "n"})
    copy_finding(tmp_path / "group", "b", "expected.json", {})
    copy_finding(tmp_path, ".tmp-c-123", None, None)  # an atomic save in progress
    found = saved_findings(tmp_path, times=3)
    assert [(f.id, f.expectation, f.replay_variant, f.times) for f in found] == [
        ("a", "fixed", "release", 3), ("b", "expected", None, 3)]  # fmt: skip
    assert found[0].note == "n"


def test_saved_findings_refuses_contradictions(tmp_path):
    both = copy_finding(tmp_path, "both", "fixed.json", {"fixed": True})
    (both / "expected.json").write_text("{}")
    with pytest.raises(CorruptInput, match="has both fixed.json and expected.json"):
        saved_findings(tmp_path)
    (both / "fixed.json").unlink()
    (both / "expected.json").write_text('{"replay_variant": 3}')
    with pytest.raises(CorruptInput, match="'replay_variant' must be a variant name or null"):
        saved_findings(tmp_path)
    with pytest.raises(InvalidArgument, match="times must be at least 1"):
        saved_findings(tmp_path, times=0)
