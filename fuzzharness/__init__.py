"""fuzzharness: differential fuzzing and stress testing of Go/Rust FFI ownership boundaries.

Python loads a Go c-shared library and a Rust cdylib that implement one versioned
ownership contract (``targets/include/fuzzharness.h``), drives random operation
programs through both in isolated worker processes, and checks every result
against a reference model and against each other.

The public surface is small: programs (:mod:`fuzzharness.program`), the model
(:mod:`fuzzharness.model`), findings (:mod:`fuzzharness.findings`) and the
command line (:mod:`fuzzharness.cli`). Everything else is engine.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
