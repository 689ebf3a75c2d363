"""Nightly campaigns: lanes side by side for hours, resumable, deduplicated, reported.

``fuzzharness campaign`` runs the lanes of :mod:`fuzzharness.lanes.slices` (random,
coverage, stress, asan) on ``jobs`` slots at once and splits the time between
them by weight (deficit round robin: a free slot goes to the available lane that
has had the least time per unit of weight). Each lane runs in *slices* of
``slice`` seconds, each slice a separate process with its own seed
(``sha256(campaign seed / lane / k)``), so a lane that dies loses at most its
slice's statistics -- never a finding, which is saved the moment it is found.
Every new finding is then minimized (:mod:`fuzzharness.findings.minimize`) as a task
that takes a slot for at most ``minimize_seconds``, and its programs join the
corpus queue.

**State in --out, and why nothing is lost.** ``journal.jsonl`` is append-only
and fsynced per record (:class:`fuzzharness.findings.durable.Journal`): the campaign's
config and seed, the known findings at its start, every slice started and done,
every finding first seen, every minimization, and a tick of elapsed time every
few seconds. Everything else (findings, corpus entries, reports) is written
atomically (rename). On restart with the same ``--out``:

* an unfinished campaign *resumes*: same config and seed, remaining duration =
  duration - elapsed (at most one tick is counted twice), lane seeds continue
  from the number of slices already started, and known findings are those known
  when it first started. Slices the dead campaign had started are collected
  (they stop by themselves: SIGTERM on the parent's death), and
  ``findings/`` is reconciled with the journal, so a finding saved by a slice
  whose result never arrived is still reported;
* a finished campaign is archived (``history/``) and a new one starts: a new
  night over the same directory.

**Deduplication.** Findings are saved under ``findings/<id>`` where the id is a
hash of the signature (:mod:`fuzzharness.findings.store`), so all lanes and slices
share one copy of each bug. Across nights, ``known-findings.json`` beside the
corpus (:class:`fuzzharness.findings.corpus.KnownIndex`) lists every id seen before: the
report separates *new* findings from *known* ones, and the exit code is 1 only
when there is a new one. ``until_first_finding`` (PR mode) stops at the first
new finding.

**On a cluster.** With ``scheduler`` (``--scheduler tcp://HOST:PORT``) the same loop runs
here and each slice becomes a task on a Dask cluster (:mod:`fuzzharness.lanes.cluster`,
imported only then): the slots are the cluster's worker threads, findings and corpus entries
stream back as they are found and are saved here, the merged corpus goes out with every
slice, minimizations run on the cluster too, and the journal also records which worker ran
each slice (the report's per-worker table). A slice whose worker is lost is run again on
another; a resumed campaign collects what its slices published while it was away.

**Guards.** ``--out`` is locked (:class:`fuzzharness.findings.durable.OutLock`) for the
campaign's lifetime: a second campaign on it fails at once naming the holder, and the kernel
drops the lock of a dead one. Paths are checked before anything starts (``--out`` a file or
read-only, ``--corpus`` a file, ``--known`` a directory: one line). An unfinished campaign is
resumed only with the options it was started with (targets, lanes, duration, variant, mutant).
Every lane's build is checked before the first slice (an unbuilt lane is *unavailable*, never
``ok``); a lane with a failed slice is ``error`` in every report format; an interrupted slice's
unused time goes back to its lane, so a resumed campaign schedules the lane again. Re-running a
finished campaign moves the previous night's journal and reports to ``history/<campaign>/``.

Exit codes: 0 no new finding, 1 new findings, 2 bad usage, 3 internal error, 4 inconclusive
(no lane could run, or no lane did a single exec), 5 interrupted (SIGTERM/SIGINT; resumable).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from fuzzharness.contract.header import PROJECT_ROOT, parse_mutant
from fuzzharness.errors import CorruptInput, InvalidArgument
from fuzzharness.findings.corpus import KNOWN_FILE, KnownIndex, add_entry, entries, import_seeds, queue_dir
from fuzzharness.findings.durable import Journal, OutLock, read_journal, refuse_symlink, write_atomic
from fuzzharness.findings.store import read_text
from fuzzharness.lanes.slices import LANES, kill_descendants, lane_variant, unavailable_reason, watch_memory

__all__ = ["LaneConfig", "CampaignConfig", "load_config", "parse_duration", "run_campaign", "CampaignResult",
           "JOURNAL_FILE", "FINDINGS_DIR", "check_lane_option", "enabled_lanes", "check_paths", "MAX_JOBS"]  # fmt: skip

JOURNAL_FILE = "journal.jsonl"
FINDINGS_DIR = "findings"
SLICES_DIR = "slices"
TICK_SECONDS = 2.0
#: slices shorter than this are not started (the rest of the duration is too short)
MIN_SLICE = 1.0
#: how long past its slice a slice process may take to stop before it is killed
SLICE_GRACE = 60.0
#: errors of the output's file system that stop a campaign with one line (not a traceback)
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
#: how often the reports are rewritten and a status line printed during a campaign
STATUS_SECONDS = 30.0
#: on a cluster: how often workers that joined are asked what they can run
CLUSTER_SURVEY_SECONDS = 10.0
#: on a cluster: after the fuzzing time, how long to wait for a worker when none is left
CLUSTER_IDLE_LIMIT = 120.0


#: the longest duration accepted (a typo such as 80000h is refused rather than run)
MAX_DURATION = 31 * 24 * 3600.0
_DURATION = re.compile(r"(?:([0-9]+(?:\.[0-9]+)?)h)?(?:([0-9]+(?:\.[0-9]+)?)m)?(?:([0-9]+(?:\.[0-9]+)?)(s?))?")


class StorageFull(InvalidArgument):
    """The output's file system is full or read-only: the campaign stopped, findings kept."""


