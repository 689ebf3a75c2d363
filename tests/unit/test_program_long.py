"""Long lifetimes and forged neighbours in programs: ``Nudge`` operands, ``restart``,
``repeat`` blocks and capacities up to 2^20 -- their three forms, their steps, how the
interpreter runs them, the generator, the minimizer and the coverage lane's helpers."""

from __future__ import annotations

import hashlib
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzharness.contract.header import MAX_CAPACITY, Status
from fuzzharness.errors import CorruptInput
from fuzzharness.findings.minimize import remove_ops, search
from fuzzharness.lanes.coverage import _insert_op, live_writes
from fuzzharness.oracles.model import ModelBackend
from fuzzharness.programs.concurrent import ConcurrentProgram
from fuzzharness.programs.interpreter import run_program, steps_of
from fuzzharness.programs.sequential import (
    LIMIT_TIERS,
    MAX_REPEAT,
    MAX_REPEAT_CALLS,
    Acquire,
    Config,
    Create,
    Info,
    Nudge,
    Program,
    Raw,
    Read,
    Ref,
    Release,
    Repeat,
    Restart,
    Snapshot,
    Stats,
    Tweak,
    Write,
    _add_long_repeat,
    decode,
    encode,
    extended_forms,
    generate,
    op_text,
    parse_text,
    to_text,
    within_calls,
)

HEAD = "# fuzzharness program v1\nconfig capacity=2 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576\n"

#: A program with every new form: a cycle reusing one slot, nudged and tweaked
#: neighbours, a restart, then handles of the closed session.
LONG = Program(Config(capacity=2), (
    Create(8),
    Repeat(3, (Create(4), Write(Ref(1), 0, b"\x01"), Release(Ref(1)))),
    Release(Nudge(1, 1)),
    Restart(),
    Acquire(Ref(0)),
    Repeat(2, (Create(1, "owner"), Info(Nudge(2, -1)))),
    Read(Tweak(2, 1 << 32), 0, 1),
))  # fmt: skip


# --------------------------------------------------------------------------- text form


def test_text_form_of_the_new_forms_is_readable_and_round_trips():
    assert to_text(LONG) == HEAD + (
        "h0 = create 8\n"
        "repeat 3 {\n"
        "  h1 = create 4\n"
        '  write h1 0 x"01"\n'
        "  release h1\n"
        "}\n"
        "release h1+1\n"
        "restart\n"
        "acquire h0\n"
        "repeat 2 {\n"
        "  owner: h2 = create 1\n"
        "  info h2-1\n"
        "}\n"
        "read h2^0x100000000 0 1\n"
    )
    assert parse_text(to_text(LONG)) == LONG


def test_a_repeat_on_one_line_is_the_same_block_and_is_its_label():
    one_line = HEAD + "h0 = create 8\nrepeat 70000 { h1 = create 8; release h1 }  # a comment\n"
    program = parse_text(one_line)
    assert program.ops[1] == Repeat(70000, (Create(8), Release(Ref(1))))
    assert op_text(program.ops[1], 1) == "repeat 70000 { h1 = create 8; release h1 }"
    block = HEAD + "h0 = create 8\nrepeat 70000 {\nh1 = create 8\n      release h1\n}\n"
    assert parse_text(block) == program


def test_nudges_print_small_deltas_in_decimal_and_large_in_hex():
    program = Program(Config(), (Create(1), Read(Nudge(0, 4096), 0, 0), Read(Nudge(0, -4097), 0, 0)))
    assert "read h0+4096 0 0\nread h0-0x1001 0 0\n" in to_text(program)
    assert parse_text(to_text(program)) == program


