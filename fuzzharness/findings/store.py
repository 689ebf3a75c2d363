"""Findings: what the harness found, saved so that it is never lost and never saved twice.

A :class:`Finding` has a :class:`FindingKind`, the target(s), the build variant,
the program and the seed that generated it, a one-line summary, the details
(divergence or failure), and a readable trace. Its *signature* (kind, target
and where it happened -- not the random data around it) identifies the bug;
the directory name is a hash of it, so the same bug found twice, by two
workers or on two nights, is saved once.

Saving is atomic: the finding is written into a temporary directory beside the
destination and renamed into place, so a reader sees a whole finding or none.
Loading validates every field: a corrupt or hostile file gives
:class:`~fuzzharness.errors.CorruptInput` naming the file, never a traceback.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzzharness.errors import CorruptInput
from fuzzharness.execution.environment import fingerprint
from fuzzharness.findings.durable import DIR_MODE as _DIR_MODE
from fuzzharness.findings.durable import fsync_dir, refuse_symlink
from fuzzharness.programs.sequential import Program, parse_text, to_text

__all__ = ["FindingKind", "Finding", "save", "load", "read_text", "as_dict", "merge_hits", "FINDING_FILE", "PROGRAM_FILE", "TRACE_FILE", "SCHEMA"]

FINDING_FILE = "finding.json"
PROGRAM_FILE = "program.fh"
TRACE_FILE = "trace.txt"
SCHEMA = "fuzzharness-finding/1"
_MAX_FILE_BYTES = 8 << 20
#: Program seeds combine a run seed, a job and a program number (fuzz: seed * 2^40 + ...): below 2^96.
MAX_SEED = 1 << 96


class FindingKind(enum.Enum):
    """What kind of bug a finding is. A timeout is a ``hang`` finding, never a pass."""

    divergence = "a target disagrees with the model or with another target"
    # Handle systems of their own (fuzzharness.oracles.opaque):
    aba = "a value that named a resource that died was issued again for another one (ABA)"
    handle_alias = "a value that is no live handle of the target (forged, stale, of a closed session) was accepted"
    panic = "a panic was caught at the boundary (status PANIC)"
    crash = "the target killed its process (signal or exit)"
    hang = "the target did not return within the timeout"
    oom = "the worker's resident memory (RSS) exceeded the limit; it was killed and restarted"
    # Memory oracles (fuzzharness.oracles.sanitizer, fuzzharness.oracles.leaks): named as ASan names the bug.
    heap_use_after_free = "AddressSanitizer: memory was used after it was freed"
    double_free = "AddressSanitizer: memory was freed twice"
    heap_buffer_overflow = "AddressSanitizer: an access past the end of a heap block"
    memory_error = "AddressSanitizer: another memory error (the details name it)"
    leak = "a resource or allocation outlived its last release (LeakSanitizer or the model's accounting)"
    # Concurrency (fuzzharness.lanes.stress): no order of the overlapping calls explains the results.
    non_linearizable = "a concurrent history that no sequential order of its calls explains"
    # The harness's own consistency (fuzzharness.oracles.fastmodel): a bug of ours, saved like any other.
    fast_model = "the fast model disagreed with the Python model (the oracle of record): a harness bug"


@dataclass
class Finding:
    kind: FindingKind
    targets: list[str]
    variant: str
    program: Program
    summary: str
    signature: list[str]
    seed: int | None = None
    mutant: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    trace: str = ""
    found_at: float = field(default_factory=time.time)
    #: more files saved beside the program (name -> text), e.g. a concurrent history and its HTML timeline
    files: dict[str, str] = field(default_factory=dict)
    #: the environment it was found in (fuzzharness.execution.environment.fingerprint): the
    #: behaviour-changing variables, the build variant, library hashes, CPU count; filled by save
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable id: a hash of the signature, so one bug maps to one directory."""
        digest = hashlib.sha256("\x1f".join(self.signature).encode()).hexdigest()[:12]
        return f"{self.kind.name}-{self.targets[0]}-{digest}"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "id": self.id,
            "kind": self.kind.name,
            "targets": self.targets,
            "variant": self.variant,
            "mutant": self.mutant,
            "seed": self.seed,
            "summary": self.summary,
            "signature": self.signature,
            "details": self.details,
            "found_at": self.found_at,
            "program_file": PROGRAM_FILE,
            "environment": self.environment,
        }


