"""The reclamation benchmark: the ``bench`` command.

How long does memory stay allocated after its last reference is released, per
target and reclamation strategy, under a steady load on native threads? And what
does it cost?

For every *configuration* (target x strategy x threads x GOGC) the benchmark
starts a fresh interpreter (``python -m fuzzharness.bench.reclamation``, a spawned process:
GOGC must be in the environment before the Go runtime starts, and a process
never forks after Go started) that loads the target (both libraries of a
cross-runtime pair, attached), opens a session with ``FH_FLAG_RECLAIM_EVENTS``
and runs, for ``--seconds``:

* the **load** (``bench_load.c``, native threads, no Python between calls): each
  thread keeps ``--live`` resources alive and runs the ``--mix`` of
  ``replace`` (release one, which kills it, create one), ``acqrel`` (acquire +
  release), ``write``, ``read`` and ``snapshot`` (snapshot + release, which kills
  the snapshot). On a pair, calls are spread over both runtimes' function
  tables and every release goes through the runtime that took the reference;
* the **drain/sampling thread** (Python, this module): drains
  ``fh_reclaim_event`` records in batches with ``fh_drain_reclaim_events`` and
  records ``freed_ns - released_ns`` (both stamped by the target on
  CLOCK_MONOTONIC) into an HdrHistogram (the ``hdrhistogram`` package; 3
  significant digits); every 20 ms it samples ``fh_get_stats`` (pending
  resources and bytes: the garbage, as kaist-cp/smr-benchmark reports it) and
  the process RSS (psutil).

At the end of the window the load stops and the books are closed: stats are read
until two reads around a final drain agree, so that ``events + dropped ==
reclaimed`` and ``events + dropped + unreclaimed == died`` can be checked, with
``died = created - live`` from the target's counters and, independently, the
count of last references the load generator dropped. Resources still
unreclaimed at the close are **censored** latencies: they are reported (count,
bytes, and how long they had been waiting at the close, from the events
``fh_quiesce`` then produces), never dropped from the figures silently.

The cost of the events is measured in the same process after the window, side
by side: ``--overhead-pairs`` pairs of short sessions (``overhead_slice_s``
each) with the flag off and on, alternating which comes first, so that a drift
of the machine's load (other builds) hits both alike; ``events_overhead`` is the
median of the per-pair ratios of throughput on / off. The on-sessions are
drained as the main window is, so the ratio includes the drain thread, which
shares the cores with the load.

A configuration that does not finish within its timeout is **timed_out**
(unknown), one whose process dies is **crashed**: neither is a result. A
strategy a target does not implement is skipped and listed as such.

Output (``--out``):

``bench.json``
    ``{"version": 1, "started", "finished", "command", "options", "machine",
    "configurations": [...], "skipped": [...]}``. Each configuration:

    * ``key``, ``target``, ``strategy``, ``threads``, ``gogc`` (``"default"``,
      a value, or ``null`` without a Go runtime);
    * ``status``: ``ok``, ``timed_out``, ``crashed`` or ``error`` (``reason``
      says why; only ``ok`` has the figures below);
    * ``window_s``: the main window's wall time (events on); ``throughput``: ``calls``,
      ``calls_per_s`` (contract calls), ``mix_ops``, ``mix_ops_per_s``,
      ``per_op`` (mix ops by kind), ``calls_by_runtime`` ([owner/single,
      foreign]);
    * ``load_errors``: ``count`` of non-OK statuses, ``first`` (status, op,
      message) or null;
    * ``latency_ns``: ``count``, ``min``, ``mean``, ``p50``,
      ``p90``, ``p99``, ``p99_9``, ``max`` (HdrHistogram values: 3 significant
      digits, highest equivalent value), ``max_exact``; ``histogram``: the
      HdrHistogram, compressed and base64-encoded (``HdrHistogram.decode``);
    * ``reclaim_events``: ``drained`` (in the window), ``dropped`` (ring full),
      ``negative`` (freed before released: a target bug, not recorded),
      ``bytes`` (sum of the drained events' sizes);
    * ``resources``: ``created``, ``live_at_close``, ``died`` (created - live,
      target's counters), ``died_by_load`` (the load generator's count),
      ``reclaimed_at_close``, ``unreclaimed_at_close``,
      ``unreclaimed_bytes_at_close``;
    * ``censored``: ``count`` (= unreclaimed at close), ``bytes``,
      ``freed_after_close`` / ``dropped_after_close`` (their events, drained
      while fh_quiesce freed them after the window; freed + dropped = count),
      ``quiesce_status``, ``age_at_close_ns`` {``p50``, ``max``} (close time -
      released_ns of the drained ones: a lower bound of their latency);
    * ``consistency``: ``events_match_reclaimed`` (events + dropped ==
      reclaimed), ``accounted`` (events + dropped + unreclaimed), ``died``,
      ``died_matches_load``, ``stable`` (two stats reads agreed), ``no_load_errors``,
      ``ok`` (all of them, ``stable`` aside);
    * ``pending``: ``samples``, ``peak_resources``, ``mean_resources``,
      ``peak_bytes``, ``mean_bytes``; ``rss``: ``peak_bytes`` (max of the psutil
      samples), ``hwm_bytes`` (the kernel's high-water mark, ru_maxrss);
    * ``gc``: ``GOGC`` and ``GOMEMLIMIT`` as set in the process environment
      (null: not set, the Go default);
    * ``series``: ``t_s``, ``pending_resources``, ``pending_bytes``,
      ``rss_bytes`` (at most 400 points, for the plot);
    * ``overhead`` (null with ``--overhead-pairs 0``): ``pairs``, ``slice_s``,
      ``off_calls_per_s`` / ``on_calls_per_s`` (per session),
      ``median_off_calls_per_s``, ``median_on_calls_per_s``, ``events_overhead``.
``bench.md``
    The table, one row per configuration, then the skipped ones.
``latency_cdf.png``, ``pending_garbage.png``
    The latency CDF per strategy; pending garbage (bytes) over time.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from fuzzharness.errors import InvalidArgument
from fuzzharness.execution.environment import decide

__all__ = ["BenchOptions", "Configuration", "plan", "run_bench", "parse_mix", "LatencyRecorder",
           "summarize_configuration", "overhead_summary", "write_report", "render_markdown", "child_main", "DEFAULT_MIX",
           "check_size", "measured_nothing", "MAX_SIZE"]  # fmt: skip

#: The load generator's mix ops, in the order of bench_decls.h's enum fhb_op.
MIX_OPS = ("replace", "acqrel", "write", "read", "snapshot")
DEFAULT_MIX = {"replace": 30, "acqrel": 20, "write": 20, "read": 20, "snapshot": 10}
#: Highest latency the histogram tracks (ns): one hour; above it a value is counted in ``too_large``.
HIGHEST_NS = 3600 * 10**9
SIGNIFICANT_DIGITS = 3
SAMPLE_INTERVAL = 0.02  #: seconds between fh_get_stats / RSS samples
DRAIN_INTERVAL = 0.002  #: seconds between drains
PROGRESS_INTERVAL = 0.25
MAX_SERIES = 400
_STABLE_TRIES = 50


# --------------------------------------------------------------------------- options and plan


@dataclass
class BenchOptions:
    targets: list[str] = field(default_factory=lambda: ["rust", "go"])
    strategies: list[str] = field(default_factory=lambda: ["immediate", "epoch", "go-cleanup", "guarded"])
    threads: list[int] = field(default_factory=lambda: [1, 2])
    gogc: list[str] = field(default_factory=lambda: ["default"])
    seconds: float = 5.0
    out: Path = Path("bench-out")
    live: int = 64
    size: int = 64
    io_len: int = 16
    mix: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MIX))
    overhead_pairs: int = 4  #: pairs of short sessions without / with events (0: no overhead figure)
    overhead_slice_s: float = 0.25
    timeout: float | None = None  #: per configuration; default: its expected time + 60 s
    seed: int = 0
    variant: str = "release"

    def config_timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        return self.seconds + 2 * self.overhead_pairs * self.overhead_slice_s + 60.0


@dataclass(frozen=True)
class Configuration:
    target: str
    strategy: str  #: lower-case, dashes (``go-cleanup``)
    threads: int
    gogc: str | None  #: None: the target has no Go runtime

    @property
    def key(self) -> str:
        gc = "" if self.gogc is None else f"/GOGC={self.gogc}"
        return f"{self.target}/{self.strategy}/{self.threads}t{gc}"


def strategy_name(strategy: Any) -> str:
    return strategy.name.lower().replace("_", "-")


def parse_mix(text: str) -> dict[str, int]:
    """``replace=30,acqrel=20,...`` -> weights (missing ops weigh 0); InvalidArgument if bad."""
    from fuzzharness.errors import InvalidArgument

    mix = dict.fromkeys(MIX_OPS, 0)
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in mix or not value.strip().isdigit():
            raise InvalidArgument(f"--mix: bad entry {item!r}; expected OP=WEIGHT with OP in {', '.join(MIX_OPS)}")
        mix[name] = int(value)
    if not any(mix.values()):
        raise InvalidArgument("--mix: every weight is 0")
    return mix


def plan(options: BenchOptions, registry: dict | None = None) -> tuple[list[Configuration], list[dict[str, str]]]:
    """The configurations to run, in order, and the skipped combinations (with the reason)."""
    from fuzzharness.contract.header import Strategy
    from fuzzharness.contract.registry import select_targets
    from fuzzharness.errors import InvalidArgument

    configs, skipped = [], []
    wanted = []
    for name in options.strategies:
        try:
            wanted.append(Strategy[name.strip().upper().replace("-", "_")])
        except KeyError:
            known = ", ".join(strategy_name(s) for s in Strategy)
            raise InvalidArgument(f"unknown strategy {name!r} (known: {known})") from None
    for spec in select_targets(options.targets, registry):
        has_go = "go" in spec.requires
        for strategy in wanted:
            if strategy not in spec.strategies:
                implemented = ", ".join(strategy_name(s) for s in spec.strategies)
                skipped.append({"target": spec.name, "strategy": strategy_name(strategy),
                                "reason": f"{spec.name} does not implement {strategy_name(strategy)} "
                                          f"(it implements: {implemented})"})  # fmt: skip
                continue
            for threads in options.threads:
                for gogc in options.gogc if has_go else [None]:
                    configs.append(Configuration(spec.name, strategy_name(strategy), threads, gogc))
    return configs, skipped


# --------------------------------------------------------------------------- aggregation


class LatencyRecorder:
    """Reclamation latencies (ns) into an HdrHistogram, fed with batches of raw
    fh_reclaim_event records.

    Latencies are pre-aggregated before they reach the histogram (recording
    millions of values one by one from Python would fall behind the ring, and a
    long pause of the drain thread lets the ring overflow): in each batch, numpy
    maps every latency to its histogram bucket -- the lowest value the histogram
    treats as equivalent to it, which is what the histogram would do with it (the
    unit tests check it against ``get_lowest_equivalent_value``) -- and counts the
    batch per bucket (``np.bincount``) into one array of counts. A summary records
    each non-empty bucket's lowest value once, with its count, into the histogram.
    Percentiles come from the histogram.
    """

    def __init__(self) -> None:
        import numpy as np
        from hdrh.histogram import HdrHistogram

        self.hist = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        self.count = self.negative = self.too_large = self.bytes = 0
        self.max_exact = 0
        self._mask = self.hist.sub_bucket_mask
        self._magnitude = self.hist.sub_bucket_half_count_magnitude + 1  # bits of a sub-bucket index
        self._unit = self.hist.unit_magnitude
        self._waiting = np.zeros(64 << self._magnitude, dtype=np.int64)  # per bucket key, see bucket_keys

    @staticmethod
    def events(raw: bytes) -> Any:
        """Raw fh_reclaim_event bytes as a numpy structured array."""
        import numpy as np

        dtype = np.dtype([("handle", "<u8"), ("bytes", "<u8"), ("released_ns", "<u8"), ("freed_ns", "<u8"),
                          ("strategy", "<u4"), ("reserved", "<u4")])  # fmt: skip
        return np.frombuffer(raw, dtype=dtype)

    def bucket_keys(self, values: Any) -> Any:
        """numpy: a small integer per histogram bucket of each non-negative value
        (shift << magnitude | sub-bucket index, as HdrHistogram's bucketing computes them)."""
        import numpy as np

        v = np.asarray(values, dtype=np.int64)
        _, exponent = np.frexp((v | self._mask).astype(np.float64))  # bit length of v | mask (< 2^53)
        shift = np.maximum(exponent.astype(np.int64) - self._magnitude, 0) + self._unit
        return (shift << self._magnitude) | (v >> shift)

    def key_values(self, keys: Any) -> Any:
        """numpy: the lowest value of each bucket key's bucket."""
        return (keys & ((1 << self._magnitude) - 1)) << (keys >> self._magnitude)

    def lowest_equivalent(self, values: Any) -> Any:
        """numpy: each non-negative value rounded down to its histogram bucket's lowest value."""
        return self.key_values(self.bucket_keys(values))

    def add_latencies(self, latencies: Any, sizes: Any = None) -> None:
        import numpy as np

        lat = np.asarray(latencies, dtype=np.int64)
        if lat.size == 0:
            return
        if lat.min() < 0 or lat.max() > HIGHEST_NS:
            bad = lat < 0
            self.negative += int(bad.sum())
            self.too_large += int((lat > HIGHEST_NS).sum())
            lat = lat[~bad]
            if lat.size == 0:
                return
            self.max_exact = max(self.max_exact, int(lat.max()))
            lat = np.minimum(lat, HIGHEST_NS)
        else:
            self.max_exact = max(self.max_exact, int(lat.max()))
        counts = np.bincount(self.bucket_keys(lat))
        self._waiting[: counts.size] += counts
        self.count += int(lat.size)
        if sizes is not None:
            self.bytes += int(np.asarray(sizes, dtype=np.uint64).sum())

    def add_raw(self, raw: bytes) -> None:
        import numpy as np

        ev = self.events(raw)
        if ev.size:
            self.add_latencies((ev["freed_ns"] - ev["released_ns"]).view(np.int64), ev["bytes"])

    def flush(self) -> None:
        """Record the waiting counts into the histogram."""
        import numpy as np

        keys = np.flatnonzero(self._waiting)
        for value, count in zip(self.key_values(keys).tolist(), self._waiting[keys].tolist()):
            self.hist.record_value(value, count)
        self._waiting[keys] = 0

    def summary(self) -> dict[str, Any]:
        self.flush()
        h = self.hist
        n = h.get_total_count()
        if n == 0:
            return {"count": 0, "min": None, "mean": None, "p50": None, "p90": None, "p99": None, "p99_9": None,
                    "max": None, "max_exact": None}  # fmt: skip
        return {"count": int(n), "min": int(h.get_min_value()), "mean": float(h.get_mean_value()),
                "p50": int(h.get_value_at_percentile(50)), "p90": int(h.get_value_at_percentile(90)),
                "p99": int(h.get_value_at_percentile(99)), "p99_9": int(h.get_value_at_percentile(99.9)),
                "max": int(h.get_max_value()), "max_exact": self.max_exact}  # fmt: skip

    def encoded(self) -> str:
        self.flush()
        return self.hist.encode().decode("ascii") if self.hist.get_total_count() else ""


def cdf_points(encoded: str) -> tuple[list[int], list[float]]:
    """(values ns, cumulative fraction) of an encoded histogram, for plotting."""
    from hdrh.histogram import HdrHistogram

    if not encoded:
        return [], []
    hist = HdrHistogram.decode(encoded.encode("ascii"))
    total = hist.get_total_count()
    xs, ys = [], []
    for item in hist.get_recorded_iterator():
        xs.append(int(hist.get_highest_equivalent_value(item.value_iterated_to)))
        ys.append(item.total_count_to_this_value / total)
    return xs, ys


def summarize_samples(samples: list[tuple[float, int, int, int]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pending summary, series) from (t_s, pending_resources, pending_bytes, rss_bytes) samples."""
    if not samples:
        return ({"samples": 0, "peak_resources": None, "mean_resources": None, "peak_bytes": None,
                 "mean_bytes": None}, {"t_s": [], "pending_resources": [], "pending_bytes": [], "rss_bytes": []})  # fmt: skip
    n = len(samples)
    pending = {"samples": n,
               "peak_resources": max(s[1] for s in samples), "mean_resources": sum(s[1] for s in samples) / n,
               "peak_bytes": max(s[2] for s in samples), "mean_bytes": sum(s[2] for s in samples) / n}  # fmt: skip
    step = max(1, math.ceil(n / MAX_SERIES))
    picked = samples[::step]
    series = {"t_s": [round(s[0], 4) for s in picked], "pending_resources": [s[1] for s in picked],
              "pending_bytes": [s[2] for s in picked], "rss_bytes": [s[3] for s in picked]}  # fmt: skip
    return pending, series


def summarize_configuration(
    *, recorder: LatencyRecorder | None, dropped: int, load: list[dict[str, Any]], window_s: float,
    close: dict[str, Any], samples: list[tuple[float, int, int, int]], censored_ages: Iterable[int],
    after_close: dict[str, int], quiesce_status: int | None, rss_hwm: int | None, env: dict[str, str | None],
) -> dict[str, Any]:  # fmt: skip
    """The figures of one finished run (everything of a bench.json configuration but its identity)."""
    calls = sum(t["calls"] for t in load)
    mix_ops = sum(t["mix_ops"] for t in load)
    per_op = {op: sum(t["per_op"][op] for t in load) for op in MIX_OPS}
    by_runtime = [sum(t["calls_by_runtime"][i] for t in load) for i in (0, 1)]
    errors = sum(t["errors"] for t in load)
    first = next(({"status": t["first_error_status"], "op": _op_name(t["first_error_op"]),
                   "message": t["first_error"]} for t in load if t["first_error_status"]), None)  # fmt: skip
    died_by_load = sum(t["died"] for t in load)
    created_by_load = sum(t["created"] for t in load)
    events_drained = recorder.count + recorder.negative if recorder else 0
    reclaimed, pending_res, pending_bytes = close["reclaimed"], close["pending_resources"], close["pending_bytes"]
    died = close["created"] - close["live_resources"]
    ages = sorted(censored_ages)
    pending, series = summarize_samples(samples)
    rss_values = [s[3] for s in samples]
    result: dict[str, Any] = {
        "status": "ok",
        "reason": None,
        "window_s": window_s,
        "throughput": {"calls": calls, "calls_per_s": calls / window_s if window_s else 0.0, "mix_ops": mix_ops,
                       "mix_ops_per_s": mix_ops / window_s if window_s else 0.0, "per_op": per_op,
                       "calls_by_runtime": by_runtime},  # fmt: skip
        "load_errors": {"count": errors, "first": first},
        "latency_ns": recorder.summary() if recorder else None,
        "histogram": recorder.encoded() if recorder else "",
        "reclaim_events": ({"drained": events_drained, "dropped": dropped, "negative": recorder.negative,
                    "too_large": recorder.too_large, "bytes": recorder.bytes} if recorder else None),  # fmt: skip
        "resources": {"created": close["created"], "created_by_load": created_by_load,
                      "live_at_close": close["live_resources"], "died": died, "died_by_load": died_by_load,
                      "reclaimed_at_close": reclaimed, "unreclaimed_at_close": pending_res,
                      "unreclaimed_bytes_at_close": pending_bytes},  # fmt: skip
        "censored": {"count": pending_res, "bytes": pending_bytes, "freed_after_close": after_close["freed"],
                     "dropped_after_close": after_close["dropped"],
                     "quiesce_status": quiesce_status,
                     "age_at_close_ns": {"p50": ages[len(ages) // 2] if ages else None,
                                         "max": ages[-1] if ages else None}},  # fmt: skip
        "pending": pending,
        "rss": {"peak_bytes": max(rss_values) if rss_values else None, "hwm_bytes": rss_hwm},
        "gc": env,
        "series": series,
    }
    consistency: dict[str, Any] = {"died": died, "died_matches_load": died == died_by_load, "stable": close["stable"]}
    if recorder is not None:
        accounted = events_drained + dropped + pending_res
        consistency.update(events_match_reclaimed=events_drained + dropped == reclaimed, accounted=accounted)
        consistency["ok"] = bool(consistency["events_match_reclaimed"] and accounted == died
                                 and consistency["died_matches_load"] and recorder.negative == 0)  # fmt: skip
    else:
        consistency.update(events_match_reclaimed=None, accounted=None)
        consistency["ok"] = bool(consistency["died_matches_load"] and reclaimed + pending_res == died)
    # Under the load's reference discipline every call succeeds: a failed one breaks the run.
    consistency["no_load_errors"] = errors == 0
    consistency["ok"] = consistency["ok"] and errors == 0
    result["consistency"] = consistency
    return result


def _op_name(code: int) -> str:
    return MIX_OPS[code] if 0 <= code < len(MIX_OPS) else "setup"


# --------------------------------------------------------------------------- report


def _fmt_ns(value: Any) -> str:
    if value is None:
        return "-"
    if value < 1_000:
        return f"{value:.0f} ns"
    if value < 1_000_000:
        return f"{value / 1e3:.1f} µs"
    if value < 1_000_000_000:
        return f"{value / 1e6:.1f} ms"
    return f"{value / 1e9:.2f} s"


def _fmt_bytes(value: Any) -> str:
    if value is None:
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def _fmt_rate(value: Any) -> str:
    return "-" if value is None else f"{value / 1e6:.3g} M" if value >= 1e6 else f"{value / 1e3:.3g} k"


def render_markdown(report: dict[str, Any]) -> str:
    """bench.md: one row per configuration, then what was skipped."""
    rows = report["configurations"]
    opts = report["options"]
    lines = [
        "# Reclamation benchmark",
        "",
        f"`{report['command']}`",
        "",
        f"{opts['seconds']:g} s per configuration, {opts['live']} live resources of {opts['size']} B per thread, "
        f"mix {', '.join(f'{k} {v}' for k, v in opts['mix'].items() if v)}; "
        f"{report['machine']['cpus']} CPUs, load average {report['machine']['loadavg_start']} at the start"
        f"{', ' + report['machine']['loadavg_end'] + ' at the end' if report['machine'].get('loadavg_end') else ''}. "
        + _environment_sentence(report['machine'].get("environment"))
        + "Latency = freed_ns - released_ns of each reclamation event (HdrHistogram, 3 significant digits). "
        "calls/s counts contract calls (main window, events on); *w/o events* and *overhead* come from "
        f"{opts['overhead_pairs']} pairs of {opts['overhead_slice_s']:g} s sessions without / with events, "
        "alternated (median calls/s without; median of the per-pair ratios with / without). "
        "*Unreclaimed* = resources dead but not yet freed when the window closed (censored latencies).",
        "",
        "| target | strategy | thr | GOGC | calls/s | w/o events | overhead | events | dropped | p50 | p90 | p99 "
        "| p99.9 | max | pending peak / mean | peak RSS | unreclaimed at close | check |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        gogc = "-" if r["gogc"] is None else r["gogc"]
        head = f"| {r['target']} | {r['strategy']} | {r['threads']} | {gogc} |"
        if r["status"] != "ok":
            lines.append(head + f" **{r['status']}** ({r['reason']}) |" + " |" * 13)
            continue
        lat, ev, pend = r["latency_ns"], r["reclaim_events"], r["pending"]
        off = r.get("overhead") or {}
        overhead = off.get("events_overhead")
        cens = r["censored"]
        check = "ok" if r["consistency"]["ok"] else "**MISMATCH**"
        if r["load_errors"]["count"]:
            check += f", {r['load_errors']['count']} errors"
        lines.append(
            head + f" {_fmt_rate(r['throughput']['calls_per_s'])} | {_fmt_rate(off.get('median_off_calls_per_s'))} | "
            f"{'-' if overhead is None else f'{overhead:.2f}'} | {ev['drained']:,} | {ev['dropped']:,} | "
            f"{_fmt_ns(lat['p50'])} | {_fmt_ns(lat['p90'])} | {_fmt_ns(lat['p99'])} | {_fmt_ns(lat['p99_9'])} | "
            f"{_fmt_ns(lat['max'])} | {pend['peak_resources'] or 0:,} / {pend['mean_resources'] or 0:,.0f} "
            f"({_fmt_bytes(pend['peak_bytes'])}) | {_fmt_bytes(r['rss']['peak_bytes'])} | "
            f"{cens['count']:,}" + (f" (waiting ≥ {_fmt_ns(cens['age_at_close_ns']['max'])})" if cens["count"] else "")
            + f" | {check} |"
        )
    if report["skipped"]:
        lines += ["", "Skipped (not implemented by the target):", ""]
        lines += [f"- {s['target']} / {s['strategy']}: {s['reason']}" for s in report["skipped"]]
    return "\n".join(lines) + "\n"


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    """latency_cdf.png (one panel per strategy) and pending_garbage.png; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["configurations"] if r["status"] == "ok"]
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    written = []
    if not strategies:
        return written

    def label(r: dict[str, Any]) -> str:
        return f"{r['target']} {r['threads']}t" + ("" if r["gogc"] is None else f" GOGC={r['gogc']}")

    def panels() -> tuple[Any, list[Any]]:
        cols = min(2, len(strategies))
        nrows = math.ceil(len(strategies) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(6.5 * cols, 4.2 * nrows), squeeze=False)
        flat = list(axes.flat)
        for ax in flat[len(strategies) :]:
            ax.set_visible(False)
        return fig, flat

    fig, axes = panels()
    for ax, strategy in zip(axes, strategies):
        for r in (r for r in rows if r["strategy"] == strategy):
            xs, ys = cdf_points(r["histogram"])
            if xs:
                ax.step(xs, ys, where="post", label=label(r))
        ax.set_xscale("log")
        ax.set_xlabel("reclamation latency (ns)")
        ax.set_ylabel("fraction of events")
        ax.set_title(strategy)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "latency_cdf.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, axes = panels()
    for ax, strategy in zip(axes, strategies):
        for r in (r for r in rows if r["strategy"] == strategy):
            s = r["series"]
            ax.plot(s["t_s"], [b / 1024 for b in s["pending_bytes"]], label=label(r))
        ax.set_xlabel("time (s)")
        ax.set_ylabel("pending (dead, not freed) KiB")
        ax.set_title(strategy)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "pending_garbage.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


def write_report(report: dict[str, Any], out: Path, plots: bool = True) -> list[Path]:
    """Write bench.json, bench.md and (with ``plots``) the PNGs into ``out``; returns the paths."""
    from fuzzharness.findings.durable import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "bench.json", json.dumps(report, indent=1) + "\n")
    write_atomic(out / "bench.md", render_markdown(report))
    paths = [out / "bench.json", out / "bench.md"]
    if plots:
        paths += write_plots(report, out)
    return paths


