"""Baselines: known bugs, accepted on purpose, so that fuzzing goes on to find the others.

A team that already knows a bug of its library (a panic on a stale handle, say) would
otherwise see it in nearly every program, and only the *first* divergence of a program
is trusted, so the bug hides the next one. A baseline file lists the signatures the
team accepts (the ``signature`` of each ``finding.json``)::

    {"accepted": [
        {"signature": ["panic", "mylib", "model", "fh_acquire"], "reason": "issue #12, fixed in 2.1"}
    ]}

With ``--baseline FILE``:

* a finding whose signature is accepted is counted (``baselined``), never saved as new
  and never stops a run or fails its exit code;
* the check of a program goes on past an accepted divergence when the model and the
  target both failed that call (the model's state cannot have left the target's; see
  :func:`fuzzharness.oracles.differential.passable`), so a second bug later in the
  same program is still found; a panic after it counts as the accepted bug's echo.

``fuzzharness baseline FINDINGS_DIR --out FILE`` writes one from saved findings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fuzzharness.errors import CorruptInput
from fuzzharness.findings.durable import write_atomic
from fuzzharness.findings.store import FINDING_FILE

__all__ = ["Baseline", "load_baseline", "baseline_from_findings"]

_MAX_BYTES = 16 << 20


@dataclass(frozen=True)
class Baseline:
    """Accepted signatures (each a tuple of strings) and why."""

    signatures: frozenset[tuple[str, ...]] = frozenset()
    reasons: dict[tuple[str, ...], str] = field(default_factory=dict, compare=False)

    def accepts(self, signature: Iterable[str]) -> bool:
        return tuple(signature) in self.signatures

    def __len__(self) -> int:
        return len(self.signatures)


def load_baseline(path: Path) -> Baseline:
    """Read a baseline file; raises :class:`~fuzzharness.errors.CorruptInput` naming the
    file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CorruptInput(f"{path}: baseline is not a regular file")
    if path.stat().st_size > _MAX_BYTES:
        raise CorruptInput(f"{path}: baseline larger than {_MAX_BYTES >> 20} MiB")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CorruptInput(f"{path}: not a JSON baseline ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("accepted"), list):
        raise CorruptInput(f'{path}: a baseline is {{"accepted": [{{"signature": [...], "reason": "..."}}, ...]}}')
    signatures, reasons = set(), {}
    for n, entry in enumerate(data["accepted"]):
        signature = entry.get("signature") if isinstance(entry, dict) else None
        if not isinstance(signature, list) or not signature or not all(isinstance(s, str) for s in signature):
            raise CorruptInput(f"{path}: accepted[{n}].signature must be a non-empty list of strings")
        key = tuple(signature)
        signatures.add(key)
        reason = entry.get("reason", "")
        reasons[key] = reason if isinstance(reason, str) else str(reason)
    return Baseline(frozenset(signatures), reasons)


def baseline_from_findings(directory: Path, out: Path, reason: str = "") -> int:
    """Write a baseline accepting every finding saved under ``directory``; returns how
    many signatures it holds. A finding whose signature cannot be read is refused, named."""
    entries, seen = [], set()
    for path in sorted(Path(directory).glob(f"*/{FINDING_FILE}")):
        try:
            signature = json.loads(path.read_text(encoding="utf-8"))["signature"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise CorruptInput(f"{path}: cannot read its signature ({type(exc).__name__})") from None
        if not isinstance(signature, list) or not all(isinstance(s, str) for s in signature):
            raise CorruptInput(f"{path}: signature must be a list of strings")
        if tuple(signature) not in seen:
            seen.add(tuple(signature))
            entries.append({"signature": signature, "reason": reason or f"accepted from {path.parent.name}"})
    write_atomic(Path(out), (json.dumps({"accepted": entries}, indent=1) + "\n").encode())
    return len(entries)
