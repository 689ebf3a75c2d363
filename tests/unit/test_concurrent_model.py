"""The ownership model as a linearizability model, on hand-made histories."""

from __future__ import annotations

from fuzzharness.contract.bindings import NativeRecord
from fuzzharness.contract.header import Status
from fuzzharness.contract.values import StatsValue
from fuzzharness.oracles.concurrent_model import OWNERSHIP, ConcurrentRun, check_run
from fuzzharness.oracles.linearizability import CheckResult, Operation, check
from fuzzharness.programs.concurrent import parse_text

OK, STALE, INVALID = Status.OK, Status.STALE_HANDLE, Status.INVALID_HANDLE
H0 = ("h", 0)


def op(client, fn, call, ret, status=OK, value=None, key=H0, args=(), new_key=None):
    return Operation(client, (fn, key, args, new_key), (status, value), call, ret)


def verdict(*ops):
    return check(OWNERSHIP, list(ops)).result


def test_racing_acquire_and_release_both_orders_accepted():
    # h0 starts with one reference: an acquire overlapping the last release may go first.
    assert verdict(op(0, "acquire", 0, 10), op(1, "release", 0, 10), op(2, "info", 20, 21, value=(4, 1, 0))) is CheckResult.ok
    # ... or last, in which case it must see a dead resource.
    assert verdict(op(0, "acquire", 0, 10, STALE), op(1, "release", 0, 10), op(2, "info", 20, 21, STALE)) is CheckResult.ok


def test_resurrecting_acquire_is_flagged():
    # The release returned (the count hit zero) before the acquire began: OK is impossible.
    h = [op(1, "release", 0, 5), op(0, "acquire", 6, 10), op(0, "info", 11, 12, STALE)]
    assert verdict(*h) is CheckResult.illegal
    v = check(OWNERSHIP, h)
    part = v.illegal[0]
    assert part.longest == [0] and part.stuck == 1


def test_lost_refcount_update_is_flagged():
    # Two acquires returned OK, yet the count is 2 afterwards (started at 1): a lost update.
    h = [op(0, "acquire", 0, 10), op(1, "acquire", 0, 10), op(2, "info", 20, 21, value=(4, 2, 0))]
    assert verdict(*h) is CheckResult.illegal
    h[2] = op(2, "info", 20, 21, value=(4, 3, 0))
    assert verdict(*h) is CheckResult.ok


def test_torn_write_is_flagged_and_whole_writes_are_not():
    a, b = b"\xaa" * 4, b"\xbb" * 4
    writes = [op(0, "write", 0, 10, args=(0, a)), op(1, "write", 0, 10, args=(0, b))]
    for seen in (a, b, bytes(4)):
        assert verdict(*writes, op(2, "read", 2, 8, value=seen, args=(0, 4))) is CheckResult.ok
    assert verdict(*writes, op(2, "read", 2, 8, value=b"\xaa\xaa\xbb\xbb", args=(0, 4))) is CheckResult.illegal


def test_snapshot_belongs_to_its_origin_partition():
    snap = ("l", 0, 0)
    model_roots = {H0: H0, snap: H0}
    from fuzzharness.oracles.concurrent_model import ownership_model

    model = ownership_model({H0: (True, 1, b"\x01\x01", False)}, model_roots, False)
    h = [
        op(0, "snapshot", 0, 5, new_key=snap),
        op(1, "write", 1, 3, args=(0, b"\x02\x02")),
        op(0, "read", 6, 7, value=b"\x01\x01", key=snap, args=(0, 2)),
    ]
    # The snapshot overlapped the write: it may have copied either content; here the old one.
    v = check(model, h)
    assert v.result is CheckResult.ok and len(v.partitions) == 1
    # A write on the snapshot is READ_ONLY.
    h.append(op(0, "write", 8, 9, Status.READ_ONLY, key=snap, args=(0, b"\x03\x03")))
    assert check(model, h).result is CheckResult.ok


# --- whole runs: setup, epilogue and reclamation ------------------------------------------

PROGRAM = parse_text("""# fuzzharness concurrent program v1
config capacity=8 strategy=deferred max_resource_bytes=65536 max_total_bytes=1048576
schedule seed=1
setup:
  h0 = create 4
thread 0:
  release h0
""")


def rec(status=OK, handle=0, out=0, refs=0, t=(0, 0), stats=None, message=None):
    return NativeRecord(status, handle, out, refs, 0, t[0], t[1], stats, None, message)


