"""A crashing cross-runtime pair worker (go+rust) is restarted and keeps the input.

The segfault mutant is switched on in both members of the pair; the trigger write goes
through the owner (Rust) once and through the Go front once, each in a batch followed
by a benign program that must still run, on a new pair worker (attached again).
"""

from __future__ import annotations

import pytest

from conftest import library_path
from fuzzharness.contract.header import Mutant, Status
from fuzzharness.contract.registry import load_registry
from fuzzharness.execution.supervisor import Failure, TargetWorker
from fuzzharness.findings.triage import findings_for
from fuzzharness.programs.sequential import Config, Create, Program, Read, Ref, Write


def programs(via):
    trigger = Program(Config(capacity=2), (Create(8, "owner"), Write(Ref(0), 0, b"\xfd\x00\x00", via),
                                           Read(Ref(0), 0, 3)))  # fmt: skip
    benign = Program(Config(capacity=2), (Create(8, "owner"), Write(Ref(0), 0, b"\x01\x02\x03", "foreign"),
                                          Read(Ref(0), 0, 3, "owner")))  # fmt: skip
    return trigger, benign


@pytest.mark.parametrize("via", ["owner", "foreign"])
def test_segfault_in_a_pair_worker_is_a_crash_and_the_run_goes_on(via):
    library_path("rust", "mutants")
    library_path("go", "mutants")
    spec = load_registry()["go+rust"]
    trigger, benign = programs(via)
    with TargetWorker(spec, "mutants", mutant=Mutant.SEGFAULT) as worker:
        events = list(worker.run([("trigger", trigger), ("benign", benign)]))
        restarts = worker.restarts
    outcomes = {e[1]: e[2] for e in events if e[0] in ("result", "failure")}
    failure = outcomes["trigger"]
    assert isinstance(failure, Failure) and failure.kind == "crash", failure
    assert failure.signal_name == "SIGSEGV"
    assert failure.steps_done == 2  # the step in flight: the trigger write
    assert restarts == 1
    assert isinstance(outcomes["benign"], list)
    assert outcomes["benign"][3].status == Status.OK and outcomes["benign"][3].value == b"\x01\x02\x03"
    [finding] = findings_for(trigger, {"go+rust": failure}, variant="mutants", seed=None, mutant=Mutant.SEGFAULT)
    assert finding.kind.name == "crash" and finding.targets == ["go+rust"]
    assert finding.program == trigger  # the input that killed it is kept
