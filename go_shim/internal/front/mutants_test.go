//go:build mutants

package front

import (
	"testing"
	"time"

	"fuzzharness/go_shim/internal/table"
)

func withMutant(t *testing.T, m table.Mutant) {
	t.Helper()
	mustOK(t, table.SetMutant(uint32(m)))
	t.Cleanup(func() { mustOK(t, table.SetMutant(uint32(table.MutantNone))) })
}

func TestMutantCleanupUnreachable(t *testing.T) {
	withMutant(t, table.MutantCleanupUnreachable)
	f, o := openFront(t, table.GoCleanup)
	h := mustCreate(t, f, 32)
	mustOK(t, f.Release(h)) // Go's last release: ack 0, the wrapper is dropped
	if log := o.releaseLog(); len(log) != 1 || log[0].ack != ackLater {
		t.Fatalf("releases %+v, want one with ack 0", log)
	}
	// The cleanup's argument keeps the wrapper reachable: no garbage
	// collection ever runs it. Quiesce forces them for its whole bound, then
	// gives up.
	start := time.Now()
	err := f.Quiesce()
	wantStatus(t, err, table.TimedOut)
	if took := time.Since(start); took < table.MutantQuiesceTimeout || took > table.MutantQuiesceTimeout+5*time.Second {
		t.Fatalf("quiesce timed out after %v, want about %v", took, table.MutantQuiesceTimeout)
	}
	if acks := o.ackLog(); len(acks) != 0 {
		t.Fatalf("acknowledged %v although the cleanup cannot run", acks)
	}
	if _, _, dead, freed := o.counts(h); !dead || freed {
		t.Fatalf("dead %v, freed %v: want dead and never freed", dead, freed)
	}
	if st := o.stats(); st.PendingResources != 1 || st.PendingBytes != 32 {
		t.Fatalf("stats %+v, want the resource pending for ever", st)
	}
}

func TestMutantCleanupUnreachableSparesGuarded(t *testing.T) {
	withMutant(t, table.MutantCleanupUnreachable)
	f, o := openFront(t, table.Guarded) // no cleanup under guarded: nothing to break
	h := mustCreate(t, f, 1)
	mustOK(t, f.Release(h))
	mustOK(t, f.Quiesce())
	if _, _, dead, freed := o.counts(h); !dead || !freed {
		t.Fatalf("dead %v, freed %v", dead, freed)
	}
}
