/* Declarations of the benchmark load generator (fuzzharness/bench_load.c),
 * readable by cffi's cdef: no preprocessor lines. Shared with Python through
 * fuzzharness/contract/bindings.py (the "bench" section). */

/* Addresses of the contract functions of one loaded library (one runtime). */
typedef struct fhb_table {
    uint64_t create, acquire, release, write, read, snapshot, last_error;
} fhb_table;

/* The operations of the mix. Each is one or two contract calls:
 *   REPLACE   release one of the thread's live resources (it dies), create a new one
 *   ACQREL    acquire a live resource, then release it (through the same runtime)
 *   WRITE     write io_len bytes at offset 0
 *   READ      read io_len bytes at offset 0
 *   SNAPSHOT  snapshot a live resource, then release the snapshot (it dies) */
enum fhb_op { FHB_REPLACE = 0, FHB_ACQREL = 1, FHB_WRITE = 2, FHB_READ = 3, FHB_SNAPSHOT = 4, FHB_N_OPS = 5 };

typedef struct fhb_config {
    uint32_t n_threads;     /* 1..256 */
    uint32_t n_tables;      /* 1, or 2: a cross-runtime pair (table 0 owner, table 1 foreign) */
    uint32_t live;          /* resources each thread keeps alive, >= 1 */
    uint32_t size;          /* bytes of every resource */
    uint32_t io_len;        /* bytes of every write / read, <= size */
    uint32_t weights[5];    /* relative weight of each fhb_op; their sum > 0 */
    uint64_t seed;
} fhb_config;

typedef struct fhb_result {
    uint64_t mix_ops;             /* mix operations completed in the window */
    uint64_t calls;               /* contract calls made in the window */
    uint64_t per_op[5];           /* mix operations by fhb_op */
    uint64_t calls_by_runtime[2]; /* contract calls through table 0 / table 1 */
    uint64_t created;             /* resources created (fh_create and fh_snapshot), set-up included */
    uint64_t died;                /* last references dropped (each kills one resource) */
    uint64_t errors;              /* calls that returned a non-OK status */
    uint64_t t_start;             /* CLOCK_MONOTONIC ns: this thread's first op */
    uint64_t t_end;               /* CLOCK_MONOTONIC ns: right after its last op */
    int32_t first_error_status;   /* status of the first failed call (0: none) */
    uint32_t first_error_op;      /* its fhb_op (99: set-up create) */
    char first_error[256];        /* fh_last_error of the first failed call */
} fhb_result;

typedef struct fhb_load fhb_load;

/* Create every thread, let each create its live set and make one call into every
 * runtime, then release them together; returns once they are running (NULL if a
 * thread could not be started or the config is out of range). results: n_threads. */
fhb_load *fhb_start(const fhb_table *tables, const fhb_config *config, fhb_result *results);
/* Contract calls made so far by all threads (updated every few hundred calls). */
uint64_t fhb_progress(fhb_load *load);
/* Stop the threads, join them and free the load; the results are final after it.
 * The live sets are NOT released: they stay alive until fh_shutdown. */
void fhb_stop(fhb_load *load);
uint64_t fhb_clock(void);
