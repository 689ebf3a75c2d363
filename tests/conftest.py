"""Shared fixtures: the registry, built libraries (failing, never skipping, when absent)."""

from __future__ import annotations

import faulthandler
import threading

import pytest

from fuzzharness.contract.registry import load_registry
from fuzzharness.errors import TargetNotBuilt

# The Go runtime must come after faulthandler (see shared/TOOLCHAIN-FACTS.md).
faulthandler.enable()

TARGETS = ("rust", "go")


@pytest.fixture(scope="session")
def registry():
    return load_registry()


def library_path(target: str, variant: str = "release"):
    spec = load_registry()[target]
    try:
        return spec.library(variant)
    except TargetNotBuilt as exc:
        pytest.fail(f"{exc} (the test command 'make test' builds it)")


_LOADED: dict = {}
_SESSION_LOCK = threading.Lock()


def load_library(target: str):
    """The release library of ``target``, loaded once per test process.

    Only release variants are loaded in-process: a c-shared library never unloads,
    and two Go libraries (release and mutants) cannot share a process. Mutants
    variants run in worker subprocesses (see isolation/ and quality/).
    """
    from fuzzharness.contract.bindings import Library

    if target not in _LOADED:
        _LOADED[target] = Library(library_path(target))
    return _LOADED[target]


@pytest.fixture
def session_lock():
    """Serialises tests of one process that open the process-wide contract session."""
    with _SESSION_LOCK:
        yield
