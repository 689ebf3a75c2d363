/*
 * fuzzharness native linearizability search: one partition of a history of the
 * ownership contract, checked by Wing & Gong's search with Lowe's memoization (the
 * algorithm of fuzzharness/oracles/linearizability.py and of Porcupine's checker.go),
 * with the ownership model's step (fuzzharness/oracles/concurrent_model.py,
 * _ownership_step) written in C.
 *
 * Compiled by cffi's API mode (fuzzharness/contract/bindings.py, native_search_module)
 * into build/lincheck/. Python encodes a partition (concurrent_model.native_search) and
 * drives the search in slices (fhl_advance), so partitions are checked interleaved and a
 * time limit is checked between slices.
 *
 * Guarantees:
 *  - the same verdicts as the Python search for the same partition: the model step is
 *    a line-by-line port (statuses, counts per runtime, bytes, read-only snapshots,
 *    handle values bound to resources, INVALID/STALE interchangeable when declared,
 *    EXHAUSTED only when the program could exhaust); the ownership model is
 *    deterministic (every step has at most one next state), so the search keeps one
 *    state, changed in place and restored from an undo record when it backtracks;
 *  - the memo holds 128-bit fingerprints of (set of linearized operations, model
 *    state): the set's half is an XOR of a random 64-bit value per operation (two
 *    independent ones), the state's a sum of per-resource and per-binding hashes, both
 *    updated in O(size of the changed resource) per step. Two different
 *    configurations share a fingerprint with probability ~2^-128 per pair; a shared
 *    one would prune a configuration not yet explored (the only way this search could
 *    be wrong): with at most 2^26 entries per GiB, the chance over a whole campaign is
 *    below 2^-70;
 *  - memory is bounded: fhl_advance gets the bytes the memo may use; when growing it
 *    would pass that bound the search stops with FHL_MEMO_FULL (the caller's
 *    `unknown`), never with a verdict;
 *  - fhl_advance returns after at most `iterations` steps of the search with
 *    FHL_RUNNING, and resumes exactly where it stopped.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { FN_CREATE = 0, FN_ACQUIRE = 1, FN_RELEASE = 2, FN_WRITE = 3, FN_READ = 4, FN_SNAPSHOT = 5, FN_INFO = 6 };

/* A resource in the state; `size` bytes of contents follow it (capacity: stride - 16). */
typedef struct fhl_rec {
    uint8_t exists, alive, ro, pad;
    uint32_t c0, c1;
    uint32_t size;
} fhl_rec;

typedef struct fhl_frame {
    int32_t entry;      /* the call entry lifted */
    int32_t res;        /* the resource changed (-1: none); its old record is in undo */
    int32_t node;       /* the binding changed (-1: none) */
    int32_t old_bound;
    uint64_t h1, h2;    /* state hashes before the step */
} fhl_frame;

struct fhl_search {
    fhl_config cfg;
    const fhl_op *ops;
    uint32_t n;
    const uint8_t *blob;
    uint64_t blob_len;
    uint32_t n_res, n_nodes, stride;
    uint8_t *state;     /* n_res records of `stride` bytes */
    int32_t *bind;      /* n_nodes: the resource a value names, -1 none */
    uint8_t *undo;      /* per frame: one record */
    fhl_frame *frames;
    uint32_t depth;
    /* the event list */
    int32_t *nxt, *prv, *op_of, *match;
    uint8_t *is_call;
    int32_t entry;
    /* fingerprints */
    uint64_t *z1, *z2;
    uint64_t l1, l2, h1, h2;
    uint64_t *memo;     /* pairs; (0, 0) empty */
    uint64_t memo_slots, memo_count, memo_limit;
    /* the longest prefix */
    uint32_t *best;
    uint32_t best_len, best_valid;
    int32_t stuck;
    uint64_t iterations;
    int done;           /* the outcome once decided */
};

static uint64_t splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, uint64_t len) {
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001B3ull;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, len);
    h = (h ^ w ^ (len << 56)) * 0x100000001B3ull;
    return splitmix(h);
}

static inline fhl_rec *rec_at(fhl_search *s, int32_t r) { return (fhl_rec *)(s->state + (uint64_t)r * s->stride); }

