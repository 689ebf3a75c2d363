"""``stress`` on targets with handle systems of their own, and a stress run that checked
nothing saying so.

Hand-made runs (:class:`ConcurrentRun` records) whose handle values are not the
contract's layout (0x1000, 0x2000, ...): :func:`check_run` under an opaque
:class:`HandlePolicy` maps each value to the resource the target issued it for; under
the exact policy the same run diverges at its first create. Then the books and the
exit status of :class:`StressSummary`.
"""

from __future__ import annotations

import json

import pytest

from fuzzharness.contract.bindings import NativeRecord
from fuzzharness.contract.handles import EXACT, HandlePolicy
from fuzzharness.contract.header import Status
from fuzzharness.contract.values import StatsValue
from fuzzharness.lanes.stress import EXIT_CLEAN, EXIT_FOUND, EXIT_INCONCLUSIVE, StressSummary, print_summary
from fuzzharness.oracles.concurrent_model import ConcurrentRun, RunCheck, check_run
from fuzzharness.oracles.linearizability import CheckResult, Verdict
from fuzzharness.programs.concurrent import parse_text

OK, STALE, INVALID = Status.OK, Status.STALE_HANDLE, Status.INVALID_HANDLE
OPAQUE = HandlePolicy(handles="opaque")
REUSE = HandlePolicy(handles="opaque", reuse="after-death")
EITHER = HandlePolicy(handles="opaque", stale_status="invalid-or-stale")

HEAD = """# fuzzharness concurrent program v1
config capacity=8 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576
schedule seed=1 yield_rate=0.0 spin_rate=0.0 max_spin=1 change_points=0 long_spin=1
"""


def rec(status=OK, handle=0, out=0, refs=0, t=(0, 0), data=None, stats=None, fn=None):
    """One runner record; a failed call carries the message the contract asks for."""
    message = None if status == OK else f"fh_{fn or 'read'}: handle {handle:#x} rejected"
    return NativeRecord(status, handle, out, refs, 0, t[0], t[1], stats, data, message)


def info(value, t, size=None, refs=1, status=OK):
    return rec(status, value, out=size or 0, refs=refs, t=t, fn="info")


def run(setup, threads, keys, infos, live, live_bytes, created):
    """A run whose epilogue found ``infos`` and stats consistent with them (immediate)."""
    stats = (live, live_bytes, created, created - live, 0, 0)
    return ConcurrentRun(OK, setup, threads, keys, [*infos, rec(stats=stats, t=(90, 91)), rec(t=(92, 93)),
                                                    rec(stats=stats, t=(94, 95))], (OK, StatsValue(*stats)))  # fmt: skip


def kinds(result: RunCheck) -> list[str]:
    return [p.kind for p in result.problems]


def verdict(result: RunCheck) -> CheckResult | None:
    return result.verdict.result if result.verdict is not None else None


# --------------------------------------------------------------------------- a sound run with its own values

SHARED = parse_text(HEAD + """setup:
  h0 = create 4
  write h0 0 x"11111111"
  acquire h0
thread 0:
  read h0 0 4
  release h0
thread 1:
  l0 = create 2
  write l0 0 x"aaaa"
  release l0
""")


def shared_run(read_back=b"\x11" * 4):
    return run(
        setup=[rec(out=0x1000), rec(handle=0x1000), rec(handle=0x1000)],
        threads=[[rec(handle=0x1000, data=read_back, t=(10, 11)), rec(handle=0x1000, t=(12, 13))],
                 [rec(out=0x2000, t=(10, 11)), rec(handle=0x2000, t=(12, 13)), rec(handle=0x2000, t=(14, 15))]],
        keys=[("h", 0), ("l", 1, 0)],
        infos=[info(0x1000, (20, 21), size=4), info(0x2000, (22, 23), status=STALE)],
        live=1, live_bytes=4, created=2,
    )  # fmt: skip


def test_own_values_are_checked_by_the_resource_they_name():
    result = check_run(SHARED, shared_run(), policy=OPAQUE)
    assert result.problems == [] and verdict(result) is CheckResult.ok
    assert result.history[0].input[1] == ("v", 0x1000)  # an op names the value the target issued
    # The same run judged as a contract-layout target: its first create diverges, nothing is checked.
    exact = check_run(SHARED, shared_run(), policy=EXACT)
    assert verdict(exact) is None and [(p.function, p.aspect) for p in exact.problems] == [("fh_create", "value")]