@pytest.mark.parametrize(
    "body, message",
    [
        ("repeat 2 {\nrepeat 2 {\nstats\n}\n}", ":4: a repeat body holds ordinary ops: no repeat"),
        ("repeat 2 {\nrestart\n}", ":4: a repeat body holds ordinary ops: no restart"),
        ("repeat 2 {\nstats", "the repeat block of line 3 is never closed"),
        ("stats\n}", ":4: '}' closes no repeat block"),
        ("repeat 2 {\n}", ":4: the repeat block of line 3 has no op"),
        ("repeat 0 { stats }", ":3: op 0 (repeat): count must be 1..1048576, got 0"),
        (f"repeat {MAX_REPEAT + 1} {{ stats }}", "count must be 1..1048576"),
        ("repeat 2 { stats", ":3: a repeat line ends with '{'"),
        ("repeat 2 {\nh0 = create 1\nrelease h1\n}", ":5: op 0.1 (release): h1 names no earlier create/snapshot"),
        ("h0 = create 1\nrelease h0+0", "nonzero delta"),
        ("release h0-1", "h0 names no earlier"),
        (f"repeat {MAX_REPEAT} {{ stats; stats; stats }}", f"more than {MAX_REPEAT_CALLS} calls"),
    ],
)
def test_bad_blocks_are_corrupt_input_naming_the_line(body, message):
    with pytest.raises(CorruptInput) as info:
        parse_text(HEAD + body + "\n", "long.fh")
    assert str(info.value).startswith("long.fh") and message in str(info.value)


def test_capacity_goes_up_to_the_contracts_maximum():
    assert parse_text(HEAD.replace("capacity=2", f"capacity={MAX_CAPACITY}")).config.capacity == MAX_CAPACITY
    with pytest.raises(ValueError, match="capacity must be 1..1048576"):
        Config(capacity=MAX_CAPACITY + 1)


def test_the_new_forms_are_for_sequential_programs_only():
    """A concurrent program's setup is run by the native runner, which has no restart,
    repeat or nudge: they are refused there with a clear error."""
    for setup in ((Create(1), Release(Nudge(0, 1))), (Create(1), Restart()), (Repeat(2, (Create(1),)),)):
        with pytest.raises(ValueError, match="for sequential programs only"):
            ConcurrentProgram(Config(), setup, ((Create(1),),))


def test_a_repeat_body_holds_ordinary_ops():
    with pytest.raises(ValueError, match="a repeat body holds ordinary ops, not restart"):
        Program(Config(), (Repeat(2, (Restart(),)),))
    with pytest.raises(ValueError, match="body must be a tuple of 1..16 ops"):
        Program(Config(), (Repeat(2, ()),))
    with pytest.raises(ValueError, match="h1 names no earlier"):  # no forward reference inside a body
        Program(Config(), (Repeat(2, (Release(Ref(1)), Create(1))),))


# --------------------------------------------------------------------------- byte encoding

#: Encodings made before the new forms existed (of the committed corpus and of
#: generated programs): they must decode to the same programs and encode to the same bytes.
OLD_ENCODINGS = {
    "corpus/seeds/aba.fh": "00000403000004aaaaaaaa0200000403040004bbbbbbbb0400000403000004cccccccc040400040403012000040403010000040402000001",
    "corpus/seeds/bounds.fh": "01000805000304fcffffffffffffffff01010300fcffffffffffffffff0201020300fcffffffffffffffff0003000702010203000602010204000800040009000400fcf9ffffffffffffff0704000008",
    "corpus/seeds/lifecycle.fh": "0300100300001000112233445566778899aabbccddeeff04000408010006000200040000100200040000100200060007",
    "corpus/seeds/snapshot.fh": "130008030000080102030405060708050003000002ffff040400080304000100020008040400080504060802040408000807",
    "corpus/examples/snapshot-shares.fh": "030002030000020102050003000002ffff04040002",
    "corpus/regressions/divergence-rust-2354c00871b4/program.min.fh": "030000050000000204040302010000",
}  # fmt: skip
#: (encoding, sha256 of its old text form, first 16 digits) of generate(Random(i), max_ops=12).
OLD_GENERATED = [
    ("03003005000500001d040cfcffffffffffffffff000402fcfeffffffffffffff00f00010040000640102fc0000000000000080", "6266a5dae2902b49"),
    ("0000270200", "c343b7b27a45b973"),
    ("9200010703000020b048f279829caa652af899a3e1f16bdc45cc8e26863d5f3b7f3a86a244b9d0260400000105000702000400000b03000004c5c5c5c50403002814"
     "08", "fa70b3aa6da0188d"),
    ("07000607001f020404040040001000000100", "288a8b0cee8679c1"),
    ("6200400100030041010a03030028300110001e040022070703003210b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6000c03080010da11993267f20c4f98e070266f"
     "b7115b050003001303d8d8d8", "0a274149fc1a95e6"),
]  # fmt: skip


