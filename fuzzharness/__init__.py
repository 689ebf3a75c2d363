"""fuzzharness: differential fuzzing and stress testing of Go/Rust FFI ownership boundaries.

Python loads a Go c-shared library and a Rust cdylib that implement one versioned
ownership contract (``targets/include/fuzzharness.h``), drives random operation
programs through both in isolated worker processes, and checks every result
against a reference model and against each other.

The folders are layers, bottom first; a module imports only from its own layer
or a lower one (``tests/unit/test_layers.py`` declares the order and enforces it)::

    errors.py     the one error hierarchy
    contract/     the header as Python sees it; the only cffi module; registry; ABI check
    programs/     sequential and concurrent programs, their forms, the interpreter
    oracles/      reference model, linearizability, differential check, leaks, sanitizers
    execution/    worker processes, the supervisor, the wire format
    findings/     finding store, triage, minimization, corpus, repro
    report/       campaign reports, progress display
    lanes/        fuzz, stress, coverage, campaign slices, the campaign, the mutant suite
    bench/        reclamation latency, throughput and stress benchmarks
    cli.py        the command line

The public surface is small: programs (:mod:`fuzzharness.programs.sequential`), the model
(:mod:`fuzzharness.oracles.model`), findings (:mod:`fuzzharness.findings.store`) and the
command line (:mod:`fuzzharness.cli`). Everything else is engine.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
