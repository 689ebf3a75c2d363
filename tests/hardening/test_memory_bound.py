"""Every harness process has a memory bound: the campaign process and each lane slice watch
their own resident memory and stop in one line (exit 3) above it, instead of swapping the
machine; a slice that hits it leaves an ``error`` result naming the bound, so nothing is lost
silently. (Workers have had ``rss_limit_mb`` all along; the model no longer grows with
resource sizes.)"""

from __future__ import annotations

import json
import subprocess
import sys

from hardening_helpers import ENV, ROOT


def test_a_process_over_its_bound_stops_in_one_line():
    code = ("import time\nfrom fuzzharness.lanes.slices import watch_memory\n"
            "watch_memory(150, 'the test process', every=0.1)\nblob = bytearray(400 << 20)\ntime.sleep(10)\n")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT, env=ENV)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "the test process uses" in lines[0] and "over its bound of 150 MB" in lines[0]


def test_a_slice_over_its_bound_leaves_an_error_result(tmp_path):
    spec = {"lane": "minimize", "finding": str(tmp_path / "none"), "seconds": 5, "timeout": 1, "rss_limit_mb": 1,
            "result": str(tmp_path / "result.json")}  # fmt: skip
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    code = ("import sys\nfrom fuzzharness.lanes import slices\nslices._slice_bound = lambda limit: 100\n"
            "import fuzzharness.findings.minimize as m\n"
            "def hog(*a, **k):\n    blob = bytearray(400 << 20)\n    import time; time.sleep(10)\n"
            "m.minimize_saved = hog\nsys.exit(slices.main([sys.argv[1]]))\n")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "spec.json")], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=ENV)  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "error" and "over its bound of 100 MB" in result["error"]
