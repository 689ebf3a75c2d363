/*
 * fuzzharness ownership contract, ABI 1.1: declarations.
 *
 * 1.1 (additive over 1.0): FH_NOT_HELD, FH_RECLAIM_GUARDED, the config flag
 * FH_FLAG_RECLAIM_EVENTS with fh_drain_reclaim_events / fh_clock_ns, and the
 * cross-runtime section at the end (per-runtime references, fh_backend,
 * fh_backend_table, fh_attach_backend). A 1.1 harness drives a 1.0 library
 * with none of these; a 1.0 harness drives a 1.1 library unchanged.
 *
 * This file must stay readable by cffi's cdef: no preprocessor lines, only
 * typedefs, enums, structs and prototypes. Include fuzzharness.h from C.
 *
 * ===================================================================== *
 * GENERAL RULES (apply to every function unless its comment says otherwise)
 * ===================================================================== *
 *
 * Status.  Every function returns an fh_status. Status numbers are stable:
 *   a number is never renumbered or reused; a retired status stays below as a
 *   comment. 0..99 belong to the contract, 100.. are reserved for test builds.
 *
 * Outputs.  Output parameters are written only when the call returns FH_OK.
 *   A failed call leaves every caller-owned buffer and struct untouched. Every
 *   byte buffer is followed by its length in bytes.
 *
 * Memory ownership.  The caller owns every pointer it passes; a callee never
 *   keeps a pointer past the return of the call, and never writes through an
 *   input pointer (fh_init's config, fh_write's data). Those two are not
 *   declared const only so that the prototypes cgo generates for the Go shim
 *   are identical to these, letting the C compiler check the Go exports
 *   against this file. Resource memory is owned by
 *   the target and is only reachable through handles: no pointer into a
 *   resource ever crosses the boundary.
 *
 * NULL.  A required pointer that is NULL gives FH_NULL_ARGUMENT and the call
 *   has no effect. A data/buffer pointer may be NULL when its length is 0.
 *
 * Check order.  When several errors apply, the first in this list wins:
 *     1. FH_NOT_INITIALIZED   (no session: before fh_init / after fh_shutdown)
 *     2. FH_NULL_ARGUMENT
 *     3. FH_INVALID_HANDLE / FH_STALE_HANDLE
 *     4. FH_READ_ONLY         (fh_write on a snapshot)
 *     5. FH_OVERFLOW          (offset + len does not fit in 64 bits)
 *     6. FH_BOUNDS            (offset + len > size of the resource)
 *   A failed call has no effect on the target's state other than the calling
 *   thread's last-error message.
 *
 * Handles.  A handle is 64 bits: bits 0..31 are the slot index, bits 32..63
 *   the slot's generation.  Slots are numbered 0..capacity-1.  Every slot
 *   starts at generation 0 (never issued); each time a resource is placed in a
 *   slot, the slot's generation is incremented first, so the first handle of a
 *   slot has generation 1 and the value 0 is never a valid handle.  A slot
 *   whose generation is 0xFFFFFFFF is retired when its resource dies and is
 *   never reused, so a slot reused fewer than 2^32 times never yields the same
 *   handle twice (no ABA).
 *   Allocation is deterministic: a new resource (fh_create, fh_snapshot) goes
 *   into the LOWEST-numbered free slot.  A slot becomes free in the call that
 *   drops the last reference of its resource, whatever the reclamation
 *   strategy (memory may be reclaimed later; the slot is free at once).
 *   Classifying a handle h with slot s = h & 0xFFFFFFFF, generation g = h >> 32,
 *   and G = current generation of slot s:
 *       g == 0, or s >= capacity, or g > G      -> FH_INVALID_HANDLE
 *       g < G, or (g == G and the slot is free) -> FH_STALE_HANDLE
 *       otherwise                               -> live resource
 *   Any 64-bit value may be passed as a handle: a value that is not live gets
 *   one of the two statuses, never a crash and never another resource's data.
 *
 * References.  fh_create and fh_snapshot return a handle holding ONE
 *   reference. fh_acquire adds one, fh_release drops one. When the count
 *   reaches zero the resource dies: its handle is stale from that moment and
 *   its memory is reclaimed according to the session's strategy. The count is
 *   a uint32; acquiring at 0xFFFFFFFF references gives FH_OVERFLOW.
 *
 * Snapshots.  fh_snapshot creates a NEW resource (its own slot, its own
 *   reference count, counted in stats like any resource) holding an immutable
 *   copy of the origin's current bytes. It is read-only (fh_write gives
 *   FH_READ_ONLY) and outlives later writes to, and the death of, its origin.
 *   A snapshot of a snapshot is allowed.
 *
 * Threads.  After fh_init returns FH_OK, every function except fh_init and
 *   fh_shutdown may be called from any number of threads at once. fh_init and
 *   fh_shutdown must not overlap any other call (the caller's duty). Writes to
 *   one resource are serialized (single writer); a read never observes part of
 *   a write: it sees all of the bytes of each write or none of them.
 *
 * Errors.  After a call returns a non-OK status, the SAME thread can fetch a
 *   message with fh_last_error. The message starts with the function name and a
 *   colon ("fh_write: ..."), then says why, naming the handle (in hex) when one
 *   was involved. FH_OK calls do not clear the message. Each thread has its own
 *   message; another thread's error never shows up.
 *
 * Panics.  No panic, exception or unwinding ever crosses the boundary: an
 *   implementation catches it in the export and returns FH_PANIC (the session
 *   state may then be inconsistent; the harness treats FH_PANIC as a finding).
 */

