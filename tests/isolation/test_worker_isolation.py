"""The harness never dies with its target and never loses the input that killed it.

Each crash-type mutant of the mutants build (see targets/include/fuzzharness_testing_decls.h)
is switched on in a worker; the program that fires it must come back as the right
kind of failure, and the NEXT program of the same batch must still run, on a new worker.
"""

from __future__ import annotations

import pytest

from conftest import TARGETS, library_path
from fuzzharness.contract.header import Mutant, Status
from fuzzharness.contract.registry import load_registry
from fuzzharness.execution.supervisor import Failure, TargetWorker
from fuzzharness.findings.triage import findings_for
from fuzzharness.programs.sequential import Config, Create, Program, Read, Ref, Write

TRIGGER = Program(Config(capacity=2), (Create(8), Write(Ref(0), 0, b"\xfd\x00\x00"), Read(Ref(0), 0, 3)))
BENIGN = Program(Config(capacity=2), (Create(8), Write(Ref(0), 0, b"\x01\x02\x03"), Read(Ref(0), 0, 3)))


def run(target: str, mutant: Mutant, timeout: float = 10.0):
    library_path(target, "mutants")
    spec = load_registry()[target]
    with TargetWorker(spec, "mutants", timeout=timeout, mutant=mutant) as worker:
        events = list(worker.run([("trigger", TRIGGER), ("benign", BENIGN)]))
        restarts = worker.restarts
    outcomes = {e[1]: e[2] for e in events if e[0] in ("result", "failure")}
    return outcomes, restarts


def assert_run_goes_on(outcomes, restarts):
    assert restarts == 1
    benign = outcomes["benign"]
    assert isinstance(benign, list), benign
    assert benign[3].status == Status.OK and benign[3].value == b"\x01\x02\x03"


@pytest.mark.parametrize("target", TARGETS)
def test_segfault_becomes_a_crash_finding(target, tmp_path):
    outcomes, restarts = run(target, Mutant.SEGFAULT)
    failure = outcomes["trigger"]
    assert isinstance(failure, Failure) and failure.kind == "crash"
    assert failure.signal_name == "SIGSEGV"
    assert "Segmentation fault" in failure.stderr_tail  # the fault handler's report
    assert_run_goes_on(outcomes, restarts)
    [finding] = findings_for(TRIGGER, {target: failure}, variant="mutants", seed=None, mutant=Mutant.SEGFAULT)
    assert finding.kind.name == "crash"
    assert "in fh call write" in finding.signature  # the fault handler named the contract call


@pytest.mark.parametrize("target", TARGETS)
def test_escaped_panic_becomes_a_crash_with_its_message(target):
    outcomes, restarts = run(target, Mutant.ABORT)
    failure = outcomes["trigger"]
    assert isinstance(failure, Failure) and failure.kind == "crash"
    if target == "go":
        assert failure.returncode == 2 or failure.signal_name == "SIGABRT"
        assert "panic: " in failure.stderr_tail
    else:
        assert failure.signal_name == "SIGABRT"
        assert "panicked at" in failure.stderr_tail
    assert_run_goes_on(outcomes, restarts)


@pytest.mark.parametrize("target", TARGETS)
def test_hang_becomes_a_hang_finding_never_a_pass(target):
    outcomes, restarts = run(target, Mutant.HANG, timeout=2.0)
    failure = outcomes["trigger"]
    assert isinstance(failure, Failure) and failure.kind == "hang"
    assert "most recent call first" in failure.stderr_tail  # the SIGUSR1 stack dump
    # The native runner published the step in flight: `write h0 0 x"fd0000"`.
    assert failure.steps_done == 2
    assert_run_goes_on(outcomes, restarts)
    [finding] = findings_for(TRIGGER, {target: failure}, variant="mutants", seed=None)
    assert finding.kind.name == "hang"
    assert "in fh call write" in finding.signature  # named as the interpreter's stack names it


@pytest.mark.parametrize("target", TARGETS)
def test_caught_panic_is_a_status_and_a_panic_finding(target):
    outcomes, restarts = run(target, Mutant.CAUGHT_PANIC)
    trace = outcomes["trigger"]
    assert isinstance(trace, list) and restarts == 0
    assert trace[2].status == Status.PANIC
    assert trace[2].message.startswith("fh_write:") and "panic" in trace[2].message
    [finding] = findings_for(TRIGGER, {target: trace}, variant="mutants", seed=None)
    assert finding.kind.name == "panic"


def test_missing_library_is_a_clear_error(tmp_path):
    from fuzzharness.contract.registry import load_registry as load
    from fuzzharness.errors import TargetNotBuilt

    registry_file = tmp_path / "registry.toml"
    registry_file.write_text(
        '[targets.ghost]\nlanguage = "C"\nsource = "."\nstrategies = ["IMMEDIATE"]\ndeferred = "IMMEDIATE"\n'
        '[targets.ghost.variants.release]\nbuild = ["true"]\nlibrary = "{build}/nope/libghost.so"\n'
    )
    spec = load(registry_file, root=tmp_path)["ghost"]
    with pytest.raises(TargetNotBuilt, match="build --target ghost"):
        TargetWorker(spec)


def test_a_target_of_another_major_version_is_refused(monkeypatch):
    from fuzzharness.errors import AbiMismatch
    from fuzzharness.execution import supervisor

    library_path("rust")
    monkeypatch.setattr(supervisor, "ABI_MAJOR", 2)
    with pytest.raises(AbiMismatch) as info:
        TargetWorker(load_registry()["rust"]).start()
    message = str(info.value)
    assert "implements contract ABI 1." in message and "this harness speaks 2." in message
