"""An atheris (libFuzzer) target over the harness's own parsers of untrusted input.

The first byte of each input picks a parser, the rest is its input: program text, the byte
encoding (total: no exception at all), concurrent program text, ``finding.json`` (beside a
valid program), the known-findings index, the campaign config and the campaign journal. The
only exception allowed to escape a parser is the project's own input error
(:class:`fuzzharness.errors.UserError`: one line, exit 2); anything else is a crash libFuzzer
saves as ``crash-*``. Run it as a script, with libFuzzer's flags::

    .venv/bin/python tests/hardening/fuzz_parsers_atheris.py -max_total_time=600 build/parsers-corpus
    .venv/bin/python tests/hardening/fuzz_parsers_atheris.py -runs=2000      # a smoke run

(tests/hardening/test_atheris_target.py runs the smoke run.) Hypothesis fuzzes the same parsers
in tests/hardening/test_parsers_fuzzed.py; this target keeps going for as long as it is given.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.environ.get("FUZZHARNESS_ROOT") or str(Path(__file__).resolve().parents[2]))

import atheris  # noqa: E402

with atheris.instrument_imports():
    from fuzzharness.errors import UserError
    from fuzzharness.findings.corpus import KnownIndex
    from fuzzharness.findings.durable import read_journal
    from fuzzharness.findings.store import load
    from fuzzharness.lanes.campaign import load_config
    from fuzzharness.programs import concurrent, sequential

WORK = Path(tempfile.mkdtemp(prefix="fh-atheris-parsers-"))
VALID_PROGRAM = "# fuzzharness program v1\nconfig capacity=4 strategy=immediate\nh0 = create 8\n"
(WORK / "program.fh").write_text(VALID_PROGRAM)


def _file(name: str, data: bytes) -> Path:
    path = WORK / name
    path.write_bytes(data)
    return path


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


PARSERS = [
    lambda d: sequential.parse_text(_text(d), "fuzz.fh"),
    sequential.decode,
    lambda d: concurrent.parse_text(_text(d), "fuzz.fh"),
    lambda d: load(_file("finding.json", d).parent),
    lambda d: KnownIndex(_file("known.json", d)),
    lambda d: load_config(_file("campaign.toml", d)),
    lambda d: list(read_journal(_file("journal.jsonl", d))),
]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    parse = PARSERS[data[0] % len(PARSERS)]
    try:
        parse(data[1:])
    except UserError:
        pass  # the project's own input error: refused in one line


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