@pytest.mark.parametrize("path", sorted(OLD_ENCODINGS))
def test_old_corpus_files_and_their_old_encodings_mean_the_same_program(path):
    from fuzzharness.contract.header import PROJECT_ROOT

    program = parse_text((PROJECT_ROOT / path).read_text(), path)
    old = bytes.fromhex(OLD_ENCODINGS[path])
    assert decode(old) == program
    assert encode(program) == old
    assert not extended_forms(program)


@pytest.mark.parametrize("data, digest", OLD_GENERATED)
def test_old_generated_encodings_decode_as_before(data, digest):
    program = decode(bytes.fromhex(data))
    assert hashlib.sha256(to_text(program).encode()).hexdigest()[:16] == digest
    assert encode(program).hex() == data


def test_byte_layout_of_the_new_forms():
    head = bytes([0, 0, 0])  # config, then create 0
    assert decode(head + bytes([27])).ops[1] == Restart()
    # repeat: count-1, body length-1, then the body (27 and 28 are create and acquire there)
    assert decode(head + bytes([28, 4, 1, 27, 8, 28, 4])).ops[1] == Repeat(5, (Create(8), Acquire(Ref(1))))
    # handle tag 3 + 4x: a nudge by x (x < 32) or x - 64
    assert decode(head + bytes([2, 3 | 1 << 2, 0])).ops[1] == Release(Nudge(0, 1))
    assert decode(head + bytes([2, 3 | 63 << 2, 0])).ops[1] == Release(Nudge(0, -1))
    assert decode(head + bytes([2, 3, 0, 32])).ops[1] == Release(Tweak(0, 1 << 32))  # x = 0: a tweak, as before
    # capacity extension: 0xFF right after the config byte
    assert decode(bytes([0x05, 0xFF, 0xF0, 0xFF, 0xFF])).config.capacity == 1 + (0xFFFF << 4 | 5)
    assert decode(bytes([0x05, 0xFF, 1])).config.capacity == 22
    assert decode(bytes([0x05, 7, 0xFF])).ops == (Stats(), Write(Raw(0), 0, b"", "owner"))  # elsewhere: as before


def test_decode_bounds_a_repeat_and_drops_one_without_body():
    assert decode(bytes([0, 28, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF])).ops == ()  # the bytes end before the body
    program = decode(bytes([0, 28, 0xF8, 0xFF, 0xFF, 0x0F, 0x00, 15]) + bytes([7]) * 16)
    block = program.ops[0]
    assert len(block.body) == 16 and block.count * 16 <= MAX_REPEAT_CALLS and block.count == MAX_REPEAT_CALLS // 16


@pytest.mark.parametrize("capacity", [1, 16, 17, 256, 4096, MAX_CAPACITY - 1, MAX_CAPACITY])
def test_every_capacity_has_a_byte_encoding(capacity):
    program = Program(Config(capacity=capacity), (Create(1),))
    data = encode(program)
    assert decode(data) == program
    assert (len(data) > 3) == (capacity > 16)  # the extension only when needed


def test_nudges_beyond_the_byte_range_are_refused_by_encode():
    for delta in (-32, -1, 1, 31):
        program = Program(Config(), (Create(1), Release(Nudge(0, delta))))
        assert decode(encode(program)) == program
    for delta in (-33, 32, 1 << 40):
        with pytest.raises(ValueError, match="nudges by -32..31 only"):
            encode(Program(Config(), (Create(1), Release(Nudge(0, delta)))))