def test_opaque_mode_still_checks_the_contents():
    result = check_run(SHARED, shared_run(read_back=b"\x11\x11\x00\x00"), policy=OPAQUE)
    assert verdict(result) is CheckResult.illegal


# --------------------------------------------------------------------------- a value issued again

REISSUE = parse_text(HEAD + """setup:
  h0 = create 4
  write h0 0 x"11111111"
thread 0:
  release h0
  l0 = create 4
thread 1:
  read h0 0 4
""")


def reissue_run(create_t=(12, 13), read=(OK, bytes(4)), read_t=(20, 21), h0_info=OK):
    """Thread 0 kills h0 (0x1000) and gets 0x1000 again for its own create; thread 1
    reads through h0's value afterwards."""
    status, data = read
    return run(
        setup=[rec(out=0x1000), rec(handle=0x1000)],
        threads=[[rec(handle=0x1000, t=(10, 11)), rec(out=0x1000, t=create_t)],
                 [rec(status, 0x1000, data=data if status == OK else None, t=read_t)]],
        keys=[("h", 0), ("l", 0, 0)],
        infos=[info(0x1000, (30, 31), size=4, status=h0_info), info(0x1000, (32, 33), size=4)],
        live=1, live_bytes=4, created=2,
    )  # fmt: skip


def test_a_value_reissued_after_death_is_aba_unless_reuse_is_declared():
    never = check_run(REISSUE, reissue_run(), policy=OPAQUE)
    assert kinds(never) == ["aba"] and verdict(never) is CheckResult.ok
    (problem,) = never.problems
    assert problem.function == "fh_create" and "0x1000" in problem.summary and "setup h0" in problem.summary
    reuse = check_run(REISSUE, reissue_run(), policy=REUSE)
    assert reuse.problems == [] and verdict(reuse) is CheckResult.ok


def test_an_old_value_reaches_the_resource_it_names_now():
    # After the reissue returned, h0's value names the new (zeroed) resource: its old
    # bytes, or STALE, cannot be explained by any order.
    assert verdict(check_run(REISSUE, reissue_run(read=(OK, b"\x11" * 4)), policy=REUSE)) is CheckResult.illegal
    assert verdict(check_run(REISSUE, reissue_run(read=(STALE, None)), policy=REUSE)) is CheckResult.illegal
    # Overlapping the kill and the reissue, the read may see the old bytes, STALE, or the new resource.
    for read in ((OK, b"\x11" * 4), (STALE, None), (OK, bytes(4))):
        assert verdict(check_run(REISSUE, reissue_run(read=read, read_t=(5, 20)), policy=REUSE)) is CheckResult.ok


def test_a_value_is_distinct_among_live_handles():
    # h0 is alive (nothing released it) when its value is issued again: no order explains that.
    program = parse_text(HEAD + "setup:\n  h0 = create 4\nthread 0:\n  l0 = create 4\n")
    live_twice = run(setup=[rec(out=0x1000)], threads=[[rec(out=0x1000, t=(10, 11))]],
                     keys=[("h", 0), ("l", 0, 0)], infos=[info(0x1000, (20, 21), 4), info(0x1000, (22, 23), 4)],
                     live=1, live_bytes=4, created=2)  # fmt: skip
    assert verdict(check_run(program, live_twice, policy=REUSE)) is CheckResult.illegal
    never = check_run(program, live_twice, policy=OPAQUE)
    assert kinds(never) == ["aba"] and verdict(never) is CheckResult.illegal


def test_a_handle_is_never_zero():
    program = parse_text(HEAD + "setup:\n  h0 = create 4\nthread 0:\n  l0 = create 4\n")
    zero = run(setup=[rec(out=0x1000)], threads=[[rec(out=0, t=(10, 11))]], keys=[("h", 0), ("l", 0, 0)],
               infos=[info(0x1000, (20, 21), 4), info(0, (22, 23), 4)], live=2, live_bytes=8, created=2)  # fmt: skip
    assert [(p.kind, p.aspect) for p in check_run(program, zero, policy=REUSE).problems] == [("divergence", "value")]


