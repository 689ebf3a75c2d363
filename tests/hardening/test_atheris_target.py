"""The atheris target over the harness's parsers (tests/hardening/fuzz_parsers_atheris.py) runs
and finds nothing in a smoke run; and it would report an escaping exception as a crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("fuzz_parsers_atheris.py")


def test_the_parsers_target_runs_clean(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "-runs=3000", "-seed=1", f"-artifact_prefix={tmp_path}/"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Done 3000 runs" in proc.stderr
    assert not list(tmp_path.glob("crash-*"))


def test_an_escaping_exception_is_a_crash(tmp_path):
    # The same target with a parser that raises a foreign exception: libFuzzer must stop on it.
    probe = tmp_path / "probe.py"
    probe.write_text(SCRIPT.read_text().replace("PARSERS = [", "PARSERS = [lambda d: 1 // 0,\n", 1)
                     .replace("parse = PARSERS[data[0] % len(PARSERS)]", "parse = PARSERS[0]"))  # fmt: skip
    proc = subprocess.run([sys.executable, str(probe), "-runs=100", f"-artifact_prefix={tmp_path}/"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert proc.returncode != 0 and "ZeroDivisionError" in proc.stdout + proc.stderr
    assert list(tmp_path.glob("crash-*"))