#: Byte strings rich in the new forms' bytes (random bytes rarely hold them).
_SPECIAL = st.sampled_from([27, 28, 0xFF, 3 | 5 << 2, 3 | 60 << 2, 0xF0, 0xF8, 0xFC])
_RICH = st.lists(st.one_of(st.integers(0, 255), _SPECIAL), max_size=300).map(bytes)


@given(_RICH)
@settings(max_examples=400)
def test_every_byte_string_rich_in_new_forms_decodes_and_round_trips(data):
    program = decode(data)
    assert decode(data) == program
    assert decode(encode(program)) == program
    assert parse_text(to_text(program)) == program
    assert all(op.count * len(op.body) <= MAX_REPEAT_CALLS for op in program.ops if isinstance(op, Repeat))


_OPERAND = st.one_of(
    st.builds(Ref, st.integers(0, 3)),
    st.builds(Raw, st.integers(0, 2**64 - 1)),
    st.builds(Tweak, st.integers(0, 3), st.sampled_from([1 << b for b in range(64)])),
    st.builds(Nudge, st.integers(0, 3), st.integers(-32, 31).filter(bool)),
)
_CALL = st.one_of(
    st.builds(Create, st.integers(0, 2**64 - 1)),
    st.builds(Release, _OPERAND, st.sampled_from([None, "owner", "foreign"])),
    st.builds(Snapshot, _OPERAND),
    st.builds(Read, _OPERAND, st.integers(0, 100), st.integers(0, 16)),
    st.builds(Write, _OPERAND, st.integers(0, 100), st.binary(max_size=8)),
    st.just(Stats()),
)
_OP = st.one_of(_CALL, st.just(Restart()), st.builds(Repeat, st.integers(1, 70000), st.lists(_CALL, min_size=1, max_size=4).map(tuple)))


@st.composite
def programs(draw) -> Program:
    """Programs of every form (operands renumbered into range by building them in order)."""
    capacity = draw(st.sampled_from([1, 8, 16, 17, 300, 70000, MAX_CAPACITY]))
    tier = draw(st.sampled_from(LIMIT_TIERS))
    ops = [Create(draw(st.integers(0, 64)))]
    produced = 1
    for op in draw(st.lists(_OP, max_size=12)):
        op, produced = _in_range(op, produced)
        ops.append(op)
    return Program(Config(capacity, draw(st.sampled_from(["immediate", "deferred"])), *tier), tuple(ops))


def _in_range(op, produced: int):
    import dataclasses

    if isinstance(op, Repeat):
        body = []
        for body_op in op.body:
            body_op, produced = _in_range(body_op, produced)
            body.append(body_op)
        return Repeat(op.count, tuple(body)), produced
    handle = getattr(op, "handle", None)
    if hasattr(handle, "index"):
        op = dataclasses.replace(op, handle=dataclasses.replace(handle, index=handle.index % produced))
    return op, produced + op.produces_handle


@given(programs())
@settings(max_examples=300)
def test_programs_of_every_form_round_trip_through_bytes_and_text(program):
    assert decode(encode(program)) == program
    assert parse_text(to_text(program)) == program


def test_within_calls_lowers_repeats_and_cuts_what_no_longer_fits():
    program = Program(Config(), (Create(1), Repeat(1000, (Create(1), Release(Ref(1)))), Restart(), Info(Ref(1))))
    assert program.calls == 2004 and within_calls(program, 5000) is program
    assert within_calls(program, 101).ops == (Create(1), Repeat(50, (Create(1), Release(Ref(1)))))
    assert within_calls(program, 2003).ops == program.ops[:1] + (Repeat(1000, program.ops[1].body), Restart())
    assert within_calls(program, 2).ops == (Create(1),)  # no iteration fits: the repeat and all after it go
    assert within_calls(decode(bytes([0, 28, 0xF8, 0xFF, 0xFF, 0x0F, 0x00, 0, 0])), 4096).calls == 4096


# --------------------------------------------------------------------------- steps and running