def test_setup_reissue_is_aba_in_the_setup_check():
    program = parse_text(HEAD + "setup:\n  h0 = create 4\n  release h0\n  h1 = create 4\nthread 0:\n  info h1\n")
    r = run(setup=[rec(out=0x1000), rec(handle=0x1000), rec(out=0x1000)], threads=[[info(0x1000, (10, 11), 4)]],
            keys=[("h", 0), ("h", 1)], infos=[info(0x1000, (20, 21), 4), info(0x1000, (22, 23), 4)],
            live=1, live_bytes=4, created=2)  # fmt: skip
    never = check_run(program, r, policy=OPAQUE)
    assert kinds(never) == ["aba"] and verdict(never) is None and never.problems[0].summary.startswith("setup")
    # Declared reuse: h0's value now names h1's resource, for the threads and the epilogue.
    reuse = check_run(program, r, policy=REUSE)
    assert reuse.problems == [] and verdict(reuse) is CheckResult.ok


# --------------------------------------------------------------------------- forged values

FORGED = parse_text(HEAD + """setup:
  h0 = create 4
  h1 = create 2
  write h1 0 x"2222"
thread 0:
  read h0^0x3000 0 2
  read 0x5000 0 2
""")


def forged_run(raw_status=INVALID, h0=0x1000, h1=0x2000, raw=0x5000):
    """``h0^0x3000`` equals h1's value (0x1000 ^ 0x3000 = 0x2000); ``raw`` is never issued."""
    return run(
        setup=[rec(out=h0), rec(out=h1), rec(handle=h1)],
        threads=[[rec(handle=h0 ^ 0x3000, data=b"\x22\x22", t=(10, 11)),
                  rec(raw_status, raw, data=b"\x00\x00" if raw_status == OK else None, t=(12, 13))]],
        keys=[("h", 0), ("h", 1)], infos=[info(h0, (20, 21), 4), info(h1, (22, 23), 2)],
        live=2, live_bytes=6, created=2,
    )  # fmt: skip


def test_a_forged_value_equal_to_a_live_handle_is_that_resource():
    for policy in (OPAQUE, REUSE, EITHER):
        result = check_run(FORGED, forged_run(), policy=policy)
        assert result.problems == [] and verdict(result) is CheckResult.ok, policy


def test_a_value_never_issued_is_never_valid():
    accepted = check_run(FORGED, forged_run(raw_status=OK), policy=OPAQUE)
    assert kinds(accepted) == ["handle_alias"] and "0x5000" in accepted.problems[0].summary
    # Reported once: the op is left out of the linearizability check (the rest is fine).
    assert verdict(accepted) is CheckResult.ok and len(accepted.history) == 4
    assert sorted(op.id for p in accepted.verdict.partitions for op in p.operations) == [0, 2, 3]
    # Never issued is INVALID; STALE only where the target declares it cannot tell them apart.
    assert verdict(check_run(FORGED, forged_run(raw_status=STALE), policy=OPAQUE)) is CheckResult.illegal
    assert verdict(check_run(FORGED, forged_run(raw_status=STALE), policy=EITHER)) is CheckResult.ok


def test_forged_values_on_a_contract_layout_target():
    h0, h1 = 1 << 32, (1 << 32) | 1
    program = parse_text(HEAD + 'setup:\n  h0 = create 4\n  h1 = create 2\n  write h1 0 x"2222"\n'
                         "thread 0:\n  read h0^0x1 0 2\n  read 0x5000 0 2\n")  # fmt: skip
    result = check_run(program, _exact_forged(program, h0, h1))
    assert result.problems == [] and verdict(result) is CheckResult.ok
    alias = check_run(program, _exact_forged(program, h0, h1, raw_status=OK))
    assert kinds(alias) == ["handle_alias"] and verdict(alias) is CheckResult.ok