static uint64_t rec_hash(fhl_search *s, int32_t r, uint64_t seed) {
    fhl_rec *rec = rec_at(s, r);
    uint64_t h = splitmix(seed ^ ((uint64_t)r * 0xD6E8FEB86659FD93ull));
    h = hash_bytes(h, (const uint8_t *)rec, sizeof *rec);
    return hash_bytes(h, (const uint8_t *)(rec + 1), rec->size);
}

static uint64_t bind_hash(int32_t node, int32_t bound, uint64_t seed) {
    return splitmix(seed ^ splitmix(((uint64_t)(uint32_t)node << 32) | (uint32_t)bound));
}

#define SEED1 0x243F6A8885A308D3ull
#define SEED2 0x13198A2E03707344ull

/* Before changing resource r in the step of frame f: keep its record, take it out of the hash. */
static void save_res(fhl_search *s, fhl_frame *f, int32_t r) {
    f->res = r;
    memcpy(s->undo + (uint64_t)(f - s->frames) * s->stride, rec_at(s, r), s->stride);
    s->h1 -= rec_hash(s, r, SEED1);
    s->h2 -= rec_hash(s, r, SEED2);
}

static void done_res(fhl_search *s, int32_t r) {
    s->h1 += rec_hash(s, r, SEED1);
    s->h2 += rec_hash(s, r, SEED2);
}

static void set_bind(fhl_search *s, fhl_frame *f, int32_t node, int32_t bound) {
    f->node = node;
    f->old_bound = s->bind[node];
    s->h1 += bind_hash(node, bound, SEED1) - bind_hash(node, s->bind[node], SEED1);
    s->h2 += bind_hash(node, bound, SEED2) - bind_hash(node, s->bind[node], SEED2);
    s->bind[node] = bound;
}

static void undo_frame(fhl_search *s, fhl_frame *f) {
    if (f->res >= 0) memcpy(rec_at(s, f->res), s->undo + (uint64_t)(f - s->frames) * s->stride, s->stride);
    if (f->node >= 0) s->bind[f->node] = f->old_bound;
    s->h1 = f->h1;
    s->h2 = f->h2;
}

static int32_t range_status(const fhl_config *c, uint64_t offset, uint64_t length, uint64_t size) {
    if (length > UINT64_MAX - offset) return c->overflow;
    if (offset + length > size) return c->bounds;
    return c->ok;
}

static int handle_error(const fhl_config *c, int32_t want, int32_t status) {
    return status == want || (c->either && (status == c->invalid || status == c->stale));
}

/* A producer's new resource (contents: zeros, or a copy of `from`'s), and the value it
   issued (opaque): fails when that value names a live resource. */
static int issue(fhl_search *s, fhl_frame *f, const fhl_op *op, uint32_t size, const fhl_rec *from, int ro) {
    if (op->new_key < 0 || size > s->stride - sizeof(fhl_rec)) return 0;
    if (op->issued >= 0) {
        int32_t holder = s->bind[op->issued];
        if (holder >= 0 && rec_at(s, holder)->exists && rec_at(s, holder)->alive) return 0;
    }
    /* copy the origin's bytes before the new record (possibly the origin's slot: never) is saved */
    save_res(s, f, op->new_key);
    fhl_rec *rec = rec_at(s, op->new_key);
    uint8_t *data = (uint8_t *)(rec + 1);
    memset(data, 0, s->stride - sizeof *rec);
    if (from) memcpy(data, from + 1, size);
    rec->exists = 1;
    rec->alive = 1;
    rec->ro = (uint8_t)ro;
    rec->c0 = op->side == 0;
    rec->c1 = op->side != 0;
    rec->size = size;
    done_res(s, op->new_key);
    if (op->issued >= 0) set_bind(s, f, op->issued, op->new_key);
    return 1;
}

