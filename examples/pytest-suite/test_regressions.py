"""Saved findings as regression tests: one test per finding under ``regressions/``.

Copy a finding folder (as ``fuzzharness`` or ``pytest --fh-save-findings DIR`` saves it)
into ``regressions/`` and it is a test: with ``fixed.json`` (or no marker) it passes while
the bug stays fixed, with ``expected.json`` while the known bug still reproduces.
"""

import pytest


@pytest.mark.fh_findings("regressions")
def test_saved_finding(fh_finding):
    fh_finding.check()
