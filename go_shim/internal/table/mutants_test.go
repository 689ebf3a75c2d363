//go:build mutants

package table

// Tests of the test-only mutants (go test -tags mutants): each plants the bug
// it names, and only on its trigger.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// withMutant activates f for the rest of the test.
func withMutant(t *testing.T, f Mutant) {
	t.Helper()
	mustOK(t, SetMutant(uint32(f)))
	t.Cleanup(func() { mustOK(t, SetMutant(uint32(MutantNone))) })
}

var trigger = goBuf{0xFD, 1, 2}

func TestSetMutant(t *testing.T) {
	withMutant(t, MutantNone)
	wantStatus(t, SetMutant(uint32(MutantSkipGeneration)+1), InvalidArgument)
	wantStatus(t, SetMutant(1<<31), InvalidArgument)
	for f := MutantNone; f <= MutantSkipGeneration; f++ {
		mustOK(t, SetMutant(uint32(f)))
	}
}

func TestMutantSnapshotShares(t *testing.T) {
	withMutant(t, MutantSnapshotShares)
	for _, strategy := range []Strategy{Immediate, GoCleanup} {
		cfg := defaultConfig()
		cfg.Strategy = strategy
		l, heap := open(t, cfg)
		h := mustCreate(t, l, 4)
		snap := mustSnapshot(t, l, h)
		mustOK(t, l.Write(h, 0, goBuf{1, 2, 3, 4}))
		if got := readAll(t, l, snap, 4); !bytes.Equal(got, []byte{1, 2, 3, 4}) {
			t.Fatalf("the write to the origin does not show through the snapshot: %v", got)
		}
		wantStatus(t, l.Write(snap, 0, goBuf{1}), ReadOnly)
		mustOK(t, l.Release(h)) // the shared memory must outlive the origin
		mustOK(t, l.Quiesce())
		if got := readAll(t, l, snap, 4); !bytes.Equal(got, []byte{1, 2, 3, 4}) {
			t.Fatalf("snapshot after the origin's death: %v", got)
		}
		if st := mustStats(t, l); st.LiveResources != 1 || st.LiveBytes != 4 || st.Created != 2 {
			t.Fatalf("stats %+v", st)
		}
		mustOK(t, l.Release(snap))
		mustOK(t, l.Quiesce())
		if st := mustStats(t, l); st.Reclaimed != 2 || heap.outstanding() != 0 {
			t.Fatalf("stats %+v, %d allocations outstanding", st, heap.outstanding())
		}
	}
}

func TestMutantSkipGeneration(t *testing.T) {
	withMutant(t, MutantSkipGeneration)
	l, _ := open(t, defaultConfig())
	old := mustCreate(t, l, 4)
	mustOK(t, l.Release(old))
	wantStatus(t, l.Acquire(old), StaleHandle) // its slot is free
	reused := mustCreate(t, l, 4)
	if reused.slot() != old.slot() {
		t.Fatalf("slot not reused: %v %v", old, reused)
	}
	mustOK(t, l.Write(old, 0, goBuf{7, 7, 7, 7})) // ABA: reaches the new resource
	if got := readAll(t, l, reused, 4); !bytes.Equal(got, []byte{7, 7, 7, 7}) {
		t.Fatalf("read %v", got)
	}
	var info ResourceInfo
	wantStatus(t, l.Info(reused+1<<32, &info), InvalidHandle) // never issued
	wantStatus(t, l.Info(Handle(old.slot()), &info), InvalidHandle)
}

func TestMutantCaughtPanic(t *testing.T) {
	withMutant(t, MutantCaughtPanic)
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 4)
	mustOK(t, l.Write(h, 0, goBuf{0xFD, 1}))       // 2 bytes: not the trigger
	mustOK(t, l.Write(h, 0, goBuf{0xFC, 1, 2}))    // first byte: not the trigger
	mustOK(t, l.Write(h, 0, goBuf{0xFD, 1, 2, 3})) // 4 bytes: not the trigger
	wantStatus(t, l.Write(h, 2, trigger), Bounds)
	wantStatus(t, l.Write(mustSnapshot(t, l, h), 0, trigger), ReadOnly)
	defer func() {
		if v := recover(); v == nil || !strings.Contains(v.(string), "FH_MUTANT_CAUGHT_PANIC") {
			t.Fatalf("recovered %v", v)
		}
	}()
	_ = l.Write(h, 1, trigger)
	t.Fatal("the trigger did not panic")
}

func TestMutantSegfaultCallsTheCrash(t *testing.T) {
	withMutant(t, MutantSegfault)
	crashes := 0
	SetSegfault(func() { crashes++ })
	t.Cleanup(func() { SetSegfault(nil) })
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 4)
	wantStatus(t, l.Write(h, 3, trigger), Bounds)
	mustOK(t, l.Write(h, 0, goBuf{0xFD, 1}))
	if crashes != 0 {
		t.Fatal("crashed without the trigger")
	}
	_ = l.Write(h, 0, trigger)
	if crashes != 1 {
		t.Fatal("the trigger did not crash")
	}
}

func TestMutantHang(t *testing.T) {
	withMutant(t, MutantHang)
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 4)
	done := make(chan error, 1)
	go func() { done <- l.Write(h, 0, trigger) }()
	select {
	case err := <-done:
		t.Fatalf("the trigger returned: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	// The hung call sleeps before touching the resource's bytes, for good:
	// shutting the session down under it is safe.
}

// TestMutantAbort runs the trigger in a child process, which must die of an
// uncaught panic.
func TestMutantAbort(t *testing.T) {
	if os.Getenv("FH_TABLE_ABORT_CHILD") == "1" {
		withMutant(t, MutantAbort)
		l, _ := open(t, defaultConfig())
		_ = l.Write(mustCreate(t, l, 4), 0, trigger)
		t.Fatal("the trigger returned")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMutantAbort$")
	cmd.Env = append(os.Environ(), "FH_TABLE_ABORT_CHILD=1")
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); !ok || ctx.Err() != nil {
		t.Fatalf("child did not die: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "panic: fuzzharness: injected mutant FH_MUTANT_ABORT") {
		t.Fatalf("child died otherwise:\n%s", out)
	}
}
