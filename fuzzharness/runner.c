/*
 * fuzzharness native runner: executes operation programs on native threads.
 *
 * Compiled by cffi's API mode (see fuzzharness/_native.py, NativeRunner) into
 * build/runner/. It never loads a target itself: the caller passes the
 * addresses of the contract functions of a library that is already loaded
 * (cffi ABI mode, in the worker), so the runner calls exactly the code the
 * rest of the harness calls.
 *
 * Guarantees:
 *  - each thread runs its own op array without touching Python (cffi releases
 *    the GIL for the whole fhr_run call);
 *  - all threads are created, attached to the target's runtime (one
 *    fh_last_error call, which pays Go's first-call-on-a-new-thread cost before
 *    the clock starts) and then released together by a spinning start barrier;
 *  - every op is recorded: resolved handle, status, outputs, and
 *    CLOCK_MONOTONIC invoke/return stamps. One clock read per op (~30 ns
 *    here): the return stamp of an op is the invoke stamp of the next op of
 *    the same thread unless a perturbation runs in between (then a fresh
 *    stamp is taken after it). The recorded interval therefore contains the
 *    real call plus a few ns of the runner's bookkeeping: intervals are only
 *    ever widened, which can make the checker accept more orders, never fewer
 *    (no false alarm), and overlap figures are slightly generous;
 *  - after every non-OK status the SAME thread calls fh_last_error and the
 *    message is recorded, so a message leaking between threads shows;
 *  - a buffer passed to fh_write / fh_read is never shorter than len: writes
 *    read from the caller's data blob, reads land in the caller's output blob,
 *    at offsets the caller computed from the same lengths (and the bounds are
 *    checked here again: an op whose buffer would not fit gets status -1
 *    without any call);
 *  - schedule perturbation (PCT-style) is data: an op may ask for a
 *    sched_yield() or a busy spin of N iterations right before its call. The
 *    caller derives those from a recorded seed, so a schedule can be replayed.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int32_t (*fhr_create_fn)(uint64_t, uint64_t *);
typedef int32_t (*fhr_handle_fn)(uint64_t);
typedef int32_t (*fhr_bytes_fn)(uint64_t, uint64_t, uint8_t *, size_t);
typedef int32_t (*fhr_snapshot_fn)(uint64_t, uint64_t *);
typedef int32_t (*fhr_info_fn)(uint64_t, void *);
typedef int32_t (*fhr_stats_fn)(void *);
typedef int32_t (*fhr_quiesce_fn)(void);
typedef int32_t (*fhr_last_error_fn)(char *, size_t, size_t *);

/* Mirrors of the contract's structs (layout fixed by the header). */
struct fhr_info_out { uint64_t size; uint32_t refs; uint32_t read_only; };
struct fhr_stats_out { uint64_t v[6]; };

static uint64_t fhr_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t fhr_clock(void) { return fhr_now(); }

static uint64_t fhr_resolve(const fhr_op *op, const uint64_t *shared, uint32_t n_shared,
                            const uint64_t *local, uint32_t n_local) {
    switch (op->hkind) {
    case FHR_H_RAW: return op->value;
    case FHR_H_SHARED: return (op->index < n_shared ? shared[op->index] : 0) ^ op->value;
    case FHR_H_LOCAL: return (op->index < n_local ? local[op->index] : 0) ^ op->value;
    default: return 0;
    }
}

