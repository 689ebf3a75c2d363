// Package table is the whole logic of the Go target of the fuzzharness
// ownership contract (targets/include/fuzzharness_decls.h), in safe Go with
// no cgo and no unsafe of its own: sessions, the slot table and handle
// classification, lowest-free-slot allocation, generations and retired
// slots, reference counts, snapshots, the counters, the reclamation strategies (immediate and
// Go GC cleanup), the reclamation events of ABI 1.1 (FlagReclaimEvents), the
// contract's check order and the error messages. (The cross-runtime front of
// ABI 1.1 is package front, which reuses this package's types and statuses.)
//
// It guarantees what the contract promises: any 64-bit value may be passed
// as a handle and is classified as live, FH_INVALID_HANDLE or
// FH_STALE_HANDLE, never reaching another resource; a failed call changes
// nothing and writes no output; writes to a resource are serialized and a
// read sees each write entirely or not at all; memory is never freed while a
// call is still copying from or into it; between calls
// created == live + pending + reclaimed.
//
// The statuses, errors and the value types with C layouts are those of the
// Go adapter kit (kits/go, generated from the header), aliased here (the
// kit's cgo, for the last error and the layout checks, is all it brings).
// The shim (package main of go_shim) only converts C values to the Go types
// here and back. Memory comes from an Allocator, so the shim can hand out
// C-heap memory (visible to sanitizers) while tests use the Go heap.
package table
