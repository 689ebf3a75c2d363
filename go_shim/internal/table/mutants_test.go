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
	wantStatus(t, SetMutant(uint32(lastMutant)+1), InvalidArgument)
	wantStatus(t, SetMutant(1<<31), InvalidArgument)
	wantStatus(t, SetMutant(uint32(MutantGuardOneSide)), Unsupported) // Rust's
	for f := MutantNone; f <= lastMutant; f++ {
		if f != MutantGuardOneSide {
			mustOK(t, SetMutant(uint32(f)))
			if !Active(f) {
				t.Fatalf("mutant %d set but not active", f)
			}
		}
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

func TestMutantMagicCrashCallsTheCrashOnlyOnTheMagic(t *testing.T) {
	withMutant(t, MutantMagicCrash)
	crashes := 0
	SetSegfault(func() { crashes++ })
	t.Cleanup(func() { SetSegfault(nil) })
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 8)
	mustOK(t, l.Write(h, 0, goBuf("FUZ")))  // 3 bytes: not the magic
	mustOK(t, l.Write(h, 0, goBuf("FUZz"))) // last byte differs
	mustOK(t, l.Write(h, 0, goBuf("xUZZ"))) // first byte differs
	mustOK(t, l.Write(h, 0, trigger))       // the 0xFD trigger is another mutant's
	wantStatus(t, l.Write(h, 6, goBuf("FUZZ")), Bounds)
	wantStatus(t, l.Write(mustSnapshot(t, l, h), 0, goBuf("FUZZ")), ReadOnly)
	if crashes != 0 {
		t.Fatal("crashed without the magic")
	}
	_ = l.Write(h, 2, goBuf("FUZZ!!"))
	if crashes != 1 {
		t.Fatal("the magic did not crash")
	}
}