def test_steps_expand_restarts_and_repeats():
    steps = steps_of(LONG)
    assert LONG.calls == 1 + 9 + 1 + 2 + 1 + 4 + 1 and len(steps) == 1 + LONG.calls + 3
    labels = [s.label for s in steps]
    assert labels[1:6] == ["h0 = create 8", "repeat[0] h1 = create 4", 'repeat[0] write h1 0 x"01"',
                           "repeat[0] release h1", "repeat[1] h1 = create 4"]  # fmt: skip
    assert labels[11:14] == ["release h1+1", "restart: shutdown", "restart: init " + labels[0][len("init "):]]
    assert [s.function for s in steps[12:14]] == ["fh_shutdown", "fh_init"] and steps[12].op == Restart()
    assert labels[15:19] == ["repeat[0] owner: h2 = create 1", "repeat[0] info h2-1", "repeat[1] owner: h2 = create 1",
                             "repeat[1] info h2-1"]  # fmt: skip
    assert [(s.iteration, s.produces) for s in steps[1:4]] == [(None, 0), (0, 1), (0, None)]
    assert steps[17].iteration == 1 and steps[17].produces == 2


def test_steps_of_a_long_program_are_built_on_demand_and_agree_with_iteration():
    program = Program(Config(capacity=4), (Create(1), Repeat(3000, (Create(8), Release(Ref(1)))), Acquire(Ref(1)), Restart()))
    steps = steps_of(program)
    assert len(steps) == 1 + 1 + 6000 + 1 + 2 + 3
    listed = list(steps)
    assert len(listed) == len(steps)
    for i in (0, 1, 2, 3, 4, 5999, 6000, 6001, 6002, 6003, 6004, len(steps) - 1):
        assert steps[i] == listed[i]
    assert steps[-1] == listed[-1] and steps[6000:6004] == listed[6000:6004]
    assert steps[6001].label == "repeat[2999] release h1" and steps[6002].label == "acquire h1"
    with pytest.raises(IndexError):
        steps[len(steps)]


class Counter:
    """A backend that accepts everything: the n-th create returns 100 + n; records calls.
    ``fail_init``: the init numbers (from 1) that fail."""

    def __init__(self, fail_init: tuple[int, ...] = ()) -> None:
        self.calls: list[tuple] = []
        self.created = self.inits = 0
        self.fail_init = fail_init

    def init(self, *config):
        self.inits += 1
        self.calls.append(("init",))
        return (Status.ALREADY_INITIALIZED if self.inits in self.fail_init else Status.OK), None

    def create(self, size, via=None):
        self.created += 1
        self.calls.append(("create", size))
        return Status.OK, 100 + self.created

    def last_error(self):
        return "refused"

    def __getattr__(self, name):
        def call(*args, via=None):
            self.calls.append((name, *args))
            return Status.OK, None

        return call


def test_a_repeat_names_the_latest_iteration_and_a_restart_keeps_old_values_as_operands():
    backend = Counter()
    trace = run_program(LONG, backend, deferred_strategy=1)
    assert len(trace) == len(steps_of(LONG))
    calls = [c for c in backend.calls if c[0] not in ("init", "shutdown", "quiesce", "stats")]
    assert calls[:7] == [("create", 8), ("create", 4), ("write", 102, 0, b"\x01"), ("release", 102), ("create", 4),
                         ("write", 103, 0, b"\x01"), ("release", 103)]  # fmt: skip
    assert calls[9:11] == [("release", 104), ("release", 105)]  # last iteration's h1, then h1+1
    assert calls[11] == ("acquire", 101)  # h0 of the closed session
    assert calls[12:16] == [("create", 1), ("info", 104), ("create", 1), ("info", 105)]  # h2-1: this iteration's h2 - 1
    assert calls[16] == ("read", 106 ^ 1 << 32, 0, 1)  # after the loop: the last iteration's h2
    assert [c[0] for c in backend.calls].count("init") == 2


