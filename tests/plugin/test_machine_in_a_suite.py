"""The state machine and the plugin's options in a user's suite, by use: real pytest runs
(pytester) of a suite for a target of a user registry with opaque handles (the slotmap
adapter of ``examples/slotmap-adapter``, built by its own ``cargo build``) and a bundled one."""

from __future__ import annotations

import re

from fuzzharness.contract.header import PROJECT_ROOT

pytest_plugins = ["pytester"]

USER_REGISTRY = PROJECT_ROOT / "examples" / "slotmap-adapter" / "registry.toml"

SUITE = {
    "test_machines": """
from hypothesis import settings
from fuzzharness.hypothesis import ownership_machine

TestSlotmap = ownership_machine("slotmap").TestCase
TestSlotmap.settings = settings(TestSlotmap.settings, derandomize=True, database=None)
TestRust = ownership_machine("rust").TestCase
TestRust.settings = settings(TestRust.settings, max_examples=30, derandomize=True, database=None)
""",
    "test_programs": '''
def test_a_released_handle_is_dead(fh_target):
    fh_target.check("""
        config capacity=4 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576
        h0 = create 8
        release h0
        read h0 0 1
    """)
''',
}


def test_a_user_registry_target_with_opaque_handles_passes_where_it_keeps_the_contract(pytester):
    pytester.makepyfile(**SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", f"--fh-registry={USER_REGISTRY}")
    output = result.stdout.str()
    assert f"fuzzharness: registry={USER_REGISTRY}" in output
    # fh_target defaults to the user registry's targets; both machines run
    assert re.search(r"^PASSED test_programs.py::test_a_released_handle_is_dead\[slotmap\]$", output, re.M), output
    assert "PASSED test_machines.py::TestSlotmap::runTest" in output and "PASSED test_machines.py::TestRust::runTest" in output
    result.assert_outcomes(passed=3)


def test_the_machine_honours_the_options_and_fails_with_the_finding_and_the_program(pytester):
    pytester.makepyfile(**SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", f"--fh-registry={USER_REGISTRY}",
                                           "--fh-targets", "slotmap", "--fh-variant", "weak-alias")  # fmt: skip
    output = result.stdout.str()
    result.assert_outcomes(passed=1, failed=1, deselected=1)  # TestRust: not among --fh-targets
    assert "[handle_alias] slotmap vs model" in output  # the opaque oracle's finding kind
    assert "signature: handle_alias, slotmap, model" in output
    assert f"FUZZHARNESS_REGISTRY={USER_REGISTRY} fuzzharness repro FILE.fh --targets slotmap --variant weak-alias" in output
    section = re.search(r"-+ fuzzharness: the failing program of slotmap \(save it as FILE.fh\) -+\n(.*?)\n(?:=|-)",
                        output, re.S)  # fmt: skip
    assert section is not None, output
    program = section.group(1).splitlines()
    assert program[0] == "# fuzzharness program v1" and 2 <= len(program) - 2 <= 6, program  # shrunk to a few ops
