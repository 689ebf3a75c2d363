"""The Hypothesis state machine (``fuzzharness.hypothesis``) against the bundled targets: it
finds the planted bugs of the mutants build within Hypothesis's default budget of 100
examples and shrinks each to a few steps, whose text form ``repro`` replays; it passes on
the release builds of rust, go and go+rust. Runs are derandomized (the same examples on
every run of this file), and the example database is off, so nothing is remembered."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from fuzzharness.errors import InvalidArgument
from fuzzharness.findings.repro import reproduce
from fuzzharness.hypothesis import _offset, ownership_machine
from fuzzharness.programs.sequential import to_text
from fuzzharness.pytest_plugin import OwnershipFailure

#: Hypothesis's default budget (max_examples=100, 50 steps at most per example), the
#: machine's phases (no explain phase), derandomized, no database.
BUDGET = settings(max_examples=100, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck), phases=[p for p in Phase if p is not Phase.explain])  # fmt: skip
MOST_STEPS = 6


@pytest.mark.quality
@pytest.mark.parametrize("mutant", ["snapshot-shares", "early-free", "leak-on-error"])
@pytest.mark.parametrize("target", ["rust", "go"])
def test_the_machine_finds_a_planted_bug_and_shrinks_it(target, mutant, tmp_path):
    machine = ownership_machine(target, variant="mutants", mutant=mutant)
    with pytest.raises(OwnershipFailure) as caught:
        run_state_machine_as_test(machine, settings=BUDGET)
    failure = caught.value
    assert failure.target == target
    assert 1 <= len(failure.program.ops) <= MOST_STEPS, str(failure)
    assert failure.findings and all(f.targets[0] == target for f in failure.findings)
    assert to_text(failure.program) in str(failure)
    # The printed program is what `fuzzharness repro FILE.fh` replays: it still fails there.
    saved = tmp_path / "failure.fh"
    saved.write_text(to_text(failure.program))
    again = reproduce(saved, targets=target, variant="mutants", mutant=machine._mutant)
    assert again.reproduced == 1 and again.found, again.trace


@pytest.mark.parametrize("target", ["rust", "go", "go+rust"])
def test_the_machine_passes_on_a_release_build(target):
    run_state_machine_as_test(ownership_machine(target), settings=BUDGET)


def test_the_machine_names_its_configuration_and_leaves_out_the_explain_phase():
    machine = ownership_machine("rust", variant="mutants", mutant=11)
    assert machine.__name__ == "ownership_machine('rust', variant='mutants', mutant='early-free')"
    assert machine.fuzzharness_target == "rust" and machine.configuration() == ("mutants", 11)
    assert ownership_machine("rust").configuration() == ("release", 0)
    assert ownership_machine("go+rust")._pair and not ownership_machine("go")._pair
    assert Phase.explain not in machine.TestCase.settings.phases and Phase.shrink in machine.TestCase.settings.phases


@pytest.mark.parametrize("kwargs, message", [
    ({"target": "nosuch"}, "unknown target 'nosuch'; registered: rust, go"),
    ({"target": "rust", "variant": "nosuch"}, "target 'rust' has no build variant 'nosuch'"),
    ({"target": "rust", "mutant": "snapshot-shares"}, "variant 'release' cannot inject mutant 'snapshot-shares'"),
    ({"target": "rust", "variant": "mutants", "mutant": "nosuch"}, "unknown mutant 'nosuch'"),
    ({"target": "rust", "variant": "mutants", "mutant": -1}, "mutant must be a mutant's number"),
])  # fmt: skip
def test_a_bad_machine_is_an_error_naming_the_offender(kwargs, message):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        ownership_machine(**kwargs)


@pytest.mark.parametrize("place, size, length, offset", [
    (0, 10, 3, 0), (15, 10, 3, 7), (7, 10, 3, 3),  # spread over the offsets that fit
    (16, 10, 3, 8), (18, 10, 3, 10),  # one to three bytes past the last that fits
    (0, 2, 5, 0), (16, 2, 5, 1),  # nothing fits: every read or write is out of bounds
    (19, 10, 3, 1 << 63), (20, 10, 3, (1 << 64) - 1),  # far out: OVERFLOW
])  # fmt: skip
def test_places_map_to_offsets_in_and_around_the_resource(place, size, length, offset):
    assert _offset(place, size, length) == offset
