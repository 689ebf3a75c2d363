"""The ownership state machine of each target: two lines, the import and the test.

Hypothesis drives each target's library (in a worker process) with create, acquire,
release, write, read, snapshot, info and quiesce calls, stale and forged handles, and
checks every step against the reference model; a failure shrinks to a few steps, printed
as a program that ``fuzzharness repro`` replays. ``--fh-targets`` picks which run.
"""

from fuzzharness.hypothesis import ownership_machine

TestRust = ownership_machine("rust").TestCase
TestGo = ownership_machine("go").TestCase
TestGoFrontOverRust = ownership_machine("go+rust").TestCase
