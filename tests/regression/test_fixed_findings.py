"""Regression: every saved finding marked fixed is replayed and must no longer reproduce.

A finding directory under ``corpus/regressions/`` (as ``fuzzharness`` saves it: finding.json,
program.fh, and program.min.fh when minimized) with a ``fixed.json`` of
``{"fixed": true, "replay_variant": "release"}`` is replayed on ``replay_variant`` (default: the
recorded variant); the test fails if the bug is back. To add one: copy the finding directory
from a campaign's ``findings/`` here and write its ``fixed.json`` once the fix is merged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import library_path
from fuzzharness.contract.header import PROJECT_ROOT
from fuzzharness.findings.repro import reproduce

REGRESSIONS = PROJECT_ROOT / "corpus" / "regressions"


def _fixed() -> list[Path]:
    out = []
    for marker in sorted(REGRESSIONS.glob("*/fixed.json")):
        if json.loads(marker.read_text()).get("fixed") is True:
            out.append(marker.parent)
    return out


def test_there_are_regression_findings():
    assert _fixed(), f"no finding marked fixed under {REGRESSIONS}"


@pytest.mark.parametrize("directory", _fixed(), ids=lambda p: p.name)
def test_fixed_finding_does_not_reproduce(directory: Path):
    marker = json.loads((directory / "fixed.json").read_text())
    saved = json.loads((directory / "finding.json").read_text())
    variant = marker.get("replay_variant") or saved["variant"]
    for target in saved["targets"]:
        library_path(target, variant)
    result = reproduce(directory, times=2, variant=variant)
    assert result.reproduced == 0, f"{directory.name} is back on {variant}: {result.verdict}\n{result.trace}"
    minimal = directory / "program.min.fh"
    if minimal.is_file():
        again = reproduce(minimal, targets=",".join(saved["targets"]), variant=variant)
        assert not again.reproduced, f"{minimal} yields findings on {variant}:\n{again.trace}"


@pytest.mark.parametrize("directory", _fixed(), ids=lambda p: p.name)
def test_regression_finding_still_reproduces_where_the_bug_is(directory: Path):
    """Not vacuous: where the bug still is (a mutants build), the saved finding reproduces."""
    saved = json.loads((directory / "finding.json").read_text())
    if saved["variant"] == (json.loads((directory / "fixed.json").read_text()).get("replay_variant") or saved["variant"]):
        pytest.skip("the bug was fixed in the recorded variant itself: nothing left to reproduce it on")
    for target in saved["targets"]:
        library_path(target, saved["variant"])
    assert reproduce(directory).reproduced == 1
