/* Declarations of the native linearizability search (fuzzharness/contract/lincheck.c),
 * readable by cffi's cdef: no preprocessor lines. The encoding of a partition of the
 * ownership model is written by fuzzharness/oracles/concurrent_model.py (native_search). */

/* One operation. fn: 0 create, 1 acquire, 2 release, 3 write, 4 read, 5 snapshot, 6 info. */
typedef struct fhl_op {
    uint8_t fn;
    uint8_t side;      /* the count the call moves: 0 owner, 1 foreign (single runtime) */
    uint8_t key_kind;  /* 0: no operand, 1: a resource, 2: a handle value (a node bound to a resource) */
    uint8_t has_value; /* read: the expected bytes are in the blob; 0 makes an OK read impossible */
    int32_t status;
    int32_t key;       /* resource or value-node index */
    int32_t new_key;   /* create / snapshot: the resource index it names, else -1 */
    int32_t issued;    /* create / snapshot of an opaque target: the value node it binds, else -1 */
    uint32_t refs;     /* info output */
    uint32_t read_only;/* info output */
    uint32_t pad;
    uint64_t call, ret;
    uint64_t a;        /* create: size; write / read: offset; info: size */
    uint64_t b;        /* write: payload length; read: length */
    uint64_t data;     /* write: payload offset in the blob; read: expected bytes offset */
} fhl_op;

/* A resource as it starts the partition (exists 0: not created yet). */
typedef struct fhl_res {
    uint8_t exists, alive, ro, pad;
    uint32_t c0, c1;   /* owner and foreign references */
    uint32_t size;
    uint64_t data;     /* initial contents: offset in the blob (size bytes) */
} fhl_res;

typedef struct fhl_config {
    int32_t ok, invalid, stale, exhausted, overflow, not_held, bounds, read_only;
    uint32_t max_refs;
    uint8_t exhaustion_possible, either, pad1, pad2;
} fhl_config;

/* Outcomes of fhl_advance. */
enum fhl_outcome { FHL_RUNNING = 0, FHL_OK = 1, FHL_ILLEGAL = 2, FHL_MEMO_FULL = 3, FHL_NO_MEMORY = 4 };

typedef struct fhl_search fhl_search;

fhl_search *fhl_new(const fhl_config *config, const fhl_op *ops, uint32_t n_ops, const fhl_res *resources,
                    uint32_t n_resources, const int32_t *bindings, uint32_t n_nodes, const uint8_t *blob,
                    uint64_t blob_len, uint32_t capacity);
int fhl_advance(fhl_search *s, uint64_t iterations, uint64_t memo_cap);
uint64_t fhl_memo_bytes(const fhl_search *s);
uint64_t fhl_iterations(const fhl_search *s);
/* The longest linearizable prefix found (op indices, in order); returns its length. */
uint32_t fhl_longest(const fhl_search *s, uint32_t *out, uint32_t cap);
int32_t fhl_stuck(const fhl_search *s);
void fhl_free(fhl_search *s);
