"""``fuzzharness bench`` end to end on the real release libraries (contract 1.1):
a short run of rust and go with one thread, checked for structure and internal
consistency (the books balance, latencies are ordered and non-negative), never
for timing figures."""

from __future__ import annotations

import json

from conftest import library_path
from fuzzharness.bench.reclamation import BenchOptions, Configuration, run_configuration
from fuzzharness.cli import main

STRATEGIES = {"rust": ("immediate", "epoch"), "go": ("immediate", "go-cleanup")}


def test_bench_end_to_end(tmp_path):
    for target in STRATEGIES:
        library_path(target)  # fails (never skips) with the build command when missing
    out = tmp_path / "bench"
    rc = main(["bench", "--targets", "rust,go", "--strategies", "immediate,epoch,go-cleanup", "--threads", "1",
               "--seconds", "0.5", "--live", "16", "--gogc", "default", "--overhead-pairs", "1", "--out", str(out),
               "--no-progress"])  # fmt: skip
    report = json.loads((out / "bench.json").read_text())
    rows = {r["key"]: r for r in report["configurations"]}
    expected = {f"{t}/{s}/1t{'' if t == 'rust' else '/GOGC=default'}" for t, strategies in STRATEGIES.items()
                for s in strategies}  # fmt: skip
    assert set(rows) == expected
    assert {(s["target"], s["strategy"]) for s in report["skipped"]} == {("rust", "go-cleanup"), ("go", "epoch")}
    for key, r in rows.items():
        assert r["status"] == "ok", (key, r.get("reason"))
        res, cens = r["resources"], r["censored"]
        assert r["load_errors"]["count"] == 0, (key, r["load_errors"])
        assert r["throughput"]["calls"] > 0 and r["window_s"] > 0
        assert res["created"] == res["created_by_load"]
        assert res["died"] == res["died_by_load"] == res["created"] - res["live_at_close"] > 0
        assert res["reclaimed_at_close"] + res["unreclaimed_at_close"] == res["died"]
        assert r["pending"]["samples"] > 0 and r["rss"]["peak_bytes"] > 0
        assert r["consistency"]["ok"], (key, r["consistency"])
        assert (r["gc"] is None) == (r["target"] == "rust")
        if r["strategy"] == "immediate":  # the contract: nothing pending between calls (samples may see one in flight)
            assert res["unreclaimed_at_close"] == 0 and res["reclaimed_at_close"] == res["died"]
        ev, lat = r["reclaim_events"], r["latency_ns"]
        # Every resource that died is an event, a dropped event, or still unreclaimed at the close.
        assert ev["drained"] + ev["dropped"] + res["unreclaimed_at_close"] == res["died"]
        assert ev["drained"] + ev["dropped"] == res["reclaimed_at_close"]
        assert ev["negative"] == 0 and lat["count"] == ev["drained"]
        if lat["count"]:  # (a deferred strategy may free nothing in a short window: then all are censored)
            assert 0 <= lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]
            assert lat["max"] >= lat["max_exact"] >= lat["min"]
        assert cens["count"] == res["unreclaimed_at_close"]
        if cens["count"] and cens["quiesce_status"] == 0:
            assert cens["freed_after_close"] + cens["dropped_after_close"] == cens["count"]
            if cens["freed_after_close"]:
                assert 0 <= cens["age_at_close_ns"]["p50"] <= cens["age_at_close_ns"]["max"]
        o = r["overhead"]
        assert o["pairs"] == 1 and len(o["off_calls_per_s"]) == len(o["on_calls_per_s"]) == 1
        assert min(o["off_calls_per_s"] + o["on_calls_per_s"]) > 0 and o["events_overhead"] > 0
    assert rc == 0
    md = (out / "bench.md").read_text()
    assert md.count("\n| rust |") == 2 and md.count("\n| go |") == 2
    for name in ("latency_cdf.png", "pending_garbage.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_a_configuration_that_does_not_finish_is_timed_out_not_a_result(tmp_path):
    library_path("rust")
    options = BenchOptions(seconds=30.0, timeout=2.0, out=tmp_path)
    row = run_configuration(Configuration("rust", "immediate", 1, None), options)
    assert row["status"] == "timed_out" and "unknown" in row["reason"]
    assert "latency_ns" not in row and "throughput" not in row
