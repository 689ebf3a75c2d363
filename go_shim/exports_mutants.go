//go:build mutants

package main

// The test-only boundary of the mutants build: fh_test_set_mutant of
// fuzzharness_testing_decls.h, and the C null-pointer write that
// FH_MUTANT_SEGFAULT crashes with (Go code cannot do it: Go turns a nil
// dereference in Go into a recoverable panic).

/*
#cgo CFLAGS: -I${SRCDIR}/../targets/include
#include "fuzzharness_testing.h"

__attribute__((visibility("hidden"))) void shim_write_through_null(void);
*/
import "C"

import "fuzzharness/go_shim/internal/table"

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
)

func init() {
	table.SetSegfault(func() { C.shim_write_through_null() })
}

//export fh_test_set_mutant
func fh_test_set_mutant(mutant C.uint32_t) (status C.fh_status) {
	defer recoverPanic("fh_test_set_mutant", &status)
	return result("fh_test_set_mutant", table.SetMutant(uint32(mutant)))
}
