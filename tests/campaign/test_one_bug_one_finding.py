"""One planted bug is one finding, whichever lane (build) finds it.

The random lane runs the plain ``mutants`` build (a segfault kills the worker: the fault
handler's stack names the call) and the asan lane the ``mutants-asan`` build (ASan
reports ``SEGV`` with native frames). Both must give the finding the same signature, so a
campaign saves and reports the bug once and counts the hits of both lanes.
"""

from __future__ import annotations

import pytest

from conftest import TARGETS, library_path
from fuzzharness.contract.header import Mutant
from fuzzharness.contract.registry import load_registry
from fuzzharness.execution.supervisor import TargetWorker
from fuzzharness.findings.store import save
from fuzzharness.findings.triage import findings_for
from fuzzharness.programs.sequential import Config, Create, Program, Ref, Write

pytestmark = pytest.mark.quality

# The segfault mutant's trigger: a successful 3-byte write whose first byte is 0xfd.
SEGFAULT = Program(Config(), (Create(4), Write(Ref(0), 0, b"\xfd\x01\x02")))


@pytest.mark.parametrize("target", TARGETS)
def test_the_plain_and_the_asan_build_save_one_segfault_once(target, tmp_path):
    ids = []
    for variant in ("mutants", "mutants-asan"):
        library_path(target, variant)
        with TargetWorker(load_registry()[target], variant, timeout=10, mutant=int(Mutant.SEGFAULT)) as worker:
            [outcome] = [event[2] for event in worker.run([("p", SEGFAULT)]) if event[0] in ("result", "failure")]
        outcomes = {target: outcome}
        [finding] = findings_for(SEGFAULT, outcomes, variant=variant, seed=None, mutant=int(Mutant.SEGFAULT))
        assert finding.signature == ["crash", target, "SIGSEGV", "in fh call write"], (variant, finding.summary)
        ids.append(finding.id)
        saved = save(finding, tmp_path)
        assert (saved is not None) == (variant == "mutants"), "the second build's hit is a duplicate, not a new finding"
    assert ids[0] == ids[1]
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [ids[0]]
