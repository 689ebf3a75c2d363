"""Lane options are checked like ``[campaign]``: an unknown key, a wrong type, a value out of
range, an absurd ``jobs`` or an empty lane set is one line naming the file (or the option),
before anything starts."""

from __future__ import annotations

import os

import pytest
from hardening_helpers import assert_one_line, campaign_args, cli


@pytest.mark.parametrize("toml, needle", [
    ("[lanes.random]\nmax_opps = 10\n", "[lanes.random] has no field 'max_opps' (fields: enabled, weight, variant, corpus_rate, max_ops)"),
    ("[lanes.random]\ncorpus_rate = 7.5\n", "[lanes.random] corpus_rate must be a number from 0 to 1, got 7.5"),
    ("[lanes.random]\ncorpus_rate = nan\n", "[lanes.random] corpus_rate must be a number from 0 to 1"),
    ("[lanes.random]\nmax_ops = \"48\"\n", "[lanes.random] max_ops must be an integer from 1 to 100000, got 48"),
    ("[lanes.stress]\nthreads = 100000\n", "[lanes.stress] threads must be an integer from 1 to 256, got 100000"),
    ("[lanes.stress]\nops = -1\n", "[lanes.stress] ops must be an integer from 1 to 1000000, got -1"),
    ("[lanes.stress]\nmax_ops = 5\n", "[lanes.stress] has no field 'max_ops'"),
    ("[lanes.coverage]\nthreads = 2\n", "[lanes.coverage] has no field 'threads'"),
    ("[lanes.asan]\nenabled = \"yes\"\n", "[lanes.asan] enabled must be true or false"),
    ("[campaign]\njobs = 100000\n", "[campaign] jobs: must be from 1 to 256, got 100000"),
    ("lanes = 5\n", "[campaign] and [lanes] must be tables"),
    ("".join(f"[lanes.{n}]\nenabled = false\n" for n in ("random", "coverage", "stress", "asan")),
     "no lane is enabled with a positive weight"),
])  # fmt: skip
def test_a_bad_lane_option_is_one_line_naming_the_file(tmp_path, toml, needle):
    config = tmp_path / "night.toml"
    config.write_text(toml)
    proc = cli(*campaign_args(tmp_path / "out", tmp_path / "corpus", "--config", str(config), "--duration", "5"),
               timeout=60)  # fmt: skip
    line = assert_one_line(proc, needle)
    assert str(config) in line
    assert not (tmp_path / "out").exists(), "something started before the config was checked"


@pytest.mark.parametrize("lanes", ["", ",", "random,,stress"])
def test_an_empty_lane_set_names_the_option(tmp_path, lanes):
    proc = cli(*campaign_args(tmp_path / "out", tmp_path / "corpus", "--lanes", lanes, "--duration", "5"), timeout=60)
    assert_one_line(proc, "--lanes")
    assert not (tmp_path / "out").exists()


def test_jobs_above_the_cores_is_warned_about_and_above_256_refused(tmp_path):
    proc = cli(*campaign_args(tmp_path / "out", tmp_path / "corpus", "--jobs", "100000", "--duration", "5"), timeout=60)
    assert_one_line(proc, "jobs must be from 1 to 256, got 100000")
    config = tmp_path / "c.toml"
    config.write_text('[lanes.random]\nvariant = "no-such-variant"\n')  # nothing runs: only the warning matters
    many = str((os.cpu_count() or 1) + 1)
    proc = cli(*campaign_args(tmp_path / "out2", tmp_path / "corpus", "--config", str(config), "--lanes", "random",
                              "--jobs", many, "--duration", "5"), timeout=60)  # fmt: skip
    assert f"warning: jobs {many} is more than the {os.cpu_count()} core(s)" in proc.stderr
    assert "Traceback" not in proc.stderr
