"""Cross-runtime pairs in the target registry: a pair is a table naming two targets."""

from __future__ import annotations

import pytest

from fuzzharness.contract.header import Strategy
from fuzzharness.contract.registry import load_registry
from fuzzharness.errors import CorruptInput, TargetNotBuilt

SINGLE = """
[targets.{name}]
language = "X"
source = "."
strategies = ["IMMEDIATE", "{deferred}"]
deferred = "{deferred}"
[targets.{name}.variants.release]
build = ["true"]
library = "{{build}}/{name}/release.so"
[targets.{name}.variants.mutants]
build = ["true"]
library = "{{build}}/{name}/mutants.so"
testing = true
"""
PAIR = """
[targets."a+b"]
pair = {{ owner = "{owner}", foreign = "b" }}
strategies = ["GUARDED", "GO_CLEANUP"]
immediate = "GUARDED"
deferred = "GO_CLEANUP"
"""


def registry(tmp_path, pair: str = PAIR, owner: str = "a", only_release_b: bool = False):
    b = SINGLE.format(name="b", deferred="GO_CLEANUP")
    if only_release_b:
        b = b[: b.index("[targets.b.variants.mutants]")]
    text = SINGLE.format(name="a", deferred="EPOCH") + b + pair.format(owner=owner)
    path = tmp_path / "registry.toml"
    path.write_text(text)
    return load_registry(path, root=tmp_path)


def test_pair_table_is_resolved_from_its_members(tmp_path):
    specs = registry(tmp_path)
    pair = specs["a+b"]
    assert pair.pair and not specs["a"].pair
    assert {role: m.name for role, m in pair.members.items()} == {"owner": "a", "foreign": "b"}
    assert (pair.immediate, pair.deferred) == (Strategy.GUARDED, Strategy.GO_CLEANUP)
    assert specs["a"].immediate == Strategy.IMMEDIATE  # the default of single-runtime targets
    assert set(pair.variants) == {"release", "mutants"} and pair.variant("mutants").testing


def test_pair_variants_are_those_both_members_have(tmp_path):
    assert set(registry(tmp_path, only_release_b=True)["a+b"].variants) == {"release"}


def test_pair_library_needs_both_members_built(tmp_path):
    pair = registry(tmp_path)["a+b"]
    with pytest.raises(TargetNotBuilt, match="'a'"):
        pair.library("release")
    for name in ("a", "b"):
        (tmp_path / "build" / name).mkdir(parents=True)
        (tmp_path / "build" / name / "release.so").write_bytes(b"")
    assert pair.library("release") == tmp_path / "build" / "b" / "release.so"  # the foreign front's
    assert set(pair.libraries("release")) == {"owner", "foreign"}


def test_pair_naming_an_unknown_member_is_corrupt_input(tmp_path):
    with pytest.raises(CorruptInput, match="pair owner 'zig'"):
        registry(tmp_path, owner="zig")


def test_pair_strategy_outside_its_strategies_is_corrupt_input(tmp_path):
    with pytest.raises(CorruptInput, match="strategy IMMEDIATE is not in its strategies"):
        registry(tmp_path, pair=PAIR.replace('immediate = "GUARDED"', 'immediate = "IMMEDIATE"'))


def test_the_real_registry_has_go_plus_rust():
    pair = load_registry()["go+rust"]
    assert {role: m.name for role, m in pair.members.items()} == {"owner": "rust", "foreign": "go"}
    assert set(pair.variants) == {"release", "mutants", "asan", "mutants-asan"}
    assert pair.variant("asan").sanitizer == "asan"
