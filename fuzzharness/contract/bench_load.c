/*
 * fuzzharness benchmark load generator: contract traffic on native threads.
 *
 * Compiled by cffi's API mode (fuzzharness/contract/bindings.py, the "bench" section)
 * into build/bench/. Like the native runner it never loads a target: it gets
 * the addresses of the contract functions of libraries already loaded in the
 * process (one table per runtime; two for a cross-runtime pair).
 *
 * Each thread keeps a fixed live set of `live` resources, each holding exactly
 * one reference, and runs the op mix until told to stop:
 *   REPLACE   release a live resource through the runtime that took its
 *             reference (it dies: the only reference), create a new one through
 *             a runtime picked at random;
 *   ACQREL    acquire through a random runtime, release through the same one;
 *   WRITE / READ through a random runtime;
 *   SNAPSHOT  snapshot through a random runtime, release it through that one
 *             (the snapshot dies).
 * So every release goes through the runtime that holds the reference (the
 * per-runtime discipline of the cross-runtime section of the contract), no
 * handle is ever shared between threads, and each thread knows exactly how many
 * resources it created and killed: the harness checks those counts against
 * fh_get_stats and the reclamation events.
 *
 * Threads first create their live set and make one call into every runtime
 * (Go's first call on a new thread costs ~0.1 ms), then wait at a spinning
 * barrier; fhb_start returns once they are released. A failed call is counted,
 * the first one is kept with its fh_last_error message, and the thread goes on
 * (a dead or empty slot is refilled by a create).
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int32_t (*fhb_create_fn)(uint64_t, uint64_t *);
typedef int32_t (*fhb_handle_fn)(uint64_t);
typedef int32_t (*fhb_bytes_fn)(uint64_t, uint64_t, uint8_t *, size_t);
typedef int32_t (*fhb_snapshot_fn)(uint64_t, uint64_t *);
typedef int32_t (*fhb_last_error_fn)(char *, size_t, size_t *);

uint64_t fhb_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct fhb_thread {
    struct fhb_load *load;
    uint32_t index;
    pthread_t tid;
    int started;
};

struct fhb_load {
    fhb_table tables[2];
    fhb_config config;
    fhb_result *results;
    struct fhb_thread *threads;
    uint32_t weight_total;
    volatile uint32_t ready;   /* threads done with their set-up */
    volatile uint32_t go;      /* 1: start the mix */
    volatile uint32_t stop;    /* 1: leave the loop */
    volatile uint64_t *progress; /* per thread, calls so far */
};

