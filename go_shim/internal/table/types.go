package table

// The contract's value types, in Go with the C layouts, and the two
// interfaces through which the shim lends memory to the table.

import (
	"fmt"

	fhadapter "fuzzharness/kits/go"
)

// ABI version implemented by this package (enum fh_abi).
const (
	ABIMajor = fhadapter.ABIMajor
	ABIMinor = fhadapter.ABIMinor
)

// MaxCapacity is the largest number of slots a session may have (2^20).
const MaxCapacity = fhadapter.MaxCapacity

// Strategy says how a dead resource's memory is reclaimed
// (enum fh_reclaim_strategy).
type Strategy = fhadapter.Strategy

// The reclamation strategies of the contract.
const (
	// Immediate frees the memory in the call that drops the last reference,
	// or, if another call is still copying from the resource at that moment,
	// when that call finishes.
	Immediate = fhadapter.ReclaimImmediate
	// Epoch is epoch-based deferred reclamation; this target does not
	// implement it (FH_UNSUPPORTED).
	Epoch = fhadapter.ReclaimEpoch
	// GoCleanup frees the memory in a runtime.AddCleanup function once Go's
	// garbage collector finds the dead resource unreachable.
	GoCleanup = fhadapter.ReclaimGoCleanup
	// Guarded is the guarded two-runtime release of cross-runtime owners
	// (ABI 1.1). This package is no owner: a standalone session refuses it
	// (FH_UNSUPPORTED); the foreign front (package front) forwards it.
	Guarded = fhadapter.ReclaimGuarded
)

// The bits of Config.Flags (enum fh_config_flag, ABI 1.1).
const (
	// FlagReclaimEvents records one ReclaimEvent per resource whose memory
	// is freed, for DrainReclaimEvents.
	FlagReclaimEvents = fhadapter.FlagReclaimEvents
	// knownFlags is every flag bit this package accepts.
	knownFlags = FlagReclaimEvents
)

// Clock reads CLOCK_MONOTONIC in nanoseconds (the shim's reads the C clock,
// so that stamps compare with the harness's and the other runtime's).
type Clock func() uint64

// Config is a session configuration (struct fh_config), Stats the counters
// of a session (struct fh_stats; between calls, Created == LiveResources +
// PendingResources + Reclaimed), ResourceInfo what fh_info reports about a
// live resource (struct fh_resource_info): the kit's types, with the C
// layouts, so the shim reads and writes the caller's structs in place.
type (
	Config       = fhadapter.Config
	Stats        = fhadapter.Stats
	ResourceInfo = fhadapter.ResourceInfo
)

// ReclaimEvent records that a dead resource's memory was freed. Its layout
// is that of struct fh_reclaim_event.
type ReclaimEvent struct {
	Handle     Handle
	Bytes      uint64
	ReleasedNs uint64 // when the release that killed it dropped its last reference
	FreedNs    uint64 // when its memory was freed
	Strategy   Strategy
	Reserved   uint32
}

// EventBuffer is a caller-owned array of ReclaimEvent as the C API passes it
// (fh_drain_reclaim_events): a pointer that may be NULL, and a capacity in
// events. Events is called only after every check, with n <= Cap().
type EventBuffer interface {
	// Null reports whether the pointer is NULL.
	Null() bool
	// Cap is the number of events the buffer holds.
	Cap() uint64
	// Events returns the first n events of the buffer as a slice.
	Events(n int) []ReclaimEvent
}

// Handle names a resource: bits 0..31 are the slot index, bits 32..63 the
// slot's generation when the resource was placed in it.
type Handle uint64

func makeHandle(slot, gen uint32) Handle { return Handle(gen)<<32 | Handle(slot) }

func (h Handle) slot() uint32 { return uint32(h) }
func (h Handle) gen() uint32  { return uint32(h >> 32) }

// String formats the handle as messages name it: 0x followed by 16 hex digits.
func (h Handle) String() string { return fmt.Sprintf("0x%016x", uint64(h)) }

// Allocator provides the memory of resources. The shim allocates on the C
// heap so that sanitizers and leak checkers see it; tests use the Go heap.
// Both methods must be safe for concurrent use.
type Allocator interface {
	// Alloc returns n zero bytes (n > 0), or nil when they cannot be had.
	Alloc(n uint64) []byte
	// Free releases a slice returned by Alloc, exactly once.
	Free(b []byte)
}

// Buffer is a caller-owned byte buffer as the C API passes it: a pointer that
// may be NULL, and a length. Bytes is called only once every check of the
// call has passed, so a length that could never be a Go slice (an overflowing
// or out-of-bounds one) is rejected before any slice is made.
type Buffer interface {
	// Null reports whether the pointer is NULL.
	Null() bool
	// Len is the length in bytes.
	Len() uint64
	// Bytes returns the buffer as a slice of Len bytes (nil when Null).
	Bytes() []byte
}
