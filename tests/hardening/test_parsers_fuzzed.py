"""The harness's own parsers, fuzzed: the only exception that escapes is the project's input error.

Every parser of untrusted input (findings travel between machines and teams) gets
arbitrary text or bytes, mutated valid inputs and deep nesting: program text, the byte
encoding (total: never any exception), concurrent programs, ``finding.json``, the
known-findings index, baselines and the campaign journal (the campaign config: tests/hardening/test_campaign_config.py).
"""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzzharness.errors import UserError
from fuzzharness.findings.baseline import load_baseline
from fuzzharness.findings.corpus import KnownIndex
from fuzzharness.findings.durable import read_journal
from fuzzharness.findings.store import load
from fuzzharness.programs import concurrent, sequential

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VALID_TEXT = sequential.to_text(sequential.generate(random.Random(3)))
VALID_CONCURRENT = concurrent.to_text(concurrent.generate(random.Random(3)))


def mutated(text: str):
    """Valid input with a slice replaced by arbitrary text."""
    return st.tuples(st.integers(0, len(text)), st.integers(0, 40), st.text(max_size=40)).map(
        lambda t: text[: t[0]] + t[2] + text[t[0] + t[1] :])


def only_input_errors(parse, data) -> None:
    try:
        parse(data)
    except UserError:
        pass  # the project's own input error: one line, exit 2


@SETTINGS
@given(st.one_of(st.text(max_size=400), mutated(VALID_TEXT)))
@example("# fuzzharness program v1\nconfig capacity=\u0661\u0662 strategy=immediate\n")  # Unicode digits
@example("# fuzzharness program v1\nh0 = create nan\n")
@example("# fuzzharness program v1\nh0 = create 18446744073709551616\n")
@example("# fuzzharness program v1\n" + "repeat 1048577 { h0 = create 8 }\n")
def test_program_text(text):
    only_input_errors(sequential.parse_text, text)


@SETTINGS
@given(st.binary(max_size=600))
def test_byte_encoding_is_total(data):
    sequential.decode(data)  # every byte string is a program: no exception at all


@SETTINGS
@given(st.one_of(st.text(max_size=400), mutated(VALID_CONCURRENT)))
def test_concurrent_program_text(text):
    only_input_errors(concurrent.parse_text, text)


def _json_values():
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                        max_leaves=20)  # fmt: skip


FINDING_KEYS = ["schema", "kind", "targets", "variant", "mutant", "seed", "summary", "signature", "details",
                "found_at", "program_file", "environment"]  # fmt: skip


@SETTINGS
@given(st.one_of(
    st.text(max_size=300),
    st.dictionaries(st.sampled_from(FINDING_KEYS), _json_values(), max_size=12).map(json.dumps),
    st.integers(1, 20000).map(lambda n: "[" * n + "]" * n),
))  # fmt: skip
def test_finding_json(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("finding")
    (d / "finding.json").write_bytes(text.encode("utf-8", "surrogatepass"))
    (d / "program.fh").write_text(VALID_TEXT)
    only_input_errors(load, d)


@SETTINGS
@given(st.one_of(
    st.text(max_size=300),
    _json_values().map(lambda v: json.dumps({"schema": "fuzzharness-known/1", "findings": {"x": v}})),
    st.integers(1, 20000).map(lambda n: '{"findings":' + "[" * n + "]" * n + "}"),
))  # fmt: skip
def test_known_findings_index(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("known") / "known.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    only_input_errors(KnownIndex, path)


@SETTINGS
@given(st.one_of(st.text(max_size=300), _json_values().map(lambda v: json.dumps({"accepted": v}))))
def test_baseline(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("baseline") / "baseline.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    only_input_errors(load_baseline, path)


@SETTINGS
@given(st.lists(st.one_of(st.binary(max_size=80), st.integers(1, 5000).map(lambda n: b"[" * n)), max_size=6))
def test_journal(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    path.write_bytes(b"\n".join(lines))
    for record in read_journal(path):  # a corrupt line is skipped, never raised
        assert isinstance(record, dict)


def test_the_fuzzed_parsers_would_see_an_escaping_error():
    # the helper itself must fail on anything but the project's input error
    def boom(_):
        raise RecursionError

    try:
        only_input_errors(boom, None)
    except RecursionError:
        return
    raise AssertionError("only_input_errors swallowed a foreign exception")