typedef uint64_t fh_handle;
typedef int32_t fh_status;

enum fh_status_code {
    FH_OK = 0,
    FH_INVALID_HANDLE = 1,      /* never issued, or malformed (see Handles) */
    FH_STALE_HANDLE = 2,        /* was issued, its resource has since died */
    FH_BOUNDS = 3,              /* offset + len exceeds the resource size */
    FH_READ_ONLY = 4,           /* write to a snapshot */
    FH_EXHAUSTED = 5,           /* no free slot, or a byte limit of fh_config */
    FH_NULL_ARGUMENT = 6,       /* a required pointer was NULL */
    FH_NOT_INITIALIZED = 7,     /* no session (before fh_init, after fh_shutdown) */
    FH_OVERFLOW = 8,            /* offset + len overflows, or reference count at max */
    FH_PANIC = 9,               /* a panic was caught at the boundary */
    FH_ALREADY_INITIALIZED = 10,/* fh_init while a session is open */
    FH_UNSUPPORTED = 11,        /* strategy not implemented by this target */
    FH_INVALID_ARGUMENT = 12,   /* a config field out of range */
    FH_TIMED_OUT = 13,          /* fh_quiesce could not finish deferred reclamation */
    FH_NOT_HELD = 14            /* 1.1: fh_release through a runtime that holds no reference
                                   of its own on a LIVE resource (cross-runtime targets;
                                   see "Per-runtime references"); the call has no effect */
    /* 15..99: reserved for later contract versions. 100..: test builds only. */
};

/* Reclamation strategies: what happens to a resource's memory when it dies. */
enum fh_reclaim_strategy {
    FH_RECLAIM_IMMEDIATE = 0,   /* freed inside the call that drops the last reference */
    FH_RECLAIM_EPOCH = 1,       /* deferred: freed once no thread can still be reading it (epoch-based) */
    FH_RECLAIM_GO_CLEANUP = 2,  /* deferred: freed by a Go GC cleanup once the Go wrapper is unreachable.
                                   On a cross-runtime pair: guarded (see FH_RECLAIM_GUARDED), and the
                                   Go side acknowledges its last release from a Go GC cleanup
                                   (runtime.AddCleanup on its wrapper), so the owner frees the memory
                                   only when Go's GC got to the wrapper. */
    FH_RECLAIM_GUARDED = 3      /* 1.1, cross-runtime owners: guarded two-runtime release. A resource
                                   dies when BOTH runtimes' reference counts are zero; its memory is
                                   freed by the owner once, in addition, the foreign runtime has
                                   acknowledged its last release. With GUARDED the foreign runtime
                                   acknowledges inside that release (so memory is freed inside the
                                   call that drops the last reference, as with IMMEDIATE). Without a
                                   foreign runtime attached it behaves as IMMEDIATE. */
    /* 4..: reserved. */
};

