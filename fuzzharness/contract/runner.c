/*
 * fuzzharness native runner: executes operation programs on native threads.
 *
 * Compiled by cffi's API mode (see fuzzharness/contract/bindings.py, NativeRunner) into
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
 *  - every op is recorded: resolved handle, status, outputs, and invoke/return
 *    stamps in CLOCK_MONOTONIC nanoseconds. One clock read per op: the return
 *    stamp of an op is the invoke stamp of the next op of the same thread
 *    unless a perturbation runs in between (then a fresh stamp is taken after
 *    it). The recorded interval therefore contains the real call plus a few ns
 *    of the runner's bookkeeping: intervals are only ever widened, which can
 *    make the checker accept more orders, never fewer (no false alarm), and
 *    overlap figures are slightly generous;
 *  - the clock (see fhr_clock_setup): on x86-64 with an invariant TSC
 *    (constant_tsc and nonstop_tsc in /proc/cpuinfo: one rate, never stopped,
 *    synchronized across cores, so stamps of different threads compare), a
 *    stamp is LFENCE then RDTSC (Linux's rdtsc_ordered, what the vDSO's
 *    clock_gettime does too, minus its conversion): LFENCE waits until every
 *    earlier instruction -- the previous call, its locked release -- has
 *    executed, so a return stamp is never read before the call's effects.
 *    A bare RDTSC is cheaper still (~1.6x the bare loop for Rust instead of
 *    ~2.1x on the development VM, where the fence costs ~20 ns) but may run
 *    speculatively before the call's last locked instruction, narrowing the
 *    recorded interval: a possible false non-linearizable finding, so no.
 *    Ticks are converted to CLOCK_MONOTONIC ns after the
 *    run, with a rate calibrated against CLOCK_MONOTONIC (once per process,
 *    refined at every run from the first calibration point) and an anchor
 *    (tick, ns) pair read at the start of each run. Elsewhere, or with
 *    FUZZHARNESS_CLOCK=monotonic in the environment, stamps are clock_gettime;
 *  - sequential runs can publish progress: with fhr_thread.progress set, the
 *    runner stores i + 1 there right before op i (a plain store into memory the
 *    caller may share with another process), so when a target kills or hangs
 *    the process the op in flight is still known;
 *  - after every non-OK status the SAME thread calls fh_last_error and the
 *    message is recorded, so a message leaking between threads shows;
 *  - a buffer passed to fh_write / fh_read is never shorter than len: writes
 *    read from the caller's data blob, reads land in the caller's output blob,
 *    at offsets the caller computed from the same lengths (and the bounds are
 *    checked here again: an op whose buffer would not fit gets status -1
 *    without any call);
 *  - a cross-runtime pair runs with two tables (fhr_table.alt): each op calls the
 *    functions of the table its `via` names, and fetches fh_last_error from the
 *    same runtime after a non-OK status;
 *  - schedule perturbation (PCT-style) is data: an op may ask for a
 *    sched_yield() or a busy spin of N iterations right before its call. The
 *    caller derives those from a recorded seed, so a schedule can be replayed;
 *    fhr_spin_ns measures what one spin iteration costs, so the caller can size
 *    spins in units of the target's own call time;
 *  - re-synchronization (FHR_P_SYNC): the op's thread publishes how many sync
 *    points it has reached and waits until every other thread has reached as many
 *    or has finished its ops (a finished thread never blocks anyone, so threads of
 *    different lengths cannot deadlock) -- or, with a quorum q, until q of them
 *    have (with more threads than cores, a partner on the other core is what
 *    makes calls collide) -- then spins its jitter. Threads meet every
 *    few ops instead of drifting apart for a whole run. The wait is bounded
 *    (fhr_thread.sync_wait ns, sized by the caller to a few dozen calls): with more
 *    threads than cores, a thread that is not on a core would otherwise hold every
 *    running one back until the scheduler brings it back (milliseconds), and the
 *    threads would run one after another instead of together. The wait spins and
 *    never yields: a running thread it waits for arrives within a few calls;
 *  - spreading (fhr_thread.spread): thread i of a run is pinned to the i-th core the
 *    process may use, round robin. Left alone, the kernel often stacks a short run's
 *    threads on one core of a busy machine, where they run one after another and
 *    never collide; pinned, every core that gives the process time runs one of them
 *    (measured on 2 shared cores, Rust: overlap 14-18% -> 30-32%);
 *  - in-call perturbation: fhr_hook is the hook a target's test build calls at its
 *    own points inside a call (fh_test_set_perturb); on a runner thread it yields or
 *    spins, decided by a hash of the thread's seed, the op's index, the number of
 *    points this op has passed and the point, so a run's schedule replays (on
 *    any other thread it does nothing);
 *  - gated replay (fhr_thread.tickets): every op carries its place in a recorded
 *    invocation order; a thread waits until the shared turn counter reaches its
 *    op's ticket, advances it and makes the call, so calls START in the recorded
 *    order (they may still overlap: the next one may start while this one runs).
 *    The wait spins, then yields (the thread whose turn it is may need this core),
 *    and gives up after one second (a malformed ticket list must not hang a run);
 *    the op's invoke stamp is taken after the wait.
 */