func TestStartsWithMagic(t *testing.T) {
	for data, want := range map[string]bool{
		"": false, "F": false, "FUZ": false, "FUZZ": true, "FUZZY": true,
		"fUZZ": false, "FuZZ": false, "FUzZ": false, "FUZz": false, "xFUZZ": false,
	} {
		if got := startsWithMagic([]byte(data)); got != want {
			t.Errorf("startsWithMagic(%q) = %v, want %v", data, got, want)
		}
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

// The memory-error mutants below run on the test's Go heap (goHeap), where
// freed memory stays valid Go memory filled with poison and the byte past
// the end is a spare byte of capacity: what a caller sees, without a real
// memory error in the test process. In the shim the same code touches freed
// or out-of-bounds C heap memory.

func TestMutantStaleUseAfterFree(t *testing.T) {
	withMutant(t, MutantStaleUseAfterFree)
	l, heap := open(t, defaultConfig())
	old := mustCreate(t, l, 4)
	mustOK(t, l.Write(old, 0, goBuf{1, 2, 3, 4}))
	mustOK(t, l.Release(old))
	if heap.outstanding() != 0 {
		t.Fatal("the memory was not freed")
	}
	got := make([]byte, 4)
	mustOK(t, l.Read(old, 0, goBuf(got))) // the contract says FH_STALE_HANDLE
	if !bytes.Equal(got, []byte{poison, poison, poison, poison}) {
		t.Fatalf("read %v, want the freed (poisoned) memory", got)
	}
	mustOK(t, l.Write(old, 2, goBuf{9, 9}))
	wantStatus(t, l.Write(old, 3, goBuf{9, 9}), Bounds) // the dead resource's checks still apply
	wantStatus(t, l.Acquire(old), StaleHandle)          // only reads and writes
	wantStatus(t, l.Release(old), StaleHandle)          // only DOUBLE_RELEASE frees again
	var info ResourceInfo
	wantStatus(t, l.Info(old, &info), StaleHandle)
	reused := mustCreate(t, l, 4) // once the slot is reused, the old handle is stale again
	if reused.slot() != old.slot() {
		t.Fatalf("slot not reused: %v %v", old, reused)
	}
	wantStatus(t, l.Read(old, 0, goBuf(got)), StaleHandle)

	// Deferred reclamation keeps no dangling memory.
	cfg := defaultConfig()
	cfg.Strategy = GoCleanup
	l2, _ := open(t, cfg)
	h := mustCreate(t, l2, 4)
	mustOK(t, l2.Release(h))
	wantStatus(t, l2.Read(h, 0, goBuf(got)), StaleHandle)
}

func TestMutantDoubleRelease(t *testing.T) {
	withMutant(t, MutantDoubleRelease)
	l, _ := open(t, defaultConfig())
	empty := mustCreate(t, l, 0)
	mustOK(t, l.Release(empty))
	mustOK(t, l.Release(empty)) // nothing allocated: only the status diverges
	wantStatus(t, l.Release(empty), StaleHandle)
	wantStatus(t, l.Read(empty, 0, goBuf{}), StaleHandle) // reads stay stale
	h := mustCreate(t, l, 4)
	mustOK(t, l.Release(h))
	defer func() {
		if v := recover(); v != "Free of memory not allocated, or freed twice" {
			t.Fatalf("recovered %v, want goHeap's double-free panic", v)
		}
	}()
	_ = l.Release(h)
	t.Fatal("the stale release did not free the memory again")
}

func TestMutantGenerationWrap(t *testing.T) {
	withMutant(t, MutantGenerationWrap)
	l, _ := open(t, defaultConfig())
	var handles []Handle
	for range 4 {
		h := mustCreate(t, l, 4)
		handles = append(handles, h)
		mustOK(t, l.Release(h))
	}
	for i, want := range []uint32{1, 2, 3, 1} {
		if handles[i].gen() != want {
			t.Fatalf("generations %v", handles)
		}
	}
	fifth := mustCreate(t, l, 4) // generation 2, the handle of the second
	mustOK(t, l.Write(fifth, 0, goBuf{3, 3, 3, 3}))
	if got := readAll(t, l, handles[1], 4); !bytes.Equal(got, []byte{3, 3, 3, 3}) {
		t.Fatalf("read %v", got)
	}
	wantStatus(t, l.Acquire(handles[2]), InvalidHandle) // generation 3 is now ahead
}

func TestMutantLeakOnError(t *testing.T) {
	withMutant(t, MutantLeakOnError)
	heap := newGoHeap()
	l := NewLibrary(heap, goClock)
	cfg := defaultConfig()
	mustOK(t, l.Init(&cfg))
	h := mustCreate(t, l, 4)
	other := mustCreate(t, l, 4)
	wantStatus(t, l.Write(h, 2, goBuf{1, 2, 3}), Bounds)
	mustOK(t, l.Write(other, 0, goBuf{1, 2}))
	var info ResourceInfo
	mustOK(t, l.Info(h, &info))
	if info.Refs != 2 {
		t.Fatalf("refs %d, want 2: the failed write took a reference", info.Refs)
	}
	mustOK(t, l.Info(other, &info))
	if info.Refs != 1 {
		t.Fatalf("refs %d of a handle without failed writes", info.Refs)
	}
	mustOK(t, l.Release(h))
	mustOK(t, l.Info(h, &info)) // the holder's only release did not kill it
	mustOK(t, l.Release(other))
	var report Stats
	mustOK(t, l.Shutdown(&report))
	if report.LiveResources != 1 || report.LiveBytes != 4 || report.Created != 2 || report.Reclaimed != 1 {
		t.Fatalf("report %+v", report)
	}
	if heap.outstanding() != 1 {
		t.Fatalf("%d allocations outstanding after shutdown, want the leaked one", heap.outstanding())
	}
}

func TestMutantEarlyFree(t *testing.T) {
	withMutant(t, MutantEarlyFree)
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 4)
	mustOK(t, l.Acquire(h))
	mustOK(t, l.Acquire(h))
	mustOK(t, l.Release(h))
	var info ResourceInfo
	mustOK(t, l.Info(h, &info))
	if info.Refs != 2 {
		t.Fatalf("refs %d", info.Refs)
	}
	mustOK(t, l.Release(h))
	wantStatus(t, l.Info(h, &info), StaleHandle) // dead with one reference left
	wantStatus(t, l.Release(h), StaleHandle)
	if st := mustStats(t, l); st.LiveResources != 0 || st.Reclaimed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMutantBoundsOffByOne(t *testing.T) {
	withMutant(t, MutantBoundsOffByOne)
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 4)
	mustOK(t, l.Write(h, 2, goBuf{7, 8, 9})) // one byte past the end
	got := make([]byte, 3)
	mustOK(t, l.Read(h, 2, goBuf(got)))
	if !bytes.Equal(got, []byte{7, 8, 9}) {
		t.Fatalf("read %v, want the byte past the end back", got)
	}
	mustOK(t, l.Read(h, 5, goBuf{}))
	wantStatus(t, l.Write(h, 6, goBuf{}), Bounds) // only one byte too far
	wantStatus(t, l.Read(h, 3, goBuf(got)), Bounds)
	empty := mustCreate(t, l, 0)
	wantStatus(t, l.Read(empty, 1, goBuf{}), Bounds) // no memory, no overflow
}

func TestMutantReclaimNever(t *testing.T) {
	withMutant(t, MutantReclaimNever)
	cfg := defaultConfig()
	cfg.Strategy = GoCleanup
	l, heap := open(t, cfg)
	h := mustCreate(t, l, 8)
	mustOK(t, l.Release(h))
	start := time.Now()
	err := l.Quiesce()
	wantStatus(t, err, TimedOut)
	if waited := time.Since(start); waited < 900*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("quiesce gave up after %v, want about %v", waited, mutantQuiesceTimeout)
	}
	if !strings.Contains(err.Error(), "after 1s") {
		t.Fatalf("message %q", err)
	}
	var report Stats
	mustOK(t, l.Shutdown(&report))
	if report.PendingResources != 1 || report.PendingBytes != 8 {
		t.Fatalf("report %+v", report)
	}
	if heap.outstanding() != 0 {
		t.Fatal("shutdown did not free the pending memory")
	}
	// Immediate reclamation is not deferred: nothing to hold back.
	l2, _ := open(t, defaultConfig())
	mustOK(t, l2.Release(mustCreate(t, l2, 8)))
	mustOK(t, l2.Quiesce())
}

