"""The campaign corpus and the known-findings index: what survives from night to night.

Layout under a corpus root (``campaign --corpus DIR``, default ``corpus/campaign``)::

    DIR/<targets>/queue/<hash>.bin   byte-encoded sequential programs (program.encode),
                                     one per file, named by the first 16 hex digits of
                                     the sha1 of the bytes; shared by
                                     every lane (random mutates them, coverage adds to them:
                                     libFuzzer names its own additions by their whole
                                     sha1, 40 hex digits, no suffix)
    DIR/known-findings.json          the signatures (finding ids) seen on earlier nights

``<targets>`` is the sorted target names joined by ``,`` (``go,rust``; the pair target alone is ``go+rust``): a corpus
belongs to a target set. Every file is written with
:func:`fuzzharness.findings.durable.write_atomic`, so two lanes (or two processes) adding
the same input write the same name and a reader never sees half an entry.
The committed seed corpus (``corpus/seeds/*.fh``, readable text) is imported into
the queue at the start of each campaign.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Iterable

from fuzzharness.contract.header import PROJECT_ROOT
from fuzzharness.findings.durable import write_atomic
from fuzzharness.findings.store import read_text

__all__ = ["queue_dir", "add_entry", "entries", "import_seeds", "KnownIndex", "SEED_DIR", "KNOWN_FILE"]

SEED_DIR = PROJECT_ROOT / "corpus" / "seeds"
KNOWN_FILE = "known-findings.json"
KNOWN_SCHEMA = "fuzzharness-known-findings/1"


def target_key(targets: Iterable[str]) -> str:
    return ",".join(sorted(targets))


def queue_dir(root: Path, targets: Iterable[str]) -> Path:
    return Path(root) / target_key(targets) / "queue"


def add_entry(queue: Path, data: bytes) -> bool:
    """Add one byte-encoded program; False if the same bytes are already there."""
    path = Path(queue) / (hashlib.sha1(data).hexdigest()[:16] + ".bin")
    if path.exists():
        return False
    write_atomic(path, data)
    return True


def _is_entry(path: Path) -> bool:
    """``<sha1>.bin`` (added by the harness) or ``<sha1>`` (added by libFuzzer, the coverage lane)."""
    name = path.name
    if name.startswith("."):
        return False
    if path.suffix == ".bin":
        return True
    return len(name) == 40 and all(c in "0123456789abcdef" for c in name)


def entries(queue: Path) -> list[Path]:
    """Every input of a queue: the harness's and the coverage lane's (libFuzzer's names)."""
    try:
        return sorted(p for p in Path(queue).iterdir() if _is_entry(p))
    except FileNotFoundError:
        return []


def import_seeds(queue: Path, seed_dir: Path = SEED_DIR, skipped: list[str] | None = None) -> int:
    """Encode the committed seed programs (text) into the queue; returns how many were new.
    A seed the byte encoding cannot express (see program.encode), or that is not a valid
    program, is skipped; ``skipped`` (if given) receives one line per skipped seed, saying why."""
    from fuzzharness.findings.store import read_text
    from fuzzharness.programs.sequential import encode, parse_text

    added = 0
    for path in sorted(Path(seed_dir).glob("*.fh")):
        try:
            data = encode(parse_text(read_text(path), str(path)))
        except ValueError as exc:  # CorruptInput is a ValueError too
            if skipped is not None:
                skipped.append(str(exc).splitlines()[0][:300] if str(exc) else f"{path}: skipped")
            continue
        added += add_entry(queue, data)
    return added


def _known_entry_problem(entry: Any) -> str | None:
    """Why an entry of the known-findings index is malformed (None when it is fine):
    checked at load, so a campaign never fuzzes for hours and then fails on its report."""
    if not isinstance(entry, dict):
        return "an entry must be an object"
    for key, kind in (("kind", str), ("summary", str), ("first_seen", (int, float)), ("last_seen", (int, float)),
                      ("campaigns", list)):  # fmt: skip
        if key == "last_seen" and key not in entry:
            continue
        if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
            return f"'{key}' must be a {kind.__name__ if isinstance(kind, type) else 'number'}"
    if not all(isinstance(c, str) for c in entry["campaigns"]):
        return "'campaigns' must be a list of campaign names"
    return None


class KnownIndex:
    """Finding ids seen on earlier nights, with when and how often (cross-night deduplication)."""

    def __init__(self, path: Path) -> None:
        from fuzzharness.errors import CorruptInput

        self.path = Path(path)
        self.findings: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return
        if not self.path.is_file():
            raise CorruptInput(f"{self.path}: not a regular file (a known-findings index)")
        try:
            data = json.loads(read_text(self.path))
        except (ValueError, RecursionError):
            raise CorruptInput(f"{self.path}: not valid JSON (a known-findings index)") from None
        if not isinstance(data, dict) or data.get("schema") != KNOWN_SCHEMA or not isinstance(data.get("findings"), dict):
            raise CorruptInput(f"{self.path}: not a known-findings index (schema {KNOWN_SCHEMA!r})")
        for finding_id, entry in data["findings"].items():
            problem = _known_entry_problem(entry)
            if problem:
                raise CorruptInput(f"{self.path}: finding {finding_id[:80]!r}: {problem}")
        self.findings = data["findings"]

    def __contains__(self, finding_id: str) -> bool:
        return finding_id in self.findings

    def ids(self) -> list[str]:
        return sorted(self.findings)

    def record(self, found: list[dict[str, Any]], campaign: str) -> None:
        """Add (or refresh) findings and save atomically."""
        now = time.time()
        for f in found:
            entry = self.findings.setdefault(f["id"], {"kind": f["kind"], "summary": f["summary"], "first_seen": now,
                                                       "campaigns": []})  # fmt: skip
            entry["last_seen"] = now
            if campaign not in entry["campaigns"]:
                entry["campaigns"] = (entry["campaigns"] + [campaign])[-30:]
        write_atomic(self.path, json.dumps({"schema": KNOWN_SCHEMA, "findings": self.findings}, indent=1) + "\n")