/* ABI version implemented by the targets described in this file. */
enum fh_abi {
    FH_ABI_MAJOR = 1,
    FH_ABI_MINOR = 1
};

/* 1.1: bits of fh_config.flags (1.0 libraries reject any non-zero flags). */
enum fh_config_flag {
    FH_FLAG_RECLAIM_EVENTS = 1  /* record one fh_reclaim_event per resource whose memory is
                                   freed, for fh_drain_reclaim_events */
};

/* Session configuration, read by fh_init (the callee copies it). */
typedef struct fh_config {
    uint32_t capacity;           /* number of slots, 1..1048576 (2^20) */
    uint32_t strategy;           /* an fh_reclaim_strategy */
    uint64_t max_resource_bytes; /* fh_create(size) with size > this -> FH_EXHAUSTED */
    uint64_t max_total_bytes;    /* live_bytes may never exceed this: a create or
                                    snapshot that would -> FH_EXHAUSTED */
    uint64_t flags;              /* fh_config_flag bits (1.1); other bits must be 0 */
} fh_config;

/* Counters of the open session. "Live" means alive by reference count;
 * "pending" means dead but whose memory is not reclaimed yet. Invariants:
 *   created == live_resources + pending_resources + reclaimed
 *   pending_resources == 0 and pending_bytes == 0 right after fh_quiesce
 *   with FH_RECLAIM_IMMEDIATE, pending is always 0 between calls. */
typedef struct fh_stats {
    uint64_t live_resources;
    uint64_t live_bytes;         /* sum of the sizes of live resources */
    uint64_t created;            /* resources ever created, snapshots included */
    uint64_t reclaimed;          /* resources whose memory has been freed */
    uint64_t pending_resources;
    uint64_t pending_bytes;
} fh_stats;

/* What fh_info reports about one live resource. */
typedef struct fh_resource_info {
    uint64_t size;               /* bytes, fixed at creation */
    uint32_t refs;               /* current reference count, >= 1 */
    uint32_t read_only;          /* 1 for a snapshot, 0 otherwise */
} fh_resource_info;

/* The ABI version of this library. Callable at any time, no session needed.
 * *major and *minor are required. A harness refuses a target whose major
 * differs from its own; a higher minor only adds functions or statuses. */
fh_status fh_abi_version(uint32_t *major, uint32_t *minor);

/* Open a session. *config is required and copied. Errors, in order:
 * FH_NULL_ARGUMENT, FH_ALREADY_INITIALIZED, FH_INVALID_ARGUMENT (capacity
 * 0 or > 2^20, a flags bit outside fh_config_flag), FH_UNSUPPORTED (strategy
 * not implemented).
 * Not thread-safe: must not overlap any other call. */
fh_status fh_init(fh_config *config);

/* Close the session: every resource still alive or pending is reclaimed and
 * *report receives the stats as they were just before (what was still alive).
 * Errors: FH_NOT_INITIALIZED, FH_NULL_ARGUMENT (report is required; the
 * session stays open). Not thread-safe: must not overlap any other call.
 * Handles of a closed session must not be used in a later one (they are still
 * classified safely, but may name a resource of the new session). */
fh_status fh_shutdown(fh_stats *report);

/* Create a zero-filled resource of `size` bytes (0 is allowed) and write its
 * handle to *out. The caller holds one reference. Errors: FH_NOT_INITIALIZED,
 * FH_NULL_ARGUMENT, FH_EXHAUSTED (size > max_resource_bytes, live_bytes + size
 * > max_total_bytes, or no free slot). */