def parse_duration(text: str | int | float, where: str = "duration") -> float:
    """``8h``, ``90m``, ``1h30m``, ``45s``, ``300`` (seconds) -> seconds. A bare number after
    hours means minutes (``1h30`` is 1h30m), after minutes seconds (``1m30`` is 90 s)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text).strip().lower()
        parts = _DURATION.fullmatch(s) if s.isascii() else None
        if not s or parts is None:
            raise InvalidArgument(f"{where}: {str(text)[:40]!r} is not a duration (examples: 8h, 90m, 1h30m, 45s, 300)")
        h, m, last, unit = parts.groups()
        hours, minutes, seconds = (float(g) if g else 0.0 for g in (h, m, last))
        if last and not unit and h and not m:
            minutes, seconds = seconds, 0.0  # 1h30 = 1h30m
        value = hours * 3600 + minutes * 60 + seconds
    if value != value or value <= 0:
        raise InvalidArgument(f"{where}: must be positive, got {str(text)[:40]!r}")
    if value > MAX_DURATION:
        raise InvalidArgument(f"{where}: {str(text)[:40]!r} is longer than {MAX_DURATION / 86400:.0f} days")
    return value


@dataclass
class LaneConfig:
    enabled: bool = True
    weight: float = 1.0
    variant: str | None = None  #: None: the lane's default (lanes.lane_variant)
    options: dict[str, Any] = field(default_factory=dict)  #: lane-specific (max_ops, threads, ops, corpus_rate)


def _default_lanes() -> dict[str, LaneConfig]:
    return {"random": LaneConfig(weight=4), "coverage": LaneConfig(weight=2), "stress": LaneConfig(weight=2),
            "asan": LaneConfig(weight=2)}  # fmt: skip


@dataclass
class CampaignConfig:
    targets: list[str] = field(default_factory=lambda: ["rust", "go"])
    duration: float = 8 * 3600.0
    jobs: int = 2
    out: Path = Path("campaign-out")
    corpus: Path = Path("corpus/campaign")
    known: Path | None = None  #: default: <corpus>/known-findings.json
    seed: int | None = None  #: None: derived from the start time (recorded in the journal)
    variant: str = "release"
    mutant: int = 0
    slice: float = 60.0
    timeout: float = 10.0
    rss_limit_mb: int | None = 4096
    minimize_seconds: float = 60.0
    until_first_finding: bool = False
    lanes: dict[str, LaneConfig] = field(default_factory=_default_lanes)
    #: a Dask scheduler (tcp://HOST:PORT): slices run on its workers; None: on this machine
    scheduler: str | None = None
    #: on a cluster: a worker builds the libraries it lacks (else slices go only to workers that have them)
    cluster_build: bool = False

    @property
    def known_path(self) -> Path:
        return self.known or self.corpus / KNOWN_FILE

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("out", "corpus", "known"):
            out[key] = str(out[key]) if out[key] is not None else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CampaignConfig":
        data = dict(data)
        lanes = {name: LaneConfig(**lane) for name, lane in data.pop("lanes").items()}
        for key in ("out", "corpus", "known"):
            data[key] = Path(data[key]) if data.get(key) else None
        return cls(**data, lanes=lanes)


#: slices at once above this are refused (a typo such as jobs = 100000); above the cores, a warning
MAX_JOBS = 256

#: lane options: name -> (lanes, type, min, max)
LANE_OPTIONS: dict[str, tuple[tuple[str, ...], type, float, float]] = {
    "max_ops": (("random", "asan"), int, 1, 100_000),
    "corpus_rate": (("random", "asan"), float, 0.0, 1.0),
    "threads": (("stress",), int, 1, 256),
    "ops": (("stress",), int, 1, 1_000_000),
}


def check_lane_option(lane: str, key: str, value: Any, where: str) -> Any:
    """A lane option's value, checked (CorruptInput naming ``where`` otherwise)."""
    known = sorted(k for k, (lanes, *_rest) in LANE_OPTIONS.items() if lane in lanes)
    if key not in LANE_OPTIONS or lane not in LANE_OPTIONS[key][0]:
        fields = ", ".join(["enabled", "weight", "variant", *known])
        raise CorruptInput(f"{where}: [lanes.{lane}] has no field {key!r} (fields: {fields})")
    _lanes, kind, low, high = LANE_OPTIONS[key]
    ok_type = isinstance(value, (int, float)) if kind is float else isinstance(value, int)
    if isinstance(value, bool) or not ok_type or value != value or not low <= value <= high:
        what, span = ("an integer", f"{int(low)} to {int(high)}") if kind is int else ("a number", f"{low:g} to {high:g}")
        raise CorruptInput(f"{where}: [lanes.{lane}] {key} must be {what} from {span}, got {str(value)[:40]}")
    return kind(value)


_CAMPAIGN_KEYS = {"targets", "duration", "jobs", "out", "corpus", "known", "seed", "variant", "mutant", "slice",
                  "timeout", "rss_limit_mb", "minimize_seconds", "until_first_finding", "scheduler",
                  "cluster_build"}  # fmt: skip
_LANE_KEYS = {"enabled", "weight", "variant"}


