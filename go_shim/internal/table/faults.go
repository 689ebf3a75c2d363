//go:build faults

package table

import (
	"sync/atomic"
	"time"
)

// Test-only fault injection (build tag faults), as fuzzharness_testing_decls.h
// specifies: one process-wide fault at a time, kept across sessions. Each
// fault plants one kind of bug so the harness can prove it finds it. Release
// builds use nofaults.go instead and contain none of this.

// Fault is a plantable bug (enum fh_fault).
type Fault uint32

// The faults of fuzzharness_testing_decls.h.
const (
	FaultNone           Fault = 0
	FaultSnapshotShares Fault = 1
	FaultSegfault       Fault = 2
	FaultHang           Fault = 3
	FaultAbort          Fault = 4
	FaultCaughtPanic    Fault = 5
	FaultSkipGeneration Fault = 6
)

// The trigger of the crash faults: a write of exactly triggerLen bytes whose
// first byte is triggerFirstByte, on a live writable handle, in bounds.
const (
	triggerLen       = 3
	triggerFirstByte = 0xFD
)

var (
	active   atomic.Uint32
	segfault func()
)

// SetFault switches the process-wide fault (fh_test_set_fault). No session is
// needed.
func SetFault(f uint32) error {
	if Fault(f) > FaultSkipGeneration {
		return fail(InvalidArgument, "unknown fault %d (faults are 0..%d)", f, FaultSkipGeneration)
	}
	active.Store(f)
	return nil
}

// SetSegfault sets how FaultSegfault crashes the process. Go code cannot
// write through a null pointer (Go turns that into a recoverable panic), so
// the shim passes a C function that does. It must be called before any
// session is opened, e.g. from an init function.
func SetSegfault(crash func()) { segfault = crash }

func isActive(f Fault) bool { return Fault(active.Load()) == f }

func skipGeneration() bool { return isActive(FaultSkipGeneration) }
func snapshotShares() bool { return isActive(FaultSnapshotShares) }

// injectWriteFault acts on the trigger. The caller has checked that the
// handle is live and writable and the write in bounds; data is what it
// writes.
func injectWriteFault(data []byte) {
	if len(data) != triggerLen || data[0] != triggerFirstByte {
		return
	}
	switch Fault(active.Load()) {
	case FaultSegfault:
		segfault()
	case FaultHang:
		sleepForever()
	case FaultAbort:
		go func() { panic("fuzzharness: injected fault FH_FAULT_ABORT (uncaught, on a goroutine of its own)") }()
		sleepForever()
	case FaultCaughtPanic:
		panic("fuzzharness: injected fault FH_FAULT_CAUGHT_PANIC")
	}
}

// sleepForever blocks the calling goroutine for good. It sleeps rather than
// blocking on a channel so the runtime never reports a deadlock.
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}
