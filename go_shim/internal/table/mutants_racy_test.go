//go:build mutants && !race

package table

// Tests of the racy mutants: each shows its race with goroutines within a
// bounded number of tries. They race on purpose, so they are left out of
// -race runs (the Makefile runs -race without the mutants tag anyway).

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// within tries attempt until it succeeds: at least tries times, and on a loaded
// machine (the other goroutine not scheduled yet) for up to 10 s of wall time, so
// the race is given real chances to happen rather than a fixed number of tries.
func within(tries int, attempt func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < tries || time.Now().Before(deadline); i++ {
		if attempt() {
			return true
		}
		if i >= tries {
			runtime.Gosched()
		}
	}
	return false
}

func TestMutantRacyAcquire(t *testing.T) {
	withMutant(t, MutantRacyAcquire)
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 4)
	mustOK(t, l.Acquire(h)) // alone it acquires
	mustOK(t, l.Release(h))
	mustOK(t, l.Release(h))
	wantStatus(t, l.Acquire(h), StaleHandle)
	// The release lands 0..40 µs after the acquire starts, swept by busy-waiting
	// (a sleep this short overshoots by tens of µs on a loaded machine).
	attempt := 0
	raced := within(4000, func() bool {
		attempt++
		delay := time.Duration(attempt%41) * time.Microsecond
		h := mustCreate(t, l, 4)
		var acquired error
		var wg sync.WaitGroup
		wg.Go(func() { acquired = l.Acquire(h) })
		for start := time.Now(); time.Since(start) < delay; {
		}
		mustOK(t, l.Release(h))
		wg.Wait()
		// Both succeeded, so the resource must be alive with one reference
		// in either order; under the mutant it can be dead.
		var info ResourceInfo
		dead := StatusOf(l.Info(h, &info)) == StaleHandle
		if !dead {
			mustOK(t, l.Release(h))
		}
		return acquired == nil && dead
	})
	if !raced {
		t.Fatal("no acquire raced the last release")
	}
}

func TestMutantRacyRefcount(t *testing.T) {
	withMutant(t, MutantRacyRefcount)
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 4)
	const goroutines, acquires = 4, 200
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range acquires {
				if err := l.Acquire(h); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var info ResourceInfo
	mustOK(t, l.Info(h, &info))
	if info.Refs >= 1+goroutines*acquires {
		t.Fatalf("no update lost: %d references", info.Refs)
	}
	mustOK(t, l.Release(mustCreate(t, l, 4))) // alone, a release at 1 still kills
}

func TestMutantUnsyncWriter(t *testing.T) {
	withMutant(t, MutantUnsyncWriter)
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 64)
	// A writer writes whole resources of one value; a reader must see each
	// write entirely or not at all, but sees torn ones.
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		b := make(goBuf, 64)
		for i := 0; !stop.Load(); i++ {
			for j := range b {
				b[j] = byte(i)
			}
			if err := l.Write(h, 0, b); err != nil {
				t.Error(err)
			}
		}
	})
	torn := within(10000, func() bool { return !uniform(readAll(t, l, h, 64)) })
	stop.Store(true)
	wg.Wait()
	if !torn {
		t.Fatal("no read saw part of a write")
	}
}

func TestMutantSharedLastError(t *testing.T) {
	withMutant(t, MutantSharedLastError)
	var wg sync.WaitGroup
	var mu sync.Mutex
	foreign := 0
	for i := range 2 {
		wg.Go(func() {
			mine := []string{"fh_acquire: handle one", "fh_release: handle two"}[i]
			for range 500 {
				SetSharedLastError(mine)
				if msg, _ := SharedLastError(); msg != mine {
					mu.Lock()
					foreign++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if foreign == 0 {
		t.Fatal("never saw the other goroutine's message")
	}
}
