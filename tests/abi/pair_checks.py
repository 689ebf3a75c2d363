"""The cross-runtime pair (go+rust) through the real libraries, in a process of its own.

Not a test module (no ``test_`` prefix): ``test_pair.py`` runs it as a script in a
fresh interpreter, because attaching a foreign front is once per process and turns
the Go library of that process into the pair's front for good (it would break every
single-runtime Go test sharing the pytest process). Each check opens and closes its
own session on the one attached pair and reports ``(name, ok, detail)``; the script
prints the results as JSON on its last line.

Usage: ``python tests/abi/pair_checks.py OWNER_LIB FOREIGN_LIB``.
"""

from __future__ import annotations

import faulthandler
import json
import random
import sys
import traceback

faulthandler.enable()  # before the Go runtime loads

from fuzzharness.contract.bindings import NativeRunner, PairLibrary  # noqa: E402
from fuzzharness.contract.header import Status, Strategy  # noqa: E402
from fuzzharness.oracles.differential import check_program  # noqa: E402
from fuzzharness.programs.interpreter import run_program, run_program_native  # noqa: E402
from fuzzharness.programs.sequential import generate  # noqa: E402

OK, NOT_HELD, STALE = Status.OK, Status.NOT_HELD, Status.STALE_HANDLE
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


class Session:
    def __init__(self, pair: PairLibrary, strategy: int = Strategy.GUARDED, flags: int = 0, capacity: int = 8):
        self.pair, self.args = pair, (capacity, strategy, 1 << 20, 1 << 24, flags)

    def __enter__(self) -> PairLibrary:
        status, _ = self.pair.init(*self.args)
        assert status == OK, f"fh_init through the front returned {status}: {self.pair.last_error()}"
        return self.pair

    def __exit__(self, *exc) -> None:
        self.pair.shutdown()


@check
def versions_and_roles(pair: PairLibrary) -> None:
    assert pair.owner.abi_version() == (1, 1) and pair.foreign.abi_version() == (1, 1)
    go_table = pair.foreign.new("fh_backend *")
    assert pair.foreign.call_raw("fh_backend_table", go_table) == Status.UNSUPPORTED
    rust_table = pair.owner.new("fh_backend *")
    assert pair.owner.call_raw("fh_backend_table", rust_table) == OK
    assert pair.owner.call_raw("fh_attach_backend", rust_table) == Status.UNSUPPORTED
    assert pair.attach() == Status.ALREADY_INITIALIZED  # attaching is once per process


@check
def pair_session_strategies(pair: PairLibrary) -> None:
    for strategy in (Strategy.IMMEDIATE, Strategy.EPOCH):
        status, _ = pair.init(4, strategy, 1 << 20, 1 << 24)
        assert status == Status.UNSUPPORTED, (strategy, status)
    for strategy in (Strategy.GUARDED, Strategy.GO_CLEANUP):
        with Session(pair, strategy):
            pass
    with Session(pair):  # one session serves both: the owner sees it open too
        assert pair.owner.init(4, Strategy.IMMEDIATE, 1, 1)[0] == Status.ALREADY_INITIALIZED
        assert pair.stats(via="owner")[0] == OK


@check
def per_runtime_references(pair: PairLibrary) -> None:
    with Session(pair):
        status, h = pair.create(16, via="rust")
        assert status == OK and h == (1 << 32)
        assert pair.acquire(h, via="go") == (OK, None)
        for via in ("rust", "go"):
            assert pair.info(h, via=via)[1].refs == 2  # the sum of both counts
        assert pair.release(h, via="go") == (OK, None)
        status, _ = pair.release(h, via="go")  # Go holds none now; Rust does
        assert status == NOT_HELD, status
        message = pair.last_error()
        assert message.startswith("fh_release:") and f"{h:#x}" in message.lower(), message
        assert pair.info(h, via="go")[1].refs == 1  # NOT_HELD had no effect
        assert pair.release(h, via="rust") == (OK, None)  # the sum reaches zero: dead
        for via in ("rust", "go"):
            assert pair.release(h, via=via)[0] == STALE
            assert pair.read(h, 0, 1, via=via)[0] == STALE


