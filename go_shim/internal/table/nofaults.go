//go:build !faults

package table

// Release build: no fault can be injected. These constant no-ops compile
// away; the test-only fault code lives in faults.go (build tag faults).

func skipGeneration() bool    { return false }
func snapshotShares() bool    { return false }
func injectWriteFault([]byte) {}
