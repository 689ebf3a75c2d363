//go:build perturb || mutants

package fhadapter

// The in-call perturbation hook (build tag perturb, or mutants: test builds only;
// perturb_off.go makes PerturbPoint a no-op everywhere else). fh_test_set_perturb
// (fuzzharness_testing_decls.h) installs a C hook, process-wide; an adapter calls
// PerturbPoint at places of its own choosing inside a call -- between a lookup and
// the update of a count, before a free -- with a number of its own for the place.
// The harness's hook (its native runner) yields or spins there according to the
// run's seeded schedule. Without a hook installed a point is one atomic load.

/*
#include <stdint.h>

typedef void (*fhkit_perturb_hook)(uint32_t point);

static inline void fhkit_call_perturb(uintptr_t hook, uint32_t point) {
    ((fhkit_perturb_hook)hook)(point);
}
*/
import "C"

import "sync/atomic"

// perturbHook is the installed hook's address (0: none).
var perturbHook atomic.Uintptr

// SetPerturbHook installs the C function at address hook (0 uninstalls): the
// body of an adapter's fh_test_set_perturb.
func SetPerturbHook(hook uintptr) { perturbHook.Store(hook) }

// PerturbPoint calls the installed hook, if any, with point.
func PerturbPoint(point uint32) {
	if hook := perturbHook.Load(); hook != 0 {
		C.fhkit_call_perturb(C.uintptr_t(hook), C.uint32_t(point))
	}
}