/* The model's step for op in the current state; on success the state is changed (undo in f). */
static int step(fhl_search *s, const fhl_op *op, fhl_frame *f) {
    const fhl_config *c = &s->cfg;
    const int32_t st = op->status;
    f->res = -1;
    f->node = -1;
    f->h1 = s->h1;
    f->h2 = s->h2;
    if (op->fn == FN_CREATE) {
        if (st == c->exhausted && c->exhaustion_possible) return 1;
        if (st != c->ok) return 0;
        return issue(s, f, op, (uint32_t)(op->a > UINT32_MAX ? UINT32_MAX : op->a), NULL, 0);
    }
    int32_t r;
    if (op->key_kind == 2) {
        r = s->bind[op->key];
        if (r < 0) return handle_error(c, c->invalid, st);
    } else if (op->key_kind == 1) {
        r = op->key;
    } else {
        return 0;
    }
    fhl_rec *rec = rec_at(s, r);
    if (!rec->exists) return handle_error(c, c->invalid, st);
    if (!rec->alive) return handle_error(c, c->stale, st);
    uint32_t *count = op->side == 0 ? &rec->c0 : &rec->c1;
    uint8_t *data = (uint8_t *)(rec + 1);
    switch (op->fn) {
    case FN_ACQUIRE:
        if (*count == c->max_refs) return st == c->overflow;
        if (st != c->ok) return 0;
        save_res(s, f, r);
        (*count)++;
        done_res(s, r);
        return 1;
    case FN_RELEASE: {
        if (*count == 0) return st == c->not_held;
        if (st != c->ok) return 0;
        uint64_t refs = (uint64_t)rec->c0 + rec->c1;
        save_res(s, f, r);
        (*count)--;
        if (refs <= 1) {
            rec->alive = 0;
            memset(data, 0, rec->size);
            rec->size = 0;
        }
        done_res(s, r);
        return 1;
    }
    case FN_WRITE: {
        int32_t want = rec->ro ? c->read_only : range_status(c, op->a, op->b, rec->size);
        if (st != want) return 0;
        if (want != c->ok) return 1;
        if (op->b > s->blob_len || op->data > s->blob_len - op->b) return 0;
        save_res(s, f, r);
        memcpy(data + op->a, s->blob + op->data, op->b);
        done_res(s, r);
        return 1;
    }
    case FN_READ: {
        int32_t want = range_status(c, op->a, op->b, rec->size);
        if (st != want) return 0;
        if (want != c->ok) return 1;
        if (!op->has_value || op->b > s->blob_len || op->data > s->blob_len - op->b) return 0;
        return memcmp(data + op->a, s->blob + op->data, op->b) == 0;
    }
    case FN_INFO:
        return st == c->ok && op->a == rec->size && (uint64_t)op->refs == (uint64_t)rec->c0 + rec->c1
               && op->read_only == rec->ro;
    case FN_SNAPSHOT:
        if (st == c->exhausted && c->exhaustion_possible) return 1;
        if (st != c->ok) return 0;
        if (op->new_key == r) return 0;
        return issue(s, f, op, rec->size, rec, 1);
    default:
        return 0;
    }
}

/* 1 inserted, 0 present, -1 over the memory bound, -2 out of memory. */
static int memo_insert(fhl_search *s, uint64_t k1, uint64_t k2) {
    if (!k1 && !k2) k1 = 1;
    if ((s->memo_count + 1) * 2 > s->memo_slots) {
        uint64_t slots = s->memo_slots ? s->memo_slots * 2 : 4096;
        if (slots * 16 > s->memo_limit) return -1;
        uint64_t *table = calloc(slots, 16);
        if (!table) return -2;
        for (uint64_t i = 0; i < s->memo_slots; i++) {
            uint64_t a = s->memo[2 * i], b = s->memo[2 * i + 1];
            if (!a && !b) continue;
            uint64_t j = a & (slots - 1);
            while (table[2 * j] || table[2 * j + 1]) j = (j + 1) & (slots - 1);
            table[2 * j] = a;
            table[2 * j + 1] = b;
        }
        free(s->memo);
        s->memo = table;
        s->memo_slots = slots;
    }
    uint64_t mask = s->memo_slots - 1, j = k1 & mask;
    for (;;) {
        uint64_t a = s->memo[2 * j], b = s->memo[2 * j + 1];
        if (!a && !b) break;
        if (a == k1 && b == k2) return 0;
        j = (j + 1) & mask;
    }
    s->memo[2 * j] = k1;
    s->memo[2 * j + 1] = k2;
    s->memo_count++;
    return 1;
}

struct fhl_event { uint64_t time; uint32_t is_ret, op; };

static int event_order(const void *pa, const void *pb) {
    const struct fhl_event *a = pa, *b = pb;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    if (a->is_ret != b->is_ret) return a->is_ret < b->is_ret ? -1 : 1;
    return a->op < b->op ? -1 : a->op > b->op;
}

