"""Runtime selectors (``via``) in programs: text prefix, byte encoding, generator, old inputs."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzharness.errors import CorruptInput
from fuzzharness.programs.sequential import (
    VIAS,
    Acquire,
    Config,
    Create,
    Info,
    Program,
    Quiesce,
    Read,
    Ref,
    Release,
    Repeat,
    Snapshot,
    Stats,
    Write,
    decode,
    encode,
    generate,
    parse_text,
    to_text,
    with_via,
)

PAIRED = Program(
    Config(capacity=2),
    (
        Create(16, "owner"),
        Acquire(Ref(0), "foreign"),
        Release(Ref(0)),
        Write(Ref(0), 0, b"\x01", "owner"),
        Read(Ref(0), 0, 1, "foreign"),
        Snapshot(Ref(0), "owner"),
        Info(Ref(1), "foreign"),
        Stats(),
        Quiesce(),
    ),
)


def test_text_prefix_names_the_runtime_and_unprefixed_lines_are_the_default():
    text = to_text(PAIRED)
    assert "owner: h0 = create 16\n" in text
    assert "foreign: acquire h0\n" in text
    assert "\nrelease h0\n" in text  # None: the target's default runtime, no prefix
    assert "owner: h1 = snapshot h0\n" in text
    assert parse_text(text) == PAIRED


def test_old_saved_programs_parse_unchanged():
    old = "# fuzzharness program v1\nconfig capacity=1 strategy=immediate max_resource_bytes=65536 " \
          "max_total_bytes=1048576\nh0 = create 4\nrelease h0\n"  # fmt: skip
    program = parse_text(old)
    assert program.ops == (Create(4), Release(Ref(0)))
    assert all(op.via is None for op in program.ops)


@pytest.mark.parametrize(
    "line, message",
    [("rust: release h0", "not an operation"), ("owner: stats", "takes no runtime selector"),
     ("owner:: release h0", "not an operation")],  # fmt: skip
)
def test_bad_selectors_are_corrupt_input(line, message):
    text = "# fuzzharness program v1\nconfig capacity=1 strategy=immediate max_resource_bytes=1 " \
           f"max_total_bytes=1\nh0 = create 1\n{line}\n"  # fmt: skip
    with pytest.raises(CorruptInput, match=message):
        parse_text(text)


def test_selector_outside_the_roles_is_refused():
    with pytest.raises(ValueError, match="via must be one of"):
        Program(Config(), (Create(1, "rust"),))
    with pytest.raises(ValueError, match="takes no runtime selector"):
        with_via(Stats(), "owner")


def test_bytes_round_trip_with_selectors():
    assert decode(encode(PAIRED)) == PAIRED


@given(st.binary(max_size=256))
@settings(max_examples=300)
def test_old_byte_corpora_keep_their_ops(data):
    """An existing byte input decodes to the same ops as before selectors existed (op =
    b % 9); only the selector is new, taken from b // 9 (0: None)."""
    program = decode(data)
    for op in program.ops:
        assert getattr(op, "via", None) in VIAS
    flat = [_without_selectors(op) for op in program.ops]
    # Zeroing the selector in every opcode byte gives the pre-selector decoding.
    stripped = decode(_strip_selectors(data))
    assert flat == list(stripped.ops)
    assert decode(encode(program)) == program


def _strip_selectors(data: bytes) -> bytes:
    """Re-encode ``data`` with every op's selector cleared (the v1 opcode bytes)."""
    program = decode(data)
    return encode(Program(program.config, tuple(_without_selectors(op) for op in program.ops)))


def test_opcode_byte_layout():
    # b = op + 9 * selector: 2 = release (None), 11 = release via owner, 20 = via foreign.
    head = bytes([0, 0, 0])  # config, then create 0
    assert decode(head + bytes([2, 0])).ops[1] == Release(Ref(0))
    assert decode(head + bytes([11, 0])).ops[1] == Release(Ref(0), "owner")
    assert decode(head + bytes([20, 0])).ops[1] == Release(Ref(0), "foreign")
    assert decode(head + bytes([16])).ops[1] == Stats()  # 16 % 9 = stats: no selector


def _without_selectors(op):
    """``op`` on the default runtime (a repeat: every op of its body)."""
    if isinstance(op, Repeat):
        return Repeat(op.count, tuple(_without_selectors(b) for b in op.body))
    return with_via(op, None) if hasattr(op, "via") else op


@given(st.integers(min_value=0, max_value=2**63))
@settings(max_examples=200)
def test_generator_ops_do_not_depend_on_the_selector_rate(seed):
    program = generate(random.Random(seed), via_rate=0.3)
    plain = generate(random.Random(seed))
    assert [_without_selectors(op) for op in program.ops] == list(plain.ops)
    assert parse_text(to_text(program)) == program


def test_generator_ops_do_not_depend_on_the_selector_rate_in_repeat_bodies():
    seeds = [s for s in range(2000) if any(isinstance(op, Repeat) for op in generate(random.Random(s)).ops)]
    assert len(seeds) > 20
    selected = 0
    for seed in seeds:
        program = generate(random.Random(seed), via_rate=0.3)
        assert [_without_selectors(op) for op in program.ops] == list(generate(random.Random(seed)).ops)
        selected += any(b.via for op in program.ops if isinstance(op, Repeat) for b in op.body if hasattr(b, "via"))
    assert selected > 5, "body ops get selectors too"


def test_generator_emits_both_selectors():
    seen = {op.via for seed in range(50) for op in generate(random.Random(seed), via_rate=0.3).ops if hasattr(op, "via")}
    assert seen == set(VIAS)
