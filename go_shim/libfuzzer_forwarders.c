//go:build libfuzzer

/*
 * Coverage builds only (build tag libfuzzer, with -gcflags=all=-d=libfuzzer;
 * the `cov` and `mutants-cov` variants of targets/registry.toml).
 *
 * With -d=libfuzzer the Go compiler instruments every comparison and edge and
 * the runtime calls libFuzzer's __sanitizer_cov_* hooks. In -buildmode=c-shared
 * the Go object refers to them with non-PIC relocations (R_X86_64_PC32), which
 * cannot be bound to a symbol of another shared object: the link fails. So
 * this file defines them here, hidden (resolved inside the library at link
 * time, never exported), and each one forwards to libFuzzer's real hook,
 * found with dlsym(RTLD_DEFAULT, ...) on first use. The forwarders are tail
 * calls (gcc -O2, cgo's default), so the caller PC that libFuzzer reads with
 * __builtin_return_address(0) is still the Go runtime's fake PC of the
 * instrumented comparison.
 *
 * The library must be loaded after a libFuzzer opened RTLD_GLOBAL (atheris'
 * core_with_libfuzzer*.so, see fuzzharness/coverage.py): the reference to
 * LLVMFuzzerRunDriver below makes dlopen fail with "undefined symbol:
 * LLVMFuzzerRunDriver" otherwise, rather than crash on the first comparison.
 */

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*cb)(const uint8_t *, size_t));
__attribute__((used)) static void *volatile fh_needs_libfuzzer = (void *)&LLVMFuzzerRunDriver;

#define HIDDEN __attribute__((visibility("hidden")))

static void *resolve(void *volatile *cache, const char *name) {
    void *fn = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        fn = dlsym(RTLD_DEFAULT, name);
        __atomic_store_n(cache, fn, __ATOMIC_RELEASE);
    }
    return fn;
}

#define FORWARD_CMP(name, type)                                              \
    HIDDEN void name(type a, type b) {                                       \
        static void *volatile cache;                                         \
        ((void (*)(type, type))resolve(&cache, #name))(a, b);                \
    }

FORWARD_CMP(__sanitizer_cov_trace_cmp1, uint8_t)
FORWARD_CMP(__sanitizer_cov_trace_cmp2, uint16_t)
FORWARD_CMP(__sanitizer_cov_trace_cmp4, uint32_t)
FORWARD_CMP(__sanitizer_cov_trace_cmp8, uint64_t)
FORWARD_CMP(__sanitizer_cov_trace_const_cmp1, uint8_t)
FORWARD_CMP(__sanitizer_cov_trace_const_cmp2, uint16_t)
FORWARD_CMP(__sanitizer_cov_trace_const_cmp4, uint32_t)
FORWARD_CMP(__sanitizer_cov_trace_const_cmp8, uint64_t)

HIDDEN void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *end) {
    static void *volatile cache;
    ((void (*)(uint8_t *, uint8_t *))resolve(&cache, "__sanitizer_cov_8bit_counters_init"))(start, end);
}

HIDDEN void __sanitizer_cov_pcs_init(const uintptr_t *start, const uintptr_t *end) {
    static void *volatile cache;
    ((void (*)(const uintptr_t *, const uintptr_t *))resolve(&cache, "__sanitizer_cov_pcs_init"))(start, end);
}

HIDDEN void __sanitizer_weak_hook_strcmp(void *caller_pc, const char *s1, const char *s2, int result) {
    static void *volatile cache;
    ((void (*)(void *, const char *, const char *, int))resolve(&cache, "__sanitizer_weak_hook_strcmp"))(
        caller_pc, s1, s2, result);
}
