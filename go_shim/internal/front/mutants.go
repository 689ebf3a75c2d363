//go:build mutants

package front

import (
	"runtime"
	"time"

	"fuzzharness/go_shim/internal/table"
)

// Test-only mutants of the foreign front (build tag mutants); the
// process-wide mutant is table's (fh_test_set_mutant).
//   - CleanupUnreachable (GoCleanup): the cleanup's argument captures the
//     wrapper itself, so the wrapper stays reachable and the cleanup never
//     runs: the owner never gets the acknowledgement and never frees the
//     memory; Quiesce times out after table.MutantQuiesceTimeout.

// keeper is the cleanup argument of CleanupUnreachable: it references the
// wrapper, which therefore stays reachable from its own cleanup. (An
// argument equal to the wrapper pointer would make AddCleanup panic.)
type keeper struct{ w *wrapper }

// mutantCleanup registers, under CleanupUnreachable, a cleanup of w whose
// argument keeps w reachable forever, and returns true.
func (s *session) mutantCleanup(w *wrapper) bool {
	if !table.Active(table.MutantCleanupUnreachable) {
		return false
	}
	runtime.AddCleanup(w, func(k keeper) { s.ack(k.w.handle) }, keeper{w})
	return true
}

func quiesceTimeout(d time.Duration) time.Duration {
	if table.Active(table.MutantCleanupUnreachable) {
		return table.MutantQuiesceTimeout
	}
	return d
}
