"""``examples/pytest-suite`` runs as its README says: a real pytest run (pytester) of a copy
of it, on two processes (``-n 2``)."""

from __future__ import annotations

import re
import shutil

from fuzzharness.contract.header import PROJECT_ROOT

pytest_plugins = ["pytester"]

EXAMPLE = PROJECT_ROOT / "examples" / "pytest-suite"


def test_the_example_suite_passes_on_the_bundled_targets(pytester):
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".hypothesis", "__pycache__", "found"))  # fmt: skip
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-rA")
    output = result.stdout.str()
    # 3 machines (rust, go, go+rust), 2 programs x 3 targets, 2 saved findings
    result.assert_outcomes(passed=11)
    for test in ("TestRust::runTest", "TestGo::runTest", "TestGoFrontOverRust::runTest",
                 "test_a_snapshot_is_a_copy[go+rust]", "test_saved_finding[divergence-go-7ebd8d206949]",
                 "test_saved_finding[divergence-rust-e0e1e3bf2dda]"):  # fmt: skip
        assert re.search(rf"^PASSED \S*::{re.escape(test)}$", output, re.M), (test, output)