def run(stats_before, stats_after, info_status=STALE, shutdown=None):
    h = 0x1_0000_0000
    return ConcurrentRun(
        init_status=OK,
        setup=[rec(out=h, t=(0, 1))],
        threads=[[rec(handle=h, t=(2, 3))]],
        epilogue_keys=[H0],
        epilogue=[rec(info_status, handle=h, t=(4, 5), message="fh_info: handle 0x100000000 is stale"),
                  rec(stats=stats_before, t=(6, 7)), rec(t=(8, 9)), rec(stats=stats_after, t=(10, 11))],
        shutdown=(OK, shutdown or StatsValue(*stats_after)),
    )


def test_deferred_reclamation_is_freed_now_or_later():
    for before in ((0, 0, 1, 0, 1, 4), (0, 0, 1, 1, 0, 0)):  # still pending, or already freed
        result = check_run(PROGRAM, run(before, (0, 0, 1, 1, 0, 0)))
        assert result.verdict.result is CheckResult.ok and result.problems == [], result.problems


def test_pending_after_quiesce_is_a_problem():
    result = check_run(PROGRAM, run((0, 0, 1, 0, 1, 4), (0, 0, 1, 0, 1, 4)))
    assert [p.function for p in result.problems] == ["fh_get_stats"]


def test_a_resource_alive_at_the_end_must_be_in_the_stats():
    # The release did not kill h0 (a model violation) and stats agree with the target: the
    # linearizability check catches the info, the stats check is consistent with the infos.
    r = run((1, 4, 1, 0, 0, 0), (1, 4, 1, 0, 0, 0), info_status=OK)
    r.epilogue[0] = rec(OK, handle=0x1_0000_0000, out=4, refs=1, t=(4, 5))
    result = check_run(PROGRAM, r)
    assert result.verdict.result is CheckResult.illegal


def test_another_threads_error_message_is_a_divergence():
    program = parse_text(PROGRAM_TEXT_TWO_RELEASES)
    h = 0x1_0000_0000
    r = ConcurrentRun(OK, setup=[rec(out=h, t=(0, 1))],
                      threads=[[rec(handle=h, t=(2, 3)), rec(STALE, handle=h, t=(4, 5), message="fh_read: bounds")]],
                      epilogue_keys=[H0],
                      epilogue=[rec(STALE, handle=h, t=(6, 7), message="fh_info: 0x100000000 stale"),
                                rec(stats=(0, 0, 1, 1, 0, 0)), rec(), rec(stats=(0, 0, 1, 1, 0, 0))],
                      shutdown=(OK, StatsValue(0, 0, 1, 1, 0, 0)))
    result = check_run(program, r)
    assert [p.aspect for p in result.problems] == ["message"]


PROGRAM_TEXT_TWO_RELEASES = """# fuzzharness concurrent program v1
config capacity=8 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576
schedule seed=1
setup:
  h0 = create 4
thread 0:
  release h0
  release h0
"""


# --------------------------------------------------------------------------- cross-runtime pairs

NOT_HELD = Status.NOT_HELD


def pair_op(client, fn, call, ret, runtime, status=OK, value=None):
    return Operation(client, (fn, H0, (), None, runtime), (status, value), call, ret)


def pair_verdict(*ops):
    # h0 starts alive with one reference held by the Go front (the foreign runtime).
    from fuzzharness.oracles.concurrent_model import ownership_model

    model = ownership_model({H0: (True, (0, 1), bytes(4), False)}, {H0: H0}, exhaustion_possible=False)
    return check(model, list(ops)).result


def test_pair_release_through_a_runtime_holding_nothing_is_not_held():
    assert pair_verdict(pair_op(0, "release", 0, 1, "owner", NOT_HELD),
                        pair_op(0, "info", 2, 3, "owner", value=(4, 1, 0))) is CheckResult.ok  # fmt: skip
    # OK would mean the owner dropped a reference it never had.
    assert pair_verdict(pair_op(0, "release", 0, 1, "owner")) is CheckResult.illegal


def test_pair_resource_dies_only_when_both_counts_are_zero():
    h = [pair_op(0, "acquire", 0, 1, "owner"), pair_op(0, "release", 2, 3, "foreign"),
         pair_op(0, "info", 4, 5, "foreign", value=(4, 1, 0)), pair_op(0, "release", 6, 7, "owner"),
         pair_op(0, "info", 8, 9, "owner", STALE)]  # fmt: skip
    assert pair_verdict(*h) is CheckResult.ok
    # A guard looking at one side only: dead after the foreign release while the owner holds one.
    h[2] = pair_op(0, "info", 4, 5, "foreign", STALE)
    assert pair_verdict(*h) is CheckResult.illegal