def save(finding: Finding, directory: Path) -> Path | None:
    """Save atomically under ``directory/<id>/``; returns the path, or None if a finding
    with the same signature is already saved there (a duplicate). A ``directory`` that is
    a symbolic link is refused: nothing is written through it out of the output tree."""
    refuse_symlink(directory, "findings")
    directory.mkdir(parents=True, exist_ok=True)
    dest = directory / finding.id
    if dest.exists():
        return None
    if not finding.environment:
        finding.environment = environment_of(finding.targets, finding.variant)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{finding.id}-", dir=directory))
    try:
        os.chmod(tmp, _DIR_MODE)  # mkdtemp's 0700 would make a finding unreadable to the team
        (tmp / PROGRAM_FILE).write_text(_program_text(finding.program))
        (tmp / TRACE_FILE).write_text(finding.trace)
        (tmp / FINDING_FILE).write_text(json.dumps(finding.to_json(), indent=2, default=str) + "\n")
        for name, text in finding.files.items():
            if "/" in name or name.startswith(".") or name in (PROGRAM_FILE, TRACE_FILE, FINDING_FILE):
                raise ValueError(f"finding file name {name!r} is not a plain, free file name")
            (tmp / name).write_text(text)
        for name in (PROGRAM_FILE, TRACE_FILE, FINDING_FILE, *finding.files):
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        try:
            os.rename(tmp, dest)
        except OSError:
            if dest.exists():
                return None  # another worker saved the same finding first
            raise
        fsync_dir(directory)
        return dest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def environment_of(targets: list[str], variant: str) -> dict[str, Any]:
    """The fingerprint of the environment a hunting worker of ``targets`` has here
    (libraries by ``target`` or ``target:role`` for a pair; unknown targets left out)."""
    libraries: dict[str, Any] = {}
    try:
        from fuzzharness.contract.registry import load_registry

        registry = load_registry()
        for name in targets:
            spec = registry.get(name)
            if spec is None:
                continue
            for role, path in spec.libraries(variant).items():
                libraries[name if role == "single" else f"{name}:{role}"] = path
    except Exception:  # noqa: BLE001 - a fingerprint is best effort; the finding is saved regardless
        pass
    out = fingerprint(libraries, variant)
    from fuzzharness.contract.registry import user_registry

    registry = user_registry()
    if registry is not None:  # a target of the user's own: repro needs the same registry
        out["registry"] = str(registry)
    return out


def _program_text(program: Any) -> str:
    """The text form of a sequential or a concurrent program."""
    from fuzzharness.programs import concurrent as concurrent_program

    if isinstance(program, concurrent_program.ConcurrentProgram):
        return concurrent_program.to_text(program)
    return to_text(program)


def _parse_program(text: str, source: str) -> Any:
    from fuzzharness.programs import concurrent as concurrent_program

    if concurrent_program.is_concurrent_text(text):
        return concurrent_program.parse_text(text, source)
    return parse_text(text, source)


