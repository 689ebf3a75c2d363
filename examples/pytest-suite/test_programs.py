"""Hand-written programs, run on each target of ``--fh-targets`` (the ``fh_target`` fixture)
and checked against the reference model: ``check`` returns the trace, or fails the test
with the finding, the program and the side-by-side trace."""

from fuzzharness.contract.header import Status

SNAPSHOT_IS_A_COPY = """
config capacity=4 strategy=immediate max_resource_bytes=65536 max_total_bytes=1048576
h0 = create 4
h1 = snapshot h0
write h0 0 x"01020304"
read h1 0 4
"""

NO_USE_AFTER_THE_LAST_RELEASE = """
config capacity=4 strategy=deferred max_resource_bytes=65536 max_total_bytes=1048576
h0 = create 8
acquire h0
release h0
write h0 0 x"ff"
release h0
read h0 0 1
quiesce
"""


def test_a_snapshot_is_a_copy(fh_target):
    trace = fh_target.check(SNAPSHOT_IS_A_COPY)
    assert trace[4].value == bytes(4)  # step 4 (init is step 0): the snapshot kept the old bytes


def test_no_use_after_the_last_release(fh_target):
    trace = fh_target.check(NO_USE_AFTER_THE_LAST_RELEASE)
    assert trace[4].status == Status.OK and trace[6].status == Status.STALE_HANDLE
