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
    FH_MUTANT_SKIP_GENERATION = 6, /* handle classification ignores the generation: a
                                     stale handle of a reused slot reaches the slot's
                                     new resource (ABA). */
    FH_MUTANT_STALE_USE_AFTER_FREE = 7, /* generation check skipped for FREE slots: when a
                                     resource dies its slot keeps a dangling pointer to
                                     its memory, which IS freed (immediate strategy); an
                                     fh_read / fh_write through a stale handle of a slot
                                     not reused yet returns OK and touches the freed
                                     memory (heap-use-after-free under ASan, a status
                                     divergence without it). */
    FH_MUTANT_DOUBLE_RELEASE = 8,  /* fh_release of a stale handle of a slot not reused
                                     yet returns OK and frees the memory again (double
                                     free under ASan; a status divergence or an
                                     allocator abort without it). */
    FH_MUTANT_GENERATION_WRAP = 9, /* generations kept in 2 bits (1,2,3,1,...): the 4th
                                     resource placed in a slot gets the handle value of
                                     the 1st back, so an old handle reaches it (ABA). */
    FH_MUTANT_LEAK_ON_ERROR = 10,  /* an fh_write that fails with FH_BOUNDS takes a
                                     reference that is never dropped: the resource never
                                     dies, and fh_shutdown does not free it either (a
                                     leak for the model's accounting and for LSan). */
    FH_MUTANT_EARLY_FREE = 11,     /* fh_release kills the resource when its count drops
                                     to 1 instead of 0 (off by one): the holder of the
                                     remaining reference finds it dead. */
    FH_MUTANT_BOUNDS_OFF_BY_ONE = 12, /* the bounds check accepts offset + len == size + 1:
                                     fh_read / fh_write touch one byte past the end
                                     (heap-buffer-overflow under ASan, a status
                                     divergence without it). */
    FH_MUTANT_RACY_ACQUIRE = 13,   /* fh_acquire checks liveness, releases the table lock,
                                     yields, then increments: an acquire racing the last
                                     release resurrects a dead resource (needs
                                     concurrent calls). */
    FH_MUTANT_RECLAIM_NEVER = 14,  /* deferred reclamation never runs (Rust: the epoch
                                     garbage is never collected; Go: the cleanup's
                                     argument keeps the wrapper reachable): after a
                                     deferred release fh_quiesce returns FH_TIMED_OUT. */
    FH_MUTANT_GO_CACHE_USE_AFTER_FREE = 15, /* Go only: a Go-side cache keeps a raw pointer to
                                     each resource's C memory by slot and fh_read reads
                                     through it, also after the resource died and its
                                     memory was freed: a read through a stale handle
                                     returns OK with freed memory (use-after-free across
                                     the boundary). */
    FH_MUTANT_SHARED_LAST_ERROR = 16, /* the last-error message is stored process-wide, not
                                     per thread: a thread can read another thread's
                                     message (needs concurrent calls). */
    FH_MUTANT_RACY_REFCOUNT = 17,  /* the reference count is updated by a plain load, a
                                     yield, then a store, outside any lock: concurrent
                                     acquire/release lose updates (needs concurrent
                                     calls). */
    FH_MUTANT_UNSYNC_WRITER = 18,  /* fh_write copies byte by byte without the resource
                                     lock, yielding between bytes: concurrent writers
                                     interleave and readers see torn writes (needs
                                     concurrent calls). */
    FH_MUTANT_MAGIC_CRASH = 19,    /* a successful fh_write whose data is at least 4 bytes
                                     long and starts with the bytes 46 55 5A 5A ("FUZZ")
                                     writes through a null pointer (SIGSEGV). The magic
                                     is compared in native code as one 32-bit value, so
                                     only comparison coverage finds it quickly. */
    FH_MUTANT_GUARD_ONE_SIDE = 20, /* 1.1, cross-runtime owner (Rust) only: the guard looks at the
                                     OWNER's count alone. A resource dies and its memory is freed
                                     when the owner's references reach zero although the foreign
                                     (Go) runtime still holds references: the Go side then uses
                                     freed memory (heap-use-after-free under ASan; a status or
                                     byte divergence without it). */
    FH_MUTANT_CLEANUP_UNREACHABLE = 21, /* 1.1, cross-runtime foreign front (Go) only: the
                                     cleanup registered with runtime.AddCleanup captures the Go
                                     wrapper itself in its argument, which keeps the wrapper
                                     reachable forever: the cleanup never runs, the owner never
                                     gets the acknowledgement, the memory is never freed
                                     (fh_quiesce gives FH_TIMED_OUT; a leak). */
    FH_MUTANT_SNAPSHOT_PIN_RACE = 22, /* fh_snapshot looks its origin up under the table lock,
                                     lets go of the lock, and only then pins the origin (a race
                                     window in between): a release that kills the origin in the
                                     window frees its memory under the snapshot, which copies
                                     what is left there (Go: the freed C memory, a use-after-free;
                                     Rust: zeros, as reused memory would read) and returns FH_OK
                                     (needs concurrent calls). */
    /* 23..: free. A number is never reused for another mutant. */
};

/* Switch the process-wide mutant. Errors: FH_INVALID_ARGUMENT for an unknown
 * mutant number, FH_UNSUPPORTED for a mutant this shim does not implement
 * (e.g. GO_CACHE_USE_AFTER_FREE in Rust). Callable at any time, no session needed. */
fh_status fh_test_set_mutant(uint32_t mutant);

/* In-call perturbation (test builds only: the Rust kit's cargo feature `perturb`, which
 * the shim's `mutants` feature turns on; the Go kit's build tag `perturb` or `mutants`).
 * The target calls the installed hook at points of its own choosing INSIDE a call --
 * between a lookup and the update of a count, before a free -- passing a number of its
 * own for the point; the hook (the harness's native runner) yields or spins there
 * according to the run's seeded schedule, widening the windows where calls of other
 * threads can interleave. NULL uninstalls. Process-wide; install it while no call runs. */
typedef void (*fh_perturb_hook)(uint32_t point);
fh_status fh_test_set_perturb(fh_perturb_hook hook);

