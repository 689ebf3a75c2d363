package table

// The contract's value types, in Go with the C layouts, and the two
// interfaces through which the shim lends memory to the table.

import "fmt"

// ABI version implemented by this package (enum fh_abi).
const (
	ABIMajor = 1
	ABIMinor = 0
)

// MaxCapacity is the largest number of slots a session may have (2^20).
const MaxCapacity = 1 << 20

// Strategy says how a dead resource's memory is reclaimed
// (enum fh_reclaim_strategy).
type Strategy uint32

// The reclamation strategies of the contract.
const (
	// Immediate frees the memory in the call that drops the last reference,
	// or, if another call is still copying from the resource at that moment,
	// when that call finishes.
	Immediate Strategy = 0
	// Epoch is epoch-based deferred reclamation; this target does not
	// implement it (FH_UNSUPPORTED).
	Epoch Strategy = 1
	// GoCleanup frees the memory in a runtime.AddCleanup function once Go's
	// garbage collector finds the dead resource unreachable.
	GoCleanup Strategy = 2
)

// Config is a session configuration. Its layout is that of struct fh_config,
// so the shim can read the caller's struct in place.
type Config struct {
	Capacity         uint32
	Strategy         Strategy
	MaxResourceBytes uint64
	MaxTotalBytes    uint64
	Flags            uint64
}

// Stats are the counters of a session. Its layout is that of struct
// fh_stats. Between calls,
// Created == LiveResources + PendingResources + Reclaimed.
type Stats struct {
	LiveResources    uint64
	LiveBytes        uint64
	Created          uint64
	Reclaimed        uint64
	PendingResources uint64
	PendingBytes     uint64
}

// ResourceInfo describes a live resource. Its layout is that of struct
// fh_resource_info.
type ResourceInfo struct {
	Size     uint64
	Refs     uint32
	ReadOnly uint32
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