@check
def both_runtimes_see_the_same_bytes_and_slots(pair: PairLibrary) -> None:
    with Session(pair):
        _, a = pair.create(4)  # the default runtime: the Go front
        _, b = pair.create(4, via="owner")
        assert (a, b) == ((1 << 32) | 0, (1 << 32) | 1)  # lowest free slot, one slot table
        assert pair.write(a, 0, b"abcd", via="go") == (OK, None)
        assert pair.read(a, 0, 4, via="rust") == (OK, b"abcd")
        status, s = pair.snapshot(a, via="rust")
        assert status == OK
        assert pair.write(s, 0, b"x", via="go")[0] == Status.READ_ONLY
        assert pair.release(s, via="go")[0] == NOT_HELD  # the snapshot's reference is Rust's
        assert pair.release(s, via="rust")[0] == OK
        assert pair.release(a, via="rust")[0] == NOT_HELD
        assert pair.release(a)[0] == OK
        assert pair.release(b, via="owner")[0] == OK
        _, stats = pair.stats(via="go")
        assert (stats.live_resources, stats.created, stats.reclaimed, stats.pending_resources) == (0, 3, 3, 0)


@check
def go_cleanup_keeps_go_released_memory_pending_until_quiesce(pair: PairLibrary) -> None:
    with Session(pair, Strategy.GO_CLEANUP):
        _, go = pair.create(64)
        _, rust = pair.create(32, via="owner")
        assert pair.release(go)[0] == OK and pair.release(rust, via="owner")[0] == OK
        assert pair.read(go, 0, 1)[0] == STALE  # dead at once, whatever the memory does
        _, stats = pair.stats()
        assert stats.live_resources == 0 and stats.created == 2
        assert stats.reclaimed + stats.pending_resources == 2
        assert stats.pending_resources <= 1 and stats.pending_bytes in (0, 64)  # only Go's may wait
        assert pair.quiesce(via="owner")[0] == OK  # runs Go's collector until acknowledged
        _, stats = pair.stats(via="owner")
        assert (stats.reclaimed, stats.pending_resources, stats.pending_bytes) == (2, 0, 0)


@check
def reclaim_events_through_the_owner(pair: PairLibrary) -> None:
    with Session(pair, Strategy.GUARDED, flags=1):
        _, h = pair.create(8)
        pair.acquire(h, via="owner")
        before = pair.clock_ns()[1]
        pair.release(h, via="owner")
        pair.release(h)
        status, (events, dropped) = pair.drain_reclaim_events()
        assert status == OK and dropped == 0
        assert len(events) == 1, events
        handle, size, released, freed, strategy = events[0]
        assert (handle, size, strategy) == (h, 8, Strategy.GUARDED)
        assert before <= released <= freed <= pair.clock_ns()[1]


@check
def generated_programs_match_the_pair_model(pair: PairLibrary) -> None:
    runner = NativeRunner(pair)
    for seed in range(300):
        program = generate(random.Random(seed), via_rate=0.3)
        strategy = Strategy.GO_CLEANUP
        interpreted = run_program(program, pair, strategy, None, Strategy.GUARDED)
        divs = check_program(program, {"go+rust": interpreted}, pairs={"go+rust"})
        assert not divs, f"seed {seed}: {divs[0].summary()}"
        native = run_program_native(program, pair, runner, strategy, Strategy.GUARDED)
        if program.config.strategy == "immediate":  # deferred: when memory is freed may differ
            assert native == interpreted, f"seed {seed}: the native runner and the interpreter differ"
        else:
            assert not check_program(program, {"go+rust": native}, pairs={"go+rust"}), f"seed {seed} (native)"


def main(argv: list[str]) -> int:
    pair = PairLibrary(argv[1], argv[2], names=("rust", "go"))
    results = []
    for fn in CHECKS:
        try:
            fn(pair)
            results.append((fn.__name__, True, ""))
        except Exception:  # noqa: BLE001 - reported to the test, which fails with it
            results.append((fn.__name__, False, traceback.format_exc()))
            pair.shutdown()  # a check that failed half-way may have left its session open
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
