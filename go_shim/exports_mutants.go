//go:build mutants

package main

// The test-only boundary of the mutants build: fh_test_set_mutant of
// fuzzharness_testing_decls.h, and what the table's mutants need from the
// boundary because safe Go cannot do it: the C null-pointer write that
// FH_MUTANT_SEGFAULT and FH_MUTANT_MAGIC_CRASH crash with (Go turns a nil dereference in Go into a
// recoverable panic), the slice one byte longer than its C allocation of
// FH_MUTANT_BOUNDS_OFF_BY_ONE, the raw-pointer cache of
// FH_MUTANT_GO_CACHE_USE_AFTER_FREE, and the process-wide last error of
// FH_MUTANT_SHARED_LAST_ERROR.

/*
#cgo CFLAGS: -I${SRCDIR}/../targets/include
#include "fuzzharness_testing.h"

__attribute__((visibility("hidden"))) void shim_write_through_null(void);
*/
import "C"

import (
	"sync"
	"unsafe"

	"fuzzharness/go_shim/internal/table"
	fhadapter "fuzzharness/kits/go"
)

// Each line fails to compile unless the table's mutant number equals the
// header's (see exports.go).
var (
	_ = [1]struct{}{}[C.FH_MUTANT_NONE-table.MutantNone]
	_ = [1]struct{}{}[C.FH_MUTANT_SNAPSHOT_SHARES-table.MutantSnapshotShares]
	_ = [1]struct{}{}[C.FH_MUTANT_SEGFAULT-table.MutantSegfault]
	_ = [1]struct{}{}[C.FH_MUTANT_HANG-table.MutantHang]
	_ = [1]struct{}{}[C.FH_MUTANT_ABORT-table.MutantAbort]
	_ = [1]struct{}{}[C.FH_MUTANT_CAUGHT_PANIC-table.MutantCaughtPanic]
	_ = [1]struct{}{}[C.FH_MUTANT_SKIP_GENERATION-table.MutantSkipGeneration]
	_ = [1]struct{}{}[C.FH_MUTANT_STALE_USE_AFTER_FREE-table.MutantStaleUseAfterFree]
	_ = [1]struct{}{}[C.FH_MUTANT_DOUBLE_RELEASE-table.MutantDoubleRelease]
	_ = [1]struct{}{}[C.FH_MUTANT_GENERATION_WRAP-table.MutantGenerationWrap]
	_ = [1]struct{}{}[C.FH_MUTANT_LEAK_ON_ERROR-table.MutantLeakOnError]
	_ = [1]struct{}{}[C.FH_MUTANT_EARLY_FREE-table.MutantEarlyFree]
	_ = [1]struct{}{}[C.FH_MUTANT_BOUNDS_OFF_BY_ONE-table.MutantBoundsOffByOne]
	_ = [1]struct{}{}[C.FH_MUTANT_RACY_ACQUIRE-table.MutantRacyAcquire]
	_ = [1]struct{}{}[C.FH_MUTANT_RECLAIM_NEVER-table.MutantReclaimNever]
	_ = [1]struct{}{}[C.FH_MUTANT_GO_CACHE_USE_AFTER_FREE-table.MutantGoCacheUseAfterFree]
	_ = [1]struct{}{}[C.FH_MUTANT_SHARED_LAST_ERROR-table.MutantSharedLastError]
	_ = [1]struct{}{}[C.FH_MUTANT_RACY_REFCOUNT-table.MutantRacyRefcount]
	_ = [1]struct{}{}[C.FH_MUTANT_UNSYNC_WRITER-table.MutantUnsyncWriter]
	_ = [1]struct{}{}[C.FH_MUTANT_MAGIC_CRASH-table.MutantMagicCrash]
	_ = [1]struct{}{}[C.FH_MUTANT_GUARD_ONE_SIDE-table.MutantGuardOneSide]
	_ = [1]struct{}{}[C.FH_MUTANT_CLEANUP_UNREACHABLE-table.MutantCleanupUnreachable]
	_ = [1]struct{}{}[C.FH_MUTANT_SNAPSHOT_PIN_RACE-table.MutantSnapshotPinRace]
)

func init() {
	table.SetPerturb(fhadapter.PerturbPoint)
	table.SetSegfault(func() { C.shim_write_through_null() })
	table.SetWiden(widenPastEnd)
	table.SetGoCache(goCache.store, goCache.load)
}

//export fh_test_set_mutant
func fh_test_set_mutant(mutant C.uint32_t) C.fh_status {
	return boundary("fh_test_set_mutant", func() error { return table.SetMutant(uint32(mutant)) })
}

// fh_test_set_perturb installs the in-call perturbation hook (NULL uninstalls);
// the table calls it at its points (table.SetPerturb) through the adapter kit.
//
//export fh_test_set_perturb
func fh_test_set_perturb(hook C.fh_perturb_hook) C.fh_status {
	return boundary("fh_test_set_perturb", func() error {
		fhadapter.SetPerturbHook(uintptr(unsafe.Pointer(hook)))
		return nil
	})
}

// widenPastEnd (FH_MUTANT_BOUNDS_OFF_BY_ONE) returns mem, a resource's C
// memory, one byte longer than its allocation: its last byte is past the end
// of the C heap block (heap-buffer-overflow under AddressSanitizer).
func widenPastEnd(mem []byte) []byte {
	return unsafe.Slice(unsafe.SliceData(mem), len(mem)+1)
}

// goCache (FH_MUTANT_GO_CACHE_USE_AFTER_FREE) keeps, by slot, a raw pointer
// to the C memory of the last resource placed in the slot, and hands it out
// again for that resource's handle even after the memory was freed (a
// use-after-free across the boundary).
var goCache = &rawCache{entries: make(map[uint32]rawEntry)}

type rawCache struct {
	mu      sync.Mutex
	entries map[uint32]rawEntry
}

// rawEntry is a C pointer kept by Go: the garbage collector ignores it, and
// nothing tells it that the memory was freed.
type rawEntry struct {
	gen uint32
	p   unsafe.Pointer
	n   int
}

func (c *rawCache) store(h table.Handle, mem []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[uint32(h)] = rawEntry{gen: uint32(h >> 32), p: unsafe.Pointer(unsafe.SliceData(mem)), n: len(mem)}
}

func (c *rawCache) load(h table.Handle) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[uint32(h)]
	if !ok || e.gen != uint32(h>>32) {
		return nil, false
	}
	return unsafe.Slice((*byte)(e.p), e.n), true
}

// shareLastError and sharedLastError: FH_MUTANT_SHARED_LAST_ERROR keeps
// the last error message process-wide (in the table package): every failed
// export makes its message (the calling thread's, just recorded by the kit's
// boundary) the shared one, and fh_last_error copies the shared one,
// whichever thread set it.
func shareLastError() {
	if table.Active(table.MutantSharedLastError) {
		table.SetSharedLastError(fhadapter.LastErrorMessage())
	}
}

func sharedLastError() (string, bool) { return table.SharedLastError() }