# --------------------------------------------------------------------------- parent: one process per configuration


def _environment_sentence(environment: dict[str, Any] | None) -> str:
    if not environment:
        return ""
    return (f"Environment: GOGC {environment['GOGC']}, GOMAXPROCS {environment['GOMAXPROCS']}, "
            f"GOMEMLIMIT {environment['GOMEMLIMIT']}, {environment['cpu_count']} CPUs. ")


def _machine() -> dict[str, Any]:
    # The environment the configurations ran under (each sets its own GOGC on top: see
    # _child_env): GOMAXPROCS and the GC settings come from the harness, not the shell.
    pinned = decide("hunt").env
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "environment": {"GOGC": "per configuration", "GOMAXPROCS": pinned.get("GOMAXPROCS", f"unset (= {os.cpu_count()} CPUs)"),
                            "GOMEMLIMIT": pinned.get("GOMEMLIMIT", "unset"), "cpu_count": os.cpu_count()}}  # fmt: skip


def _child_env(config: Configuration) -> dict[str, str]:
    # Decided, not inherited (fuzzharness.execution.environment); the configuration's GOGC on top.
    extra = {"GOGC": config.gogc} if config.gogc is not None and config.gogc != "default" else {}
    env = decide("hunt", extra=extra).env
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_configuration(config: Configuration, options: BenchOptions,
                      on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Run one configuration in a fresh process; its bench.json row."""
    identity = {"key": config.key, **asdict(config)}
    request = {"config": asdict(config), "seconds": options.seconds, "live": options.live, "size": options.size,
               "io_len": options.io_len, "mix": [options.mix.get(op, 0) for op in MIX_OPS], "seed": options.seed,
               "variant": options.variant, "overhead_pairs": options.overhead_pairs,
               "overhead_slice_s": options.overhead_slice_s}  # fmt: skip
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "fuzzharness.bench.reclamation", json.dumps(request)], env=_child_env(config),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + options.config_timeout()
    buffer = b""
    result: dict[str, Any] | None = None
    timed_out = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([proc.stdout], [], [], min(remaining, 0.5))
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                if message["kind"] == "progress" and on_progress:
                    on_progress(message)
                elif message["kind"] in ("result", "error"):
                    result = message
    finally:
        if proc.poll() is None and (timed_out or result is None):  # a timeout, or an interrupt of ours
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            returncode = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
        stderr.seek(0)
        tail = stderr.read()[-4000:].decode("utf-8", "replace")
        stderr.close()
    if timed_out:
        return {**identity, "status": "timed_out",
                "reason": f"no result within {options.config_timeout():g} s: unknown, not a result"}  # fmt: skip
    if result is None or returncode != 0 and result.get("kind") != "error":
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exited with status {returncode}"
        last = " | ".join(tail.strip().splitlines()[-6:])
        return {**identity, "status": "crashed", "reason": f"{how}; stderr: {last}"}
    if result["kind"] == "error":
        return {**identity, "status": "error", "reason": result["message"]}
    return {**identity, **result["figures"]}


#: bytes per resource at most, and bytes of live resources of one configuration at most
MAX_SIZE = 1 << 20
MAX_LIVE_BYTES = 1 << 30


def check_size(size: int, live: int, threads: list[int]) -> None:
    """Refuse a ``--size`` the load generator cannot hold (InvalidArgument, one line)."""
    if not 1 <= size <= MAX_SIZE:
        raise InvalidArgument(f"--size: bytes per resource from 1 to {MAX_SIZE}, got {size}")
    if size * live * max(threads) > MAX_LIVE_BYTES:
        raise InvalidArgument(f"--size {size} x --live {live} x {max(threads)} threads is more than "
                              f"{MAX_LIVE_BYTES >> 20} MiB of live resources")  # fmt: skip


def measured_nothing(report: dict[str, Any]) -> str | None:
    """Why a bench report measured nothing (no configuration ran with a single call), or None."""
    rows = report.get("configurations") or []
    if not rows:
        return "no configuration ran"
    if not any(r.get("status") == "ok" and (r.get("throughput") or {}).get("calls") for r in rows):
        return f"none of the {len(rows)} configuration(s) made a single call"
    return None


def run_bench(options: BenchOptions, progress: Any = None) -> dict[str, Any]:
    """Run every configuration of the plan and write the report into ``options.out``;
    returns the report (``progress``: a :class:`BenchProgress` or None)."""
    from fuzzharness.contract.bindings import build_bench_load

    configs, skipped = plan(options)
    build_bench_load()  # compiled once here, not inside the timed children
    started = time.time()
    report: dict[str, Any] = {
        "version": 1,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "command": "fuzzharness bench " + " ".join(_command_args(options)),
        "options": {**asdict(options), "out": str(options.out)},
        "machine": _machine(),
        "configurations": [],
        "skipped": skipped,
    }
    if progress is not None:
        progress.begin(len(configs), options.seconds)
    for config in configs:
        if progress is not None:
            progress.start_config(config)
        row = run_configuration(config, options, progress.tick if progress is not None else None)
        report["configurations"].append(row)
        if progress is not None:
            progress.end_config(row)
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["machine"]["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    write_report(report, options.out)
    return report


def _command_args(o: BenchOptions) -> list[str]:
    args = ["--targets", ",".join(o.targets), "--strategies", ",".join(o.strategies),
            "--threads", ",".join(map(str, o.threads)), "--gogc", ",".join(o.gogc), "--seconds", f"{o.seconds:g}",
            "--live", str(o.live), "--mix", ",".join(f"{k}={v}" for k, v in o.mix.items()), "--out", str(o.out)]  # fmt: skip
    if o.overhead_pairs != 4:
        args += ["--overhead-pairs", str(o.overhead_pairs)]
    return args


class BenchProgress:
    """A rich progress display: one bar over the configurations, the running one's live figures."""

    def __init__(self, enabled: bool = True) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from fuzzharness.report.progress import make_console

        self.enabled = enabled
        self.console = make_console(stderr=True)
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]bench[/] {task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=self.console,
                                 refresh_per_second=4)  # fmt: skip
        self.task = None
        self.current = ""

    def __enter__(self) -> "BenchProgress":
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.progress.stop()

    def begin(self, total: int, seconds: float) -> None:
        self.task = self.progress.add_task("starting", total=total)

    def start_config(self, config: Configuration) -> None:
        self.current = config.key
        self.progress.update(self.task, description=f"{self.current}: starting")

    def tick(self, message: dict[str, Any]) -> None:
        if "overhead_pair" in message:
            self.progress.update(self.task, description=f"{self.current}: events overhead, "
                                                        f"pair {message['overhead_pair']} done")  # fmt: skip
            return
        rate = message["calls"] / message["elapsed"] if message["elapsed"] else 0.0
        self.progress.update(self.task, description=(
            f"{self.current}: {message['elapsed']:.1f} s  {rate / 1e6:.2f} M calls/s  events {message['events']:,}"
            f"  dropped {message['dropped']:,}  pending {message['pending']:,}"))  # fmt: skip

    def end_config(self, row: dict[str, Any]) -> None:
        if row["status"] != "ok":
            self.console.print(f"[yellow]{row['key']}: {row['status']}[/] ({row['reason']})", highlight=False)
        self.progress.advance(self.task)


