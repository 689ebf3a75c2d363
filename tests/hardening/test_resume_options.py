"""An unfinished campaign resumes only with the options it was started with: a changed
``--targets``, ``--lanes`` or ``--duration`` is refused in one line, the journal untouched."""

from __future__ import annotations

import signal

import pytest
from hardening_helpers import assert_one_line, campaign_args, cli, journal, kill_all, start, stop, wait_for

from conftest import library_path


@pytest.fixture
def unfinished(tmp_path):
    """An --out holding a campaign killed mid-way (rust, random, 30 s)."""
    library_path("rust", "release")
    out, corpus = tmp_path / "out", tmp_path / "corpus"
    base = ["--lanes", "random", "--duration", "30", "--slice", "5", "--seed", "6"]
    proc = start(*campaign_args(out, corpus, *base), log=tmp_path / "log")
    try:
        wait_for(lambda: any(r["t"] == "slice" for r in journal(out)), 60, "the first slice")
        stop(proc, signal.SIGKILL)
        yield out, corpus, base
    finally:
        stop(proc, signal.SIGKILL)
        kill_all(str(tmp_path))


@pytest.mark.parametrize("change, needle", [
    (("--targets", "go"), "--targets go (started with rust)"),
    (("--lanes", "random,stress"), "--lanes random,stress (started with random)"),
    (("--duration", "1h"), "--duration 3600 s (started with 30 s)"),
    (("--duration", "45"), "--duration 45 s (started with 30 s)"),
])  # fmt: skip
def test_a_changed_option_is_refused_and_the_journal_left_alone(unfinished, change, needle):
    out, corpus, base = unfinished
    before = (out / "journal.jsonl").read_bytes()
    args = list(base)
    flag, value = change
    if flag == "--targets":
        proc = cli(*campaign_args(out, corpus, *args, targets=value), timeout=60)
    else:
        args[args.index(flag) + 1] = value
        proc = cli(*campaign_args(out, corpus, *args), timeout=60)
    line = assert_one_line(proc, needle)
    assert "unfinished campaign" in line and str(out) in line
    assert (out / "journal.jsonl").read_bytes() == before