def load_config(path: Path | None) -> CampaignConfig:
    """Read a campaign TOML file (see ci/campaign.toml, documented field by field)."""
    config = CampaignConfig()
    if path is None:
        return config
    if not Path(path).exists():
        raise InvalidArgument(f"{path}: no such config file")
    try:
        data = tomllib.loads(read_text(Path(path)))
    except tomllib.TOMLDecodeError as exc:
        raise CorruptInput(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise CorruptInput(f"{path}: nested too deeply to be a campaign config") from None
    if not isinstance(data.get("campaign", {}), dict) or not isinstance(data.get("lanes", {}), dict):
        raise CorruptInput(f"{path}: [campaign] and [lanes] must be tables")
    unknown = set(data) - {"campaign", "lanes"}
    if unknown:
        raise CorruptInput(f"{path}: unknown table(s) {', '.join(sorted(unknown))} (known: campaign, lanes)")
    section = data.get("campaign", {})
    for key, value in section.items():
        if key not in _CAMPAIGN_KEYS:
            raise CorruptInput(f"{path}: [campaign] has no field {key!r} (fields: {', '.join(sorted(_CAMPAIGN_KEYS))})")
        where = f"{path}: [campaign] {key}"
        if key in ("duration", "slice", "minimize_seconds", "timeout"):
            value = parse_duration(value, where)
        elif key in ("out", "corpus", "known"):
            value = Path(value)
        elif key == "targets":
            if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
                raise CorruptInput(f"{where}: must be a non-empty list of target names")
        elif key == "mutant":
            try:
                value = parse_mutant(str(value)) if str(value) not in ("", "none", "0") else 0
            except InvalidArgument as exc:
                raise CorruptInput(f"{where}: {exc}") from None
        elif key in ("jobs", "seed", "rss_limit_mb"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise CorruptInput(f"{where}: must be a non-negative integer")
            if key == "jobs" and not 1 <= value <= MAX_JOBS:
                raise CorruptInput(f"{where}: must be from 1 to {MAX_JOBS}, got {value}")
            if key == "rss_limit_mb" and value == 0:
                value = None
        elif key == "scheduler":
            if not isinstance(value, str) or not value.strip():
                raise CorruptInput(f"{where}: must be a Dask scheduler address such as \"tcp://127.0.0.1:8786\"")
            value = value.strip()
        elif key == "cluster_build":
            if not isinstance(value, bool):
                raise CorruptInput(f"{where}: must be true or false")
        setattr(config, key, value)
    lanes = data.get("lanes", {})
    for name, table in lanes.items():
        if name not in LANES:
            raise CorruptInput(f"{path}: [lanes.{name}]: unknown lane (lanes: {', '.join(LANES)})")
        if not isinstance(table, dict):
            raise CorruptInput(f"{path}: [lanes.{name}] must be a table")
        lane = config.lanes.setdefault(name, LaneConfig())
        for key, value in table.items():
            if key == "weight":
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise CorruptInput(f"{path}: [lanes.{name}] weight must be a non-negative number")
                lane.weight = float(value)
            elif key == "enabled":
                if not isinstance(value, bool):
                    raise CorruptInput(f"{path}: [lanes.{name}] enabled must be true or false")
                lane.enabled = value
            elif key == "variant":
                if not isinstance(value, str) or not value.strip():
                    raise CorruptInput(f"{path}: [lanes.{name}] variant must be a build variant name")
                lane.variant = value.strip()
            else:
                lane.options[key] = check_lane_option(name, key, value, str(path))
    if not enabled_lanes(config):
        raise CorruptInput(f"{path}: no lane is enabled with a positive weight (lanes: {', '.join(LANES)})")
    return config


def enabled_lanes(config: CampaignConfig) -> list[str]:
    """The lanes a campaign would run, in LANES order."""
    return [n for n in LANES if (lane := config.lanes.get(n)) is not None and lane.enabled and lane.weight > 0]


# --------------------------------------------------------------------------- state from the journal


@dataclass
class Slice:
    n: int
    lane: str
    seed: int
    seconds: float
    spec: Path
    result: Path
    proc: subprocess.Popen | None = None
    pid: int | None = None
    started: float = 0.0  #: monotonic
    finding: str | None = None  #: for a minimization task


@dataclass
class State:
    """What the journal says; rebuilt record by record on resume."""

    config: CampaignConfig
    seed: int
    campaign_id: str
    known_at_start: set[str]
    elapsed: float = 0.0
    started_slices: dict[int, dict[str, Any]] = field(default_factory=dict)
    done_slices: dict[int, dict[str, Any]] = field(default_factory=dict)
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    minimized: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    lanes: dict[str, dict[str, Any]] = field(default_factory=dict)
    resumes: int = 0
    ended: bool = False
    interrupted: bool = False
    #: on a cluster: worker address -> what it did (the report's per-worker table)
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: on a cluster: keys of the worker events already journaled (a replay skips them)
    events: set[str] = field(default_factory=set)
    #: on a cluster: slice -> the workers it started on (more than one: rescheduled after a worker was lost)
    attempts: dict[int, list[str]] = field(default_factory=dict)

    def worker_stats(self, record: dict[str, Any]) -> dict[str, Any]:
        stats = self.workers.setdefault(record["worker"], {"name": record.get("name"), "host": record.get("host"),
                                                           "started": 0, "slices": 0, "minimizations": 0,
                                                           "seconds": 0.0, "execs": 0, "hits": 0, "first_found": 0})  # fmt: skip
        stats["name"] = record.get("name") or stats["name"]
        stats["host"] = record.get("host") or stats["host"]
        return stats

    def lane_stats(self, lane: str) -> dict[str, Any]:
        return self.lanes.setdefault(lane, {"slices": 0, "seconds": 0.0, "scheduled": 0.0, "execs": 0, "ops": 0,
                                            "findings": 0, "coverage": None, "corpus_added": 0, "restarts": 0,
                                            "errors": [], "status": "ok", "reason": ""})  # fmt: skip

    def apply(self, record: dict[str, Any]) -> None:
        t = record.get("t")
        if "elapsed" in record:
            self.elapsed = max(self.elapsed, float(record["elapsed"]))
        if t == "slice":
            self.started_slices[record["n"]] = record
            if record["lane"] != "minimize":
                self.lane_stats(record["lane"])["scheduled"] += record["seconds"]
        elif t == "slice_worker":
            self.events.add(record["event"])
            self.worker_stats(record)["started"] += 1
            self.attempts.setdefault(record["n"], []).append(record["worker"])
        elif t == "slice_done":
            self.done_slices[record["n"]] = record
            result = record["result"]
            lane = record["lane"]
            if record.get("worker"):
                stats = self.worker_stats(record)
                if lane == "minimize":
                    stats["minimizations"] += 1
                else:
                    stats["slices"] += 1
                    stats["seconds"] += float(result.get("seconds", 0.0))
                    stats["execs"] += int(result.get("execs") or 0)
            if lane == "minimize":
                if result.get("minimized"):
                    self.minimized[record["finding"]] = result["minimized"]
                elif record.get("finding"):
                    self.minimized[record["finding"]] = {"error": result.get("error", result.get("status"))}
                return
            stats = self.lane_stats(lane)
            stats["slices"] += 1
            stats["seconds"] += float(result.get("seconds", 0.0))
            if result.get("status") not in ("ok", "error"):  # interrupted or lost: its unused time goes back
                stats["interrupted"] = stats.get("interrupted", 0) + 1
                planned = float(self.started_slices.get(record["n"], {}).get("seconds", 0.0))
                stats["scheduled"] -= max(0.0, planned - float(result.get("seconds", 0.0)))
            for key in ("execs", "ops", "corpus_added", "restarts"):
                stats[key] += int(result.get(key) or 0)
            stats["findings"] += sum(int(f.get("count") or 1) for f in result.get("findings", []))
            if result.get("coverage") is not None:
                stats["coverage"] = max(stats["coverage"] or 0, int(result["coverage"]))
            if result.get("status") == "error":
                stats["errors"].append(result.get("error", "error"))
            self.timeline.append({"elapsed": self.elapsed, "lane": lane, "execs": int(result.get("execs") or 0),
                                  "seconds": float(result.get("seconds", 0.0)), "coverage": result.get("coverage"),
                                  "corpus": record.get("corpus_size")})  # fmt: skip
        elif t == "finding":
            first = record["id"] not in self.findings
            entry = self.findings.setdefault(record["id"], {**record, "count": 0, "lanes": []})
            entry["count"] += int(record.get("count", 1))
            if record.get("event"):
                self.events.add(record["event"])
            if record.get("worker"):
                stats = self.worker_stats(record)
                stats["hits"] += int(record.get("count", 1))
                stats["first_found"] += first
            if record.get("lane") and record["lane"] not in entry["lanes"]:
                entry["lanes"].append(record["lane"])
        elif t == "lane_status":
            stats = self.lane_stats(record["lane"])
            stats["status"], stats["reason"] = record["status"], record.get("reason", "")
        elif t == "resume":
            self.resumes += 1
            self.interrupted = False
            if record.get("scheduler"):
                self.config.scheduler = record["scheduler"]
        elif t == "interrupted":
            self.interrupted = True
        elif t == "end":
            self.ended = True

    @property
    def new_findings(self) -> list[str]:
        return [i for i in self.findings if i not in self.known_at_start]


def _load_state(path: Path) -> State | None:
    records = list(read_journal(path))
    if not records or records[0].get("t") != "start":
        return None
    start = records[0]
    state = State(CampaignConfig.from_json(start["config"]), int(start["seed"]), start["campaign"],
                  set(start.get("known", [])))  # fmt: skip
    for record in records[1:]:
        state.apply(record)
    return state


def _slice_seed(seed: int, lane: str, k: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{lane}/{k}".encode()).digest()[:4], "little")


# --------------------------------------------------------------------------- the campaign


@dataclass
class CampaignResult:
    out: Path
    exit_code: int
    new: list[str]
    known: list[str]
    report: dict[str, Any]


class Campaign:
    def __init__(self, config: CampaignConfig, progress: Callable[[str], None] | None = None) -> None:
        self.progress = progress or (lambda message: None)
        self.out = Path(config.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.lock = OutLock(self.out, "campaign")  # a second campaign on this --out fails here, naming us
        try:
            self._open(config)
        except BaseException:
            self.lock.close()
            raise

    def _open(self, config: CampaignConfig) -> None:
        self.journal_path = self.out / JOURNAL_FILE
        for name in (JOURNAL_FILE, FINDINGS_DIR, SLICES_DIR, "history"):
            refuse_symlink(self.out / name, "campaign state")
        previous = _load_state(self.journal_path)
        if previous is not None and previous.ended:
            self._archive(previous.campaign_id)  # a finished campaign: a new night in the same directory
            previous = None
        if previous is not None:
            _check_same_options(previous.config, config, self.out)
        self.journal = Journal(self.journal_path)
        if previous is None:
            seed = config.seed if config.seed is not None else int(time.time()) & 0xFFFFFFFF
            campaign_id = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            known = KnownIndex(config.known_path)
            start = {"t": "start", "campaign": campaign_id, "time": time.time(), "seed": seed,
                     "config": config.to_json(), "known": known.ids()}  # fmt: skip
            self.journal.append(start)
            self.state = State(config, seed, campaign_id, set(known.ids()))
            self.resumed = False
        else:
            self.state = previous
            self.resumed = True
            resume: dict[str, Any] = {"t": "resume", "time": time.time(), "elapsed": previous.elapsed}
            if config.scheduler and config.scheduler != previous.config.scheduler:
                resume["scheduler"] = config.scheduler  # the same campaign on another (or a restarted) scheduler
                self.state.config.scheduler = config.scheduler
            self.journal.append(resume)
            self.state.resumes += 1
        self.config = self.state.config
        self.findings_dir = self.out / FINDINGS_DIR
        self.slices_dir = self.out / SLICES_DIR
        self.slices_dir.mkdir(exist_ok=True)
        self.queue = queue_dir(self.config.corpus, self.config.targets)
        self.queue.mkdir(parents=True, exist_ok=True)
        self.running: dict[int, Slice] = {}
        self.stop_requested = False
        self.start_time = self.state.campaign_id
        #: the Dask connection (lanes.cluster.ClusterRunner) when the campaign has a scheduler
        self.cluster: Any = None
        self._no_workers_since: float | None = None
        self._abandoned = False

    def _archive(self, campaign_id: str) -> None:
        """Move a finished campaign's journal and reports to ``history/<campaign>/``."""
        night = self.out / "history" / campaign_id.replace(":", "")
        night.mkdir(parents=True, exist_ok=True)
        os.replace(self.journal_path, night / JOURNAL_FILE)
        for path in sorted(self.out.glob("report.*")):
            if path.is_file() and not path.is_symlink():
                os.replace(path, night / path.name)

    # -- helpers ---------------------------------------------------------------------

    def _record(self, record: dict[str, Any]) -> None:
        self.journal.append(record)
        self.state.apply(record)

    def _lanes(self) -> dict[str, str]:
        """Enabled lanes -> their variant; records each lane's availability once."""
        out = {}
        for name in LANES:
            lane = self.config.lanes.get(name)
            if lane is None or not lane.enabled or lane.weight <= 0:
                continue
            variant = lane_variant(name, self.config.variant, lane.variant)
            if self.cluster is not None:
                reason = self.cluster.missing_everywhere(variant)
            else:
                reason = unavailable_reason(name, self.config.targets, variant)
            status = "unavailable" if reason else "ok"
            stats = self.state.lane_stats(name)
            if stats["status"] != status or stats["reason"] != (reason or ""):
                self._record({"t": "lane_status", "lane": name, "status": status, "reason": reason or "",
                              "variant": variant})  # fmt: skip
            if not reason:
                out[name] = variant
        return out

    def elapsed(self) -> float:
        return self._base_elapsed + (time.monotonic() - self._t0)

    def _next_lane(self, lanes: dict[str, str]) -> str | None:
        usable = [n for n in lanes if self.state.lane_stats(n)["status"] == "ok"]
        if not usable:
            return None
        return min(usable, key=lambda n: (self.state.lane_stats(n)["scheduled"] / self.config.lanes[n].weight,
                                          LANES.index(n)))  # fmt: skip

    def _slots(self) -> int:
        """Slices at once: ``jobs`` here, or the cluster's worker threads."""
        return self.config.jobs if self.cluster is None else self.cluster.slots()

    def _start_slice(self, lane: str, variant: str | None, seconds: float, finding: str | None = None) -> None:
        n = max([*self.state.started_slices, -1]) + 1
        k = sum(1 for r in self.state.started_slices.values() if r["lane"] == lane)
        seed = _slice_seed(self.state.seed, lane, k)
        spec_path = self.slices_dir / f"{n:05d}-{lane}.spec.json"
        result_path = self.slices_dir / f"{n:05d}-{lane}.result.json"
        spec = {"lane": lane, "targets": self.config.targets, "variant": variant, "mutant": self.config.mutant,
                "seconds": seconds, "seed": seed, "out": str(self.findings_dir), "corpus": str(self.queue),
                "timeout": self.config.timeout, "rss_limit_mb": self.config.rss_limit_mb,
                "until_first": self.config.until_first_finding, "result": str(result_path),
                "options": self.config.lanes[lane].options if lane in self.config.lanes else {},
                "finding": str(self.findings_dir / finding) if finding else None,
                "parent_pid": os.getpid()}  # fmt: skip
        if self.cluster is not None and lane != "minimize":
            # A slice rescheduled after its worker was lost runs only what is left of the campaign.
            spec["deadline"] = time.time() + max(0.0, self.config.duration - self.elapsed())
        write_atomic(spec_path, json.dumps(spec, default=str, indent=1))
        pid = None
        if self.cluster is None:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
            log = open(self.slices_dir / f"{n:05d}-{lane}.log", "ab")
            proc = subprocess.Popen([sys.executable, "-m", "fuzzharness.lanes.slices", str(spec_path)], stdout=log,
                                    stderr=log, stdin=subprocess.DEVNULL, env=env, start_new_session=True)  # fmt: skip
            log.close()
            pid = proc.pid
        else:
            proc = None
            self._submit(n, variant, spec, seed, finding)
        self._record({"t": "slice", "n": n, "lane": lane, "seed": seed, "seconds": seconds, "pid": pid,
                      "spec": str(spec_path), "result": str(result_path), "finding": finding, "time": time.time(),
                      "where": "local" if self.cluster is None else "cluster", "elapsed": self.elapsed()})  # fmt: skip
        self.running[n] = Slice(n, lane, seed, seconds, spec_path, result_path, proc, pid, time.monotonic(), finding)
        self.progress(f"slice {n}: {lane}" + (f" {finding}" if finding else f" for {seconds:.0f} s (seed {seed})"))

    def _submit(self, n: int, variant: str | None, spec: dict[str, Any], seed: int, finding: str | None) -> None:
        """Hand a slice to the cluster: the merged corpus goes with it, and for a minimization
        the finding's files (and the build variant it was found on)."""
        from fuzzharness.lanes.cluster import corpus_payload

        known = sorted(set(self.state.findings) | {p.name for p in self._saved_findings()})
        files = None
        corpus: dict[str, bytes] = {}
        if finding:
            directory = self.findings_dir / finding
            files = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")}
            try:
                variant = json.loads(files["finding.json"]).get("variant")
            except (KeyError, ValueError):
                variant = None
        else:
            corpus = corpus_payload(self.queue, seed)
        self.cluster.submit(n, spec, variant, corpus, known, files)

    def _saved_findings(self) -> list[Path]:
        try:
            return [p for p in self.findings_dir.iterdir() if not p.name.startswith(".")]
        except FileNotFoundError:
            return []

    def _finish_slice(self, s: Slice, status_if_missing: str = "lost", result: dict[str, Any] | None = None) -> None:
        """Close a slice: its result (read from its result file, or as a cluster task returned it)
        is journaled, its findings registered, a minimization's output put to use."""
        if result is None:
            try:
                result = json.loads(s.result.read_text())
            except (FileNotFoundError, ValueError):
                result = None
        if result is None:
            result = {"lane": s.lane, "status": status_if_missing, "execs": 0, "findings": [],
                      "seconds": round(time.monotonic() - s.started, 3) if s.started else 0.0}  # fmt: skip
        where: dict[str, Any] = {}
        streamed: dict[str, int] = {}
        if "worker" in result:  # from a cluster worker: keep its log and output here, journal its identity
            where = {k: result.pop(k, None) for k in ("worker", "name", "host")}
            streamed = result.pop("streamed", None) or {}
            log = result.pop("log", "")
            if log:
                with open(self.slices_dir / f"{s.n:05d}-{s.lane}.log", "a", errors="replace") as fh:
                    fh.write(log)
            files = result.pop("files", None)
            if files and s.finding:
                from fuzzharness.lanes.cluster import save_shipped_minimization

                try:
                    save_shipped_minimization(self.findings_dir / s.finding, files)
                except CorruptInput as exc:
                    self.progress(f"slice {s.n}: refused what {where.get('worker')} sent: {exc}")
            write_atomic(s.result, json.dumps(result, default=str) + "\n")
        self._register_findings(result.get("findings", []), s.lane, streamed=streamed, where=where)
        if result.get("corpus_added") is None:
            result["corpus_added"] = 0
        self._record({"t": "slice_done", "n": s.n, "lane": s.lane, "finding": s.finding, "result": _trim(result),
                      "corpus_size": len(entries(self.queue)), "elapsed": self.elapsed(), **where})  # fmt: skip
        if s.lane == "minimize" and s.finding:
            self._after_minimize(s.finding)
        if result.get("status") == "error" and s.lane != "minimize":
            self.progress(f"slice {s.n} ({s.lane}) failed: {result.get('error')}")
            stats = self.state.lane_stats(s.lane)
            if len(stats["errors"]) >= 2:
                self._record({"t": "lane_status", "lane": s.lane, "status": "error", "reason": result.get("error", "")})

    def _register_findings(self, found: list[dict[str, Any]], lane: str, streamed: dict[str, int] | None = None,
                           where: dict[str, Any] | None = None, event: str | None = None) -> None:  # fmt: skip
        """Journal findings a slice reported. ``streamed``: hits of this slice already journaled
        as they arrived (a cluster worker's finding events), not counted twice."""
        for f in found:
            fid = f.get("id")
            if not isinstance(fid, str):
                continue
            count = int(f.get("count") or 1) - int((streamed or {}).get(fid, 0))
            if count <= 0 and fid in self.state.findings:
                continue
            new = fid not in self.state.known_at_start
            record = {"t": "finding", "id": fid, "kind": f.get("kind"), "targets": f.get("targets"),
                      "summary": f.get("summary", ""), "path": str(self.findings_dir / fid), "lane": lane,
                      "new": new, "count": max(count, 0 if fid in self.state.findings else 1), "elapsed": self.elapsed()}  # fmt: skip
            if event:
                record["event"] = event
            if where and where.get("worker"):
                record.update(where)
            self._record(record)
            if fid not in self._known_recorded:
                KnownIndex(self.config.known_path).record([{"id": fid, "kind": f.get("kind"), "summary": f.get("summary", "")}],
                                                          self.state.campaign_id)  # fmt: skip
                self._known_recorded.add(fid)

    # -- events from a cluster --------------------------------------------------------

    def _apply_cluster_events(self) -> None:
        from fuzzharness.lanes.cluster import save_shipped_corpus, save_shipped_finding

        for event in self.cluster.poll():
            n, kind = event["n"], event.get("type")
            record = self.state.started_slices.get(n)
            if record is None:
                continue  # not a slice of this campaign's journal
            where = {k: event.get(k) for k in ("worker", "name", "host")}
            try:
                if kind == "start":
                    if event["key"] in self.state.events:
                        continue
                    again = bool(self.state.attempts.get(n))
                    self._record({"t": "slice_worker", "n": n, "event": event["key"], "attempt": event.get("attempt"),
                                  "lane": record["lane"], "elapsed": self.elapsed(), **where})  # fmt: skip
                    if again:
                        self.progress(f"slice {n} ({record['lane']}) runs again on {where['worker']}: its worker was lost")
                elif kind == "finding":
                    if event["key"] in self.state.events:
                        continue
                    data = save_shipped_finding(self.findings_dir, event["id"], event["files"])
                    done = n in self.state.done_slices
                    if done and event["id"] in self.state.findings:
                        continue  # a late copy of a hit its slice's result already counted
                    self.progress(f"finding {event['id']} from {where['name'] or where['worker']} (slice {n})")
                    entry = {"id": event["id"], "kind": data.get("kind"), "targets": data.get("targets"),
                             "summary": data.get("summary", ""), "count": 1}  # fmt: skip
                    self._register_findings([entry], record["lane"], where=where, event=event["key"])
                elif kind == "corpus":
                    save_shipped_corpus(self.queue, event["entries"])
                elif kind == "done":
                    s = self.running.pop(n, None)
                    if s is not None:
                        self._finish_slice(s, event.get("status") or "lost", event.get("result"))
            except CorruptInput as exc:
                self.progress(f"slice {n}: refused what {where.get('worker')} sent: {exc}")

    def _cluster_idle_too_long(self) -> bool:
        """No worker for CLUSTER_IDLE_LIMIT seconds after the fuzzing time is over: give up waiting."""
        if self.cluster.slots() > 0:
            self._no_workers_since = None
            return False
        self._no_workers_since = self._no_workers_since or time.monotonic()
        return time.monotonic() - self._no_workers_since > CLUSTER_IDLE_LIMIT

    def _connect(self) -> None:
        from fuzzharness.lanes.cluster import ClusterRunner

        topic = "fuzzharness-" + hashlib.sha256(f"{self.state.campaign_id}/{self.state.seed}/{self.out.resolve()}"
                                                .encode()).hexdigest()[:16]  # fmt: skip
        self.cluster = ClusterRunner(self.config.scheduler, topic, build=self.config.cluster_build, progress=self.progress)
        self.cluster.wait_for_workers()
        variants = {lane_variant(n, self.config.variant, lane.variant) for n, lane in self.config.lanes.items()
                    if lane.enabled and lane.weight > 0}  # fmt: skip
        facts = self.cluster.survey(self.config.targets, variants)
        self._record({"t": "cluster", "scheduler": self.config.scheduler, "topic": topic, "elapsed": self.elapsed(),
                      "workers": {w: {k: f.get(k) for k in ("host", "version", "root", "refused")}
                                  for w, f in facts.items()}})  # fmt: skip
        self.progress(f"cluster {self.config.scheduler}: {len(facts)} worker(s), {self.cluster.slots()} thread(s)")

    def reconcile(self) -> None:
        """Journal every finding saved under findings/ during this campaign that the
        journal does not know yet (its slice died before reporting it)."""
        if not self.findings_dir.is_dir():
            return
        started = self._campaign_started
        for directory in sorted(self.findings_dir.iterdir()):
            if directory.name.startswith(".") or directory.name in self.state.findings:
                continue
            try:
                data = json.loads((directory / "finding.json").read_text())
            except (OSError, ValueError):
                continue
            if float(data.get("found_at", 0)) < started:
                continue  # an earlier night's finding in the same directory
            self._register_findings([{"id": data.get("id", directory.name), "kind": data.get("kind"),
                                      "targets": data.get("targets"), "summary": data.get("summary", "")}],
                                    "recovered")  # fmt: skip

    def _after_minimize(self, fid: str) -> None:
        """Add the finding's programs to the corpus queue (the byte encoding, when it has one)."""
        from fuzzharness.findings.store import read_text
        from fuzzharness.programs.sequential import encode, parse_text

        added = 0
        for name in ("program.min.fh", "program.fh"):
            path = self.findings_dir / fid / name
            if not path.is_file():
                continue
            try:
                added += add_entry(self.queue, encode(parse_text(read_text(path), str(path))))
            except (ValueError, CorruptInput):
                continue

    def _pending_minimizations(self) -> list[str]:
        if self._abandoned:
            return []
        busy = {s.finding for s in self.running.values() if s.finding}
        out = []
        for fid in self.state.findings:
            if fid in busy or fid in self.state.minimized:
                continue
            if (self.findings_dir / fid).is_symlink():
                continue  # never minimized: that would write through the link, out of --out
            if any(r.get("finding") == fid and r["lane"] == "minimize" for r in self.state.started_slices.values()):
                continue  # started earlier (and lost): not retried, the original program stays
            if not (self.findings_dir / fid / "finding.json").is_file():
                continue
            out.append(fid)
        return out

    def _collect_orphans(self) -> None:
        """Slices the previous (killed) campaign process started and never closed: a local one
        is waited for (it got SIGTERM when its parent died); a cluster task is adopted, and its
        result arrives with the events the scheduler kept, or never (lost at its deadline)."""
        for n, record in sorted(self.state.started_slices.items()):
            if n in self.state.done_slices:
                continue
            s = Slice(n, record["lane"], record["seed"], record["seconds"], Path(record["spec"]), Path(record["result"]),
                      pid=record.get("pid"), finding=record.get("finding"))  # fmt: skip
            if record.get("where") == "cluster":
                if self.cluster is None:
                    self._finish_slice(s, "lost (it ran on a cluster; resumed without one)")
                    continue
                seconds = self.config.minimize_seconds if record["lane"] == "minimize" else float(record["seconds"])
                deadline = float(record.get("time") or time.time()) + seconds + SLICE_GRACE + 2 * self.config.timeout
                s.started = time.monotonic()
                self.running[n] = s
                self.cluster.adopt(n, deadline)
                continue
            deadline = time.monotonic() + 30.0
            while _alive(s.pid, s.spec) and time.monotonic() < deadline:
                time.sleep(0.2)  # it got SIGTERM when its parent died and is writing its result
            if _alive(s.pid, s.spec):
                kill_descendants(s.pid)  # a restart never runs beside a leftover slice or its libFuzzer
                try:
                    os.killpg(s.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self._finish_slice(s, "lost")
        if self.cluster is not None:
            self.cluster.replay()
            self._apply_cluster_events()  # what they published while no client listened, their results too
            for n, s in list(self.running.items()):
                if n not in self.state.attempts:  # queued when the client died: the scheduler dropped it
                    self.cluster.cancel(n)
                    self.running.pop(n)
                    self._finish_slice(s, "lost (it had not started when its campaign process died)")

    def _reap(self) -> None:
        """Close the slices that ended (local processes, or what the cluster reported)."""
        if self.cluster is not None:
            self._apply_cluster_events()
            return
        for n, s in list(self.running.items()):
            if s.proc is not None and s.proc.poll() is not None:
                self.running.pop(n)
                self._finish_slice(s)
            elif time.monotonic() - s.started > s.seconds + SLICE_GRACE + 2 * self.config.timeout:
                _killpg(s.proc)
                self.running.pop(n)
                self._finish_slice(s, "killed (overran its slice)")

    def _stop_slices(self) -> None:
        if self.cluster is not None:
            for n, s in list(self.running.items()):
                if not self.cluster.started(n):  # still queued on the cluster: never runs
                    self.cluster.cancel(n)
                    self.running.pop(n)
                    self._finish_slice(s, "interrupted")
            self.cluster.stop(sorted(self.running))
            deadline = time.monotonic() + 30.0
            while self.running and time.monotonic() < deadline:
                self._apply_cluster_events()
                time.sleep(0.2)
            for n, s in list(self.running.items()):
                self.cluster.cancel(n)
                self.running.pop(n)
                self._finish_slice(s, "interrupted")
            return
        for s in self.running.values():
            if s.proc is not None and s.proc.poll() is None:
                try:
                    s.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30.0
        for s in list(self.running.values()):
            if s.proc is None:
                continue
            try:
                s.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _killpg(s.proc)
            self.running.pop(s.n)
            self._finish_slice(s, "interrupted")

    def _abandon(self) -> None:
        """The cluster has had no worker for too long after the end: close what still runs as lost."""
        self.progress(f"no worker at {self.config.scheduler} for {CLUSTER_IDLE_LIMIT:.0f} s: giving up on "
                      f"{len(self.running)} slice(s) and the pending minimizations")  # fmt: skip
        for n, s in list(self.running.items()):
            self.cluster.cancel(n)
            self.running.pop(n)
            self._finish_slice(s, "lost (no worker left)")
        self._abandoned = True

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> CampaignResult:
        self._base_elapsed = self.state.elapsed
        self._t0 = time.monotonic()
        self._campaign_started = float(next(read_journal(self.journal_path))["time"]) - 1.0
        self._known_recorded = set(self.state.findings)
        if self.config.rss_limit_mb:
            watch_memory(max(2048, self.config.rss_limit_mb), "the campaign process")
        skipped: list[str] = []
        import_seeds(self.queue, skipped=skipped)
        for line in skipped:
            self.progress(f"seed skipped: {line}")
        try:
            if self.config.scheduler:
                self._connect()
            return self._run()
        except OSError as exc:
            if exc.errno not in STORAGE_ERRNOS:
                raise
            self._storage_failed(exc)
            raise  # not reached: _storage_failed raises the one-line error
        finally:
            if self.cluster is not None:
                self.cluster.close()
            self.journal.close()
            self.lock.close()

    def _run(self) -> CampaignResult:
        if self.resumed:
            self.progress(f"resuming campaign {self.state.campaign_id} at {self.state.elapsed:.0f} s of "
                          f"{self.config.duration:.0f} s")  # fmt: skip
            self._collect_orphans()
        self.reconcile()
        lanes = self._lanes()
        if not lanes:
            reasons = "; ".join(f"lane {n}: {self.state.lane_stats(n)['reason']}" for n in self.state.lanes)
            self.progress(f"no lane of this campaign can run ({reasons})"[:2000])
            self._record({"t": "end", "elapsed": self.elapsed(), "time": time.time(), "empty": True})
            report = self.write_reports(final=True)
            return CampaignResult(self.out, 4, [], [], report)
        previous_handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        last_tick = last_report = last_survey = time.monotonic()
        try:
            while True:
                self._reap()
                pr_stop = self.config.until_first_finding and self.state.new_findings
                if self.stop_requested or pr_stop:
                    if self.running and any(s.lane != "minimize" for s in self.running.values()):
                        self._stop_slices()
                remaining = self.config.duration - self.elapsed()
                pending = self._pending_minimizations()
                fuzzing_over = remaining < MIN_SLICE or pr_stop or self.stop_requested
                if fuzzing_over and self.cluster is not None and (self.running or pending) and self._cluster_idle_too_long():
                    self._abandon()
                    pending = []
                if fuzzing_over and not self.running and (not pending or self.stop_requested):
                    break
                slots = self._slots()
                while len(self.running) < slots and not self.stop_requested:
                    if pending:
                        fid = pending.pop(0)
                        self._start_slice("minimize", None, self.config.minimize_seconds, finding=fid)
                        continue
                    if fuzzing_over:
                        break
                    lane = self._next_lane(lanes)
                    if lane is None:
                        fuzzing_over = True
                        break
                    self._start_slice(lane, lanes[lane], min(self.config.slice, remaining))
                if time.monotonic() - last_tick >= TICK_SECONDS:
                    self._record({"t": "tick", "elapsed": self.elapsed(), "time": time.time()})
                    if self.cluster is not None:
                        self.cluster.heartbeat()
                    last_tick = time.monotonic()
                if self.cluster is not None and time.monotonic() - last_survey >= CLUSTER_SURVEY_SECONDS:
                    self.cluster.survey(self.config.targets, set())  # workers that joined since
                    last_survey = time.monotonic()
                if time.monotonic() - last_report >= STATUS_SECONDS:
                    self.write_reports(final=False)
                    self.progress(self._status_line())
                    last_report = time.monotonic()
                time.sleep(0.2)
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
        self.reconcile()  # nothing runs now: a finding on disk that no slice reported is added
        if self.stop_requested:
            self._record({"t": "interrupted", "elapsed": self.elapsed(), "time": time.time()})
        else:
            self._record({"t": "end", "elapsed": self.elapsed(), "time": time.time()})
        report = self.write_reports(final=not self.stop_requested)
        new = self.state.new_findings
        known = [i for i in self.state.findings if i not in new]
        return CampaignResult(self.out, report["exit_code"], new, known, report)

    def _storage_failed(self, exc: OSError) -> None:
        """The disk is full (or went read-only): stop every slice without journaling (that
        would fail too), write what report still fits, and stop with one line. Findings are
        files of their own, saved whole or not at all: none is lost or removed."""
        for s in list(self.running.values()):
            if s.proc is not None and s.proc.poll() is None:
                try:
                    s.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20.0
        for s in list(self.running.values()):
            if s.proc is not None:
                try:
                    s.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _killpg(s.proc)
        self.running.clear()
        try:
            self.write_reports(final=False)
            wrote = "the report was updated"
        except OSError:
            wrote = "no report could be written"
        where = exc.filename or self.out
        raise StorageFull(f"{where}: {exc.strerror or exc}: the campaign stopped ({wrote}); every finding saved so far "
                          f"is kept in {self.findings_dir}; free some space and run the same command to resume") from None

    def _status_line(self) -> str:
        """The periodic one-line status: time, execs, findings, what runs."""
        execs = sum(int(s["execs"]) for s in self.state.lanes.values())
        running = ", ".join(sorted(s.lane for s in self.running.values())) or "nothing"
        return (f"{self.elapsed():.0f} of {self.config.duration:.0f} s, {execs:,} execs, "
                f"{len(self.state.new_findings)} new / {len(self.state.findings)} finding(s), running: {running}")  # fmt: skip

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stop_requested = True
        self.progress(f"{signal.Signals(signum).name}: stopping the slices; restart with the same --out to resume")

    def write_reports(self, final: bool) -> dict[str, Any]:
        from fuzzharness.report.campaign_report import build_report, write_all

        report = build_report(self.state, self.out, self.queue, final=final, elapsed=self.elapsed())
        write_all(report, self.out)
        return report


def _trim(result: dict[str, Any]) -> dict[str, Any]:
    """A slice result for the journal: findings reduced to what the report needs."""
    out = {k: v for k, v in result.items() if k != "traceback"}
    out["findings"] = [{k: f.get(k) for k in ("id", "kind", "targets", "summary", "count", "seed")}
                       for f in result.get("findings", [])]  # fmt: skip
    return out


def _alive(pid: int | None, spec: Path) -> bool:
    """Is ``pid`` still the slice process started for ``spec`` (not a reused pid)?"""
    if not pid:
        return False
    try:
        import psutil

        proc = psutil.Process(pid)
        return str(spec) in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE
    except Exception:  # noqa: BLE001 - gone, or not ours
        return False


def _killpg(proc: subprocess.Popen | None) -> None:
    """Kill a slice, its process group and everything below it (libFuzzer has its own session)."""
    if proc is None:
        return
    kill_descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_campaign(config: CampaignConfig, progress: Callable[[str], None] | None = None) -> CampaignResult:
    """Run (or resume) a campaign; see the module docstring."""
    from fuzzharness.contract.registry import select_targets

    select_targets(config.targets)  # a bad target name: exit 2 before anything starts
    if not 1 <= config.jobs <= MAX_JOBS:
        raise InvalidArgument(f"jobs must be from 1 to {MAX_JOBS}, got {config.jobs}")
    cores = os.cpu_count() or 1
    if config.jobs > cores and not config.scheduler and progress is not None:
        progress(f"warning: jobs {config.jobs} is more than the {cores} core(s) of this machine: slices will "
                 f"compete for them")  # fmt: skip
    if not enabled_lanes(config):
        raise InvalidArgument(f"no lane is enabled (lanes: {', '.join(LANES)})")
    check_paths(config)
    if config.scheduler:
        from fuzzharness.lanes.cluster import check_address

        config.scheduler = check_address(config.scheduler)  # a bad address: exit 2 before the journal is touched
    return Campaign(config, progress).run()


def check_paths(config: CampaignConfig) -> None:
    """Refuse (one line naming it) an --out, --corpus or --known the campaign could not use."""
    out, corpus, known = Path(config.out), Path(config.corpus), config.known_path
    if out.exists() and not out.is_dir():
        raise InvalidArgument(f"--out {out}: exists and is not a directory")
    if corpus.exists() and not corpus.is_dir():
        raise InvalidArgument(f"--corpus {corpus}: exists and is not a directory")
    if known.exists() and not known.is_file():
        raise InvalidArgument(f"--known {known}: is not a regular file (a known-findings JSON index)")
    for flag, path in (("--out", out), ("--corpus", corpus)):
        existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
        if not os.access(existing, os.W_OK | os.X_OK):
            raise InvalidArgument(f"{flag} {path}: {existing} is not writable")
    if known.exists():
        KnownIndex(known)  # a corrupt index: one line now, not at the end of the night


def _check_same_options(previous: CampaignConfig, given: CampaignConfig, out: Path) -> None:
    """An unfinished campaign resumes only with the options it was started with."""
    differ = []
    if list(previous.targets) != list(given.targets):
        differ.append(f"--targets {','.join(given.targets)} (started with {','.join(previous.targets)})")
    if enabled_lanes(previous) != enabled_lanes(given):
        differ.append(f"--lanes {','.join(enabled_lanes(given))} (started with {','.join(enabled_lanes(previous))})")
    if abs(float(previous.duration) - float(given.duration)) > 1e-6:
        differ.append(f"--duration {given.duration:g} s (started with {previous.duration:g} s)")
    for name in ("variant", "mutant"):
        if getattr(previous, name) != getattr(given, name):
            differ.append(f"--{name} {getattr(given, name)} (started with {getattr(previous, name)})")
    if differ:
        raise InvalidArgument(f"{out}: holds an unfinished campaign; resume it with the same options or use another "
                              f"--out: {'; '.join(differ)}")  # fmt: skip


def remove_campaign_state(out: Path) -> None:
    """Forget a campaign's state (journal, slices, reports), keeping its findings."""
    for name in (JOURNAL_FILE,):
        (Path(out) / name).unlink(missing_ok=True)
    shutil.rmtree(Path(out) / SLICES_DIR, ignore_errors=True)


def bench(config: CampaignConfig, seconds: float, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """execs/s of a campaign with all its lanes, beside each lane alone (same jobs, same
    duration, fresh out and corpus each); the figure the README and reports quote."""
    import copy
    import tempfile

    rows = []
    lanes = [n for n, lane in config.lanes.items() if lane.enabled and lane.weight > 0]
    runs = [(f"{name} alone", [name]) for name in lanes] + [("all lanes", lanes)]
    for label, chosen in runs:
        with tempfile.TemporaryDirectory(prefix="fh-bench-") as tmp:
            c = copy.deepcopy(config)
            c.out, c.corpus, c.known = Path(tmp) / "out", Path(tmp) / "corpus", None
            # Slices short enough that every chosen lane gets a turn on the slots.
            turns = max(1, -(-len(chosen) // max(1, config.jobs)))
            c.duration, c.slice, c.until_first_finding = seconds, seconds / turns, False
            for name, lane in c.lanes.items():
                lane.enabled = name in chosen
            try:
                report = run_campaign(c, progress).report
            except InvalidArgument as exc:
                rows.append({"run": label, "execs": 0, "seconds": 0.0, "execs_per_second": 0.0, "note": str(exc)})
                continue
            lane_rates = {n: s["execs_per_second"] for n, s in report["lanes"].items() if s["status"] == "ok"}
            rows.append({"run": label, "execs": report["execs"], "seconds": report["elapsed"],
                         "execs_per_second": report["execs_per_second"], "lanes": lane_rates,
                         "unavailable": [n for n, s in report["lanes"].items() if s["status"] != "ok"]})  # fmt: skip
    return {"targets": config.targets, "jobs": config.jobs, "seconds": seconds, "variant": config.variant, "rows": rows}
