"""The reclamation benchmark's aggregation and report writing, on synthetic events
(no library is loaded; the end-to-end run is tests/quality/test_bench.py)."""

from __future__ import annotations

import json
import random
import struct

import pytest
from hdrh.histogram import HdrHistogram

from fuzzharness.bench import reclamation as bench
from fuzzharness.bench.reclamation import (
    BenchOptions,
    Configuration,
    LatencyRecorder,
    overhead_summary,
    parse_mix,
    plan,
    render_markdown,
    summarize_configuration,
    write_report,
)
from fuzzharness.cli import main
from fuzzharness.errors import InvalidArgument

EVENT = struct.Struct("<QQQQII")  # fh_reclaim_event


def raw_events(latencies: list[int], start: int = 10**12, size: int = 64) -> bytes:
    return b"".join(EVENT.pack(i + 1, size, start + i, start + i + lat, 0, 0) for i, lat in enumerate(latencies))


def test_event_layout_matches_the_header():
    from fuzzharness.contract.bindings import BENCH_OPS, RECLAIM_EVENT_SIZE

    assert EVENT.size == RECLAIM_EVENT_SIZE
    assert bench.MIX_OPS == BENCH_OPS  # the load generator's enum fhb_op order
    ev = LatencyRecorder.events(raw_events([5, 7]))
    assert ev["freed_ns"].tolist() == [10**12 + 5, 10**12 + 8]
    assert ev["handle"].tolist() == [1, 2]


def test_rounding_is_the_histograms_own_bucketing():
    recorder = LatencyRecorder()
    rng = random.Random(3)
    values = [0, 1, 2047, 2048, 2049, 4095, 4096, 10**6 + 7, bench.HIGHEST_NS]
    values += [int(10 ** rng.uniform(0, 12)) for _ in range(3000)]
    rounded = recorder.lowest_equivalent(values).tolist()
    assert rounded == [recorder.hist.get_lowest_equivalent_value(v) for v in values]


def test_batched_recording_equals_recording_one_by_one():
    rng = random.Random(7)
    latencies = [int(rng.lognormvariate(7, 2)) for _ in range(20000)] + [0, 0, 3]
    recorder = LatencyRecorder()
    for i in range(0, len(latencies), 4096):
        recorder.add_raw(raw_events(latencies[i : i + 4096]))
    direct = HdrHistogram(1, bench.HIGHEST_NS, bench.SIGNIFICANT_DIGITS)
    for value in latencies:
        direct.record_value(value)
    s = recorder.summary()
    assert s["count"] == len(latencies) == direct.get_total_count()
    for p, key in ((50, "p50"), (90, "p90"), (99, "p99"), (99.9, "p99_9")):
        assert s[key] == direct.get_value_at_percentile(p)
    assert s["max"] == direct.get_max_value() and s["min"] == direct.get_min_value() == 0
    assert s["max_exact"] == max(latencies)
    assert s["p50"] <= s["p99"] <= s["max"]
    assert recorder.bytes == 64 * len(latencies)
    decoded = HdrHistogram.decode(recorder.encoded().encode())
    assert decoded.get_total_count() == len(latencies)
    assert decoded.get_value_at_percentile(99) == s["p99"]


def test_negative_and_huge_latencies_are_counted_not_hidden():
    recorder = LatencyRecorder()
    recorder.add_latencies([5, -3, bench.HIGHEST_NS * 2, 7])
    assert recorder.negative == 1
    assert recorder.too_large == 1
    assert recorder.count == 3  # the huge one is clamped to the histogram's range, the negative one left out
    assert recorder.max_exact == bench.HIGHEST_NS * 2


def _load(created: int, died: int, calls: int = 1000, errors: int = 0) -> list[dict]:
    return [{"calls": calls, "mix_ops": calls // 2, "per_op": dict.fromkeys(bench.MIX_OPS, calls // 10),
             "calls_by_runtime": [calls, 0], "created": created, "died": died, "errors": errors,
             "first_error_status": 2 if errors else 0, "first_error_op": 0, "first_error": "fh_release: x",
             "t_start": 0, "t_end": 10**9}]  # fmt: skip