fh_status fh_create(uint64_t size, fh_handle *out);

/* Add one reference. Errors: FH_NOT_INITIALIZED, FH_INVALID_HANDLE,
 * FH_STALE_HANDLE, FH_OVERFLOW (already 0xFFFFFFFF references). */
fh_status fh_acquire(fh_handle handle);

/* Drop one reference; at zero the resource dies (its handle is stale at once,
 * its slot free at once, its memory reclaimed per strategy). Releasing more
 * often than acquired gives FH_STALE_HANDLE once the resource is dead.
 * Errors: FH_NOT_INITIALIZED, FH_INVALID_HANDLE, FH_STALE_HANDLE. */
fh_status fh_release(fh_handle handle);

/* Copy len bytes from data into the resource at offset. `data` may be NULL
 * only when len is 0. Single writer: concurrent writes to one resource are
 * serialized. Errors: FH_NOT_INITIALIZED, FH_NULL_ARGUMENT, FH_INVALID_HANDLE,
 * FH_STALE_HANDLE, FH_READ_ONLY, FH_OVERFLOW, FH_BOUNDS. A failed write
 * changes no byte. */
fh_status fh_write(fh_handle handle, uint64_t offset, uint8_t *data, size_t len);

/* Copy len bytes of the resource at offset into buf (caller-owned, at least
 * len bytes). `buf` may be NULL only when len is 0. Errors: FH_NOT_INITIALIZED,
 * FH_NULL_ARGUMENT, FH_INVALID_HANDLE, FH_STALE_HANDLE, FH_OVERFLOW, FH_BOUNDS. */
fh_status fh_read(fh_handle handle, uint64_t offset, uint8_t *buf, size_t len);

/* Create a read-only snapshot of the resource's current bytes and write its
 * handle to *out (one reference, held by the caller). Errors:
 * FH_NOT_INITIALIZED, FH_NULL_ARGUMENT, FH_INVALID_HANDLE, FH_STALE_HANDLE,
 * FH_EXHAUSTED (as fh_create, for the origin's size). */
fh_status fh_snapshot(fh_handle handle, fh_handle *out);

/* Describe a live resource into *out. Errors: FH_NOT_INITIALIZED,
 * FH_NULL_ARGUMENT, FH_INVALID_HANDLE, FH_STALE_HANDLE. */
fh_status fh_info(fh_handle handle, fh_resource_info *out);

/* Session counters into *out (a consistent view when no call runs
 * concurrently). Errors: FH_NOT_INITIALIZED, FH_NULL_ARGUMENT. */
fh_status fh_get_stats(fh_stats *out);

/* Finish all deferred reclamation of resources that died before this call:
 * on FH_OK, pending_resources and pending_bytes were 0 at the return.
 * May block (an epoch flush, a Go GC). Errors: FH_NOT_INITIALIZED,
 * FH_TIMED_OUT (reclamation did not finish within the target's own bound,
 * a few seconds; nothing is lost, the call may be repeated). */
fh_status fh_quiesce(void);

/* Copy the calling thread's last error message (see Errors) into buf as a
 * NUL-terminated string, truncated to cap - 1 bytes, and write the full
 * length (without the NUL) to *out_len. An empty message if the thread has
 * had no error. Like snprintf, truncation is not an error. Callable at any
 * time, no session needed. buf may be NULL only when cap is 0; out_len is
 * required. Errors: FH_NULL_ARGUMENT. */
fh_status fh_last_error(char *buf, size_t cap, size_t *out_len);

