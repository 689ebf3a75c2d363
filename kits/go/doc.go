// Package fhadapter is the Go adapter kit of the fuzzharness ownership
// contract (targets/include/fuzzharness_decls.h): what a Go library needs to
// become a target of the harness, so that an adapter holds only the mapping
// onto the library it wraps.
//
//   - The contract's constants and C-compatible types (Status, Strategy,
//     Handle, Config, Stats, ResourceInfo, ReclaimEvent), generated from the
//     header by internal/gen (`go generate`); contract_check_gen.go fails to
//     compile if any differs from the header, and the generator's test fails
//     if the committed files are not what the header gives now.
//   - The panic boundary (Boundary): a panic becomes FH_PANIC with the
//     message "fh_xxx: panic: value", never an unwinding into C.
//   - The per-thread last error (SetLastError, CopyLastError), in C
//     thread-local storage: the contract's "calling thread" is the C thread.
//   - Errors that carry their status (Error, Fail, StatusOf), the range check
//     of reads and writes (CheckRange), the stats bookkeeping and the limits
//     of fh_config (Counters).
//   - Library: the contract's functions around an adapter's Contract, with
//     the session rules, NULL checks in the header's order, outputs written
//     only on success and the boundary. Package cabi exports them as the C
//     functions of a c-shared library; an adapter's package main only calls
//     cabi.Serve (fuzzharness/contract/templates/go is the scaffold).
//
// The Go shim of this repository (go_shim) is built on the same constants,
// types, errors, boundary and last error, so everything that tests the shim
// tests them too.
package fhadapter

//go:generate go run ./internal/gen -header ../../targets/include/fuzzharness_decls.h -out .