#define _GNU_SOURCE 1
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

/* ---- the stamp clock: invariant TSC ticks, or CLOCK_MONOTONIC ns ---------------- */

#if defined(__x86_64__)
#include <stdio.h>
#include <x86intrin.h>
#define FHR_HAVE_TSC 1
static inline uint64_t fhr_ticks(void) {
    _mm_lfence();
    return __rdtsc();
}

/* 1 if /proc/cpuinfo's flags have constant_tsc and nonstop_tsc (an invariant TSC). */
static int fhr_tsc_invariant(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[8192];
    int ok = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0) continue;
        ok = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
        break;
    }
    fclose(f);
    return ok;
}
#else
#define FHR_HAVE_TSC 0
static inline uint64_t fhr_ticks(void) { return 0; }
#endif

/* Process-wide clock state, set up by fhr_clock_setup (fhr_run is called by one
   thread at a time in a worker; the values a run uses are copied into its jobs). */
static int fhr_clock_kind = -1; /* -1 unknown, 0 clock_gettime, 1 TSC */
static uint64_t fhr_cal_ticks, fhr_cal_ns; /* first calibration point */
static double fhr_ns_per_tick;

/* A (ticks, ns) pair read as close together as possible: the pair of the
   tightest of a few tries (a preemption between the reads shows as a wide one). */
static void fhr_clock_pair(uint64_t *ticks, uint64_t *ns) {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t a = fhr_ticks(), n = fhr_now(), b = fhr_ticks();
        if (b - a < best) { best = b - a; *ticks = a + (b - a) / 2; *ns = n; }
    }
}

/* Decides the clock (once) and returns its kind; for the TSC, reads this run's
   anchor and refines the rate against CLOCK_MONOTONIC. */
static int fhr_clock_setup(uint64_t *anchor_ticks, uint64_t *anchor_ns, double *ns_per_tick) {
    if (fhr_clock_kind < 0) {
        const char *forced = getenv("FUZZHARNESS_CLOCK");
        fhr_clock_kind = FHR_HAVE_TSC && !(forced && strcmp(forced, "monotonic") == 0) && fhr_tsc_invariant();
        if (fhr_clock_kind == 1) {
            /* First calibration: ~2 ms of CLOCK_MONOTONIC against the counter. */
            uint64_t t1, n1;
            fhr_clock_pair(&fhr_cal_ticks, &fhr_cal_ns);
            do fhr_clock_pair(&t1, &n1); while (n1 - fhr_cal_ns < 2000000);
            if (t1 <= fhr_cal_ticks) fhr_clock_kind = 0;
            else fhr_ns_per_tick = (double)(n1 - fhr_cal_ns) / (double)(t1 - fhr_cal_ticks);
        }
    }
    if (fhr_clock_kind == 1) {
        fhr_clock_pair(anchor_ticks, anchor_ns);
        /* The longer the baseline, the better the rate: refine it at every run. */
        if (*anchor_ns - fhr_cal_ns > 100000000ull && *anchor_ticks > fhr_cal_ticks)
            fhr_ns_per_tick = (double)(*anchor_ns - fhr_cal_ns) / (double)(*anchor_ticks - fhr_cal_ticks);
        *ns_per_tick = fhr_ns_per_tick;
    }
    return fhr_clock_kind;
}