static inline uint64_t fhb_rand(uint64_t *s) { /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void fhb_error(struct fhb_load *load, fhb_result *res, const fhb_table *t, int32_t status, uint32_t op) {
    res->errors++;
    if (res->first_error_status == 0) {
        size_t len = 0;
        res->first_error_status = status;
        res->first_error_op = op;
        ((fhb_last_error_fn)t->last_error)(res->first_error, sizeof res->first_error, &len);
    }
    (void)load;
}

static void *fhb_thread_main(void *arg) {
    struct fhb_thread *me = arg;
    struct fhb_load *load = me->load;
    const fhb_config *cfg = &load->config;
    fhb_result *res = &load->results[me->index];
    const uint32_t n_tables = cfg->n_tables, live = cfg->live;
    uint64_t rng = cfg->seed * 0x9E3779B97F4A7C15ull + me->index + 1;
    uint64_t *handles = calloc(live, sizeof *handles);
    uint8_t *owner = calloc(live, 1);
    uint8_t *buf = calloc(cfg->io_len ? cfg->io_len : 1, 1);
    uint32_t cumulative[FHB_N_OPS];
    uint32_t acc = 0;
    for (int i = 0; i < FHB_N_OPS; i++) cumulative[i] = (acc += cfg->weights[i]);
    memset(buf, 0xA5, cfg->io_len ? cfg->io_len : 1);

    /* Attach to every runtime, then create the live set (not part of the window). */
    for (uint32_t r = 0; r < n_tables; r++) {
        size_t len = 0;
        ((fhb_last_error_fn)load->tables[r].last_error)(NULL, 0, &len);
    }
    for (uint32_t i = 0; i < live && handles; i++) {
        uint32_t r = n_tables > 1 ? (uint32_t)(fhb_rand(&rng) & 1) : 0;
        int32_t st = ((fhb_create_fn)load->tables[r].create)(cfg->size, &handles[i]);
        if (st == 0) { owner[i] = (uint8_t)r; res->created++; }
        else { handles[i] = 0; fhb_error(load, res, &load->tables[r], st, 99); }
    }
    __atomic_add_fetch(&load->ready, 1, __ATOMIC_ACQ_REL);
    for (uint32_t spins = 0; !__atomic_load_n(&load->go, __ATOMIC_ACQUIRE); spins++) {
        if (spins > 2000) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
        else __builtin_ia32_pause();
#endif
    }
    res->t_start = fhb_clock();
    uint64_t calls = 0, mix_ops = 0;
    while (handles && owner && buf && !__atomic_load_n(&load->stop, __ATOMIC_RELAXED)) {
        uint64_t x = fhb_rand(&rng);
        uint32_t pick = (uint32_t)(x % acc);
        uint32_t op = 0;
        while (pick >= cumulative[op]) op++;
        uint32_t slot = (uint32_t)((x >> 32) % live);
        uint32_t r = n_tables > 1 ? (uint32_t)((x >> 20) & 1) : 0;
        const fhb_table *t = &load->tables[r];
        uint64_t h = handles[slot];
        int32_t st;
        if (h == 0) op = FHB_REPLACE; /* an empty slot (a failed create) is refilled */
        switch (op) {
        case FHB_REPLACE:
            if (h != 0) {
                const fhb_table *ot = &load->tables[owner[slot]];
                st = ((fhb_handle_fn)ot->release)(h);
                calls++;
                res->calls_by_runtime[owner[slot]]++;
                if (st == 0) res->died++;
                else fhb_error(load, res, ot, st, op);
                handles[slot] = 0;
            }
            st = ((fhb_create_fn)t->create)(cfg->size, &handles[slot]);
            calls++;
            res->calls_by_runtime[r]++;
            if (st == 0) { owner[slot] = (uint8_t)r; res->created++; }
            else { handles[slot] = 0; fhb_error(load, res, t, st, op); }
            break;
        case FHB_ACQREL:
            st = ((fhb_handle_fn)t->acquire)(h);
            calls++;
            if (st == 0) {
                st = ((fhb_handle_fn)t->release)(h);
                calls++;
                res->calls_by_runtime[r]++;
                if (st != 0) fhb_error(load, res, t, st, op);
            } else {
                fhb_error(load, res, t, st, op);
            }
            res->calls_by_runtime[r]++;
            break;
        case FHB_WRITE:
            st = ((fhb_bytes_fn)t->write)(h, 0, buf, cfg->io_len);
            calls++;
            res->calls_by_runtime[r]++;
            if (st != 0) fhb_error(load, res, t, st, op);
            break;
        case FHB_READ:
            st = ((fhb_bytes_fn)t->read)(h, 0, buf, cfg->io_len);
            calls++;
            res->calls_by_runtime[r]++;
            if (st != 0) fhb_error(load, res, t, st, op);
            break;
        case FHB_SNAPSHOT: {
            uint64_t snap = 0;
            st = ((fhb_snapshot_fn)t->snapshot)(h, &snap);
            calls++;
            res->calls_by_runtime[r]++;
            if (st == 0) {
                res->created++;
                st = ((fhb_handle_fn)t->release)(snap);
                calls++;
                res->calls_by_runtime[r]++;
                if (st == 0) res->died++;
                else fhb_error(load, res, t, st, op);
            } else {
                fhb_error(load, res, t, st, op);
            }
            break;
        }
        default: break;
        }
        res->per_op[op]++;
        mix_ops++;
        if ((mix_ops & 255) == 0) __atomic_store_n(&load->progress[me->index], calls, __ATOMIC_RELAXED);
    }
    res->t_end = fhb_clock();
    res->calls = calls;
    res->mix_ops = mix_ops;
    __atomic_store_n(&load->progress[me->index], calls, __ATOMIC_RELAXED);
    if (!handles || !owner || !buf) res->errors++;
    free(handles);
    free(owner);
    free(buf);
    return NULL;
}

fhb_load *fhb_start(const fhb_table *tables, const fhb_config *config, fhb_result *results) {
    uint32_t total = 0;
    for (int i = 0; i < FHB_N_OPS; i++) total += config->weights[i];
    if (config->n_threads == 0 || config->n_threads > 256 || config->n_tables == 0 || config->n_tables > 2 ||
        config->live == 0 || config->io_len > config->size || total == 0)
        return NULL;
    struct fhb_load *load = calloc(1, sizeof *load);
    if (!load) return NULL;
    memcpy(load->tables, tables, config->n_tables * sizeof *tables);
    load->config = *config;
    load->results = results;
    load->weight_total = total;
    memset(results, 0, config->n_threads * sizeof *results);
    load->threads = calloc(config->n_threads, sizeof *load->threads);
    load->progress = calloc(config->n_threads, sizeof *load->progress);
    if (!load->threads || !load->progress) {
        free(load->threads);
        free((void *)load->progress);
        free(load);
        return NULL;
    }
    uint32_t started = 0;
    for (uint32_t i = 0; i < config->n_threads; i++) {
        load->threads[i] = (struct fhb_thread){load, i, 0, 0};
        if (pthread_create(&load->threads[i].tid, NULL, fhb_thread_main, &load->threads[i]) != 0) break;
        load->threads[i].started = 1;
        started++;
    }
    /* Wait for every started thread's set-up, then release them together. */
    while (__atomic_load_n(&load->ready, __ATOMIC_ACQUIRE) < started) sched_yield();
    if (started < config->n_threads) load->stop = 1;
    __atomic_store_n(&load->go, 1, __ATOMIC_RELEASE);
    if (started < config->n_threads) {
        fhb_stop(load);
        return NULL;
    }
    return load;
}

uint64_t fhb_progress(fhb_load *load) {
    uint64_t sum = 0;
    for (uint32_t i = 0; i < load->config.n_threads; i++) sum += __atomic_load_n(&load->progress[i], __ATOMIC_RELAXED);
    return sum;
}

void fhb_stop(fhb_load *load) {
    __atomic_store_n(&load->stop, 1, __ATOMIC_RELEASE);
    for (uint32_t i = 0; i < load->config.n_threads; i++)
        if (load->threads[i].started) pthread_join(load->threads[i].tid, NULL);
    free(load->threads);
    free((void *)load->progress);
    free(load);
}