def _figures(events: int = 90, dropped: int = 5, pending: int = 5, died_by_load: int = 100, reclaimed: int = 95,
             errors: int = 0):  # fmt: skip
    recorder = LatencyRecorder()
    recorder.add_latencies(list(range(1, events + 1)))
    close = {"created": 164, "live_resources": 64, "reclaimed": reclaimed, "pending_resources": pending,
             "pending_bytes": pending * 64, "live_bytes": 64 * 64, "stable": True}  # fmt: skip
    samples = [(0.02 * i, i % 7, (i % 7) * 64, 50_000_000 + i) for i in range(100)]
    return summarize_configuration(recorder=recorder, dropped=dropped, load=_load(164, died_by_load, errors=errors), window_s=1.0,
                                   close=close, samples=samples, censored_ages=[300, 100, 200],
                                   after_close={"freed": 3, "dropped": 2}, quiesce_status=0, rss_hwm=60_000_000,
                                   env={"GOGC": "10", "GOMEMLIMIT": None})  # fmt: skip


def test_books_balance_when_events_dropped_and_unreclaimed_add_up():
    f = _figures()
    c = f["consistency"]
    assert c["died"] == 100 and c["accounted"] == 100 and c["events_match_reclaimed"] and c["ok"]
    assert f["resources"]["unreclaimed_at_close"] == f["censored"]["count"] == 5
    assert f["censored"]["age_at_close_ns"] == {"p50": 200, "max": 300}
    assert f["throughput"]["calls_per_s"] == 1000.0
    assert f["pending"]["peak_resources"] == 6 and f["pending"]["samples"] == 100
    assert f["rss"]["peak_bytes"] == 50_000_099 and f["gc"]["GOGC"] == "10"


@pytest.mark.parametrize("change", [{"events": 80}, {"dropped": 0}, {"died_by_load": 99}, {"reclaimed": 96},
                                    {"errors": 1}])  # fmt: skip
def test_books_that_do_not_balance_are_flagged(change):
    assert not _figures(**change)["consistency"]["ok"]


def test_series_are_thinned_for_the_plot():
    f = summarize_configuration(recorder=None, dropped=0, load=_load(10, 0), window_s=1.0,
                                close={"created": 10, "live_resources": 10, "reclaimed": 0, "pending_resources": 0,
                                       "pending_bytes": 0, "stable": True},
                                samples=[(i * 0.001, 0, 0, 1) for i in range(5000)], censored_ages=[],
                                after_close={"freed": 0, "dropped": 0}, quiesce_status=None, rss_hwm=None, env=None)  # fmt: skip
    assert len(f["series"]["t_s"]) <= bench.MAX_SERIES
    assert f["latency_ns"] is None and f["reclaim_events"] is None and f["consistency"]["ok"]


def _row(target: str, strategy: str, calls: float, off: list[float], on: list[float]) -> dict:
    row = {"key": f"{target}/{strategy}/1t", "target": target, "strategy": strategy, "threads": 1,
           "gogc": None if target == "rust" else "default", **_figures()}  # fmt: skip
    row["throughput"] = {**row["throughput"], "calls_per_s": calls}
    row["overhead"] = overhead_summary(off, on, 0.25) if off else None
    return row


def _report(rows: list[dict]) -> dict:
    return {"version": 1, "command": "fuzzharness bench --targets rust,go", "started": "x", "finished": "y",
            "options": {"seconds": 1.0, "live": 64, "size": 64, "mix": dict(bench.DEFAULT_MIX), "overhead_pairs": 3,
                        "overhead_slice_s": 0.25},
            "machine": {"cpus": 2, "loadavg_start": "0.1 0.1 0.1"}, "configurations": rows,
            "skipped": [{"target": "rust", "strategy": "go-cleanup", "reason": "rust does not implement go-cleanup"}]}  # fmt: skip


