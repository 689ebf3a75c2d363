"""Command-line contract: exit codes and one-line errors for bad usage and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fuzzharness.cli import COMMANDS, _parser, main
from fuzzharness.contract.registry import REGISTRY_ENV


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != REGISTRY_ENV}  # the bundled registry alone
    return subprocess.run([sys.executable, "-m", "fuzzharness.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env)  # fmt: skip


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_and_takes_a_registry(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: fuzzharness " + command in out and "--registry FILE" in out


def test_registry_option_before_or_after_the_command():
    parser = _parser()
    assert str(parser.parse_args(["--registry", "a.toml", "abi-check"]).registry) == "a.toml"
    assert str(parser.parse_args(["abi-check", "--registry", "b.toml"]).registry) == "b.toml"
    assert str(parser.parse_args(["--registry", "a.toml", "abi-check", "--registry", "b.toml"]).registry) == "b.toml"
    assert not hasattr(parser.parse_args(["abi-check"]), "registry")  # then $FUZZHARNESS_REGISTRY decides
    args = parser.parse_args(["new-target", "mylib", "--language", "go", "--dir", "x"])
    assert (args.name, args.language, str(args.dir)) == ("mylib", "go", "x")


def test_unknown_target_is_bad_usage():
    proc = run_cli("fuzz", "--targets", "cobol", "--runs", "1")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "fuzzharness: error: unknown target(s) cobol; registered: rust, go, go+rust"


def test_corrupt_finding_is_exit_2_with_one_line(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "finding.json").write_text('{"schema": "fuzzharness-finding/1", "kind": 7}')
    proc = run_cli("repro", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert str(bad / "finding.json") in proc.stderr and "'kind'" in proc.stderr


def test_garbage_program_file_is_exit_2(tmp_path):
    path = tmp_path / "x.fh"
    path.write_bytes(bytes(range(256)))
    proc = run_cli("repro", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and str(path) in proc.stderr


def test_mutant_needs_the_mutants_variant():
    proc = run_cli("fuzz", "--mutant", "segfault", "--runs", "1")
    assert proc.returncode == 2 and "--variant mutants" in proc.stderr


def test_missing_toolchain_is_named(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "fuzzharness.cli", "build", "--target", "go"],
        capture_output=True, text=True, timeout=60, env={"PATH": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "missing go, gcc" in proc.stderr and "install Go" in proc.stderr


def test_targets_json_lists_registry():
    proc = run_cli("targets", "--json")
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    assert {(r["target"], r["variant"]) for r in rows} >= {("rust", "release"), ("go", "release"), ("rust", "mutants")}