def _exact_forged(program, h0, h1, raw_status=INVALID):
    return run(
        setup=[rec(out=h0), rec(out=h1), rec(handle=h1)],
        threads=[[rec(handle=h0 ^ 1, data=b"\x22\x22", t=(10, 11)),
                  rec(raw_status, 0x5000, data=b"\x00\x00" if raw_status == OK else None, t=(12, 13))]],
        keys=[("h", 0), ("h", 1)], infos=[info(h0, (20, 21), 4), info(h1, (22, 23), 2)],
        live=2, live_bytes=6, created=2,
    )  # fmt: skip


# --------------------------------------------------------------------------- stale rule in the setup and threads

STALE_USE = parse_text(HEAD + "setup:\n  h0 = create 4\n  release h0\n  read h0 0 4\nthread 0:\n  read h0 0 4\n")


def stale_use_run(status=INVALID):
    return run(setup=[rec(out=0x1000), rec(handle=0x1000), rec(status, 0x1000)],
               threads=[[rec(status, 0x1000, t=(10, 11))]], keys=[("h", 0)],
               infos=[info(0x1000, (20, 21), status=status)], live=0, live_bytes=0, created=1)  # fmt: skip


def test_invalid_and_stale_are_interchangeable_only_when_declared():
    distinct = check_run(STALE_USE, stale_use_run(), policy=OPAQUE)
    assert [(p.kind, p.aspect) for p in distinct.problems] == [("divergence", "status")] and verdict(distinct) is None
    either = check_run(STALE_USE, stale_use_run(), policy=EITHER)
    assert either.problems == [] and verdict(either) is CheckResult.ok
    assert verdict(check_run(STALE_USE, stale_use_run(STALE), policy=OPAQUE)) is CheckResult.ok


# --------------------------------------------------------------------------- the summary's books


def _check(result: CheckResult | None) -> RunCheck:
    return RunCheck(None if result is None else Verdict(result, []), [], [], (0, 0), {})


def test_every_run_lands_in_one_book():
    summary = StressSummary(["x"], 4, 0)
    for check in (None, _check(None), _check(CheckResult.unknown), _check(CheckResult.ok),
                  _check(CheckResult.illegal)):  # fmt: skip
        summary.count(check)
    assert (summary.histories_checked, summary.unknown, summary.histories_unchecked) == (2, 1, 2)


@pytest.mark.parametrize(
    "checked, unknown, unchecked, findings, code",
    [
        (3, 0, 0, 0, EXIT_CLEAN),
        (3, 0, 0, 1, EXIT_FOUND),
        (0, 0, 3, 1, EXIT_FOUND),  # findings first, even when nothing was checked
        (0, 0, 3, 0, EXIT_INCONCLUSIVE),
        (0, 2, 0, 0, EXIT_INCONCLUSIVE),
        (2, 1, 0, 0, EXIT_INCONCLUSIVE),  # a timeout is never a pass
        (0, 0, 0, 0, EXIT_INCONCLUSIVE),  # no program ran at all
    ],
)
def test_exit_code(checked, unknown, unchecked, findings, code):
    summary = StressSummary(["x"], 4, 0, programs=checked + unknown + unchecked, unknown=unknown,
                            histories_checked=checked, histories_unchecked=unchecked)  # fmt: skip
    for n in range(findings):
        summary.add({"id": f"f{n}", "kind": "divergence", "summary": "s", "path": "p", "new": True})
    assert summary.exit_code() == code


def test_a_run_that_checked_nothing_says_so(capsys):
    summary = StressSummary(["opaque-lib"], 4, 0, programs=5, ops=1000, histories_unchecked=5, check_seconds=0.5)
    print_summary(summary)
    out = capsys.readouterr().out
    assert "0 of 5 checked" in out and "5 unchecked" in out and "NOTHING CHECKED" in out
    assert "verdict: NOTHING CHECKED (NOT A PASS)" in out and "ops/s" not in out  # no checker speed over nothing
    data = json.loads(json.dumps(summary.to_json()))
    assert (data["histories_checked"], data["histories_unchecked"], data["nothing_checked"]) == (0, 5, True)
    summary.histories_checked, summary.histories_unchecked = 5, 0
    print_summary(summary)
    out = capsys.readouterr().out
    assert "5 of 5 checked" in out and "NOTHING" not in out and "verdict: CLEAN" in out