/* ===================================================================== *
 * 1.1: RECLAMATION EVENTS (for the reclamation-latency benchmark)
 * ===================================================================== *
 * With FH_FLAG_RECLAIM_EVENTS set in fh_init's config, the library records one
 * event each time it frees the memory of a resource (whatever the strategy;
 * not for what fh_shutdown frees). Both stamps come from CLOCK_MONOTONIC
 * (nanoseconds), the same clock in every runtime and in the harness
 * (fh_clock_ns). Events go into a bounded ring owned by the library: when it
 * is full, new events are counted as dropped, never block the caller.
 * Without the flag nothing is recorded and the measured paths pay at most one
 * predictable branch. */
typedef struct fh_reclaim_event {
    fh_handle handle;            /* the dead resource's handle */
    uint64_t bytes;              /* its size */
    uint64_t released_ns;        /* when the release that made it unreachable returned its
                                    last reference (both runtimes' counts zero) */
    uint64_t freed_ns;           /* when its memory was really freed */
    uint32_t strategy;           /* the session's fh_reclaim_strategy */
    uint32_t reserved;           /* 0 */
} fh_reclaim_event;

/* Move up to cap recorded events, oldest first, into buf and write their
 * number to *out_n and the number of events dropped since the last drain to
 * *dropped. Callable from any thread, also concurrently with other calls.
 * Errors: FH_NOT_INITIALIZED, FH_NULL_ARGUMENT (out_n, dropped; buf when cap
 * > 0). */
fh_status fh_drain_reclaim_events(fh_reclaim_event *buf, size_t cap, size_t *out_n, uint64_t *dropped);

/* CLOCK_MONOTONIC now, in nanoseconds, as the library reads it. No session
 * needed. Errors: FH_NULL_ARGUMENT. */
fh_status fh_clock_ns(uint64_t *out);

/* ===================================================================== *
 * 1.1: CROSS-RUNTIME TARGETS (per-runtime references, guarded release)
 * ===================================================================== *
 * A cross-runtime target is a PAIR of libraries loaded in one process: an
 * OWNER (the Rust shim) that allocates and frees resource memory, and a
 * FOREIGN front (the Go shim) that keeps its own references and lifecycle
 * bookkeeping and reaches the owner only through the owner's fh_backend
 * function table (C function pointers). The harness pairs them:
 *     fh_backend b;  owner.fh_backend_table(&b);  foreign.fh_attach_backend(&b);
 * After that, ONE session serves both libraries: fh_init / fh_shutdown go
 * through the foreign front (which forwards them to the owner), and every
 * other function may be called through either library on the same handles.
 *
 * Per-runtime references.  Each live resource has two counts: owner
 *   references (taken by fh_create / fh_snapshot / fh_acquire called on the
 *   owner library) and foreign references (the same calls on the foreign
 *   library). fh_release on a library drops one reference of THAT runtime;
 *   if that runtime holds none while the resource is live (the other one
 *   does), the release gives FH_NOT_HELD and has no effect. fh_info's refs is
 *   the sum of both counts; FH_OVERFLOW applies to each count separately.
 *   The resource dies (handle stale, slot free) in the call that makes the
 *   sum zero. Handles, statuses, slots, bytes and stats are otherwise exactly
 *   those of a single-runtime target: a program that never releases through
 *   a runtime holding no reference observes the same results on both.
 *
 * Guarded release.  The owner frees a dead resource's memory only after the
 *   foreign runtime has ACKNOWLEDGED its last release: with FH_RECLAIM_GUARDED
 *   the foreign front acknowledges inside that release (ack = 1), with
 *   FH_RECLAIM_GO_CLEANUP it acknowledges later, from a Go GC cleanup
 *   (foreign_ack). Until then the resource counts as pending in fh_stats.
 *   Resources the foreign runtime never referenced need no acknowledgement.
 *   fh_quiesce (through either library) asks the foreign runtime to run its
 *   collector (see set_collector) until no acknowledgement is outstanding,
 *   within its bound (else FH_TIMED_OUT).
 *
 * The foreign entries below act as the FOREIGN runtime on the owner's
 * session; the other entries are the owner's own contract functions. All
 * statuses, check orders and messages are those of the contract function of
 * the same name. */