def read_text(path: Path) -> str:
    """The text of an input file: a regular file (a FIFO or a device would block or
    never end), at most 8 MiB, UTF-8 without lone surrogates; else CorruptInput."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise CorruptInput(f"{path}: not a regular file")
        if st.st_size > _MAX_FILE_BYTES:
            raise CorruptInput(f"{path}: larger than {_MAX_FILE_BYTES} bytes, not a finding")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # non-blocking: a FIFO swapped in after the check cannot hang us
        with os.fdopen(fd, "rb") as f:
            data = f.read(_MAX_FILE_BYTES + 1)
        if len(data) > _MAX_FILE_BYTES:
            raise CorruptInput(f"{path}: larger than {_MAX_FILE_BYTES} bytes, not a finding")
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptInput(f"{path}: not UTF-8 text") from None
    except FileNotFoundError:
        raise CorruptInput(f"{path}: no such file") from None
    except OSError as exc:
        raise CorruptInput(f"{path}: cannot read ({exc.strerror})") from None


def _is_text(text: str) -> bool:
    """Printable, encodable text: no lone surrogate, no control character but tab."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(c) < 32 and c != "\t" or 0x7F <= ord(c) < 0xA0 for c in text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a value a finding holds")


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], path: Path) -> Any:
    if name not in data:
        raise CorruptInput(f"{path}: missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise CorruptInput(f"{path}: field {name!r} has the wrong type ({type(value).__name__})")
    return value


def load(path: Path) -> Finding:
    """Load a saved finding from its directory or its ``finding.json``."""
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    json_path = directory / FINDING_FILE
    try:
        data = json.loads(read_text(json_path), parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise CorruptInput(f"{json_path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise CorruptInput(f"{json_path}: nested too deeply to be a finding") from None
    except ValueError as exc:  # NaN/Infinity, an int of more than 4300 digits
        raise CorruptInput(f"{json_path}: {exc}") from None
    if not isinstance(data, dict):
        raise CorruptInput(f"{json_path}: expected a JSON object")
    if data.get("schema") != SCHEMA:
        raise CorruptInput(f"{json_path}: schema must be {SCHEMA!r}, got {data.get('schema')!r}")
    kind_name = _field(data, "kind", str, json_path)
    if kind_name not in FindingKind.__members__:
        raise CorruptInput(f"{json_path}: unknown kind {kind_name!r} (known: {', '.join(FindingKind.__members__)})")
    targets = _field(data, "targets", list, json_path)
    if not targets or not all(isinstance(t, str) and t for t in targets):
        raise CorruptInput(f"{json_path}: 'targets' must be a non-empty list of names")
    signature = _field(data, "signature", list, json_path)
    if not all(isinstance(s, str) for s in signature):
        raise CorruptInput(f"{json_path}: 'signature' must be a list of strings")
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < MAX_SEED):
        raise CorruptInput(f"{json_path}: 'seed' must be an integer in 0..2^96-1 or null")
    mutant = _field(data, "mutant", int, json_path)
    if not 0 <= mutant < 1 << 31:
        raise CorruptInput(f"{json_path}: 'mutant' must be a mutant number (0..2^31-1), got {mutant}")
    found_at = float(_field(data, "found_at", (int, float), json_path))
    if not math.isfinite(found_at):
        raise CorruptInput(f"{json_path}: 'found_at' must be a finite time")
    for name in ("variant", "summary"):
        _field(data, name, str, json_path)
    for text in [kind_name, data["variant"], data["summary"], *targets, *signature]:
        if not _is_text(text):
            raise CorruptInput(f"{json_path}: a string holds a lone surrogate or a control character")
    program_name = _field(data, "program_file", str, json_path)
    if "/" in program_name or program_name.startswith("."):
        raise CorruptInput(f"{json_path}: 'program_file' must be a plain file name in the finding's directory")
    program_path = directory / program_name
    program = _parse_program(read_text(program_path), str(program_path))
    trace_path = directory / TRACE_FILE
    return Finding(
        kind=FindingKind[kind_name],
        targets=targets,
        variant=_field(data, "variant", str, json_path),
        program=program,
        summary=_field(data, "summary", str, json_path),
        signature=signature,
        seed=seed,
        mutant=mutant,
        details=_field(data, "details", dict, json_path),
        trace=trace_path.read_text(errors="replace") if trace_path.is_file() else "",
        found_at=found_at,
        environment=_environment_field(data, json_path),
    )


def _environment_field(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """The optional recorded environment (findings saved before it existed have none)."""
    env = data.get("environment", {})
    if not isinstance(env, dict):
        raise CorruptInput(f"{path}: 'environment' must be an object")
    variables = env.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
        raise CorruptInput(f"{path}: 'environment.variables' must map names to strings")
    return env


def merge_hits(entries: list[dict[str, Any]], found: list[dict[str, Any]]) -> None:
    """Fold summary entries of findings (dicts with ``id`` and ``new``) into ``entries``:
    one entry per id with a hit ``count``; an id is new if any of its hits saved it."""
    by_id = {e["id"]: e for e in entries}
    for f in found:
        entry = by_id.get(f["id"])
        if entry is None:
            by_id[f["id"]] = entry = {**f, "count": 0}
            entries.append(entry)
        entry["count"] += 1
        entry["new"] = entry.get("new", False) or f.get("new", False)


def as_dict(finding: Finding) -> dict[str, Any]:
    """JSON-ready summary of a finding (for ``--json`` output)."""
    out = finding.to_json()
    out.pop("program_file")
    return out

