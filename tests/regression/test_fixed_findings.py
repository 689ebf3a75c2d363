"""Regression: every saved finding under ``corpus/regressions/`` is replayed, through the
project's own pytest plugin (``fuzzharness.pytest_plugin``: the ``fh_findings`` marker), so
the plugin is tested by use.

A finding directory (as ``fuzzharness`` saves it: finding.json, program.fh, and
program.min.fh when minimized) with ``fixed.json`` (``{"fixed": true, "replay_variant":
"release"}``) or no marker must no longer reproduce on ``replay_variant`` (default: the
recorded variant), nor may its minimized program yield any finding there; one with
``expected.json`` must still reproduce. ``control=True``: a fixed finding replayed on
another variant than it was found on must still reproduce on that one (a mutants build,
where the planted bug still is), so the replay is not vacuous. To add one: copy the
finding directory from a campaign's ``findings/`` here and write its ``fixed.json`` once
the fix is merged.
"""

from __future__ import annotations

import pytest

from fuzzharness.contract.header import PROJECT_ROOT
from fuzzharness.pytest_plugin import saved_findings

REGRESSIONS = PROJECT_ROOT / "corpus" / "regressions"


def test_there_are_regression_findings():
    assert saved_findings(REGRESSIONS), f"no saved finding under {REGRESSIONS}"


@pytest.mark.fh_findings(REGRESSIONS, control=True)
def test_saved_finding(fh_finding):
    fh_finding.check()
