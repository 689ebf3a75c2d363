"""Handle policies: what a target promises about the handle values it issues.

The contract's own layout (slot in the low 32 bits, generation in the high 32, the
lowest free slot first) is what the bundled shims implement, and the reference model
predicts it to the bit: ``handles = "exact"``. A library that nobody here wrote
follows its own handle system (pointers, counters, slot maps with short versions,
dense indices): ``handles = "opaque"``. Then the oracle maps each value the target
issued to the resource it named and checks what holds for every sound handle system:

* a value is non-zero and distinct among live resources;
* a value that named a resource that died is never accepted again as that or
  another live resource, unless the target declares ``reuse = "after-death"``
  (issuing it again is then allowed; with ``reuse = "never"``, it is ABA);
* a value the target never issued (forged, from a closed session, random) is never
  accepted; one that *equals* a live handle of that target is that resource;
* ``INVALID_HANDLE`` for a value never issued and ``STALE_HANDLE`` for one that named
  a dead resource, unless ``stale_status = "invalid-or-stale"`` (either is accepted
  for either: many handle systems cannot tell them apart).

Declared per target in the registry (``[targets.NAME]``: ``handles``, ``reuse``,
``stale_status``); :func:`parse_policy` validates such a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fuzzharness.errors import CorruptInput

__all__ = ["HandlePolicy", "EXACT", "parse_policy", "HANDLE_MODES", "REUSE_RULES", "STALE_RULES"]

HANDLE_MODES = ("exact", "opaque")
REUSE_RULES = ("never", "after-death")
STALE_RULES = ("distinct", "invalid-or-stale")


@dataclass(frozen=True)
class HandlePolicy:
    """What a target promises about its handle values (see the module doc)."""

    handles: str = "exact"
    reuse: str = "never"
    stale_status: str = "distinct"

    def __post_init__(self) -> None:
        for name, allowed in (("handles", HANDLE_MODES), ("reuse", REUSE_RULES), ("stale_status", STALE_RULES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")

    @property
    def opaque(self) -> bool:
        return self.handles == "opaque"

    @property
    def reuse_after_death(self) -> bool:
        return self.reuse == "after-death"

    @property
    def invalid_or_stale(self) -> bool:
        return self.stale_status == "invalid-or-stale"


#: The bundled shims' policy: the contract's layout, predicted exactly.
EXACT = HandlePolicy()


def parse_policy(entry: dict[str, Any], where: str) -> HandlePolicy:
    """The policy declared in a registry table (defaults: exact, never, distinct);
    raises :class:`~fuzzharness.errors.CorruptInput` naming the field and the choices."""
    values = {}
    for name, allowed in (("handles", HANDLE_MODES), ("reuse", REUSE_RULES), ("stale_status", STALE_RULES)):
        if name not in entry:
            continue
        value = entry[name]
        if value not in allowed:
            raise CorruptInput(f"{where}: {name} = {value!r} is not one of {', '.join(repr(a) for a in allowed)}")
        values[name] = value
    return HandlePolicy(**values)
