/*
 * fuzzharness test-only fault injection: declarations (cffi-readable).
 *
 * Exported ONLY by the `faults` build variant of a shim (Rust cargo feature
 * `faults`, Go build tag `faults`). One fault is active at a time, process
 * wide; it stays active across sessions. The harness's own tests and quality
 * checks use it to prove that each kind of bug becomes the right finding.
 *
 * "The trigger" below is: an fh_write on a live, writable handle, in bounds,
 * of exactly 3 bytes whose first byte is 0xFD.
 */

enum fh_fault {
    FH_FAULT_NONE = 0,
    FH_FAULT_SNAPSHOT_SHARES = 1, /* fh_snapshot shares the origin's bytes instead of
                                     copying them: later writes to the origin show
                                     through the snapshot (a divergence). */
    FH_FAULT_SEGFAULT = 2,        /* the trigger writes through a null pointer (SIGSEGV). */
    FH_FAULT_HANG = 3,            /* the trigger never returns (sleeps forever). */
    FH_FAULT_ABORT = 4,           /* the trigger raises a panic that is NOT caught at the
                                     boundary (Rust: process abort; Go: a panic on a
                                     goroutine of its own, which kills the process). */
    FH_FAULT_CAUGHT_PANIC = 5,    /* the trigger panics inside the boundary: FH_PANIC. */
    FH_FAULT_SKIP_GENERATION = 6  /* handle classification ignores the generation: a
                                     stale handle of a reused slot reaches the slot's
                                     new resource (ABA). */
};

/* Switch the process-wide fault. Errors: FH_INVALID_ARGUMENT for an unknown
 * fault number. Callable at any time, no session needed. */
fh_status fh_test_set_fault(uint32_t fault);