def test_a_failed_reinit_ends_the_run_as_a_failed_first_init_does():
    trace = run_program(LONG, Counter(fail_init=(2,)), deferred_strategy=1)
    steps = steps_of(LONG)
    assert len(trace) == 14 and steps[13].label.startswith("restart: init")
    assert trace[-1].status == Status.ALREADY_INITIALIZED and trace[-1].message == "refused"
    assert len(run_program(LONG, Counter(fail_init=(1,)), deferred_strategy=1)) == 1


def test_the_model_runs_the_new_forms_step_for_step():
    program = Program(Config(capacity=1), (
        Repeat(5, (Create(8), Release(Ref(0)))), Acquire(Ref(0)), Repeat(3, (Create(1),)), Restart(), Release(Nudge(1, 0x1000)),
    ))  # fmt: skip
    trace = run_program(program, ModelBackend(), deferred_strategy=1)
    steps = steps_of(program)
    assert len(trace) == len(steps)
    statuses = {s.label: Status(o.status).name for s, o in zip(steps, trace)}
    assert statuses["acquire h0"] == "STALE_HANDLE"
    assert [Status(trace[i].status).name for i in (12, 13, 14)] == ["OK", "EXHAUSTED", "EXHAUSTED"]  # capacity 1
    assert steps[14].produces == 1 and statuses["release h1+4096"] == "INVALID_HANDLE"  # h1 failed: 0 + 0x1000


# --------------------------------------------------------------------------- the generator


def test_same_seed_same_program_and_old_seeds_without_new_forms_unchanged():
    assert all(generate(random.Random(s), via_rate=0.3) == generate(random.Random(s), via_rate=0.3) for s in range(300))
    digest, plain = hashlib.sha256(), 0
    for seed in range(400):
        program = generate(random.Random(seed))
        if not extended_forms(program):
            digest.update(to_text(program).encode())
            plain += 1
    # the hash of the same seeds' programs made by the generator before the new forms
    assert (plain, digest.hexdigest()) == (208, "095ed25c0e331ea7d6b85e161299c64fc9715d01d02aa772ca33665a1c4222ce")


def test_the_generator_draws_the_new_forms_sometimes_and_keeps_programs_cheap():
    programs = [generate(random.Random(seed)) for seed in range(4000)]
    share = {form: sum(form in extended_forms(p) for p in programs) / len(programs) for form in ("nudge", "restart", "repeat")}
    assert 0.015 < share["restart"] < 0.05 and 0.015 < share["repeat"] < 0.05 and 0.2 < share["nudge"] < 0.7, share
    ordinary = [p.calls for p in programs if p.calls <= 10_000]
    assert len(programs) - len(ordinary) <= 4 and sum(ordinary) / len(ordinary) < 40  # long blocks: 1 in 10,000
    for program in programs:
        assert parse_text(to_text(program)) == program
        _assert_bytes_round_trip(program)


def _assert_bytes_round_trip(program: Program) -> None:
    try:
        data = encode(program)
    except ValueError:
        return  # limits outside the byte form's tiers, a write of 256 bytes: legal in memory
    assert decode(data) == program


@pytest.mark.parametrize("seed", range(12))
def test_long_lifetime_shapes(seed):
    base = generate(random.Random(seed), max_ops=8)
    config, ops = _add_long_repeat(random.Random(seed), base.config, list(base.ops))
    program = Program(config, tuple(ops))
    (i, block), = [(i, op) for i, op in enumerate(program.ops) if isinstance(op, Repeat)]
    first = sum(op.produces_handle for op in program.ops[:i])
    if len(block.body) == 2:  # one slot reused past 2^15 and 2^16 generations, then its last handle
        assert 33_000 <= block.count <= 70_000 and block.body[1] == Release(Ref(first))
        assert program.ops[i + 1].handle == Ref(first)
    else:  # a table filled one past its capacity
        assert 1 << 12 <= config.capacity <= 1 << 17 and block.body == (Create(8),)
        assert block.count == config.capacity + 1 and config.max_total_bytes >= 8 * block.count
    # the ops after the block still name the handles they named before it
    assert [getattr(op, "handle", None) for op in base.ops[i:] if isinstance(getattr(op, "handle", None), Raw)] == \
           [getattr(op, "handle", None) for op in program.ops[i + 1:] if isinstance(getattr(op, "handle", None), Raw)]  # fmt: skip
    _assert_bytes_round_trip(program)


