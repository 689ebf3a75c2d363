"""Campaign slices on a Dask cluster: the transport between the campaign and the workers.

With ``scheduler = "tcp://HOST:PORT"`` (``fuzzharness campaign --scheduler``) the campaign
(:mod:`fuzzharness.lanes.campaign`) keeps every decision -- which lane gets the next slot,
deduplication, the journal, minimization, reports -- and hands each slice to a Dask
(``distributed``) cluster as one task, :func:`run_slice_task`. This module is the only one
that imports ``distributed``, and only the campaign's ``--scheduler`` path imports it: the
local campaign never pays for it.

**On the worker.** A task runs the slice exactly as the local campaign does: a subprocess
``python -m fuzzharness.lanes.slices SPEC.json`` (a fresh interpreter: the Dask worker itself
never loads a Go library, so nothing forks after the Go runtime started; the slice's own
worker processes, isolation and RSS limit are the local ones). Its findings directory,
corpus queue and result live in a scratch directory under the worker's
``--local-directory``, removed when the task ends. The task watches them every
:data:`POLL_SECONDS` and publishes each new finding (all its files) and each batch of new
corpus entries as a Dask event on the campaign's topic *as it appears*, then the slice's
result. So a worker machine that dies mid-slice loses at most that slice's statistics, and
only a finding saved in the last poll interval before the death (it never left the machine).

**On the client.** :class:`ClusterRunner` submits tasks, subscribes to the topic and turns
what arrives into plain event dicts (:meth:`ClusterRunner.poll`); the campaign journals them.
Events are also kept by the scheduler (at most ``distributed.admin.low-level-log-length`` per
topic), so a campaign client killed and restarted with the same ``--out`` replays what its
slices published while it was away (:meth:`ClusterRunner.replay`). A task whose worker is
lost is run again by Dask on another worker (same slice, same seed); a task Dask gives up on
(``KilledWorker``) ends its slice as lost.

**Control.** One ``distributed.Variable`` per campaign carries a heartbeat and the slices to
stop. A task stops its slice (SIGTERM, which makes the slice write its result) when its number
is listed, and when the heartbeat has not moved for :data:`LEASE_SECONDS` (its campaign died
and was not resumed). A resumed campaign renews the same heartbeat, so slices of the dead
client run on and their results reach the new one.

**Libraries.** A worker runs a slice only if it has the libraries of the slice's targets and
variant: either a shared (or copied) build directory at ``<its checkout>/build``, or
``fuzzharness build`` on its image. :meth:`ClusterRunner.survey` asks every worker what it has
and tasks are restricted to the workers that can run them; with ``cluster_build = true`` a
worker builds what it lacks at its first slice instead. A worker whose fuzzharness version or
contract header differs from the client's runs nothing.

Event dicts (:meth:`ClusterRunner.poll`), each with ``n`` (the slice), ``worker`` (address),
``name`` and ``host`` and, except ``done``, a unique ``key``:

* ``{"type": "start", "attempt": ...}`` -- the slice started on that worker (again, when a
  lost worker's slice is rescheduled);
* ``{"type": "finding", "id": ..., "files": {name: bytes}}`` -- a finding, saved whole;
* ``{"type": "corpus", "entries": {name: bytes}}`` -- new corpus queue entries;
* ``{"type": "done", "result": dict | None, "status": str}`` -- once per slice: its result,
  or None and why there is none (on the wire the result is JSON text: msgpack, the
  scheduler's format, refuses integers past 64 bits).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzzharness import __version__
from fuzzharness.contract.header import DECLS_HEADER, PROJECT_ROOT
from fuzzharness.errors import CorruptInput, InvalidArgument, UserError
from fuzzharness.findings.corpus import entries
from fuzzharness.findings.durable import fsync_dir, write_atomic
from fuzzharness.findings.minimize import MIN_INFO_FILE, MIN_PROGRAM_FILE
from fuzzharness.findings.store import FINDING_FILE

__all__ = ["ClusterRunner", "run_slice_task", "save_shipped_finding", "save_shipped_corpus", "check_address",
           "worker_facts", "POLL_SECONDS", "LEASE_SECONDS"]  # fmt: skip

#: how often a task looks for new findings and corpus entries of its slice
POLL_SECONDS = 0.25
#: a task stops its slice when its campaign's heartbeat has not moved for this long
LEASE_SECONDS = 30.0
#: how long past its slice a slice process may take before the task kills it (as the local campaign)
SLICE_GRACE = 60.0
#: the campaign waits this long for a first worker
CONNECT_SECONDS = 60.0
#: how long the client waits for a finished task's "done" event before it takes the future's result
DONE_EVENT_WAIT = 5.0
#: a shipped file larger than this is left out (findings.store refuses to load larger ones)
MAX_SHIPPED_FILE = 8 << 20
#: the corpus sent with a slice: at most this many bytes (a seeded sample beyond it)
CORPUS_SHIP_BYTES = 16 << 20
#: the slice's log sent back with its result: its last this many bytes
LOG_TAIL_BYTES = 64 << 10

_ADDRESS = re.compile(r"(tcp|tls|ucx|ws|wss)://[^\s/]+:\d+")
#: finding ids are "<kind>-<target>-<hash>"; corpus entries "<sha1[:16]>.bin" or libFuzzer's "<sha1>"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,+-]{0,199}")
_CORPUS_NAME = re.compile(r"[0-9a-f]{16}\.bin|[0-9a-f]{40}")
_MINIMIZED_FILES = (MIN_PROGRAM_FILE, MIN_INFO_FILE)


def check_address(address: str) -> str:
    """``tcp://HOST:PORT`` (or tls://, ucx://, ws://, wss://); raises InvalidArgument naming it."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address.strip()):
        raise InvalidArgument(f"scheduler: {address!r} is not a Dask scheduler address (example: tcp://127.0.0.1:8786)")
    return address.strip()


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InvalidArgument("--scheduler needs the Dask 'distributed' package: pip install 'fuzzharness[cluster]'") from None
    return distributed


