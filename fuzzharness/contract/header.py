"""The contract as Python sees it: paths of the canonical header, statuses, strategies.

Status numbers, strategy numbers, mutant numbers and the ABI version are read from
``targets/include/fuzzharness_decls.h`` (and its testing companion), never retyped
here, so that the header stays the single source of truth. This module does not
load any library; :mod:`fuzzharness.contract.bindings` is the only module that touches cffi.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

from fuzzharness.errors import InvalidArgument

__all__ = [
    "PROJECT_ROOT",
    "INCLUDE_DIR",
    "DECLS_HEADER",
    "TESTING_DECLS_HEADER",
    "ABI_MAJOR",
    "ABI_MINOR",
    "Status",
    "Strategy",
    "Mutant",
    "parse_mutant",
    "mutant_name",
    "read_enum",
    "MAX_CAPACITY",
    "MAX_REFS",
    "U64_MAX",
    "MAX_GENERATION",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "targets" / "include"
DECLS_HEADER = INCLUDE_DIR / "fuzzharness_decls.h"
TESTING_DECLS_HEADER = INCLUDE_DIR / "fuzzharness_testing_decls.h"

#: Limits stated in the header's prose (checked against both shims by the ABI tests).
MAX_CAPACITY = 1 << 20
MAX_REFS = 0xFFFF_FFFF
MAX_GENERATION = 0xFFFF_FFFF
U64_MAX = (1 << 64) - 1

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def read_enum(header: Path, enum_name: str) -> dict[str, int]:
    """Return the ``NAME = value`` entries of ``enum <enum_name> { ... }`` in ``header``."""
    text = _COMMENT.sub("", header.read_text())
    match = re.search(r"enum\s+" + re.escape(enum_name) + r"\s*\{(.*?)\}", text, re.S)
    if match is None:
        raise LookupError(f"{header}: no 'enum {enum_name}'")
    entries = {}
    for item in match.group(1).split(","):
        item = item.strip()
        if item:
            name, _, value = item.partition("=")
            entries[name.strip()] = int(value.strip(), 0)
    return entries


def _strip_prefix(entries: dict[str, int], prefix: str) -> dict[str, int]:
    return {name.removeprefix(prefix): value for name, value in entries.items()}


Status = enum.IntEnum("Status", _strip_prefix(read_enum(DECLS_HEADER, "fh_status_code"), "FH_"))
Status.__doc__ = "Contract status codes (``fh_status_code``), stable numbers read from the header."

Strategy = enum.IntEnum(
    "Strategy", _strip_prefix(read_enum(DECLS_HEADER, "fh_reclaim_strategy"), "FH_RECLAIM_")
)
Strategy.__doc__ = "Reclamation strategies (``fh_reclaim_strategy``)."

Mutant = enum.IntEnum("Mutant", _strip_prefix(read_enum(TESTING_DECLS_HEADER, "fh_mutant"), "FH_MUTANT_"))
Mutant.__doc__ = "Test-only injected mutants (``fh_mutant``), for the ``mutants`` build variant."


def mutant_name(mutant: Mutant) -> str:
    """A mutant as users write it: ``SNAPSHOT_SHARES`` -> ``snapshot-shares``."""
    return mutant.name.lower().replace("_", "-")


def parse_mutant(text: str) -> int:
    """A mutant named as users write it (``snapshot-shares``, ``SNAPSHOT_SHARES``) or by
    number (``4``); raises :class:`~fuzzharness.errors.InvalidArgument` naming the known ones."""
    if text.isdigit():
        return int(text)
    try:
        return Mutant[text.upper().replace("-", "_")]
    except KeyError:
        names = ", ".join(mutant_name(m) for m in Mutant)
        raise InvalidArgument(f"unknown mutant {text!r} (known: {names})") from None

_abi = read_enum(DECLS_HEADER, "fh_abi")
ABI_MAJOR: int = _abi["FH_ABI_MAJOR"]
ABI_MINOR: int = _abi["FH_ABI_MINOR"]