typedef fh_status (*fh_init_fn)(fh_config *config);
typedef fh_status (*fh_shutdown_fn)(fh_stats *report);
typedef fh_status (*fh_create_fn)(uint64_t size, fh_handle *out);
typedef fh_status (*fh_handle_fn)(fh_handle handle);
typedef fh_status (*fh_foreign_release_fn)(fh_handle handle, uint32_t ack);
typedef fh_status (*fh_snapshot_fn)(fh_handle handle, fh_handle *out);
typedef fh_status (*fh_write_fn)(fh_handle handle, uint64_t offset, uint8_t *data, size_t len);
typedef fh_status (*fh_read_fn)(fh_handle handle, uint64_t offset, uint8_t *buf, size_t len);
typedef fh_status (*fh_info_fn)(fh_handle handle, fh_resource_info *out);
typedef fh_status (*fh_stats_fn)(fh_stats *out);
typedef fh_status (*fh_void_fn)(void);
typedef fh_status (*fh_last_error_fn)(char *buf, size_t cap, size_t *out_len);
typedef void (*fh_collector_fn)(void);
typedef fh_status (*fh_set_collector_fn)(fh_collector_fn collect);

typedef struct fh_backend {
    uint32_t abi_major;                      /* the owner's FH_ABI_MAJOR / MINOR */
    uint32_t abi_minor;
    fh_init_fn init;                         /* the owner's fh_init */
    fh_shutdown_fn shutdown;                 /* the owner's fh_shutdown */
    fh_create_fn foreign_create;             /* fh_create, the new reference is foreign */
    fh_snapshot_fn foreign_snapshot;         /* fh_snapshot, the new reference is foreign */
    fh_handle_fn foreign_acquire;            /* fh_acquire of a foreign reference */
    fh_foreign_release_fn foreign_release;   /* fh_release of a foreign reference (FH_NOT_HELD
                                                when the foreign count is 0 on a live resource).
                                                ack = 1: acknowledged now; ack = 0: when this was
                                                the last foreign reference, the owner keeps the
                                                memory until foreign_ack(handle) */
    fh_handle_fn foreign_ack;                /* acknowledge an ack = 0 last release of handle
                                                (the handle is usually stale by then).
                                                FH_INVALID_HANDLE if no acknowledgement of that
                                                handle is outstanding */
    fh_write_fn write;                       /* the owner's fh_write, fh_read, ... */
    fh_read_fn read;
    fh_info_fn info;
    fh_stats_fn get_stats;
    fh_void_fn quiesce;
    fh_last_error_fn last_error;             /* the owner's per-thread message of its last error */
    fh_set_collector_fn set_collector;       /* register the foreign runtime's collector (e.g. one
                                                Go GC): the owner calls it, holding no lock, from
                                                fh_quiesce while acknowledgements are outstanding.
                                                NULL unregisters. */
} fh_backend;

/* Fill *out with this library's backend table. Owners (the Rust shim) only;
 * other libraries give FH_UNSUPPORTED. No session needed. Errors:
 * FH_NULL_ARGUMENT, FH_UNSUPPORTED. */
fh_status fh_backend_table(fh_backend *out);

/* Make this library the foreign front of the owner behind *backend (the
 * table is copied). Only with no session open (else FH_ALREADY_INITIALIZED);
 * may be called once per process (a second call gives FH_ALREADY_INITIALIZED).
 * Foreign fronts (the Go shim) only; other libraries give FH_UNSUPPORTED.
 * Errors: FH_NULL_ARGUMENT, FH_ALREADY_INITIALIZED, FH_UNSUPPORTED,
 * FH_INVALID_ARGUMENT (backend ABI major differs, or a NULL entry). Once
 * attached, fh_init accepts FH_RECLAIM_GUARDED and FH_RECLAIM_GO_CLEANUP
 * (others: FH_UNSUPPORTED) and forwards the session to the owner. */
fh_status fh_attach_backend(fh_backend *backend);
