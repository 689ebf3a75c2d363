/* Declarations of the native runner (fuzzharness/runner.c), readable by cffi's
 * cdef: no preprocessor lines. The op codes, handle kinds and perturbation
 * kinds are data shared with Python (fuzzharness/contract/bindings.py). */

enum fhr_code {
    FHR_CREATE = 0, FHR_ACQUIRE = 1, FHR_RELEASE = 2, FHR_WRITE = 3, FHR_READ = 4,
    FHR_SNAPSHOT = 5, FHR_INFO = 6, FHR_STATS = 7, FHR_QUIESCE = 8
};
/* SHARED / LOCAL: the indexed handle XOR value; SHARED_ADD / LOCAL_ADD: plus value (mod 2^64). */
enum fhr_hkind { FHR_H_NONE = 0, FHR_H_RAW = 1, FHR_H_SHARED = 2, FHR_H_LOCAL = 3, FHR_H_SHARED_ADD = 4,
                 FHR_H_LOCAL_ADD = 5 };
/* FHR_P_SYNC: re-synchronize (wait until every thread still running has reached this
 * thread's count of sync points, at most fhr_thread.sync_wait ns), then spin `spin`
 * iterations of jitter. */
enum fhr_perturb { FHR_P_NONE = 0, FHR_P_YIELD = 1, FHR_P_SPIN = 2, FHR_P_SYNC = 3 };

/* Addresses of the contract functions of the loaded target. `alt`: 0, or the address
 * of a second fhr_table (a cross-runtime pair: the table of its owner, while this one
 * is its foreign front's), used by the ops whose `via` is 1. */
typedef struct fhr_table {
    uint64_t create, acquire, release, write, read, snapshot, info, stats, quiesce, last_error;
    uint64_t alt;
} fhr_table;

typedef struct fhr_op {
    uint8_t code;      /* fhr_code */
    uint8_t hkind;     /* fhr_hkind: how the handle operand is resolved */
    uint8_t perturb;   /* fhr_perturb, applied right before the call */
    uint8_t via;       /* 0: the table passed to fhr_run; 1: its `alt` table (if any) */
    uint32_t index;    /* shared / local handle index */
    uint32_t spin;     /* FHR_P_SPIN iterations */
    uint32_t len;      /* write / read length */
    uint64_t value;    /* FHR_H_RAW: the handle; *_ADD: added to the indexed handle; otherwise XORed into it */
    uint64_t arg;      /* create: size; write / read: offset */
    uint64_t data;     /* write: offset in the data blob; read: offset in the thread's out blob */
} fhr_op;

typedef struct fhr_rec {
    int32_t status;    /* -1: the runner refused the op (buffer would not fit), no call made */
    uint32_t msg_len;  /* full length of the fh_last_error message after a non-OK status */
    uint64_t handle;   /* the resolved handle passed */
    uint64_t out;      /* create / snapshot: the new handle (0 on error); info: size */
    uint32_t refs;     /* info */
    uint32_t read_only;/* info */
    uint64_t t_invoke; /* CLOCK_MONOTONIC ns (from the TSC where it is invariant, see runner.c) */
    uint64_t t_return;
    uint64_t stats[6]; /* stats: fh_stats fields in order */
} fhr_rec;

typedef struct fhr_thread {
    const fhr_op *ops;
    uint32_t n_ops;
    uint32_t n_local;  /* size of local: handle producers in ops */
    fhr_rec *recs;     /* n_ops */
    uint64_t *local;   /* handles produced by this thread, in order */
    uint8_t *out;      /* read outputs */
    uint64_t out_len;
    char *msgs;        /* n_ops * msg_cap */
    uint64_t *progress;/* NULL, or where i + 1 is stored right before op i (sequential runs) */
    uint64_t sync_wait;/* FHR_P_SYNC waits at most this many ns for the other threads (0: no bound) */
    uint32_t sync_quorum; /* FHR_P_SYNC waits for this many other threads (0: all of them) */
    uint32_t spread;   /* 1: thread i of the run is pinned to the i-th core the process may use */
    const uint32_t *tickets; /* NULL, or per op its place in the run's invocation order (gated replay) */
    uint32_t *turn;    /* gated replay: the ticket whose call may start next, shared by all threads */
    uint32_t hook_seed;/* in-call perturbation (fhr_hook): this thread's seed, */
    uint32_t hook_rate;/* the chance a point perturbs, in 2^-32 units (0: never), */
    uint32_t hook_spin;/* and the spin's unit in iterations (a spin is 1..4 halves of it) */
    uint32_t hook_pad;
} fhr_thread;

uint64_t fhr_clock(void);
int fhr_clock_source(void);
int fhr_run(const fhr_table *table, fhr_thread *threads, uint32_t n_threads, const uint64_t *shared,
            uint32_t n_shared, const uint8_t *data, uint64_t data_len, uint32_t msg_cap, int timestamps);
double fhr_spin_ns(uint32_t iterations);
void fhr_hook(uint32_t point);
double fhr_bare_loop(const fhr_table *t, uint32_t code, uint64_t handle, uint64_t offset, uint32_t len,
                     uint8_t *buf, uint64_t n);