def print_summary(report: dict[str, Any], console: Any = None) -> None:
    from rich.table import Table

    from fuzzharness.report.progress import make_console

    console = console or make_console()
    table = Table(title=f"reclamation latency ({report['options']['seconds']:g} s per configuration)")
    for col in ("configuration", "calls/s", "overhead", "events", "dropped", "p50", "p99", "p99.9", "max",
                "pending peak", "unreclaimed", "check"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in report["configurations"]:
        name = r["key"]
        if r["status"] != "ok":
            table.add_row(name, f"[red]{r['status']}[/]", *[""] * 10)
            continue
        lat, off = r["latency_ns"], r.get("overhead") or {}
        overhead = off.get("events_overhead")
        table.add_row(name, _fmt_rate(r["throughput"]["calls_per_s"]), "-" if overhead is None else f"{overhead:.2f}",
                      f"{r['reclaim_events']['drained']:,}", f"{r['reclaim_events']['dropped']:,}", _fmt_ns(lat["p50"]),
                      _fmt_ns(lat["p99"]), _fmt_ns(lat["p99_9"]), _fmt_ns(lat["max"]),
                      f"{r['pending']['peak_resources'] or 0:,}", f"{r['censored']['count']:,}",
                      "ok" if r["consistency"]["ok"] else "[red]MISMATCH[/]")  # fmt: skip
    console.print(table)
    for s in report["skipped"]:
        console.print(f"skipped {s['target']}/{s['strategy']}: {s['reason']}", highlight=False)


# --------------------------------------------------------------------------- child: the measurement


def _load_target(name: str, variant: str) -> tuple[Any, Any, list[Any]]:
    """(session library: fh_init/fh_shutdown, accounting library: events, stats, quiesce,
    load libraries: [single] or [owner, foreign]) for a registered target."""
    from fuzzharness.contract.bindings import Library
    from fuzzharness.contract.registry import load_registry

    spec = load_registry()[name]
    if not spec.pair:
        library = Library(spec.library(variant))
        return library, library, [library]
    from fuzzharness.contract.bindings import PairLibrary

    paths = spec.libraries(variant)
    pair = PairLibrary(paths["owner"], paths["foreign"], names=(spec.members["owner"].name,
                                                                 spec.members["foreign"].name))  # fmt: skip
    return pair, pair.owner, [pair.owner, pair.foreign]


def child_main(argv: list[str]) -> int:
    """Entry of the per-configuration process: one JSON request in argv, JSON lines out."""
    import faulthandler

    faulthandler.enable(all_threads=True)  # before the Go runtime loads (TOOLCHAIN-FACTS)
    request = json.loads(argv[1])
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever a target prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr

    def send(message: dict[str, Any]) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    try:
        figures = _measure(request, send)
    except _ConfigError as exc:
        send({"kind": "error", "message": str(exc)})
        return 0
    except Exception as exc:  # noqa: BLE001 - a harness bug: say so, with the traceback on stderr
        import traceback

        traceback.print_exc()
        send({"kind": "error", "message": f"internal error in the benchmark process: {type(exc).__name__}: {exc}"})
        return 3
    send({"kind": "result", "figures": figures})
    return 0


class _ConfigError(Exception):
    """The configuration could not run (a refused init, an old library): reported as ``error``."""


class _Target:
    """The loaded target of a child process and the calls the measurement makes on it."""

    def __init__(self, request: dict[str, Any]) -> None:
        from fuzzharness.contract.header import Strategy

        cfg = request["config"]
        self.request = request
        self.session, self.accounting, self.libraries = _load_target(cfg["target"], request["variant"])
        for library in {id(x): x for x in self.libraries}.values():
            if library.abi_version() < (1, 1):
                raise _ConfigError(f"{library.path}: contract ABI {'%d.%d' % library.abi_version()} has no "
                                   "reclamation events (needs 1.1); rebuild it")  # fmt: skip
        self.strategy = Strategy[cfg["strategy"].upper().replace("-", "_")]
        self.threads = cfg["threads"]

    def open(self, events: bool) -> None:
        from fuzzharness.contract.header import Status

        capacity = self.threads * (self.request["live"] + 2) + 64
        flags = 1 if events else 0
        status = self.session.init(capacity, int(self.strategy), max(self.request["size"], 1), 1 << 62, flags)[0]
        if status != Status.OK:
            name = Status(status).name if status in Status._value2member_map_ else str(status)
            raise _ConfigError(f"fh_init({self.strategy.name}, flags={flags}) returned {name}: "
                               f"{self.session.last_error()}")  # fmt: skip

    def close(self) -> None:
        self.session.shutdown()

    def load(self, seed: int) -> Any:
        from fuzzharness.contract.bindings import LoadGenerator

        r = self.request
        return LoadGenerator(self.libraries, self.threads, r["live"], r["size"], r["io_len"], r["mix"], seed)


class _Drainer:
    """Drains the accounting library's events into a LatencyRecorder."""

    def __init__(self, library: Any) -> None:
        from fuzzharness.contract.bindings import EventDrain

        self.drain = EventDrain(library)
        self.recorder = LatencyRecorder()
        self.dropped = 0

    def all(self) -> None:
        from fuzzharness.contract.bindings import RECLAIM_EVENT_SIZE

        while True:
            status, raw, lost = self.drain.drain()
            if status != 0:
                raise _ConfigError(f"fh_drain_reclaim_events returned status {status}")
            self.dropped += lost
            self.recorder.add_raw(raw)
            if len(raw) < self.drain.cap * RECLAIM_EVENT_SIZE:
                return


def _window(target: _Target, seconds: float, drainer: _Drainer | None, seed: int,
            sample: Callable[[float, Any], None] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Run the load for ``seconds`` while draining (and calling ``sample(elapsed, load)``);
    the per-thread results."""
    load = target.load(seed)
    load.start()
    t0 = time.monotonic()
    end = t0 + seconds
    try:
        while (now := time.monotonic()) < end:
            if drainer is not None:
                drainer.all()
            if sample is not None:
                sample(now - t0, load)
            time.sleep(DRAIN_INTERVAL)
    finally:
        threads_out = load.stop()
    return threads_out


def _calls_per_s(threads_out: list[dict[str, Any]]) -> float:
    window = (max(t["t_end"] for t in threads_out) - min(t["t_start"] for t in threads_out)) / 1e9
    return sum(t["calls"] for t in threads_out) / window if window > 0 else 0.0


def _measure(request: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    import resource

    import psutil


    target = _Target(request)
    accounting = target.accounting
    me = psutil.Process()
    target.open(events=True)
    drainer = _Drainer(accounting)
    recorder = drainer.recorder
    samples: list[tuple[float, int, int, int]] = []
    due = {"sample": 0.0, "progress": 0.0}

    def sample(elapsed: float, load: Any) -> None:
        if elapsed >= due["sample"]:
            status, stats = accounting.stats()
            if status == 0:
                samples.append((elapsed, stats.pending_resources, stats.pending_bytes, me.memory_info().rss))
            due["sample"] += SAMPLE_INTERVAL
        if elapsed >= due["progress"]:
            send({"kind": "progress", "elapsed": elapsed, "calls": load.progress(),
                  "events": recorder.count, "dropped": drainer.dropped,
                  "pending": samples[-1][1] if samples else 0})  # fmt: skip
            due["progress"] += PROGRESS_INTERVAL

    # The main window: events on, drained and sampled.
    t_start = time.monotonic()
    threads_out = _window(target, request["seconds"], drainer, request["seed"], sample)
    window_s = (max(t["t_end"] for t in threads_out) - min(t["t_start"] for t in threads_out)) / 1e9
    samples.append((time.monotonic() - t_start, *_pending(accounting), me.memory_info().rss))

    # Close the books: stats, drain, stats again, until two reads agree (background
    # reclamation -- a Go cleanup, an epoch advance -- may still be freeing).
    stable = False
    for _ in range(_STABLE_TRIES):
        before = _stats(accounting)
        drainer.all()
        after = _stats(accounting)
        if before.reclaimed == after.reclaimed:
            stable = True
            break
    status, close_ns = accounting.clock_ns()
    if status != 0:
        raise _ConfigError(f"fh_clock_ns returned status {status}")
    close = {**dataclasses.asdict(after), "stable": stable}

    # Censored: what was dead but not freed at the close. fh_quiesce frees it (on its
    # own thread, while this one drains: a ring holds fewer events than a GC may free);
    # the events say how long each had been waiting at the close.
    censored_ages: list[int] = []
    after_close = {"freed": 0, "dropped": 0}
    quiesce_status = None
    if after.pending_resources:
        import threading

        from fuzzharness.contract.bindings import RECLAIM_EVENT_SIZE

        outcome: dict[str, int] = {}
        worker = threading.Thread(target=lambda: outcome.update(status=accounting.quiesce()[0]), name="quiesce")

        def drain_censored() -> None:
            while True:
                status, raw, lost = drainer.drain.drain()
                if status != 0:
                    raise _ConfigError(f"fh_drain_reclaim_events returned status {status}")
                after_close["dropped"] += lost
                ev = LatencyRecorder.events(raw)
                after_close["freed"] += int(ev.size)
                censored_ages.extend((int(close_ns) - ev["released_ns"].astype("int64")).tolist())
                if len(raw) < drainer.drain.cap * RECLAIM_EVENT_SIZE:
                    return

        worker.start()
        while worker.is_alive():
            drain_censored()
            time.sleep(DRAIN_INTERVAL)
        worker.join()
        drain_censored()
        quiesce_status = outcome.get("status")
    rss_hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    target.close()
    env = None if request["config"]["gogc"] is None else {"GOGC": os.environ.get("GOGC"),
                                                          "GOMEMLIMIT": os.environ.get("GOMEMLIMIT")}  # fmt: skip
    figures = summarize_configuration(recorder=recorder, dropped=drainer.dropped, load=threads_out,
                                      window_s=window_s, close=close, samples=samples, censored_ages=censored_ages,
                                      after_close=after_close, quiesce_status=quiesce_status,
                                      rss_hwm=rss_hwm, env=env)  # fmt: skip
    figures["overhead"] = _overhead(target, request, send)
    return figures


def _overhead(target: _Target, request: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
    """The cost of recording events: ``pairs`` pairs of short sessions, one with the
    flag off and one with it on (drained as in the main window), alternating which
    comes first so that a slow drift of the machine's load cancels out."""
    pairs, slice_s = request["overhead_pairs"], request["overhead_slice_s"]
    if not pairs:
        return None
    off, on = [], []
    for i in range(pairs):
        for events in (False, True) if i % 2 == 0 else (True, False):
            target.open(events)
            drainer = _Drainer(target.accounting) if events else None
            rate = _calls_per_s(_window(target, slice_s, drainer, request["seed"] + 1 + i))
            (on if events else off).append(rate)
            target.close()
        send({"kind": "progress", "elapsed": request["seconds"], "calls": 0, "events": 0, "dropped": 0,
              "pending": 0, "overhead_pair": i + 1})  # fmt: skip
    return overhead_summary(off, on, slice_s)


def overhead_summary(off: list[float], on: list[float], slice_s: float) -> dict[str, Any]:
    """Median throughput without and with events over the slices, and the median of the
    per-pair ratios on / off (the ``events_overhead``; below 1: events cost throughput)."""
    import statistics

    ratios = [b / a for a, b in zip(off, on) if a > 0]
    return {"pairs": len(off), "slice_s": slice_s, "off_calls_per_s": off, "on_calls_per_s": on,
            "median_off_calls_per_s": statistics.median(off) if off else None,
            "median_on_calls_per_s": statistics.median(on) if on else None,
            "events_overhead": statistics.median(ratios) if ratios else None}  # fmt: skip


def _stats(library: Any) -> Any:
    status, stats = library.stats()
    if status != 0:
        raise _ConfigError(f"fh_get_stats returned status {status}")
    return stats


def _pending(library: Any) -> tuple[int, int]:
    s = _stats(library)
    return s.pending_resources, s.pending_bytes


if __name__ == "__main__":
    sys.exit(child_main(sys.argv))