static inline uint64_t fhr_stamp(int kind) { return kind == 1 ? fhr_ticks() : fhr_now(); }

/* Ticks recorded by a TSC run, converted to CLOCK_MONOTONIC ns in place. */
static void fhr_convert(fhr_thread *th, uint64_t anchor_ticks, uint64_t anchor_ns, double ns_per_tick) {
    for (uint32_t i = 0; i < th->n_ops; i++) {
        fhr_rec *rec = &th->recs[i];
        rec->t_invoke = anchor_ns + (uint64_t)(int64_t)((double)(int64_t)(rec->t_invoke - anchor_ticks) * ns_per_tick);
        rec->t_return = anchor_ns + (uint64_t)(int64_t)((double)(int64_t)(rec->t_return - anchor_ticks) * ns_per_tick);
    }
}

/* Which clock stamps use: 1 TSC, 0 clock_gettime (for the benchmark and tests). */
int fhr_clock_source(void) {
    uint64_t t, n;
    double r;
    return fhr_clock_setup(&t, &n, &r);
}

static uint64_t fhr_resolve(const fhr_op *op, const uint64_t *shared, uint32_t n_shared,
                            const uint64_t *local, uint32_t n_local) {
    switch (op->hkind) {
    case FHR_H_RAW: return op->value;
    case FHR_H_SHARED: return (op->index < n_shared ? shared[op->index] : 0) ^ op->value;
    case FHR_H_LOCAL: return (op->index < n_local ? local[op->index] : 0) ^ op->value;
    case FHR_H_SHARED_ADD: return (op->index < n_shared ? shared[op->index] : 0) + op->value;
    case FHR_H_LOCAL_ADD: return (op->index < n_local ? local[op->index] : 0) + op->value;
    default: return 0;
    }
}

static void fhr_perturb(const fhr_op *op) {
    if (op->perturb == FHR_P_YIELD) {
        sched_yield();
    } else if (op->perturb == FHR_P_SPIN || op->perturb == FHR_P_SYNC) {
        for (volatile uint32_t i = 0; i < op->spin; i++) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
}

/* What one spin iteration of fhr_perturb costs, in ns (the minimum of 5 timings). */
double fhr_spin_ns(uint32_t iterations) {
    fhr_op op = {0};
    op.perturb = FHR_P_SPIN;
    op.spin = iterations ? iterations : 1;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        uint64_t t0 = fhr_now();
        fhr_perturb(&op);
        double ns = (double)(fhr_now() - t0) / (double)op.spin;
        if (ns < best) best = ns;
    }
    return best;
}

struct fhr_job {
    const fhr_table *table;
    fhr_thread *thread;
    const uint64_t *shared;
    uint32_t n_shared;
    const uint8_t *data;
    uint64_t data_len;
    uint32_t msg_cap;
    int timestamps; /* 0: off; 1: clock_gettime; 2: TSC ticks (converted after the run) */
    uint32_t n_threads;
    volatile uint32_t *arrived; /* spinning start barrier: see fhr_thread_main */
    uint32_t index;             /* this thread's index (sync points) */
    uint32_t *reached;          /* per thread: sync points reached (NULL: run alone) */
    uint32_t *done;             /* per thread: 1 once its ops are finished */
};

/* FHR_P_SYNC: publish `k` sync points reached, then wait until enough other threads
   (fhr_thread.sync_quorum, 0: all) have reached k too -- a finished thread counts as
   arrived -- or the wait bound (fhr_thread.sync_wait ns, 0: none) has passed. */
