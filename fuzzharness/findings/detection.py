"""What one hunt for a planted bug found: the mutant suite's unit of evidence.

Every lane that can hunt a mutant (``fuzz``, ``stress``, the coverage-guided lane)
ends a hunt with a :class:`Detection`, built from the finding entries of its summary
by :meth:`Detection.from_hits`: the best finding is the earliest one of a kind that
fits the planted bug, else the earliest one of any kind.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Detection"]


@dataclass
class Detection:
    """What a mode found: the best finding (a fitting kind first, else the first one)."""

    detected: bool
    kind: str | None = None
    seconds: float | None = None
    path: str | None = None
    summary: str = ""
    programs: int = 0
    note: str = ""

    @classmethod
    def from_hits(cls, hits: Sequence[dict[str, Any]], kinds: Collection[str], start: float, programs: int) -> "Detection":
        """The detection of a hunt that started at ``start`` (``time.time()``) and ran
        ``programs`` programs, from its summary's finding entries (``kind``, ``path``,
        ``summary``, ``found_at``)."""
        if not hits:
            return cls(False, programs=programs)
        fitting = [f for f in hits if f["kind"] in kinds]
        best = min(fitting or hits, key=lambda f: f.get("found_at", 0.0))
        seconds = round(best.get("found_at", time.time()) - start, 1)
        return cls(True, best["kind"], seconds, best["path"], best["summary"], programs)