void fhl_free(fhl_search *s) {
    if (!s) return;
    free(s->state);
    free(s->bind);
    free(s->undo);
    free(s->frames);
    free(s->nxt);
    free(s->prv);
    free(s->op_of);
    free(s->match);
    free(s->is_call);
    free(s->z1);
    free(s->z2);
    free(s->memo);
    free(s->best);
    free(s);
}

fhl_search *fhl_new(const fhl_config *config, const fhl_op *ops, uint32_t n_ops, const fhl_res *resources,
                    uint32_t n_resources, const int32_t *bindings, uint32_t n_nodes, const uint8_t *blob,
                    uint64_t blob_len, uint32_t capacity) {
    fhl_search *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cfg = *config;
    s->ops = ops;
    s->n = n_ops;
    s->blob = blob;
    s->blob_len = blob_len;
    s->n_res = n_resources;
    s->n_nodes = n_nodes;
    s->stride = (uint32_t)sizeof(fhl_rec) + ((capacity + 7) & ~7u);
    uint64_t size = 2 * (uint64_t)n_ops + 1;
    s->state = calloc(n_resources ? n_resources : 1, s->stride);
    s->bind = calloc(n_nodes ? n_nodes : 1, sizeof *s->bind);
    s->undo = calloc(n_ops ? n_ops : 1, s->stride);
    s->frames = calloc(n_ops ? n_ops : 1, sizeof *s->frames);
    s->nxt = calloc(size, sizeof(int32_t));
    s->prv = calloc(size, sizeof(int32_t));
    s->op_of = calloc(size, sizeof(int32_t));
    s->match = calloc(size, sizeof(int32_t));
    s->is_call = calloc(size, 1);
    s->z1 = calloc(n_ops ? n_ops : 1, 8);
    s->z2 = calloc(n_ops ? n_ops : 1, 8);
    s->best = calloc(n_ops ? n_ops : 1, sizeof *s->best);
    struct fhl_event *events = calloc(2 * (uint64_t)n_ops + 1, sizeof *events);
    if (!s->state || !s->bind || !s->undo || !s->frames || !s->nxt || !s->prv || !s->op_of || !s->match
        || !s->is_call || !s->z1 || !s->z2 || !s->best || !events) {
        free(events);
        fhl_free(s);
        return NULL;
    }
    for (uint32_t r = 0; r < n_resources; r++) {
        const fhl_res *in = &resources[r];
        fhl_rec *rec = rec_at(s, r);
        rec->exists = in->exists;
        rec->alive = in->alive;
        rec->ro = in->ro;
        rec->c0 = in->c0;
        rec->c1 = in->c1;
        rec->size = in->size <= capacity ? in->size : capacity;
        if (in->exists && rec->size && in->data <= blob_len && rec->size <= blob_len - in->data)
            memcpy(rec + 1, blob + in->data, rec->size);
        s->h1 += rec_hash(s, r, SEED1);
        s->h2 += rec_hash(s, r, SEED2);
    }
    for (uint32_t v = 0; v < n_nodes; v++) {
        s->bind[v] = bindings[v];
        s->h1 += bind_hash(v, bindings[v], SEED1);
        s->h2 += bind_hash(v, bindings[v], SEED2);
    }
    for (uint32_t i = 0; i < n_ops; i++) {
        events[2 * i] = (struct fhl_event){ops[i].call, 0, i};
        events[2 * i + 1] = (struct fhl_event){ops[i].ret, 1, i};
        s->z1[i] = splitmix(SEED1 + 2 * (uint64_t)i);
        s->z2[i] = splitmix(SEED2 + 2 * (uint64_t)i + 1);
    }
    qsort(events, 2 * (uint64_t)n_ops, sizeof *events, event_order);
    int32_t *call_entry = (int32_t *)s->best; /* scratch, reset below */
    for (uint64_t p = 1; p < size; p++) {
        const struct fhl_event *e = &events[p - 1];
        s->op_of[p] = (int32_t)e->op;
        if (e->is_ret) {
            s->match[call_entry[e->op]] = (int32_t)p;
        } else {
            s->is_call[p] = 1;
            call_entry[e->op] = (int32_t)p;
        }
    }
    memset(s->best, 0, (n_ops ? n_ops : 1) * sizeof *s->best);
    free(events);
    for (uint64_t e = 0; e < size; e++) {
        s->nxt[e] = e + 1 < size ? (int32_t)(e + 1) : -1;
        s->prv[e] = (int32_t)e - 1;
    }
    s->entry = s->nxt[0];
    s->stuck = -1;
    return s;
}