static void fhr_sync(struct fhr_job *job, uint32_t k) {
    if (!job->reached) return;
    __atomic_store_n(&job->reached[job->index], k, __ATOMIC_RELEASE);
    const uint64_t bound = job->thread->sync_wait;
    const uint32_t others = job->n_threads - 1;
    const uint32_t quorum = job->thread->sync_quorum && job->thread->sync_quorum < others ? job->thread->sync_quorum
                                                                                        : others;
    uint64_t until = 0;
    for (uint32_t spins = 0;; spins++) {
        uint32_t arrived = 0, running = 0;
        for (uint32_t o = 0; o < job->n_threads; o++) {
            if (o == job->index) continue;
            if (__atomic_load_n(&job->done[o], __ATOMIC_ACQUIRE)) continue;
            running++;
            arrived += __atomic_load_n(&job->reached[o], __ATOMIC_ACQUIRE) >= k;
        }
        if (arrived >= (quorum < running ? quorum : running)) return;
        if (bound && (spins & 31) == 0) {
            uint64_t now = fhr_now();
            if (!until) until = now + bound;
            else if (now >= until) return;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

/* In-call perturbation: the thread and op each runner thread is running. */
static __thread const fhr_thread *fhr_hook_thread;
static __thread uint32_t fhr_hook_op, fhr_hook_calls;

static uint64_t fhr_mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void fhr_hook(uint32_t point) {
    const fhr_thread *th = fhr_hook_thread;
    if (!th || !th->hook_rate) return;
    uint64_t h = fhr_mix(((uint64_t)th->hook_seed << 32) ^ ((uint64_t)fhr_hook_op << 12)
                         ^ ((uint64_t)(fhr_hook_calls++ & 0xff) << 4) ^ point);
    if ((uint32_t)h >= th->hook_rate) return;
    if (((h >> 32) & 3) == 0) {
        sched_yield();
        return;
    }
    fhr_op spin = {0};
    spin.perturb = FHR_P_SPIN;
    spin.spin = (uint32_t)(((uint64_t)th->hook_spin * (1 + ((h >> 40) & 3))) / 2);
    fhr_perturb(&spin);
}

/* Gated replay: wait (at most ~1 s) until it is `ticket`'s turn, then pass the turn on. */
static void fhr_gate(uint32_t *turn, uint32_t ticket) {
    uint64_t until = 0;
    for (uint32_t spins = 0; __atomic_load_n(turn, __ATOMIC_ACQUIRE) < ticket; spins++) {
        if (spins < 1000) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            continue;
        }
        sched_yield();
        if ((spins & 255) == 0) {
            uint64_t now = fhr_now();
            if (!until) until = now + 1000000000ull;
            else if (now >= until) break;
        }
    }
    __atomic_fetch_add(turn, 1, __ATOMIC_ACQ_REL);
}

static void fhr_run_ops(struct fhr_job *job) {
    /* tables[op->via & 1]: a single-runtime table has no `alt`, so both entries are
       the same table and the choice costs one load per op. */
    const fhr_table *tables[2] = {job->table, job->table->alt ? (const fhr_table *)(uintptr_t)job->table->alt
                                                              : job->table};
    fhr_thread *th = job->thread;
    uint32_t produced = 0;
    struct fhr_info_out info;
    struct fhr_stats_out stats;
    const int ts = job->timestamps;
    volatile uint64_t *progress = th->progress;
    uint64_t last = ts ? fhr_stamp(ts - 1) : 0;
    uint32_t syncs = 0;
    fhr_hook_thread = th->hook_rate ? th : NULL;
    for (uint32_t i = 0; i < th->n_ops; i++) {
        const fhr_op *op = &th->ops[i];
        fhr_rec *rec = &th->recs[i];
        const fhr_table *t = tables[op->via & 1];
        uint64_t h = fhr_resolve(op, job->shared, job->n_shared, th->local, th->n_local);
        uint64_t out = 0;
        int32_t status = -1;
        rec->handle = h;
        uint64_t t0 = last;
        if (progress) *progress = (uint64_t)i + 1;
        if (op->perturb != FHR_P_NONE) {
            if (op->perturb == FHR_P_SYNC) fhr_sync(job, ++syncs);
            fhr_perturb(op);
            t0 = ts ? fhr_stamp(ts - 1) : 0;
        }
        if (th->tickets && th->turn) {
            fhr_gate(th->turn, th->tickets[i]);
            t0 = ts ? fhr_stamp(ts - 1) : 0;
        }
        fhr_hook_op = i;
        fhr_hook_calls = 0;
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
        uint64_t t1 = ts ? fhr_stamp(ts - 1) : 0;
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

/* Pins thread `index` of a run to the index-th core the process may use (round robin). */
static void fhr_spread(uint32_t index) {
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    int n = CPU_COUNT(&allowed);
    if (n <= 1) return;
    int want = (int)(index % (uint32_t)n), seen = 0;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &allowed)) continue;
        if (seen++ == want) {
            CPU_ZERO(&one);
            CPU_SET(c, &one);
            pthread_setaffinity_np(pthread_self(), sizeof one, &one);
            return;
        }
    }
}

static void fhr_run_thread_ops(struct fhr_job *job) {
    fhr_run_ops(job);
    fhr_hook_thread = NULL;
}

static void *fhr_thread_main(void *arg) {
    struct fhr_job *job = arg;
    size_t len = 0;
    if (job->thread->spread) fhr_spread(job->index);
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
    fhr_run_thread_ops(job);
    if (job->done) __atomic_store_n(&job->done[job->index], 1, __ATOMIC_RELEASE);
    return NULL;
}

int fhr_run(const fhr_table *table, fhr_thread *threads, uint32_t n_threads, const uint64_t *shared,
            uint32_t n_shared, const uint8_t *data, uint64_t data_len, uint32_t msg_cap, int timestamps) {
    if (n_threads == 0) return 0;
    struct fhr_job *jobs = calloc(n_threads, sizeof *jobs);
    if (!jobs) return -1;
    uint64_t anchor_ticks = 0, anchor_ns = 0;
    double ns_per_tick = 0;
    int kind = timestamps ? fhr_clock_setup(&anchor_ticks, &anchor_ns, &ns_per_tick) : -1;
    for (uint32_t i = 0; i < n_threads; i++) {
        jobs[i] = (struct fhr_job){table, &threads[i], shared, n_shared, data, data_len, msg_cap, kind + 1,
                                   n_threads, NULL, i, NULL, NULL};
    }
    if (n_threads == 1) {
        /* Sequential: run on the calling thread (no thread start in the measurement). */
        fhr_run_thread_ops(&jobs[0]);
        if (kind == 1) fhr_convert(&threads[0], anchor_ticks, anchor_ns, ns_per_tick);
        free(jobs);
        return 0;
    }
    volatile uint32_t arrived = 0;
    pthread_t *tids = calloc(n_threads, sizeof *tids);
    uint32_t *sync_state = calloc(2 * (size_t)n_threads, sizeof *sync_state);
    if (!tids || !sync_state) {
        free(tids);
        free(sync_state);
        free(jobs);
        return -1;
    }
    uint32_t started = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n_threads; i++) {
        jobs[i].arrived = &arrived;
        jobs[i].reached = sync_state;
        jobs[i].done = sync_state + n_threads;
        if (pthread_create(&tids[i], NULL, fhr_thread_main, &jobs[i]) != 0) { rc = -1; break; }
        started++;
    }
    if (rc != 0) {
        /* Cannot release a barrier that waits for n_threads; this only happens when the
           process is out of threads, and is reported as an internal error. */
        abort();
    }
    for (uint32_t i = 0; i < started; i++) pthread_join(tids[i], NULL);
    if (kind == 1)
        for (uint32_t i = 0; i < n_threads; i++) fhr_convert(&threads[i], anchor_ticks, anchor_ns, ns_per_tick);
    free(tids);
    free(sync_state);
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
