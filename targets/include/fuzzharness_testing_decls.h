/*
 * fuzzharness test-only mutant injection: declarations (cffi-readable).
 *
 * Exported ONLY by the `mutants` build variant of a shim (Rust cargo feature
 * `mutants`, Go build tag `mutants`). One mutant is active at a time, process
 * wide; it stays active across sessions. The harness's own tests and quality
 * checks use it to prove that each kind of bug becomes the right finding.
 *
 * "The trigger" below is: an fh_write on a live, writable handle, in bounds,
 * of exactly 3 bytes whose first byte is 0xFD.
 */

enum fh_mutant {
    FH_MUTANT_NONE = 0,
    FH_MUTANT_SNAPSHOT_SHARES = 1, /* fh_snapshot shares the origin's bytes instead of
                                     copying them: later writes to the origin show
                                     through the snapshot (a divergence). */
    FH_MUTANT_SEGFAULT = 2,        /* the trigger writes through a null pointer (SIGSEGV). */
    FH_MUTANT_HANG = 3,            /* the trigger never returns (sleeps forever). */
    FH_MUTANT_ABORT = 4,           /* the trigger raises a panic that is NOT caught at the
                                     boundary (Rust: process abort; Go: a panic on a
                                     goroutine of its own, which kills the process). */
    FH_MUTANT_CAUGHT_PANIC = 5,    /* the trigger panics inside the boundary: FH_PANIC. */
    FH_MUTANT_SKIP_GENERATION = 6  /* handle classification ignores the generation: a
                                     stale handle of a reused slot reaches the slot's
                                     new resource (ABA). */
};

/* Switch the process-wide mutant. Errors: FH_INVALID_ARGUMENT for an unknown
 * mutant number. Callable at any time, no session needed. */
fh_status fh_test_set_mutant(uint32_t mutant);