# --------------------------------------------------------------------------- what a worker has


def _header_digest() -> str:
    return hashlib.sha256(DECLS_HEADER.read_bytes()).hexdigest()[:16]


def _missing(targets: list[str], variant: str) -> str | None:
    """Why this machine cannot run ``variant`` of ``targets`` (None when it can)."""
    from fuzzharness.contract.registry import select_targets

    try:
        for spec in select_targets(targets):
            spec.library(variant)
            uninstrumented = spec.variant(variant).coverage_of
            if uninstrumented:  # the coverage lane replays its crashes on the plain build
                spec.library(uninstrumented)
    except UserError as exc:
        return str(exc)
    return None


def worker_facts(targets: list[str], variants: list[str]) -> dict[str, Any]:
    """What the machine running this can do (run on every worker by :meth:`ClusterRunner.survey`)."""
    return {"host": socket.gethostname(), "version": __version__, "header": _header_digest(),
            "root": str(PROJECT_ROOT), "python": sys.version.split()[0],
            "missing": {v: _missing(targets, v) for v in variants}}  # fmt: skip


_BUILD_LOCK = threading.Lock()


def _ensure_built(targets: list[str], variant: str, build: bool) -> str | None:
    """None when the libraries are there (built now if ``build``), else why not."""
    reason = _missing(targets, variant)
    if reason is None or not build:
        return reason
    from fuzzharness.contract.registry import build as build_target
    from fuzzharness.contract.registry import select_targets

    with _BUILD_LOCK:  # one build at a time per worker process; cargo and go lock their own trees
        try:
            for spec in select_targets(targets):
                for name in filter(None, (variant, spec.variant(variant).coverage_of)):
                    try:
                        spec.library(name)
                    except UserError:
                        build_target(spec, name, quiet=True)
        except UserError as exc:
            return f"building on this worker failed: {exc}"
    return _missing(targets, variant)


# --------------------------------------------------------------------------- the task, on a worker


