//go:build mutants

package table

import (
	"sync/atomic"
	"time"
)

// Test-only mutant injection (build tag mutants), as fuzzharness_testing_decls.h
// specifies: one process-wide mutant at a time, kept across sessions. Each
// mutant plants one kind of bug so the harness can prove it finds it. Release
// builds use nomutants.go instead and contain none of this.

// Mutant is a plantable bug (enum fh_mutant).
type Mutant uint32

// The mutants of fuzzharness_testing_decls.h.
const (
	MutantNone           Mutant = 0
	MutantSnapshotShares Mutant = 1
	MutantSegfault       Mutant = 2
	MutantHang           Mutant = 3
	MutantAbort          Mutant = 4
	MutantCaughtPanic    Mutant = 5
	MutantSkipGeneration Mutant = 6
)

// The trigger of the crash mutants: a write of exactly triggerLen bytes whose
// first byte is triggerFirstByte, on a live writable handle, in bounds.
const (
	triggerLen       = 3
	triggerFirstByte = 0xFD
)

var (
	active   atomic.Uint32
	segfault func()
)

// SetMutant switches the process-wide mutant (fh_test_set_mutant). No session is
// needed.
func SetMutant(f uint32) error {
	if Mutant(f) > MutantSkipGeneration {
		return fail(InvalidArgument, "unknown mutant %d (mutants are 0..%d)", f, MutantSkipGeneration)
	}
	active.Store(f)
	return nil
}

// SetSegfault sets how MutantSegfault crashes the process. Go code cannot
// write through a null pointer (Go turns that into a recoverable panic), so
// the shim passes a C function that does. It must be called before any
// session is opened, e.g. from an init function.
func SetSegfault(crash func()) { segfault = crash }

func isActive(f Mutant) bool { return Mutant(active.Load()) == f }

func skipGeneration() bool { return isActive(MutantSkipGeneration) }
func snapshotShares() bool { return isActive(MutantSnapshotShares) }

// injectWriteMutant acts on the trigger. The caller has checked that the
// handle is live and writable and the write in bounds; data is what it
// writes.
func injectWriteMutant(data []byte) {
	if len(data) != triggerLen || data[0] != triggerFirstByte {
		return
	}
	switch Mutant(active.Load()) {
	case MutantSegfault:
		segfault()
	case MutantHang:
		sleepForever()
	case MutantAbort:
		go func() { panic("fuzzharness: injected mutant FH_MUTANT_ABORT (uncaught, on a goroutine of its own)") }()
		sleepForever()
	case MutantCaughtPanic:
		panic("fuzzharness: injected mutant FH_MUTANT_CAUGHT_PANIC")
	}
}

// sleepForever blocks the calling goroutine for good. It sleeps rather than
// blocking on a channel so the runtime never reports a deadlock.
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}
