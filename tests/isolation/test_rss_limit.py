"""A worker above the RSS limit is killed and restarted, and its program becomes an `oom` finding."""

from __future__ import annotations

from conftest import library_path
from fuzzharness.contract.registry import load_registry
from fuzzharness.execution.supervisor import Failure, TargetWorker
from fuzzharness.findings.store import FindingKind
from fuzzharness.findings.triage import findings_for
from fuzzharness.programs.sequential import parse_text

# A 1 GiB create alone costs no memory (the shims zero-fill lazily: calloc'd / fresh pages);
# its snapshot copies every byte, so the worker's RSS really grows by 1 GiB.
HUGE = parse_text(
    "config capacity=2 strategy=immediate max_resource_bytes=1073741824 max_total_bytes=2147483648\n"
    "h0 = create 1073741824\n"
    "h1 = snapshot h0\n"
)
SMALL = parse_text("config capacity=1 strategy=immediate max_resource_bytes=64 max_total_bytes=256\nh0 = create 4\n")


def test_worker_over_the_rss_limit_becomes_an_oom_finding_and_the_run_goes_on():
    library_path("rust")
    spec = load_registry()["rust"]
    with TargetWorker(spec, "release", timeout=60.0, rss_limit_mb=400) as worker:
        events = [e for e in worker.run([("huge", HUGE), ("small", SMALL)]) if e[0] in ("result", "failure")]
        assert events[0][0] == "failure" and isinstance(events[0][2], Failure) and events[0][2].kind == "oom"
        assert "exceeded the limit of 400 MiB" in events[0][2].stderr_tail
        assert events[1][0] == "result", "the worker was restarted and ran the next program"
        assert worker.restarts == 1
        found = findings_for(HUGE, {"rust": events[0][2]}, variant="release", seed=None)
        assert [f.kind for f in found] == [FindingKind.oom]
