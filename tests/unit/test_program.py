"""Programs: every byte string decodes, the text form round-trips, bad text is a clear error."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzharness.errors import CorruptInput
from fuzzharness.programs.sequential import (
    Acquire,
    Config,
    Create,
    Program,
    Raw,
    Read,
    Ref,
    Release,
    Tweak,
    Write,
    decode,
    encode,
    generate,
    parse_text,
    to_text,
)


@given(st.binary(max_size=512))
@settings(max_examples=400)
def test_every_byte_string_decodes_to_a_valid_program(data):
    program = decode(data)
    # Valid: the constructor validates refs, ranges and lengths; the text form round-trips.
    assert parse_text(to_text(program)) == program
    # Decoding is a function of the bytes, and encode/decode agree on what decode produced.
    assert decode(data) == program
    assert decode(encode(program)) == program


@given(st.integers(min_value=0, max_value=2**63))
@settings(max_examples=200)
def test_generated_programs_round_trip_through_text_and_bytes(seed):
    program = generate(random.Random(seed))
    assert parse_text(to_text(program)) == program
    try:
        data = encode(program)
    except ValueError:
        return  # configs outside the byte form's tiers are legal in memory
    assert decode(data) == program


def test_text_form_is_readable_and_stable():
    program = Program(
        Config(capacity=2, strategy="deferred"),
        (Create(16), Write(Ref(0), 3, b"\x01\xff"), Read(Tweak(0, 1 << 32), 0, 4), Release(Raw(0xDEAD))),
    )
    assert to_text(program) == (
        "# fuzzharness program v1\n"
        "config capacity=2 strategy=deferred max_resource_bytes=65536 max_total_bytes=1048576\n"
        "h0 = create 16\n"
        'write h0 3 x"01ff"\n'
        "read h0^0x100000000 0 4\n"
        "release 0xdead\n"
    )


def test_text_accepts_comments_and_blank_lines():
    text = "# a note\n\nconfig capacity=1 strategy=immediate max_resource_bytes=1 max_total_bytes=1  # cfg\nstats\n"
    assert parse_text(text).ops[0].__class__.__name__ == "Stats"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no config line"),
        ("stats\n", "expected the config line first"),
        ("config capacity=0 strategy=immediate max_resource_bytes=1 max_total_bytes=1\n", "capacity"),
        ("config capacity=1 strategy=lazy max_resource_bytes=1 max_total_bytes=1\n", "strategy"),
        ("config capacity=1 strategy=immediate max_resource_bytes=1 max_total_bytes=1\nrelease h0\n", "h0 names no earlier"),
        ("config capacity=1 strategy=immediate max_resource_bytes=1 max_total_bytes=1\nh1 = create 1\n", "out of order"),
        ("config capacity=1 strategy=immediate max_resource_bytes=1 max_total_bytes=1\nfrobnicate\n", "not an operation"),
        ('config capacity=1 strategy=immediate max_resource_bytes=1 max_total_bytes=1\nh0 = create 1\nwrite h0 0 x"abc"\n', "even number"),
        ("config capacity=1 strategy=immediate max_resource_bytes=1 max_total_bytes=1\nh0 = create 99999999999999999999999\n", "64 bits"),
        ("config capacity=1 strategy=immediate max_resource_bytes=1 max_total_bytes=1\nh0 = create 1\nread h0 0 5000\n", "length"),
    ],
)
def test_bad_text_is_a_corrupt_input_naming_source_and_line(text, message):
    with pytest.raises(CorruptInput) as info:
        parse_text(text, "prog.fh")
    assert str(info.value).startswith("prog.fh")
    assert message in str(info.value)


def test_decode_reduces_refs_to_earlier_producers():
    # opcode 1 (acquire) before any create: the handle becomes Raw(0).
    assert decode(bytes([0, 1, 0])).ops == (Acquire(Raw(0)),)
    # create 5, then acquire h7 -> h0 (7 mod 1 producer).
    program = decode(bytes([0, 0, 5, 1, 7 << 2]))
    assert program.ops[1].handle == Ref(0)