static void lift(fhl_search *s, int32_t e) {
    int32_t xs[2] = {e, s->match[e]};
    for (int k = 0; k < 2; k++) {
        int32_t x = xs[k];
        s->nxt[s->prv[x]] = s->nxt[x];
        if (s->nxt[x] != -1) s->prv[s->nxt[x]] = s->prv[x];
    }
}

static void unlift(fhl_search *s, int32_t e) {
    int32_t xs[2] = {s->match[e], e};
    for (int k = 0; k < 2; k++) {
        int32_t x = xs[k];
        s->nxt[s->prv[x]] = x;
        if (s->nxt[x] != -1) s->prv[s->nxt[x]] = x;
    }
}

int fhl_advance(fhl_search *s, uint64_t iterations, uint64_t memo_cap) {
    if (s->done) return s->done;
    s->memo_limit = memo_cap;
    int32_t entry = s->entry;
    for (uint64_t it = 0; s->nxt[0] != -1; it++) {
        if (it >= iterations) {
            s->entry = entry;
            return FHL_RUNNING;
        }
        s->iterations++;
        if (s->is_call[entry]) {
            uint32_t i = (uint32_t)s->op_of[entry];
            fhl_frame *f = &s->frames[s->depth];
            if (step(s, &s->ops[i], f)) {
                uint64_t l1 = s->l1 ^ s->z1[i], l2 = s->l2 ^ s->z2[i];
                uint64_t k1 = l1 ^ (s->h1 * 0x9E3779B97F4A7C15ull), k2 = l2 + ((s->h2 << 31) | (s->h2 >> 33));
                int inserted = memo_insert(s, k1, k2);
                if (inserted < 0) {
                    undo_frame(s, f);
                    s->entry = entry;
                    return s->done = inserted == -1 ? FHL_MEMO_FULL : FHL_NO_MEMORY;
                }
                if (inserted) {
                    f->entry = entry;
                    s->depth++;
                    s->l1 = l1;
                    s->l2 = l2;
                    lift(s, entry);
                    if (s->depth > s->best_len) {
                        for (uint32_t d = s->best_valid; d < s->depth; d++)
                            s->best[d] = (uint32_t)s->op_of[s->frames[d].entry];
                        s->best_len = s->best_valid = s->depth;
                        s->stuck = -1;
                    }
                    entry = s->nxt[0];
                    continue;
                }
                undo_frame(s, f);
            }
            entry = s->nxt[entry];
        } else {
            /* A return whose call is not linearized yet: nothing after it can go first. */
            if (s->depth == s->best_len && s->stuck < 0) s->stuck = s->op_of[entry];
            if (s->depth == 0) {
                s->entry = entry;
                return s->done = FHL_ILLEGAL;
            }
            s->depth--;
            if (s->best_valid > s->depth) s->best_valid = s->depth;
            fhl_frame *f = &s->frames[s->depth];
            entry = f->entry;
            uint32_t i = (uint32_t)s->op_of[entry];
            undo_frame(s, f);
            s->l1 ^= s->z1[i];
            s->l2 ^= s->z2[i];
            unlift(s, entry);
            entry = s->nxt[entry];
        }
    }
    s->entry = entry;
    /* linearizable: the stack is the whole order */
    for (uint32_t d = 0; d < s->depth; d++) s->best[d] = (uint32_t)s->op_of[s->frames[d].entry];
    s->best_len = s->best_valid = s->depth;
    s->stuck = -1;
    return s->done = FHL_OK;
}

uint64_t fhl_memo_bytes(const fhl_search *s) { return s->memo_slots * 16; }

uint64_t fhl_iterations(const fhl_search *s) { return s->iterations; }

uint32_t fhl_longest(const fhl_search *s, uint32_t *out, uint32_t cap) {
    uint32_t n = s->best_len < cap ? s->best_len : cap;
    memcpy(out, s->best, (uint64_t)n * sizeof *out);
    return s->best_len;
}

int32_t fhl_stuck(const fhl_search *s) { return s->stuck; }
