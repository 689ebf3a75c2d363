"""The plugin's ``fh_target`` fixture and options by use: real pytest runs (pytester) in a
temporary directory, against the bundled targets (release and mutants builds)."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

PROGRAMS = '''
SNAPSHOT_IS_A_COPY = """
config capacity=4 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576
h0 = create 4
h1 = snapshot h0
write h0 0 x"01"
read h1 0 1
"""

def test_snapshot_is_a_copy(fh_target):
    trace = fh_target.check(SNAPSHOT_IS_A_COPY)
    assert trace[4].value == b"\\x00"
'''

CRASH = '''
TRIGGER = """
config capacity=2 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576
h0 = create 8
write h0 0 x"fd0000"
"""
BENIGN = """
config capacity=2 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576
h0 = create 8
write h0 0 x"010203"
read h0 0 3
"""

def test_1_the_trigger(fh_target):
    fh_target.check(TRIGGER)

def test_2_after_the_crash(fh_target):
    fh_target.check(BENIGN)
'''


def test_fh_target_gives_each_selected_target_in_a_worker(pytester):
    pytester.makepyfile(test_programs=PROGRAMS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "--fh-targets", "rust,go")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_snapshot_is_a_copy?rust? PASSED*", "*test_snapshot_is_a_copy?go? PASSED*"])


def test_the_variant_and_mutant_options_reach_the_worker_and_a_failure_prints_the_program(pytester):
    pytester.makepyfile(test_programs=PROGRAMS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fh-targets", "go",
                                           "--fh-variant", "mutants", "--fh-mutant", "snapshot-shares")  # fmt: skip
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "fuzzharness: targets=go variant=mutants mutant=1" in output  # the report header
    assert "go (variant mutants, mutant snapshot-shares) broke the contract:" in output
    assert "[divergence] go vs model at step 4 `read h1 0 1`: value expected x\"00\", got x\"01\"" in output
    assert "replay it with `fuzzharness repro FILE.fh --targets go --variant mutants --mutant snapshot-shares`" in output
    # the program alone, in a report section (the exception's lines carry pytest's "E" prefix)
    assert "fuzzharness: the failing program of go (save it as FILE.fh)" in output
    assert '# fuzzharness program v1\nconfig capacity=4 strategy=immediate max_resource_bytes=65536 ' \
           'max_total_bytes=1048576\nh0 = create 4\nh1 = snapshot h0\nwrite h0 0 x"01"\nread h1 0 1\n' in output
    assert re.search(r"read h1 0 1 +OK x\"00\" +OK x\"01\" <<", output)


def test_a_crashing_library_fails_its_test_with_the_crash_finding_and_pytest_goes_on(pytester):
    pytester.makepyfile(test_crash=CRASH)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fh-targets", "rust",
                                           "--fh-variant", "mutants", "--fh-mutant", "segfault")  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "[crash] rust: signal, killed by SIGSEGV (in fh call write)" in output
    assert "signature: crash, rust, SIGSEGV, in fh call write" in output
    # the trace shows the steps before the one that killed the worker, and marks that one
    assert re.search(r"1 +h0 = create 8 +OK 0x100000000 +OK 0x100000000", output), output
    assert re.search(r'2 +write h0 0 x"fd0000" +OK +!! killed by SIGSEGV', output), output


@pytest.mark.parametrize("args, message", [
    (("--fh-targets", "rust,nosuch"), "--fh-targets: unknown target(s) nosuch; registered: rust, go"),
    (("--fh-mutant", "nosuch"), "--fh-mutant: unknown mutant 'nosuch' (known: none, snapshot-shares"),
    (("--fh-registry", "nosuch.toml"), "nosuch.toml is not a file"),
])  # fmt: skip
def test_bad_options_are_usage_errors_naming_the_offender(pytester, args, message):
    pytester.makepyfile(test_programs=PROGRAMS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert message in result.stderr.str() + result.stdout.str()
    assert result.ret != 0