def test_pair_racing_releases_through_both_runtimes():
    # Owner acquire racing the foreign last release: either order, the outcome must fit.
    ok_first = [pair_op(0, "acquire", 0, 10, "owner"), pair_op(1, "release", 0, 10, "foreign"),
                pair_op(2, "info", 20, 21, "owner", value=(4, 1, 0))]  # fmt: skip
    assert pair_verdict(*ok_first) is CheckResult.ok
    dead_first = [pair_op(0, "acquire", 0, 10, "owner", STALE), pair_op(1, "release", 0, 10, "foreign"),
                  pair_op(2, "info", 20, 21, "owner", STALE)]  # fmt: skip
    assert pair_verdict(*dead_first) is CheckResult.ok


def test_pair_concurrent_program_checked_with_per_runtime_counts():
    program = parse_text(PAIR_PROGRAM)
    rec = lambda status=0, handle=0, out=0, refs=0: NativeRecord(status, handle, out, refs, 0, 0, 1, None, None,  # noqa: E731
                                                                 None if status == 0 else "fh_release: 0x100000000")  # fmt: skip
    h0 = 1 << 32
    run = ConcurrentRun(0)
    run.setup = [rec(out=h0)]
    run.threads = [[rec(NOT_HELD, h0), rec(handle=h0)]]
    run.epilogue_keys = [H0]
    run.epilogue = [rec(Status.STALE_HANDLE, h0), stats_rec(), rec(), stats_rec()]
    run.shutdown = (0, StatsValue(0, 0, 1, 1, 0, 0))
    result = check_run(program, run, pair=True)
    assert result.problems == [] and result.verdict.result is CheckResult.ok
    # The same run judged as a single-runtime target: the NOT_HELD release is wrong there.
    assert check_run(program, run).verdict.result is CheckResult.illegal


def stats_rec():
    return NativeRecord(0, 0, 0, 0, 0, 0, 1, (0, 0, 1, 1, 0, 0), None, None)


PAIR_PROGRAM = """# fuzzharness concurrent program v1
config capacity=8 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576
schedule seed=1 yield_rate=0.0 spin_rate=0.0 max_spin=1 change_points=0 long_spin=1
setup:
  owner: h0 = create 4
thread 0:
  foreign: release h0
  owner: release h0
"""


# --------------------------------------------------------------------------- huge resources


def test_sparse_contents_read_and_write_like_bytes():
    import random

    from fuzzharness.oracles.concurrent_model import _read, _Sparse, _write

    rng = random.Random(0)
    size = 3 * 4096 + 100
    plain, sparse = bytes(size), _Sparse(size)
    for _ in range(200):
        offset = rng.randrange(size)
        payload = rng.randbytes(rng.randrange(0, min(6000, size - offset) + 1))
        plain, sparse = _write(plain, offset, payload), _write(sparse, offset, payload)
        start = rng.randrange(size)
        length = rng.randrange(0, size - start + 1)
        assert _read(sparse, start, length) == _read(plain, start, length)
    assert _write(_Sparse(size), 5, b"\x01") == _write(_Sparse(size), 5, b"\x01")  # states compare by value


def test_a_huge_resource_costs_the_checker_nothing():
    big = 1 << 40
    program = parse_text(f"""# fuzzharness concurrent program v1
config capacity=8 strategy=immediate max_resource_bytes={1 << 41} max_total_bytes={1 << 42}
schedule seed=1
setup:
  h0 = create {big}
  write h0 {big - 2} x"abcd"
thread 0:
  read h0 {big - 3} 3
  l0 = create {big}
  write l0 {1 << 39} x"ee"
  read l0 {1 << 39} 2
""")
    h0, l0 = 1 << 32, (1 << 32) | 1
    r = ConcurrentRun(OK, setup=[rec(out=h0), rec(handle=h0)],
                      threads=[[NativeRecord(OK, h0, 0, 0, 0, 2, 3, None, b"\x00\xab\xcd", None),
                                rec(out=l0, t=(4, 5)), rec(handle=l0, t=(6, 7)),
                                NativeRecord(OK, l0, 0, 0, 0, 8, 9, None, b"\xee\x00", None)]],
                      epilogue_keys=[H0, ("l", 0, 0)],
                      epilogue=[rec(handle=h0, out=big, refs=1, t=(10, 11)), rec(handle=l0, out=big, refs=1, t=(12, 13)),
                                rec(stats=(2, 2 * big, 2, 0, 0, 0)), rec(), rec(stats=(2, 2 * big, 2, 0, 0, 0))],
                      shutdown=(OK, StatsValue(2, 2 * big, 2, 0, 0, 0)))  # fmt: skip
    result = check_run(program, r)
    assert result.problems == [] and result.verdict.result is CheckResult.ok
