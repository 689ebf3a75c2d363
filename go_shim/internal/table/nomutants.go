//go:build !mutants

package table

// Release build: no mutant can be injected. These constant no-ops compile
// away; the test-only mutant code lives in mutants.go (build tag mutants).

func skipGeneration() bool    { return false }
func snapshotShares() bool    { return false }
func injectWriteMutant([]byte) {}
