"""Lanes: the ways of hunting bugs, each a command or a campaign slice.

``fuzz`` (random differential), ``stress`` (concurrent), ``coverage`` (libFuzzer via
atheris), ``slices`` (one campaign time slice in its own process), ``campaign`` (nightly,
resumable) and ``mutants`` (the planted-bug table). Imports: ``report`` and below.
"""
