//go:build !mutants

package table

import "time"

// Release build: no mutant can be injected. These constant no-ops compile
// away; the test-only mutant code lives in mutants.go (build tag mutants).

// sessionMutants is the mutants' per-session state: nothing.
type sessionMutants struct{}

func skipGeneration() bool                             { return false }
func snapshotShares() bool                             { return false }
func injectWriteMutant([]byte)                         {}
func nextGeneration(g uint32) uint32                   { return g + 1 }
func deathThreshold() uint32                           { return 0 }
func boundsSlack(uint64) uint64                        { return 0 }
func copyIn(mem []byte, offset uint64, src []byte)     { copy(mem[offset:], src) }
func copyOut(dst, mem []byte, offset uint64)           { copy(dst, mem[offset:]) }
func quiesceTimeout(d time.Duration) time.Duration     { return d }
func mutantForget(*buffer)                             {}
func mutantInstalled(*resource)                        {}
func mutantUnsyncWrite(*resource, uint64, []byte) bool { return false }

func (*session) mutantCleanup(*resource) bool                 { return false }
func (s *session) snapshotPin(h Handle) (*resource, error)    { return s.pin(h) }
func perturbSnapshot()                                        {}
func perturbFree()                                            {}
func (*session) mutantAcquire(Handle) (bool, error)           { return false, nil }
func (*session) mutantRelease(Handle) (bool, error)           { return false, nil }
func (*session) mutantStaleRelease(_ Handle, err error) error { return err }
func (*session) mutantDied(*resource)                         {}
func (*session) mutantLeakOnError(*resource, error)           {}

func (*session) mutantStaleRead(_ Handle, _ uint64, _ Buffer, err error) error  { return err }
func (*session) mutantStaleWrite(_ Handle, _ uint64, _ Buffer, err error) error { return err }
