"""The harness keeps driving contract 1.0 libraries: 1.1 calls are gated on the minor.

The built libraries are 1.1, so a 1.0 library is simulated by the version the wrapper
read (``Library._abi``): the gated wrappers must answer FH_UNSUPPORTED without calling
the library (a 1.1 library would accept the flag and open a session).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TARGETS, library_path
from fuzzharness.contract.bindings import Library
from fuzzharness.contract.header import Status, Strategy


@pytest.mark.parametrize("target", TARGETS)
def test_a_1_0_library_gets_no_1_1_calls(target, session_lock):
    lib = Library(library_path(target))
    assert lib.abi_version() == (1, 1)
    lib._abi = (1, 0)  # as a 1.0 library reports itself
    assert lib.init(4, Strategy.IMMEDIATE, 1 << 10, 1 << 20, flags=1) == (Status.UNSUPPORTED, None)
    assert lib.stats()[0] == Status.NOT_INITIALIZED  # no session was opened: no call was made
    assert lib.drain_reclaim_events()[0] == Status.UNSUPPORTED
    assert lib.clock_ns()[0] == Status.UNSUPPORTED
    lib._abi = (1, 1)
    status, now = lib.clock_ns()
    assert status == Status.OK and now > 0


def test_a_pair_refuses_a_1_0_member_before_attaching():
    code = (
        "import faulthandler, sys; faulthandler.enable()\n"
        "from fuzzharness.contract import bindings as _native\n"
        "from fuzzharness.errors import AbiMismatch\n"
        "_native.Library.abi_version = lambda self: (1, 0)\n"
        "try:\n"
        "    _native.PairLibrary(sys.argv[1], sys.argv[2])\n"
        "except AbiMismatch as exc:\n"
        "    print(exc)\n"
        "    sys.exit(0)\n"
        "sys.exit(1)\n"
    )
    root = Path(__file__).resolve().parent.parent.parent
    proc = subprocess.run([sys.executable, "-c", code, str(library_path("rust")), str(library_path("go"))],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "a cross-runtime pair needs >= 1.1" in proc.stdout