func TestMutantGoCacheUseAfterFree(t *testing.T) {
	withMutant(t, MutantGoCacheUseAfterFree)
	l, _ := open(t, defaultConfig())
	old := mustCreate(t, l, 4)
	mustOK(t, l.Write(old, 0, goBuf{1, 2, 3, 4}))
	mustOK(t, l.Release(old))
	got := make([]byte, 4)
	mustOK(t, l.Read(old, 0, goBuf(got))) // the contract says FH_STALE_HANDLE
	if !bytes.Equal(got, []byte{poison, poison, poison, poison}) {
		t.Fatalf("read %v, want the freed (poisoned) memory", got)
	}
	wantStatus(t, l.Read(old, 1, goBuf(got)), Bounds)
	wantStatus(t, l.Write(old, 0, goBuf{1}), StaleHandle) // only reads go through the cache
	reused := mustCreate(t, l, 4)
	mustOK(t, l.Write(reused, 0, goBuf{5, 5, 5, 5}))
	wantStatus(t, l.Read(old, 0, goBuf(got)), StaleHandle) // the slot's entry is the new resource's
}

func TestMutantSharedLastErrorSwitch(t *testing.T) {
	withMutant(t, MutantNone)
	if SetSharedLastError("x") {
		t.Fatal("kept process-wide without the mutant")
	}
	if _, ok := SharedLastError(); ok {
		t.Fatal("read process-wide without the mutant")
	}
	withMutant(t, MutantSharedLastError)
	if !SetSharedLastError("fh_acquire: one") {
		t.Fatal("not kept process-wide")
	}
	if msg, ok := SharedLastError(); !ok || msg != "fh_acquire: one" {
		t.Fatalf("%q %v", msg, ok)
	}
}