class _Outbox:
    """New findings and corpus entries of one slice's scratch directories, each seen once."""

    def __init__(self, findings: Path, corpus: Path) -> None:
        self.findings, self.corpus = findings, corpus
        self.seen_findings = {p.name for p in findings.iterdir()}
        self.seen_corpus = {p.name for p in entries(corpus)}
        self.shipped: dict[str, int] = {}

    def new_findings(self) -> list[tuple[str, dict[str, bytes]]]:
        out = []
        for directory in sorted(self.findings.iterdir()):
            name = directory.name
            if name.startswith(".") or name in self.seen_findings or not (directory / FINDING_FILE).is_file():
                continue  # a finding appears whole (store.save renames a complete directory into place)
            self.seen_findings.add(name)
            self.shipped[name] = 1
            out.append((name, _files_of(directory)))
        return out

    def new_corpus(self) -> dict[str, bytes]:
        out = {}
        for path in entries(self.corpus):
            if path.name in self.seen_corpus:
                continue
            self.seen_corpus.add(path.name)
            try:
                if path.stat().st_size <= MAX_SHIPPED_FILE:
                    out[path.name] = path.read_bytes()
            except OSError:
                continue
        return out


def _files_of(directory: Path, only: tuple[str, ...] | None = None) -> dict[str, bytes]:
    files = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith(".") or (only is not None and path.name not in only):
            continue
        try:
            if path.stat().st_size <= MAX_SHIPPED_FILE:
                files[path.name] = path.read_bytes()
        except OSError:
            continue
    return files


def _tail(path: Path, size: int = LOG_TAIL_BYTES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - size))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _control(name: str) -> Any:
    distributed = _distributed()
    return distributed.Variable(name, client=distributed.get_client())


def run_slice_task(spec: dict[str, Any], corpus: dict[str, bytes], known: list[str],
                   finding_files: dict[str, bytes] | None, topic: str, control: str,
                   build: bool = False) -> dict[str, Any]:  # fmt: skip
    """Run one campaign slice on this Dask worker; publishes events on ``topic`` (module docstring).

    ``spec`` is the campaign's slice spec (its paths are the client's and are replaced by
    scratch paths here); ``corpus`` the queue entries to start from; ``known`` the finding ids
    the campaign already has (not shipped again: their hits are counted in the result);
    ``finding_files`` the saved finding a ``minimize`` slice works on. Returns the result, as
    the ``done`` event does, with the worker's identity, the log's tail (``log``), the ids
    streamed (``streamed``) and, for a minimization, the files it wrote (``files``, base64)."""
    distributed = _distributed()
    worker = distributed.get_worker()
    n, lane = int(spec["n"]), str(spec["lane"])
    token = uuid.uuid4().hex[:12]
    who = {"worker": worker.address, "name": str(worker.name), "host": socket.gethostname()}
    counter = itertools.count()

    def publish(kind: str, **fields: Any) -> None:
        worker.log_event(topic, {"type": kind, "n": n, "key": f"{token}/{next(counter)}", **who, **fields})

    publish("start", attempt=token, lane=lane)
    work = Path(worker.local_directory) / "fuzzharness" / topic / f"{n:05d}-{lane}-{token}"
    findings, queue_dir = work / "findings", work / "queue"
    findings.mkdir(parents=True)
    queue_dir.mkdir()
    started = time.monotonic()
    try:
        for fid in known:  # save() sees these as already saved: their hits are counted, not shipped again
            if _SAFE_NAME.fullmatch(fid):
                (findings / fid).mkdir(exist_ok=True)
        for name, data in corpus.items():
            if _CORPUS_NAME.fullmatch(name):
                (queue_dir / name).write_bytes(data)
        local = {**spec, "out": str(findings), "corpus": str(queue_dir), "result": str(work / "result.json"),
                 "parent_pid": os.getpid()}  # fmt: skip
        variant = spec.get("variant")
        if lane == "minimize":
            fid = Path(str(spec["finding"])).name
            if not _SAFE_NAME.fullmatch(fid) or not finding_files:
                raise CorruptInput(f"minimize slice {n}: no valid finding to minimize ({fid!r})")
            shutil.rmtree(findings / fid, ignore_errors=True)
            (findings / fid).mkdir()
            for name, data in finding_files.items():
                if _SAFE_NAME.fullmatch(name):
                    (findings / fid / name).write_bytes(data)
            local["finding"] = str(findings / fid)
            saved = json.loads(finding_files.get(FINDING_FILE, b"{}"))
            variant, targets = saved.get("variant"), saved.get("targets") or spec["targets"]
        else:
            targets = spec["targets"]
            deadline = spec.get("deadline")
            if deadline is not None:  # rescheduled after the campaign's end: nothing left to run
                local["seconds"] = min(float(spec["seconds"]), float(deadline) - time.time())
        reason = _ensure_built(list(targets), str(variant), build) if variant else None
        if reason is not None:
            result = {"status": "error", "error": f"on worker {worker.address} ({who['host']}): {reason}"}
        elif float(local["seconds"]) < 1.0:
            result = {"status": "skipped", "note": "the campaign's time was over when this slice started"}
        else:
            result = _run_subprocess(local, work, findings, queue_dir, publish, control)
    except Exception as exc:  # noqa: BLE001 - reported as the slice's error, never lost
        result = {"status": "error", "error": f"on worker {worker.address}: {type(exc).__name__}: {exc}"}
    result = {"lane": lane, "execs": 0, "ops": 0, "findings": [], "coverage": None, "corpus_added": 0, "restarts": 0,
              "seconds": round(time.monotonic() - started, 3), **result, **who}  # fmt: skip
    result.setdefault("streamed", {})
    # As JSON text: msgpack, the scheduler's wire format, refuses integers past 64 bits (a seed, a
    # handle value), and a message it refuses breaks the worker's connection.
    publish("done", result=json.dumps(result, default=str))
    shutil.rmtree(work, ignore_errors=True)
    return result


