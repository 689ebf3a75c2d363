"""The Rust scaffold is a correct target out of the box, and the harness sees into it.

``new_target(NAME, "rust", DIR)`` (``fuzzharness new-target --language rust``) writes an
adapter on the repository's Rust kit (``kits/rust``, by absolute path dependency; no
crate from the network), and a ``registry.toml`` that declares the opaque handle
policy and builds into the scaffold's own ``build/``. Driven through the real command
line with ``--registry``, as a user runs it:

* the adapter's own ``cargo test`` passes (offline);
* the registry's release build exports exactly the functions of contract 1.0 (``nm``)
  and the library reports ABI 1.0;
* ``fuzz`` finds nothing in it;
* with one line of it broken (an operation on a dead handle panics), ``fuzz`` reports
  a ``panic`` finding and goes on: the kit's boundary caught it, and the harness
  really judges the scaffold.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fuzzharness.contract.abi_check import contract_functions, exported_symbols
from fuzzharness.contract.bindings import Library
from fuzzharness.contract.scaffold import KITS, new_target

NAME = "scaffolded_rust"

pytestmark = pytest.mark.quality


def fuzzharness(directory: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fuzzharness.cli", "--registry", str(directory / "registry.toml"), *args],
        capture_output=True, text=True, timeout=timeout, cwd=directory,
    )  # fmt: skip


def fuzz(directory: Path, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    proc = fuzzharness(directory, "fuzz", "--json", "--targets", NAME, "--runs", "400", "--out", str(out))
    try:
        return proc, json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON summary (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def build(directory: Path) -> Path:
    proc = fuzzharness(directory, "build", "--target", NAME, timeout=600)
    assert proc.returncode == 0, f"building the scaffold failed:\n{proc.stdout}\n{proc.stderr}"
    library = directory / "build" / "release" / "release" / f"lib{NAME}.so"
    assert library.is_file(), f"the registry's release build wrote no {library}"
    return library


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory) -> Path:
    if shutil.which("cargo") is None:
        pytest.fail("the Rust scaffold needs cargo (install Rust with rustup)")
    directory = tmp_path_factory.mktemp("scaffold") / NAME
    written = new_target(NAME, "rust", directory)
    assert {p.relative_to(directory).as_posix() for p in written} >= {"Cargo.toml", "src/lib.rs", "registry.toml"}
    return directory


def test_the_kit_is_the_repositorys_by_path(scaffold):
    assert f'fuzzharness-adapter = {{ path = "{KITS["rust"]}" }}' in (scaffold / "Cargo.toml").read_text()
    assert not list(scaffold.rglob("*.tmpl"))


def test_the_adapters_own_cargo_test_passes_offline(scaffold, tmp_path):
    proc = subprocess.run(
        ["cargo", "test", "--offline", "--quiet", "--target-dir", str(tmp_path / "target")],
        cwd=scaffold, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout, proc.stdout


def test_it_builds_and_exports_exactly_contract_1_0(scaffold):
    library = build(scaffold)
    ours = {s for s in exported_symbols(library) if s.startswith("fh_")}
    want = set(contract_functions(0))
    assert ours == want, f"exports {sorted(ours - want)} unexpectedly, lacks {sorted(want - ours)}"
    assert Library(library).abi_version() == (1, 0)


def test_fuzz_finds_nothing_in_it_and_finds_a_panic_on_a_dead_handle(scaffold, tmp_path):
    build(scaffold)
    proc, summary = fuzz(scaffold, tmp_path / "clean")
    assert summary["findings"] == [] and summary["errors"] == [], summary
    assert proc.returncode == 0, proc.stderr
    assert summary["programs"] == 400 and summary["ops"] > 0, summary

    broken = tmp_path / "broken"
    shutil.copytree(scaffold, broken, ignore=shutil.ignore_patterns("build"))
    lib = broken / "src" / "lib.rs"
    text = lib.read_text()
    assert text.count("Error::stale_handle(handle)") == 1, "the scaffold's Table::get changed: update this test"
    lib.write_text(text.replace("Error::stale_handle(handle)", 'panic!("dead handle {handle:#x}")'))
    build(broken)
    proc, summary = fuzz(broken, tmp_path / "found")
    assert proc.returncode == 1 and summary["findings"], (summary, proc.stderr)
    kinds = {finding["kind"] for finding in summary["findings"]}
    assert kinds == {"panic"}, summary["findings"]
    assert summary["programs"] == 400, "a caught panic does not stop the run"
