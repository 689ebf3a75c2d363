"""The fast model agrees with the Python model (the oracle of record) on 100,000 programs.

Generated as ``fuzz`` generates them (runtime selectors included), in processes of
their own (spawned: no Go runtime is inherited), each program checked against the
single-runtime model or, every other one, the cross-runtime pair model
(:func:`fuzzharness.oracles.fastmodel.disagreement`: the whole packed prediction,
statuses, values and reclamation ranges). The slow version checks 1,000,000 programs
against both models.
"""

from __future__ import annotations

import multiprocessing
import os
import random
from concurrent.futures import ProcessPoolExecutor

import pytest

from fuzzharness.lanes.fuzz import PAIR_VIA_RATE, program_seed
from fuzzharness.oracles.fastmodel import disagreement
from fuzzharness.programs.sequential import generate

#: Programs per chunk handed to a process.
CHUNK = 5000


def check_chunk(seed: int, start: int, count: int, both: bool) -> tuple[int, list[str]]:
    """Check programs ``start .. start + count`` of ``seed``; (programs checked, problems)."""
    problems = []
    for n in range(start, start + count):
        program = generate(random.Random(program_seed(seed, 0, n)), 48, via_rate=PAIR_VIA_RATE)
        for pair in (False, True) if both else (bool(n % 2),):
            problem = disagreement(program, pair)
            if problem is not None:
                problems.append(f"seed {seed} program {n} ({'pair' if pair else 'single'}): {problem}")
    return count, problems[:5]


def _agree(total: int, seed: int, both: bool) -> None:
    workers = max(1, min(os.cpu_count() or 1, 4))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(check_chunk, [seed] * (total // CHUNK), range(0, total, CHUNK),
                                [CHUNK] * (total // CHUNK), [both] * (total // CHUNK)))  # fmt: skip
    assert sum(count for count, _ in results) == total
    problems = [p for _, found in results for p in found]
    assert not problems, "\n".join(problems[:10])


def test_fast_model_agrees_on_100000_programs():
    _agree(100_000, seed=12, both=False)


@pytest.mark.slow
def test_fast_model_agrees_on_1000000_programs_both_models():
    _agree(1_000_000, seed=13, both=True)
