"""Workers run in an environment the harness decides, and findings carry it.

A caught panic (mutant ``caught-panic``, mutants build) is hunted from a shell with
``RUST_BACKTRACE=1``: the workers still hunt with backtraces off, the finding records
the environment it was found in, and ``repro`` replays it with backtraces on, applies
the recorded variables (saying what differs here) and prints the panic's backtrace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import library_path
from fuzzharness.execution.environment import decide, describe_overrides

pytestmark = pytest.mark.quality
ROOT = Path(__file__).resolve().parents[2]


def fuzzharness(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fuzzharness.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)  # fmt: skip


@pytest.fixture(scope="module")
def panic_finding(tmp_path_factory) -> Path:
    library_path("rust", "mutants")
    out = tmp_path_factory.mktemp("env")
    env = {**os.environ, "RUST_BACKTRACE": "1", "GOTRACEBACK": "all", "GOGC": "5"}
    proc = fuzzharness("fuzz", "--targets", "rust", "--variant", "mutants", "--mutant", "caught-panic",
                       "--runs", "1500", "--out", str(out), "--json", env=env)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    found = [Path(f["path"]) for f in json.loads(proc.stdout)["findings"] if f["kind"] == "panic"]
    assert found, proc.stdout
    return found[0]


def test_workers_hunt_with_backtraces_off_whatever_the_shell_says(panic_finding):
    data = json.loads((panic_finding / "finding.json").read_text())
    env = data["environment"]
    assert env["variables"]["RUST_BACKTRACE"] == "0" and env["variables"]["GOTRACEBACK"] == "single"
    assert "GOGC" not in env["variables"]  # removed: the user did not ask to keep it
    assert env["variant"] == "mutants" and env["cpu_count"] == os.cpu_count()
    assert len(env["libraries"]["rust"]) == 64  # sha256 of the library it was found with
    assert "panicked at" in data["details"]["panic_output"]  # one panic message kept per signature


def test_repro_applies_the_recorded_environment_and_prints_the_backtrace(panic_finding, tmp_path):
    copy = tmp_path / panic_finding.name
    copy.mkdir()
    for f in panic_finding.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    data = json.loads((copy / "finding.json").read_text())
    data["environment"]["variables"]["MALLOC_PERTURB_"] = "85"
    (copy / "finding.json").write_text(json.dumps(data))
    proc = fuzzharness("repro", str(copy))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "applied the recorded MALLOC_PERTURB_=85" in proc.stdout
    assert "panicked at step" in proc.stdout and "stack backtrace:" in proc.stdout
    assert "rust_shim/src/mutants.rs" in proc.stdout  # a frame of the library, not just the message
    assert "verdict: REPRODUCED" in proc.stdout


def test_repro_passes_the_recorded_variables_to_its_workers(panic_finding, monkeypatch):
    from fuzzharness.findings import repro

    seen = []
    real = repro.TargetWorker

    class Recording(real):
        def __init__(self, *args, **kwargs):
            seen.append((kwargs.get("env"), kwargs.get("purpose")))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(repro, "TargetWorker", Recording)
    data = json.loads((panic_finding / "finding.json").read_text())
    repro.reproduce(panic_finding)
    env, purpose = seen[0]
    assert purpose == "replay"
    assert {k: v for k, v in data["environment"]["variables"].items() if not k.startswith(("RUST_", "GO"))} == {
        k: v for k, v in env.items() if not k.startswith(("RUST_", "GO"))}


def test_the_decision_keeps_only_what_is_asked_and_says_what_it_changed():
    base = {"PATH": "/bin", "RUST_BACKTRACE": "full", "GOGC": "off", "MALLOC_ARENA_MAX": "2", "GOMAXPROCS": "1"}
    hunt = decide("hunt", base=base, keep=["GOMAXPROCS"])
    assert hunt.env["RUST_BACKTRACE"] == "0" and hunt.env["GOMAXPROCS"] == "1" and hunt.env["PATH"] == "/bin"
    assert "GOGC" not in hunt.env and "MALLOC_ARENA_MAX" not in hunt.env
    line = describe_overrides(hunt)
    assert line.count("\n") == 0 and "RUST_BACKTRACE=full -> 0" in line and "GOGC=off -> unset" in line
    assert "GOMAXPROCS" not in line
    replay = decide("replay", base=base, extra={"GOGC": "50"})
    assert replay.env["RUST_BACKTRACE"] == "1" and replay.env["GOTRACEBACK"] == "all" and replay.env["GOGC"] == "50"
    assert describe_overrides(decide("hunt", base={"PATH": "/bin"})) is None