def _run_subprocess(spec: dict[str, Any], work: Path, findings: Path, queue_dir: Path, publish: Any,
                    control_name: str) -> dict[str, Any]:  # fmt: skip
    """The slice process, watched; returns its result plus log, streamed ids and minimized files."""
    spec_path = work / "spec.json"
    write_atomic(spec_path, json.dumps(spec, default=str, indent=1))
    outbox = _Outbox(findings, queue_dir)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    log_path = work / "slice.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "fuzzharness.lanes.slices", str(spec_path)], stdout=log,
                                stderr=log, stdin=subprocess.DEVNULL, env=env, start_new_session=True)  # fmt: skip
    control = _control(control_name)
    n = int(spec["n"])
    limit = float(spec["seconds"]) + SLICE_GRACE + 2 * float(spec.get("timeout") or 10)
    start = last_check = last_change = time.monotonic()
    beat: Any = None
    stopped = False

    def ship() -> None:
        for fid, files in outbox.new_findings():
            publish("finding", id=fid, files=files)
        fresh = outbox.new_corpus()
        if fresh:
            publish("corpus", entries=fresh)

    try:
        while proc.poll() is None:
            try:
                proc.wait(timeout=POLL_SECONDS)  # returns as soon as the slice ends
            except subprocess.TimeoutExpired:
                pass
            ship()
            now = time.monotonic()
            if now - start > limit:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            if now - last_check >= 1.0 and not stopped:
                last_check = now
                try:
                    value = control.get(timeout=5)
                except Exception:  # noqa: BLE001 - scheduler unreachable: the heartbeat does not move
                    value = {"beat": beat}
                if value.get("beat") != beat:
                    beat, last_change = value.get("beat"), now
                if n in (value.get("stop") or []) or now - last_change > LEASE_SECONDS:
                    proc.send_signal(signal.SIGTERM)  # the slice writes its result and exits
                    stopped = True
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    ship()
    try:
        result = json.loads((work / "result.json").read_text())
    except (OSError, ValueError):
        result = {"status": "lost", "error": f"the slice process exited with {proc.returncode} without a result"}
    result["log"] = _tail(log_path)
    result["streamed"] = dict(outbox.shipped)
    if spec["lane"] == "minimize" and spec.get("finding"):  # base64: the result travels as JSON
        files = _files_of(Path(spec["finding"]), _MINIMIZED_FILES)
        result["files"] = {name: base64.b64encode(data).decode() for name, data in files.items()}
    return result


