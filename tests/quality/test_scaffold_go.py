"""The Go scaffold is a correct target out of the box, and the harness sees into it.

``new_target(NAME, "go", DIR)`` (``fuzzharness new-target --language go``) writes an
adapter on the repository's Go kit (``kits/go``): its ``go.mod`` points at the kit by
absolute path, its ``registry.toml`` declares the opaque handle policy and builds into
the scaffold's own ``build/``. Driven through the real command line with
``--registry``, as a user runs it:

* every placeholder is filled, and the adapter's own ``go test`` passes;
* the registry's release build exports exactly the functions of contract 1.0 (``nm``),
  and the library reports ABI 1.0;
* ``fuzz`` finds nothing in it;
* with one line of it broken (a released resource is never forgotten: a dead handle
  still works), ``fuzz`` finds it: the harness really judges the scaffold.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fuzzharness.contract.abi_check import contract_functions, exported_symbols
from fuzzharness.contract.scaffold import KITS, new_target

NAME = "scaffolded_go"

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
    library = directory / "build" / "release" / f"lib{NAME}.so"
    assert library.is_file(), f"the registry's release build wrote no {library}"
    return library


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory) -> Path:
    if shutil.which("go") is None:
        pytest.fail("the Go scaffold needs go (install Go >= 1.24)")
    directory = tmp_path_factory.mktemp("scaffold") / NAME
    written = new_target(NAME, "go", directory)
    assert {Path(p).name for p in written} >= {"adapter.go", "main.go", "go.mod", "registry.toml"}, written
    return directory


def test_every_placeholder_is_filled_and_the_kit_is_the_repositorys(scaffold):
    for path in scaffold.rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text(), f"{path.name} keeps a placeholder"
    assert not list(scaffold.rglob("*.tmpl"))
    assert f"replace fuzzharness/kits/go => {KITS['go']}" in (scaffold / "go.mod").read_text()


def test_the_adapters_own_go_test_passes(scaffold):
    proc = subprocess.run(["go", "test", "./..."], cwd=scaffold, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CGO_ENABLED": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_it_builds_and_exports_exactly_contract_1_0(scaffold):
    library = build(scaffold)
    ours = {s for s in exported_symbols(library) if s.startswith("fh_")}
    want = set(contract_functions(0))
    assert ours == want, f"exports {sorted(ours - want)} unexpectedly, lacks {sorted(want - ours)}"
    # One Go runtime per process: the library is loaded in a process of its own.
    code = "import sys; from fuzzharness.contract.bindings import Library; print(Library(sys.argv[1]).abi_version())"
    proc = subprocess.run([sys.executable, "-c", code, str(library)], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "(1, 0)", proc.stdout + proc.stderr


def test_fuzz_finds_nothing_in_it_and_finds_a_dead_handle_that_still_works(scaffold, tmp_path):
    build(scaffold)
    proc, summary = fuzz(scaffold, tmp_path / "clean")
    assert summary["findings"] == [] and summary["errors"] == [], summary
    assert proc.returncode == 0, proc.stderr
    assert summary["programs"] == 400 and summary["ops"] > 0, summary

    broken = tmp_path / "broken"
    shutil.copytree(scaffold, broken, ignore=shutil.ignore_patterns("build"))
    adapter = broken / "adapter.go"
    text = adapter.read_text()
    assert text.count("delete(a.live, h)") == 1, "the scaffold's Release changed: update this test's planted bug"
    adapter.write_text(text.replace("delete(a.live, h)", "// forgotten: the dead resource stays reachable"))
    build(broken)
    proc, summary = fuzz(broken, tmp_path / "found")
    assert proc.returncode == 1 and summary["findings"], (summary, proc.stderr)