static void fhr_perturb(const fhr_op *op) {
    if (op->perturb == FHR_P_YIELD) {
        sched_yield();
    } else if (op->perturb == FHR_P_SPIN) {
        for (volatile uint32_t i = 0; i < op->spin; i++) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
}

struct fhr_job {
    const fhr_table *table;
    fhr_thread *thread;
    const uint64_t *shared;
    uint32_t n_shared;
    const uint8_t *data;
    uint64_t data_len;
    uint32_t msg_cap;
    int timestamps;
    uint32_t n_threads;
    volatile uint32_t *arrived; /* spinning start barrier: see fhr_thread_main */
};

static void fhr_run_ops(struct fhr_job *job) {
    const fhr_table *t = job->table;
    fhr_thread *th = job->thread;
    uint32_t produced = 0;
    struct fhr_info_out info;
    struct fhr_stats_out stats;
    uint64_t last = job->timestamps ? fhr_now() : 0;
    for (uint32_t i = 0; i < th->n_ops; i++) {
        const fhr_op *op = &th->ops[i];
        fhr_rec *rec = &th->recs[i];
        uint64_t h = fhr_resolve(op, job->shared, job->n_shared, th->local, th->n_local);
        uint64_t out = 0;
        int32_t status = -1;
        rec->handle = h;
        uint64_t t0 = last;
        if (op->perturb != FHR_P_NONE) {
            fhr_perturb(op);
            t0 = job->timestamps ? fhr_now() : 0;
        }
        switch (op->code) {
        case FHR_CREATE: status = ((fhr_create_fn)t->create)(op->arg, &out); break;
        case FHR_ACQUIRE: status = ((fhr_handle_fn)t->acquire)(h); break;
        case FHR_RELEASE: status = ((fhr_handle_fn)t->release)(h); break;
        case FHR_WRITE:
            if (op->len == 0) status = ((fhr_bytes_fn)t->write)(h, op->arg, NULL, 0);
            else if (op->data <= job->data_len && op->len <= job->data_len - op->data)
                status = ((fhr_bytes_fn)t->write)(h, op->arg, (uint8_t *)job->data + op->data, op->len);
            break;
        case FHR_READ:
            if (op->len == 0) status = ((fhr_bytes_fn)t->read)(h, op->arg, NULL, 0);
            else if (op->data <= th->out_len && op->len <= th->out_len - op->data)
                status = ((fhr_bytes_fn)t->read)(h, op->arg, th->out + op->data, op->len);
            break;
        case FHR_SNAPSHOT: status = ((fhr_snapshot_fn)t->snapshot)(h, &out); break;
        case FHR_INFO:
            status = ((fhr_info_fn)t->info)(h, &info);
            if (status == 0) { out = info.size; rec->refs = info.refs; rec->read_only = info.read_only; }
            break;
        case FHR_STATS:
            status = ((fhr_stats_fn)t->stats)(&stats);
            if (status == 0) memcpy(rec->stats, stats.v, sizeof stats.v);
            break;
        case FHR_QUIESCE: status = ((fhr_quiesce_fn)t->quiesce)(); break;
        default: break;
        }
        uint64_t t1 = job->timestamps ? fhr_now() : 0;
        last = t1;
        rec->t_invoke = t0;
        rec->t_return = t1;
        rec->status = status;
        if (op->code == FHR_CREATE || op->code == FHR_SNAPSHOT) {
            if (status != 0) out = 0;
            if (produced < th->n_local) th->local[produced] = out;
            produced++;
        }
        rec->out = out;
        rec->msg_len = 0;
        if (status != 0 && status != -1 && job->msg_cap) {
            size_t len = 0;
            ((fhr_last_error_fn)t->last_error)(th->msgs + (size_t)i * job->msg_cap, job->msg_cap, &len);
            rec->msg_len = (uint32_t)len;
        }
    }
}

static void *fhr_thread_main(void *arg) {
    struct fhr_job *job = arg;
    size_t len = 0;
    /* Attach this thread to the target's runtime before the clock starts. */
    ((fhr_last_error_fn)job->table->last_error)(NULL, 0, &len);
    /* A spinning barrier: a futex-based pthread barrier wakes its waiters one by one,
       tens of microseconds apart, longer than a whole thread's ops take; spinning
       releases every running thread within ~100 ns. Threads not on a core yield. */
    __atomic_add_fetch(job->arrived, 1, __ATOMIC_ACQ_REL);
    for (uint32_t spins = 0; __atomic_load_n(job->arrived, __ATOMIC_ACQUIRE) < job->n_threads; spins++) {
        if (spins > 2000) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
        else __builtin_ia32_pause();
#endif
    }
    fhr_run_ops(job);
    return NULL;
}

int fhr_run(const fhr_table *table, fhr_thread *threads, uint32_t n_threads, const uint64_t *shared,
            uint32_t n_shared, const uint8_t *data, uint64_t data_len, uint32_t msg_cap, int timestamps) {
    if (n_threads == 0) return 0;
    struct fhr_job *jobs = calloc(n_threads, sizeof *jobs);
    if (!jobs) return -1;
    for (uint32_t i = 0; i < n_threads; i++) {
        jobs[i] = (struct fhr_job){table, &threads[i], shared, n_shared, data, data_len, msg_cap, timestamps,
                                   n_threads, NULL};
    }
    if (n_threads == 1) {
        /* Sequential: run on the calling thread (no thread start in the measurement). */
        fhr_run_ops(&jobs[0]);
        free(jobs);
        return 0;
    }
    volatile uint32_t arrived = 0;
    pthread_t *tids = calloc(n_threads, sizeof *tids);
    if (!tids) {
        free(jobs);
        return -1;
    }
    uint32_t started = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n_threads; i++) {
        jobs[i].arrived = &arrived;
        if (pthread_create(&tids[i], NULL, fhr_thread_main, &jobs[i]) != 0) { rc = -1; break; }
        started++;
    }
    if (rc != 0) {
        /* Cannot release a barrier that waits for n_threads; this only happens when the
           process is out of threads, and is reported as an internal error. */
        abort();
    }
    for (uint32_t i = 0; i < started; i++) pthread_join(tids[i], NULL);
    free(tids);
    free(jobs);
    return rc;
}

/* The baseline of the benchmark: the same function called in a bare C loop.
 * Returns nanoseconds per call. */
double fhr_bare_loop(const fhr_table *t, uint32_t code, uint64_t handle, uint64_t offset, uint32_t len,
                     uint8_t *buf, uint64_t n) {
    uint64_t t0 = fhr_now();
    struct fhr_info_out info;
    for (uint64_t i = 0; i < n; i++) {
        switch (code) {
        case FHR_READ: ((fhr_bytes_fn)t->read)(handle, offset, buf, len); break;
        case FHR_WRITE: ((fhr_bytes_fn)t->write)(handle, offset, buf, len); break;
        case FHR_INFO: ((fhr_info_fn)t->info)(handle, &info); break;
        case FHR_ACQUIRE: ((fhr_handle_fn)t->acquire)(handle); break;
        case FHR_RELEASE: ((fhr_handle_fn)t->release)(handle); break;
        default: break;
        }
    }
    return (double)(fhr_now() - t0) / (double)(n ? n : 1);
}
