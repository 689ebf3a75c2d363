#!/usr/bin/env python3
"""A raw atheris harness over the coverage builds: the benchmark the coverage lane is held to.

What a user would write in an afternoon: libFuzzer's own mutator, the input's bytes read
directly as contract calls made through cffi, no model, no checks, no structure, no
crash bookkeeping. The coverage lane (fuzzharness.lanes.coverage) runs the same
instrumented libraries with a model, a structure-aware mutator and crash recovery;
``python -m fuzzharness.bench.coverage_compare`` runs both side by side and compares
their execs/s.

    .venv/bin/python bench/raw_atheris.py --targets=rust [--variant=cov] [--mutant=N] -max_total_time=20

``--targets`` (comma-separated, at most one Go target), ``--variant`` (a coverage
build, default ``cov``) and ``--mutant`` are this script's; every other argument goes
to libFuzzer. Input format: byte 0 is the session (capacity 1 + b % 8, deferred when
b & 8), then ops: an opcode byte (mod 9: create, acquire, release, write, read,
snapshot, info, stats, quiesce) and its operands, one byte each (a handle operand
indexes the handles made so far; a write's length byte is followed by its data).
"""

from __future__ import annotations

import faulthandler
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _own_args(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    own, rest = {}, []
    for arg in argv:
        if arg.startswith("--") and "=" in arg and arg[2:].split("=", 1)[0] in ("targets", "variant", "mutant"):
            name, value = arg[2:].split("=", 1)
            own[name] = value
        else:
            rest.append(arg)
    return own, rest


def main() -> int:
    faulthandler.enable(all_threads=True)  # before the Go runtime loads (TOOLCHAIN-FACTS)
    own, argv = _own_args(sys.argv)
    import atheris

    from fuzzharness.contract.bindings import Library, libfuzzer_path, preload_global
    from fuzzharness.contract.registry import select_targets

    preload_global(libfuzzer_path())  # the coverage builds' __sanitizer_cov_* hooks
    variant = own.get("variant", "cov")
    mutant = int(own.get("mutant", "0"))
    libraries = []
    for spec in select_targets(own.get("targets", "rust")):
        library = Library(str(spec.library(variant)), with_testing=spec.variant(variant).testing)
        if mutant:
            library.set_mutant(mutant)
        libraries.append((library, int(spec.deferred)))

    def test_one_input(data: bytes) -> None:
        if not data:
            return
        capacity, deferred = 1 + (data[0] & 7), bool(data[0] & 8)
        for library, deferred_strategy in libraries:
            library.init(capacity, deferred_strategy if deferred else 0, 1 << 16, 1 << 20)
            handles = [0]
            i, n = 1, len(data)
            while i < n:
                code = data[i] % 9
                arg = data[i + 1] if i + 1 < n else 0
                handle = handles[arg % len(handles)]
                i += 2
                if code == 0:
                    status, new = library.create(arg)
                    handles.append(new if status == 0 else 0)
                elif code == 1:
                    library.acquire(handle)
                elif code == 2:
                    library.release(handle)
                elif code == 3:
                    offset = data[i] if i < n else 0
                    length = data[i + 1] if i + 1 < n else 0
                    payload = data[i + 2 : i + 2 + length]
                    i += 2 + len(payload)
                    library.write(handle, offset, payload)
                elif code == 4:
                    offset = data[i] if i < n else 0
                    length = data[i + 1] if i + 1 < n else 0
                    i += 2
                    library.read(handle, offset, length)
                elif code == 5:
                    status, new = library.snapshot(handle)
                    handles.append(new if status == 0 else 0)
                elif code == 6:
                    library.info(handle)
                elif code == 7:
                    i -= 1
                    library.stats()
                else:
                    i -= 1
                    library.quiesce()
            library.quiesce()
            library.shutdown()

    atheris.Setup(argv, test_one_input, internal_libfuzzer=True)
    atheris.Fuzz()  # libFuzzer exits the process (-print_final_stats=1 prints the executed units)
    return 0


if __name__ == "__main__":
    sys.exit(main())