# --------------------------------------------------------------------------- minimization


def test_removing_a_repeat_or_a_body_op_renumbers_every_later_handle():
    program = parse_text(HEAD + "h0 = create 8\nrepeat 100 {\nh1 = create 4\nwrite h1+1 0 x\"01\"\nh2 = snapshot h0\n"
                         "release h1\n}\nrelease h2\nread h1^0x1 0 1\nrestart\nh3 = create 2\ninfo h3-1\n")  # fmt: skip
    whole = remove_ops(program, {1})
    assert to_text(whole) == HEAD + "h0 = create 8\nrestart\nh1 = create 2\ninfo h1-1\n"
    no_snapshot = remove_ops(program, {(1, 2)})  # the body's snapshot takes "release h2" with it
    assert no_snapshot.ops[1] == Repeat(100, (Create(4), Write(Nudge(1, 1), 0, b"\x01"), Release(Ref(1))))
    assert no_snapshot.ops[2:] == (Read(Tweak(1, 1), 0, 1), Restart(), Create(2), Info(Nudge(2, -1)))
    no_create = remove_ops(program, {(1, 0)})  # everything naming h1 goes; h2 becomes h1
    assert no_create.ops[1] == Repeat(100, (Snapshot(Ref(0)),)) and no_create.ops[2] == Release(Ref(1))
    assert remove_ops(program, {0}).ops[0] == Repeat(100, (Create(4), Write(Nudge(0, 1), 0, b"\x01"), Release(Ref(0))))


def test_minimization_keeps_a_repeat_as_a_unit_and_shortens_it():
    noise = (Create(3), Write(Ref(0), 0, b"ab"), Stats(), Read(Ref(0), 0, 2))
    program = Program(Config(capacity=4), noise + (Repeat(5000, (Create(8), Write(Ref(1), 0, b"x"), Release(Ref(1)))),) + noise)

    def keeps(candidates):
        """The "bug": a repeat of at least 1000 iterations releasing what it created."""
        for i, candidate in enumerate(candidates):
            for op in candidate.ops:
                if isinstance(op, Repeat) and op.count >= 1000 and any(isinstance(b, Release) for b in op.body):
                    return i
        return None

    result, tried, complete = search(program, keeps, time.monotonic() + 30)
    assert complete and tried > 0
    (block,) = result.ops
    assert 1000 <= block.count < 1250 and block.body == (Create(0), Release(Ref(0)))
    assert result.config.capacity == 1


# --------------------------------------------------------------------------- the coverage lane's helpers


def test_live_writes_follow_restarts_and_one_iteration_of_a_repeat():
    program = Program(Config(capacity=4), (
        Create(8), Write(Ref(0), 0, b"a"),  # live
        Repeat(9, (Create(8), Write(Ref(1), 0, b"b"))),  # followed, never reported
        Write(Ref(1), 0, b"c"),  # h1 is live after one iteration
        Restart(), Write(Ref(0), 0, b"d"),  # the session closed: not live
    ))  # fmt: skip
    assert live_writes(program) == [(1, 8), (3, 8)]


def test_inserting_a_producer_shifts_handles_inside_later_repeats():
    program = Program(Config(), (Create(1), Repeat(2, (Create(1), Release(Ref(1)), Info(Nudge(0, 1))))))
    shifted = _insert_op(program, 1, Create(2))
    assert shifted.ops[2] == Repeat(2, (Create(1), Release(Ref(2)), Info(Nudge(0, 1))))
    block = Repeat(2, (Create(1), Snapshot(Ref(0))))
    twice = _insert_op(Program(Config(), (Create(1), Release(Ref(0)))), 0, block)
    assert twice.ops[2] == Release(Ref(2))  # the block owns two handle indices
