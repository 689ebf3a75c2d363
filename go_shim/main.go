// Command go_shim is the Go target of the fuzzharness ownership contract,
// built with -buildmode=c-shared into libfuzzharness_go.so. It exports the
// functions of targets/include/fuzzharness_decls.h (and, with the build tag
// mutants, fh_test_set_mutant of fuzzharness_testing_decls.h).
//
// The logic lives in internal/table (the standalone target) and
// internal/front (ABI 1.1: the foreign front of a cross-runtime pair, after
// fh_attach_backend), in safe Go. This package is the boundary: exports.go
// is the only file with cgo and unsafe code (plus exports_mutants.go and
// crash_mutants.c of the mutants build, whose counterpart
// exports_nomutants.go is plain Go). The contract's constants and
// C-compatible types, the panic boundary of every export and the per-thread
// last error message (in C thread-local storage) are those of the Go adapter
// kit (kits/go, package fhadapter), which adapters of other libraries use
// too. No Go pointer ever reaches C: handles are integers, resource memory
// is on the C heap (or the owner's), and Go's bookkeeping of a pair stays in
// Go maps.
package main

// main is required by -buildmode=c-shared and never runs.
func main() {}
