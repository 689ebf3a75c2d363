//go:build faults

package main

// The test-only boundary of the faults build: fh_test_set_fault of
// fuzzharness_testing_decls.h, and the C null-pointer write that
// FH_FAULT_SEGFAULT crashes with (Go code cannot do it: Go turns a nil
// dereference in Go into a recoverable panic).

/*
#cgo CFLAGS: -I${SRCDIR}/../targets/include
#include "fuzzharness_testing.h"

__attribute__((visibility("hidden"))) void shim_write_through_null(void);
*/
import "C"

import "fuzzharness/go_shim/internal/table"

// Each line fails to compile unless the table's fault number equals the
// header's (see exports.go).
var (
	_ = [1]struct{}{}[C.FH_FAULT_NONE-table.FaultNone]
	_ = [1]struct{}{}[C.FH_FAULT_SNAPSHOT_SHARES-table.FaultSnapshotShares]
	_ = [1]struct{}{}[C.FH_FAULT_SEGFAULT-table.FaultSegfault]
	_ = [1]struct{}{}[C.FH_FAULT_HANG-table.FaultHang]
	_ = [1]struct{}{}[C.FH_FAULT_ABORT-table.FaultAbort]
	_ = [1]struct{}{}[C.FH_FAULT_CAUGHT_PANIC-table.FaultCaughtPanic]
	_ = [1]struct{}{}[C.FH_FAULT_SKIP_GENERATION-table.FaultSkipGeneration]
)

func init() {
	table.SetSegfault(func() { C.shim_write_through_null() })
}

//export fh_test_set_fault
func fh_test_set_fault(fault C.uint32_t) (status C.fh_status) {
	defer recoverPanic("fh_test_set_fault", &status)
	return result("fh_test_set_fault", table.SetFault(uint32(fault)))
}