# --------------------------------------------------------------------------- on the client: files that arrive


def _valid_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        raise CorruptInput(f"a cluster worker sent {what} named {name!r}: not a plain file name")
    return name


def save_shipped_finding(findings_dir: Path, fid: str, files: dict[str, bytes]) -> dict[str, Any]:
    """Save a finding a worker shipped as ``findings_dir/fid`` (atomically: a temporary
    directory renamed into place), unless it is there already. Returns its finding.json.
    Raises CorruptInput naming what is wrong (a bad name, a finding.json that is not one)."""
    _valid_name(fid, "a finding")
    try:
        data = json.loads(files[FINDING_FILE])
    except (KeyError, ValueError, TypeError):
        raise CorruptInput(f"a cluster worker sent finding {fid} without a valid {FINDING_FILE}") from None
    if not isinstance(data, dict) or data.get("id") != fid:
        raise CorruptInput(f"a cluster worker sent finding {fid} whose {FINDING_FILE} names {data.get('id') if isinstance(data, dict) else data!r}")
    dest = Path(findings_dir) / fid
    if dest.exists():
        return data
    findings_dir.mkdir(parents=True, exist_ok=True)
    tmp = findings_dir / f".tmp-{fid}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name, content in files.items():
            with open(tmp / _valid_name(name, f"a file of finding {fid}"), "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.exists():
                raise
        fsync_dir(findings_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return data


def save_shipped_corpus(queue_dir: Path, shipped: dict[str, bytes]) -> int:
    """Add shipped corpus entries to the merged queue (each atomically); returns how many were new.
    Names that are not corpus entry names are refused (CorruptInput)."""
    added = 0
    for name, data in shipped.items():
        if not isinstance(name, str) or not _CORPUS_NAME.fullmatch(name) or not isinstance(data, bytes):
            raise CorruptInput(f"a cluster worker sent a corpus entry named {name!r}: not a corpus entry name")
        path = Path(queue_dir) / name
        if not path.exists():
            write_atomic(path, data)
            added += 1
    return added


def save_shipped_minimization(directory: Path, files: dict[str, str]) -> None:
    """Write the files a minimization on a worker produced (base64 in its result) beside the
    finding; only the minimizer's file names are accepted (CorruptInput otherwise)."""
    for name, data in files.items():
        if name not in _MINIMIZED_FILES or not isinstance(data, str):
            raise CorruptInput(f"a cluster worker sent {name!r} as a minimization's output (expected {', '.join(_MINIMIZED_FILES)})")
        try:
            content = base64.b64decode(data, validate=True)
        except ValueError:
            raise CorruptInput(f"a cluster worker sent {name!r} of a minimization not in base64") from None
        write_atomic(Path(directory) / name, content)


# --------------------------------------------------------------------------- on the client: the runner


@dataclass
class _Task:
    n: int
    future: Any = None  #: None for a slice adopted from a dead campaign process
    deadline: float | None = None  #: wall clock; only for adopted slices
    started: bool = False
    finished_at: float = 0.0  #: monotonic; when the future was first seen finished


class ClusterRunner:
    """The campaign's connection to a Dask scheduler (see the module docstring)."""

    def __init__(self, address: str, topic: str, build: bool = False, progress: Any = None) -> None:
        distributed = _distributed()
        self.address = check_address(address)
        self.topic = topic
        self.control_name = f"{topic}-control"
        self.build = build
        self.progress = progress or (lambda message: None)
        try:
            self.client = distributed.Client(self.address, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise InvalidArgument(f"scheduler {self.address}: cannot connect ({exc})") from None
        self.inbox: queue.Queue = queue.Queue()
        self.client.subscribe_topic(topic, self.inbox.put)
        self.control = distributed.Variable(self.control_name, client=self.client)
        try:
            previous = self.control.get(timeout=0.5)  # a resumed campaign: keep the stop list
        except Exception:  # noqa: BLE001 - first start: no such variable yet
            previous = {}
        self.control_value = {"beat": uuid.uuid4().hex, "stop": list(previous.get("stop") or [])}
        self.control.set(self.control_value)
        self.tasks: dict[int, _Task] = {}
        self.facts: dict[str, dict[str, Any]] = {}
        self.capable: dict[str, list[str]] = {}  #: variant -> workers that can run it
        self._targets: list[str] = []
        self._variants: set[str] = set()
        self._seen_keys: set[str] = set()
        self._threads: dict[str, int] = {}
        self._threads_at = -1e9

    # -- workers ----------------------------------------------------------------------

    def wait_for_workers(self, seconds: float = CONNECT_SECONDS) -> None:
        try:
            self.client.wait_for_workers(1, timeout=seconds)
        except TimeoutError:
            raise InvalidArgument(f"scheduler {self.address}: no worker joined within {seconds:.0f} s") from None

    def threads(self) -> dict[str, int]:
        """Worker address -> threads (each thread runs one slice at a time); asked at most once a second."""
        now = time.monotonic()
        if now - self._threads_at >= 1.0:
            try:
                self._threads = dict(self.client.nthreads())
            except Exception:  # noqa: BLE001 - scheduler briefly unreachable: no slot now
                self._threads = {}
            self._threads_at = now
        return self._threads

    def slots(self) -> int:
        return sum(self.threads().values())

    def survey(self, targets: list[str], variants: set[str]) -> dict[str, dict[str, Any]]:
        """Ask the workers not asked yet what they have; returns every worker's facts."""
        self._targets, self._variants = list(targets), self._variants | set(variants)
        current = set(self.threads())
        for gone in set(self.facts) - current:
            self.facts.pop(gone)
        fresh = [w for w in current if w not in self.facts or set(self._variants) - set(self.facts[w]["missing"])]
        if fresh:
            try:
                answers = self.client.run(worker_facts, self._targets, sorted(self._variants), workers=fresh,
                                          on_error="return")  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - a worker that left in between: asked again next time
                answers = {}
                self.progress(f"asking the workers what they have failed: {exc}")
            ours = {"version": __version__, "header": _header_digest()}
            for address, facts in answers.items():
                if not isinstance(facts, dict):
                    continue
                self.facts[address] = facts
                if facts.get("version") != ours["version"] or facts.get("header") != ours["header"]:
                    facts["refused"] = (f"fuzzharness {facts.get('version')} (contract header {facts.get('header')}), "
                                        f"the campaign runs {ours['version']} ({ours['header']})")  # fmt: skip
                    self.progress(f"worker {address} ({facts.get('host')}) runs {facts['refused']}: no slice goes there")
        self.capable = {v: [w for w, f in self.facts.items() if not f.get("refused")
                            and (self.build or f["missing"].get(v) is None)] for v in self._variants}  # fmt: skip
        return self.facts

    def missing_everywhere(self, variant: str) -> str | None:
        """Why no worker can run ``variant`` (None if one can, or if workers build what they lack)."""
        if self.capable.get(variant):
            return None
        if not self.facts:
            return f"no worker at {self.address}"
        reasons = sorted({f.get("refused") or f["missing"].get(variant) or "?" for f in self.facts.values()})
        return f"no worker of {self.address} can run it: {'; '.join(reasons)}"

    # -- slices -----------------------------------------------------------------------

    def submit(self, n: int, spec: dict[str, Any], variant: str | None, corpus: dict[str, bytes], known: list[str],
               finding_files: dict[str, bytes] | None = None) -> None:  # fmt: skip
        if variant and variant not in self._variants:
            self.survey(self._targets or list(spec["targets"]), {variant})
        workers = None if self.build or not variant else (self.capable.get(variant) or None)
        future = self.client.submit(run_slice_task, {**spec, "n": n}, corpus, known, finding_files, self.topic,
                                    self.control_name, self.build, key=f"{self.topic}-slice-{n:05d}",
                                    workers=workers, allow_other_workers=False, pure=False)  # fmt: skip
        self.tasks[n] = _Task(n, future)

    def adopt(self, n: int, deadline: float) -> None:
        """A slice a dead campaign process submitted: its result comes as an event, or never."""
        self.tasks[n] = _Task(n, None, deadline)

    def replay(self) -> None:
        """Queue the events the scheduler kept for this campaign (a resumed campaign's catch-up)."""
        for event in self.client.get_events(self.topic):
            self.inbox.put(event)

    def stop(self, slices: list[int]) -> None:
        self.control_value["stop"] = sorted(set(self.control_value["stop"]) | set(slices))
        self._set_control()

    def cancel(self, n: int) -> None:
        task = self.tasks.pop(n, None)
        if task is not None and task.future is not None:
            task.future.cancel()

    def heartbeat(self) -> None:
        self.control_value["beat"] = uuid.uuid4().hex
        self._set_control()

    def _set_control(self) -> None:
        try:
            self.control.set(self.control_value, timeout="10 s")
        except Exception as exc:  # noqa: BLE001 - next tick tries again; slices stop only after LEASE_SECONDS
            self.progress(f"scheduler {self.address}: heartbeat failed ({exc})")

    def started(self, n: int) -> bool:
        task = self.tasks.get(n)
        return task is not None and task.started

    def poll(self) -> list[dict[str, Any]]:
        """Everything that arrived since the last call, as event dicts (module docstring), in
        the order the workers sent them: a slice's findings come before its ``done``."""
        out: list[dict[str, Any]] = []
        while True:
            try:
                _, message = self.inbox.get_nowait()
            except queue.Empty:
                break
            if not isinstance(message, dict) or not isinstance(message.get("n"), int):
                continue
            n, kind, key = message["n"], message.get("type"), message.get("key")
            if key in self._seen_keys:
                continue  # a replayed event that also arrived live
            if isinstance(key, str):
                self._seen_keys.add(key)
            if kind == "done":
                if n in self.tasks:  # the first done of a slice ends it (a rescheduled twin's is ignored)
                    self.tasks.pop(n)
                    try:
                        result = json.loads(message.get("result") or "null")
                    except (TypeError, ValueError):
                        result = None
                    out.append({**message, "result": result if isinstance(result, dict) else None,
                                "status": "done" if isinstance(result, dict) else "lost (an unreadable result)"})  # fmt: skip
                continue
            if kind == "start" and n in self.tasks:
                self.tasks[n].started = True
            out.append(message)
        now, wall = time.monotonic(), time.time()
        for n, task in list(self.tasks.items()):
            if task.future is None:
                if task.deadline is not None and wall > task.deadline:
                    self.tasks.pop(n)
                    out.append({"type": "done", "n": n, "result": None, "status": "lost (its campaign process died)"})
            elif task.future.status == "finished":
                # Its "done" event normally arrives with (or before) the future; if it does not
                # within DONE_EVENT_WAIT, the future's copy of the result ends the slice.
                task.finished_at = task.finished_at or now
                if now - task.finished_at < DONE_EVENT_WAIT:
                    continue
                self.tasks.pop(n)
                try:
                    result = task.future.result(timeout=10)
                except Exception as exc:  # noqa: BLE001 - released in between
                    out.append({"type": "done", "n": n, "result": None, "status": f"lost ({type(exc).__name__})"})
                    continue
                out.append({"type": "done", "n": n, "result": result, "status": "done", "worker": result.get("worker"),
                            "name": result.get("name"), "host": result.get("host")})  # fmt: skip
            elif task.future.status in ("error", "cancelled", "lost"):
                self.tasks.pop(n)
                try:
                    error: Any = task.future.exception(timeout=10)
                except BaseException as exc:  # noqa: BLE001 - a cancelled future raises here
                    error = exc
                out.append({"type": "done", "n": n, "result": None,
                            "status": f"lost ({type(error).__name__}: {str(error)[:300]})"})  # fmt: skip
        return out

    def close(self) -> None:
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        self.client.close(timeout=10)


def corpus_payload(queue_dir: Path, seed: int, limit: int = CORPUS_SHIP_BYTES) -> dict[str, bytes]:
    """The merged corpus queue to send with a slice: all of it, or a sample (seeded) of ``limit`` bytes."""
    paths = entries(queue_dir)
    random.Random(seed).shuffle(paths)
    out, total = {}, 0
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if total + len(data) > limit:
            continue
        out[path.name] = data
        total += len(data)
    return out
