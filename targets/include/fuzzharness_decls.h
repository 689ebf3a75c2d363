/*
 * fuzzharness ownership contract, ABI 1.0: declarations.
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
    FH_TIMED_OUT = 13           /* fh_quiesce could not finish deferred reclamation */
    /* 14..99: reserved for later contract versions. 100..: test builds only. */
};

/* Reclamation strategies: what happens to a resource's memory when it dies. */
enum fh_reclaim_strategy {
    FH_RECLAIM_IMMEDIATE = 0,   /* freed inside the call that drops the last reference */
    FH_RECLAIM_EPOCH = 1,       /* deferred: freed once no thread can still be reading it (epoch-based) */
    FH_RECLAIM_GO_CLEANUP = 2   /* deferred: freed by a Go GC cleanup once the Go wrapper is unreachable */
    /* 3..: reserved (guarded two-runtime release is planned). */
};

/* ABI version implemented by the targets described in this file. */
enum fh_abi {
    FH_ABI_MAJOR = 1,
    FH_ABI_MINOR = 0
};

/* Session configuration, read by fh_init (the callee copies it). */
typedef struct fh_config {
    uint32_t capacity;           /* number of slots, 1..1048576 (2^20) */
    uint32_t strategy;           /* an fh_reclaim_strategy */
    uint64_t max_resource_bytes; /* fh_create(size) with size > this -> FH_EXHAUSTED */
    uint64_t max_total_bytes;    /* live_bytes may never exceed this: a create or
                                    snapshot that would -> FH_EXHAUSTED */
    uint64_t flags;              /* reserved, must be 0 */
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
 * 0 or > 2^20, flags != 0), FH_UNSUPPORTED (strategy not implemented).
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
