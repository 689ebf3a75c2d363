"""Findings are saved atomically, once per signature, and loading never trusts the file."""

from __future__ import annotations

import json

import pytest

from fuzzharness.errors import CorruptInput
from fuzzharness.findings.store import FINDING_FILE, PROGRAM_FILE, Finding, FindingKind, load, save
from fuzzharness.programs.sequential import Config, Create, Program, Read, Ref


def finding(signature=("divergence", "rust", "fh_read")) -> Finding:
    program = Program(Config(capacity=2), (Create(4), Read(Ref(0), 0, 4)))
    return Finding(
        kind=FindingKind.divergence,
        targets=["rust"],
        variant="release",
        program=program,
        summary="rust vs model at step 2",
        signature=list(signature),
        seed=42,
        details={"divergence": {"step": 2}},
        trace="the trace\n",
    )


def test_save_and_load_round_trip(tmp_path):
    f = finding()
    path = save(f, tmp_path)
    assert path == tmp_path / f.id
    loaded = load(path)
    assert (loaded.kind, loaded.targets, loaded.program, loaded.signature, loaded.seed) == (
        f.kind, f.targets, f.program, f.signature, 42,
    )  # fmt: skip
    assert load(path / FINDING_FILE).id == f.id
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_same_signature_is_saved_once(tmp_path):
    assert save(finding(), tmp_path) is not None
    assert save(finding(), tmp_path) is None
    assert save(finding(("divergence", "go", "fh_read")), tmp_path) is not None
    assert len(list(tmp_path.iterdir())) == 2


def _corrupt(tmp_path, mutate):
    path = save(finding(), tmp_path)
    data = json.loads((path / FINDING_FILE).read_text())
    mutate(path, data)
    return path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p, d: (p / FINDING_FILE).write_text("{not json"), "not valid JSON"),
        (lambda p, d: (p / FINDING_FILE).write_bytes(b"\xff\xfe\x00garbage"), "not UTF-8"),
        (lambda p, d: (p / FINDING_FILE).write_text("[1, 2]"), "expected a JSON object"),
        (lambda p, d: (p / FINDING_FILE).write_text(json.dumps({**d, "schema": "x"})), "schema"),
        (lambda p, d: (p / FINDING_FILE).write_text(json.dumps({**d, "kind": "meltdown"})), "unknown kind"),
        (lambda p, d: (p / FINDING_FILE).write_text(json.dumps({**d, "targets": []})), "targets"),
        (lambda p, d: (p / FINDING_FILE).write_text(json.dumps({**d, "seed": "x"})), "seed"),
        (lambda p, d: (p / FINDING_FILE).write_text(json.dumps({**d, "mutant": True})), "wrong type"),
        (lambda p, d: (p / FINDING_FILE).write_text(json.dumps({k: v for k, v in d.items() if k != "variant"})), "missing field 'variant'"),
        (lambda p, d: (p / FINDING_FILE).write_text(json.dumps({**d, "program_file": "../../etc/passwd"})), "plain file name"),
        (lambda p, d: (p / PROGRAM_FILE).unlink(), "no such file"),
        (lambda p, d: (p / PROGRAM_FILE).write_text("config capacity=1 strategy=immediate max_resource_bytes=1 max_total_bytes=1\nrelease h9\n"), "program.fh:2"),
    ],
)
def test_corrupt_or_hostile_files_give_one_clear_error(tmp_path, mutate, message):
    path = _corrupt(tmp_path, mutate)
    with pytest.raises(CorruptInput) as info:
        load(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
