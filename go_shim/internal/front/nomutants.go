//go:build !mutants

package front

import "time"

// Release build: no mutant can be injected (mutants.go has the mutants
// build's versions).

func (*session) mutantCleanup(*wrapper) bool       { return false }
func quiesceTimeout(d time.Duration) time.Duration { return d }
