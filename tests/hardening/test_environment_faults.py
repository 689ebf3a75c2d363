"""Faults of the environment: paths checked before anything starts, a read-only or full
output directory stopped in one line, every finding kept.

The read-only and full disks are real file systems (tmpfs mounted by the test: it needs
root, which the test environment has; without it the test fails saying so).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hardening_helpers import assert_one_line, campaign_args, cli, kill_all, wait_gone

from conftest import library_path


@pytest.fixture
def tmpfs(tmp_path):
    """Mount tmpfs file systems under tmp_path: ``mount("name", "size=2m,ro")`` -> the mount point."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True)
        assert done.returncode == 0, f"this test mounts a tmpfs (needs root): {done.stderr.strip()}"
        mounted.append(point)
        return point

    yield mount
    kill_all(str(tmp_path))
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_out_that_is_a_file_is_refused_before_anything_starts(tmp_path):
    (tmp_path / "out").write_text("not a directory")
    proc = cli(*campaign_args(tmp_path / "out", tmp_path / "corpus", "--duration", "5"), timeout=60)
    assert_one_line(proc, f"--out {tmp_path / 'out'}: exists and is not a directory")
    assert (tmp_path / "out").read_text() == "not a directory" and not (tmp_path / "corpus").exists()


def test_corpus_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "corpus").write_text("x")
    proc = cli(*campaign_args(tmp_path / "out", tmp_path / "corpus", "--duration", "5"), timeout=60)
    assert_one_line(proc, f"--corpus {tmp_path / 'corpus'}: exists and is not a directory")
    assert not (tmp_path / "out").exists()


def test_known_that_is_a_directory_is_refused(tmp_path):
    (tmp_path / "known").mkdir()
    proc = cli(*campaign_args(tmp_path / "out", tmp_path / "corpus", "--duration", "5", "--known", str(tmp_path / "known")),
               timeout=60)  # fmt: skip
    assert_one_line(proc, f"--known {tmp_path / 'known'}: is not a regular file")
    assert not (tmp_path / "out").exists()


def test_read_only_out_is_refused_in_one_line(tmp_path, tmpfs):
    out = tmpfs("ro", "size=1m,ro")
    proc = cli(*campaign_args(out / "night", tmp_path / "corpus", "--duration", "5"), timeout=60)
    assert_one_line(proc, f"--out {out / 'night'}: {out} is not writable")


def test_a_full_disk_stops_the_campaign_in_one_line_keeping_every_finding(tmp_path, tmpfs):
    library_path("rust", "mutants")
    disk = tmpfs("small", "size=16m")
    out = disk / "out"
    # A first short night on a roomy disk finds the planted bug; its findings move to the small disk.
    roomy = tmp_path / "roomy"
    args = ["--lanes", "random", "--variant", "mutants", "--mutant", "snapshot-shares", "--minimize-seconds", "2"]
    first = cli(*campaign_args(roomy, tmp_path / "corpus", "--duration", "4", "--slice", "4", "--seed", "1", *args))
    assert first.returncode == 1, first.stderr[-3000:]
    shutil.copytree(roomy / "findings", out / "findings")
    saved = {p.name: (p / "finding.json").read_bytes() for p in (out / "findings").iterdir()}
    assert saved
    # Leave a few KiB free: the journal or the first reports fill the disk.
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - 16 * 1024))
    proc = cli(*campaign_args(out, tmp_path / "corpus", "--duration", "30", "--slice", "5", "--seed", "2", *args),
               timeout=240)  # fmt: skip
    line = assert_one_line(proc, "No space left on device")
    assert "stopped" in line
    for name, data in saved.items():  # nothing lost, nothing damaged
        assert (out / "findings" / name / "finding.json").read_bytes() == data
    assert not wait_gone(str(disk), 30)