def test_overhead_is_the_median_of_the_paired_ratios():
    o = overhead_summary([1000.0, 2000.0, 1000.0], [750.0, 1400.0, 900.0], 0.25)
    assert o["events_overhead"] == 0.75  # ratios 0.75, 0.7, 0.9: one slow pair does not decide it
    assert o["median_off_calls_per_s"] == 1000.0 and o["median_on_calls_per_s"] == 900.0
    assert o["pairs"] == 3 and o["slice_s"] == 0.25
    assert overhead_summary([], [], 0.25)["events_overhead"] is None


def test_report_files(tmp_path):
    rows = [_row("rust", "immediate", 1500.0, [2000.0, 2000.0, 2000.0], [1500.0, 1500.0, 1500.0]),
            _row("go", "go-cleanup", 900.0, [], []),
            {"key": "go/go-cleanup/2t/GOGC=10", "target": "go", "strategy": "go-cleanup", "threads": 2,
             "gogc": "10", "status": "timed_out", "reason": "no result within 61 s"}]  # fmt: skip
    report = _report(rows)
    paths = write_report(report, tmp_path)
    assert {p.name for p in paths} == {"bench.json", "bench.md", "latency_cdf.png", "pending_garbage.png"}
    for name in ("latency_cdf.png", "pending_garbage.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "bench.json").read_text())["configurations"][0]["overhead"]["events_overhead"] == 0.75
    md = (tmp_path / "bench.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| rust") or line.startswith("| go")]
    assert len(table) == 3
    assert "| rust | immediate | 1 | - | 1.5 k | 2 k | 0.75 |" in md
    assert "| go | go-cleanup | 1 | default | 0.9 k | - | - |" in md
    assert "**timed_out**" in md
    assert "rust / go-cleanup: rust does not implement go-cleanup" in md
    assert render_markdown(report) == md


def test_plan_skips_what_a_target_does_not_implement(registry):
    options = BenchOptions(targets=["rust", "go"], strategies=["immediate", "epoch", "go-cleanup"], threads=[1, 2],
                           gogc=["default", "10"])  # fmt: skip
    configs, skipped = plan(options, registry)
    assert {(s["target"], s["strategy"]) for s in skipped} == {("rust", "go-cleanup"), ("go", "epoch")}
    assert all("does not implement" in s["reason"] for s in skipped)
    rust = [c for c in configs if c.target == "rust"]
    go = [c for c in configs if c.target == "go"]
    assert len(rust) == 2 * 2 and all(c.gogc is None for c in rust)  # strategies x threads
    assert len(go) == 2 * 2 * 2 and {c.gogc for c in go} == {"default", "10"}
    assert Configuration("go", "go-cleanup", 1, "10") in configs
    assert Configuration("go", "go-cleanup", 1, "10").key == "go/go-cleanup/1t/GOGC=10"
    assert len(configs) == len(set(configs))


def test_plan_rejects_unknown_names(registry):
    with pytest.raises(InvalidArgument, match="unknown strategy 'eager'"):
        plan(BenchOptions(strategies=["eager"]), registry)
    with pytest.raises(InvalidArgument, match="unknown target"):
        plan(BenchOptions(targets=["zig"]), registry)


def test_mix_parsing():
    assert parse_mix("replace=1,read=3") == {"replace": 1, "acqrel": 0, "write": 0, "read": 3, "snapshot": 0}
    for bad in ("replace", "frob=1", "read=-1", "read=0"):
        with pytest.raises(InvalidArgument):
            parse_mix(bad)


@pytest.mark.parametrize("argv", [["--mix", "frob=2"], ["--threads", "0"], ["--threads", "x"], ["--gogc", "lots"],
                                  ["--strategies", "eager"], ["--targets", "zig"],
                                  ["--overhead-pairs", "-1"], ["--threads", "300"], ["--live", "1000000"]])  # fmt: skip
def test_cli_bad_arguments_exit_2(argv, tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path), "--no-progress", *argv]) == 2
    assert "error:" in capsys.readouterr().err
