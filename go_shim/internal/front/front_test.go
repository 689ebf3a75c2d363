package front

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"fuzzharness/go_shim/internal/table"
)

func config(strategy table.Strategy) table.Config {
	return table.Config{Capacity: 64, Strategy: strategy, MaxResourceBytes: 1 << 20, MaxTotalBytes: 1 << 22}
}

// openFront returns a front over a fake owner with a session open with
// strategy; the session is shut down when the test ends.
func openFront(t *testing.T, strategy table.Strategy) (*Front, *fakeOwner) {
	t.Helper()
	o := newFakeOwner()
	f := New(o)
	cfg := config(strategy)
	mustOK(t, f.Init(&cfg))
	t.Cleanup(func() {
		if f.cur.Load() != nil {
			var report table.Stats
			mustOK(t, f.Shutdown(&report))
		}
	})
	return f, o
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantStatus(t testing.TB, err error, want Status) {
	t.Helper()
	if got := table.StatusOf(err); got != want {
		t.Fatalf("status %d (%v), want %d", got, err, want)
	}
}

func mustCreate(t testing.TB, f *Front, size uint64) Handle {
	t.Helper()
	var h Handle
	mustOK(t, f.Create(size, &h))
	return h
}

// waitFor runs garbage collections until cond holds, for at most 10 s (a
// bound, not a pause: it returns as soon as cond holds).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10 s waiting until %s", what)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

func wantCounts(t *testing.T, f *Front, o *fakeOwner, h Handle, owner, foreign uint32) {
	t.Helper()
	gotOwner, gotForeign, _, _ := o.counts(h)
	if gotOwner != owner || gotForeign != foreign || f.Held(h) != foreign {
		t.Fatalf("handle %v: owner %d, foreign %d, Go holds %d; want owner %d, foreign = Go = %d",
			h, gotOwner, gotForeign, f.Held(h), owner, foreign)
	}
}

func TestInitChecks(t *testing.T) {
	o := newFakeOwner()
	f := New(o)
	cfg := func(edit func(*table.Config)) *table.Config {
		c := config(table.Guarded)
		edit(&c)
		return &c
	}
	for _, tc := range []struct {
		name string
		cfg  *table.Config
		want Status
	}{
		{"null", nil, table.NullArgument},
		{"capacity 0", cfg(func(c *table.Config) { c.Capacity = 0 }), table.InvalidArgument},
		{"unknown flag", cfg(func(c *table.Config) { c.Flags = 2 }), table.InvalidArgument},
		{"invalid before unsupported", cfg(func(c *table.Config) { c.Capacity, c.Strategy = 0, table.Immediate }), table.InvalidArgument},
		{"immediate", cfg(func(c *table.Config) { c.Strategy = table.Immediate }), table.Unsupported},
		{"epoch", cfg(func(c *table.Config) { c.Strategy = table.Epoch }), table.Unsupported},
		{"reserved", cfg(func(c *table.Config) { c.Strategy = 4 }), table.Unsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, f.Init(tc.cfg), tc.want)
			if f.cur.Load() != nil || o.open {
				t.Fatal("a failed Init opened a session")
			}
		})
	}

	o.initStatus = table.Exhausted
	err := f.Init(cfg(func(*table.Config) {}))
	wantStatus(t, err, table.Exhausted)
	if err.Error() != "refused by the test" {
		t.Fatalf("message %q, want the owner's without its prefix", err)
	}
	o.initStatus = table.OK

	for _, strategy := range []table.Strategy{table.Guarded, table.GoCleanup} {
		c := config(strategy)
		c.Flags = table.FlagReclaimEvents // forwarded: the owner records events
		mustOK(t, f.Init(&c))
		if o.cfg != c {
			t.Fatalf("the owner got %+v, want %+v", o.cfg, c)
		}
		wantStatus(t, f.Init(&c), table.AlreadyInitialized)
		var report table.Stats
		wantStatus(t, f.Shutdown(nil), table.NullArgument)
		mustOK(t, f.Shutdown(&report))
		wantStatus(t, f.Shutdown(&report), table.NotInitialized)
	}
}

func TestNotInitializedAndNullFirst(t *testing.T) {
	f := New(newFakeOwner())
	var h Handle
	var info table.ResourceInfo
	var st table.Stats
	var n, dropped uint64
	for _, err := range []error{
		f.Create(1, &h), f.Snapshot(1, &h), f.Acquire(1), f.Release(1),
		f.Write(1, 0, goBuf{1}), f.Read(1, 0, goBuf{1}), f.Info(1, &info), f.Stats(&st),
		f.Quiesce(), f.Shutdown(&st), f.DrainReclaimEvents(goEvents{}, &n, &dropped),
	} {
		wantStatus(t, err, table.NotInitialized)
	}
	f, _ = openFront(t, table.Guarded)
	for _, err := range []error{
		f.Create(1, nil), f.Snapshot(1, nil), f.Info(1, nil), f.Stats(nil),
		f.Write(1, 0, nullBuf(1)), f.Read(1, 0, nullBuf(1)),
		f.DrainReclaimEvents(goEvents{}, nil, &dropped), f.DrainReclaimEvents(nullEvents(1), &n, &dropped),
	} {
		wantStatus(t, err, table.NullArgument)
	}
	n, dropped = 9, 9
	mustOK(t, f.DrainReclaimEvents(goEvents{}, &n, &dropped))
	if n != 0 || dropped != 0 {
		t.Fatalf("the front drained %d events, %d dropped; it records none", n, dropped)
	}
}

func TestPerRuntimeCountsGuarded(t *testing.T) {
	f, o := openFront(t, table.Guarded)
	h := mustCreate(t, f, 8)
	wantCounts(t, f, o, h, 0, 1)
	if o.ownerAcquire(h) != table.OK {
		t.Fatal(o.lastErr)
	}
	mustOK(t, f.Acquire(h))
	wantCounts(t, f, o, h, 1, 2)
	var info table.ResourceInfo
	mustOK(t, f.Info(h, &info))
	if info.Refs != 3 || info.Size != 8 {
		t.Fatalf("info %+v, want 3 references (both runtimes'), 8 bytes", info)
	}

	mustOK(t, f.Release(h))
	mustOK(t, f.Release(h)) // Go's last: acknowledged in the release
	wantCounts(t, f, o, h, 1, 0)
	for _, r := range o.releaseLog() {
		if r.ack != ackNow {
			t.Fatalf("guarded release %+v: ack %d, want 1", r, r.ack)
		}
	}
	// Go holds nothing now: the release is forwarded and refused.
	err := f.Release(h)
	wantStatus(t, err, table.NotHeld)
	wantCounts(t, f, o, h, 1, 0)

	if o.ownerRelease(h) != table.OK {
		t.Fatal(o.lastErr)
	}
	if _, _, dead, freed := o.counts(h); !dead || !freed {
		t.Fatal("guarded: the resource is not freed when its last reference (the owner's) is dropped")
	}
	wantStatus(t, f.Release(h), table.StaleHandle)
	wantStatus(t, f.Release(0), table.InvalidHandle)
}

func TestNotHeldPassthrough(t *testing.T) {
	for _, strategy := range []table.Strategy{table.Guarded, table.GoCleanup} {
		f, o := openFront(t, strategy)
		h := o.ownerCreate(4) // the owner's reference only
		err := f.Release(h)
		wantStatus(t, err, table.NotHeld)
		if want := "handle " + h.String() + ": the foreign runtime holds no reference"; err.Error() != want {
			t.Fatalf("message %q, want the owner's %q", err, want)
		}
		if got := o.releaseLog(); len(got) != 1 || got[0] != (release{h, ackNow}) {
			t.Fatalf("forwarded %+v, want one release of %v with ack 1", got, h)
		}
		wantCounts(t, f, o, h, 1, 0) // no effect
		var report table.Stats
		mustOK(t, f.Shutdown(&report))
	}
}

func TestGoCleanupAcknowledgesAfterGC(t *testing.T) {
	f, o := openFront(t, table.GoCleanup)
	h := mustCreate(t, f, 16)
	mustOK(t, f.Acquire(h))
	mustOK(t, f.Release(h)) // not the last: ack 1, nothing owed
	mustOK(t, f.Release(h)) // the last: ack 0, the wrapper's cleanup acknowledges
	log := o.releaseLog()
	if len(log) != 2 || log[0].ack != ackNow || log[1].ack != ackLater {
		t.Fatalf("releases %+v, want ack 1 then ack 0", log)
	}
	if f.Held(h) != 0 {
		t.Fatal("Go still holds references after its last release")
	}
	// Dead at once, freed only once the cleanup acknowledged.
	var info table.ResourceInfo
	wantStatus(t, f.Info(h, &info), table.StaleHandle)
	waitFor(t, "the cleanup acknowledges", func() bool { return len(o.ackLog()) == 1 })
	if _, _, dead, freed := o.counts(h); !dead || !freed {
		t.Fatalf("after the acknowledgement: dead %v, freed %v", dead, freed)
	}
	if acc, ref, _ := f.AckCounts(); acc != 1 || ref != 0 {
		t.Fatalf("acknowledgements accepted %d, refused %d; want 1, 0", acc, ref)
	}
}

func TestGoCleanupOwnerOutlivesGo(t *testing.T) {
	f, o := openFront(t, table.GoCleanup)
	h := mustCreate(t, f, 4)
	if o.ownerAcquire(h) != table.OK {
		t.Fatal(o.lastErr)
	}
	mustOK(t, f.Release(h)) // Go's last release (ack 0); alive through the owner
	wantCounts(t, f, o, h, 1, 0)
	if o.ownerRelease(h) != table.OK {
		t.Fatal(o.lastErr)
	}
	// Dead; freed only once Go acknowledged: quiesce runs the GC until then.
	mustOK(t, f.Quiesce())
	if _, _, dead, freed := o.counts(h); !dead || !freed {
		t.Fatalf("after quiesce: dead %v, freed %v", dead, freed)
	}
	if st := o.stats(); st.PendingResources != 0 || st.Reclaimed != 1 {
		t.Fatalf("stats %+v after quiesce", st)
	}
}

func TestSnapshotIsGoReferenced(t *testing.T) {
	f, o := openFront(t, table.GoCleanup)
	h := mustCreate(t, f, 3)
	mustOK(t, f.Write(h, 0, goBuf{1, 2, 3}))
	var snap Handle
	mustOK(t, f.Snapshot(h, &snap))
	wantCounts(t, f, o, snap, 0, 1)
	mustOK(t, f.Write(h, 0, goBuf{9}))
	got := make(goBuf, 3)
	mustOK(t, f.Read(snap, 0, got))
	if string(got) != "\x01\x02\x03" {
		t.Fatalf("snapshot reads %v", got)
	}
	wantStatus(t, f.Write(snap, 0, goBuf{1}), table.ReadOnly)
	wantStatus(t, f.Read(h, 2, goBuf{0, 0}), table.Bounds)
	mustOK(t, f.Release(h))
	mustOK(t, f.Release(snap))
	mustOK(t, f.Quiesce())
	if st := o.stats(); st.Reclaimed != 2 || st.PendingResources != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOwnerErrorMessages(t *testing.T) {
	f, o := openFront(t, table.Guarded)
	for _, tc := range []struct{ owner, want string }{
		{"fh_release: handle 0x0000000100000000 is stale", "handle 0x0000000100000000 is stale"},
		{"fh_write: offset 3 + len 2 exceeds the size", "offset 3 + len 2 exceeds the size"},
		{"no prefix: kept as is", "no prefix: kept as is"},
		{"fh_a b: a space in the name is no prefix", "fh_a b: a space in the name is no prefix"},
	} {
		if got := stripFunctionName(tc.owner); got != tc.want {
			t.Errorf("stripFunctionName(%q) = %q, want %q", tc.owner, got, tc.want)
		}
	}
	o.mu.Lock()
	o.lastErr = ""
	o.mu.Unlock()
	err := f.owner(table.Panic)
	wantStatus(t, err, table.Panic)
	if err.Error() != "the owner failed with status 9 and left no message" {
		t.Fatalf("message %q for an owner that left none", err)
	}
	err = f.Acquire(0x7)
	wantStatus(t, err, table.InvalidHandle)
	if err.Error() != "handle 0x0000000000000007 is invalid" {
		t.Fatalf("message %q", err)
	}
}

// owner is ownerError, for the test above.
func (f *Front) owner(st Status) error { return f.ownerError(st) }

func TestOwnerKilledGoReferences(t *testing.T) {
	f, o := openFront(t, table.Guarded)
	h := mustCreate(t, f, 1)
	mustOK(t, f.Acquire(h))
	o.kill(h) // an owner bug: dead although Go holds 2 references
	wantStatus(t, f.Release(h), table.StaleHandle)
	if f.Held(h) != 0 {
		t.Fatal("Go keeps references on a resource its owner says is dead")
	}
	wantStatus(t, f.Release(h), table.StaleHandle)
}

func TestShutdownSilencesLateCleanups(t *testing.T) {
	f, o := openFront(t, table.GoCleanup)
	h := mustCreate(t, f, 1)
	s := f.cur.Load()
	if f.Held(h) != 1 {
		t.Fatal("not held")
	}
	var report table.Stats
	mustOK(t, f.Shutdown(&report))
	if report.LiveResources != 1 {
		t.Fatalf("report %+v, want the live resource", report)
	}
	// The wrapper was dropped with the bookkeeping: its cleanup runs, but
	// must not acknowledge anything to the owner (whose session is closed).
	waitFor(t, "the late cleanup runs", func() bool { return s.lateCleans.Load() == 1 })
	if acks := o.ackLog(); len(acks) != 0 {
		t.Fatalf("a cleanup of a closed session reached the owner: %v", acks)
	}
}

func TestConcurrentAcquireRelease(t *testing.T) {
	for _, strategy := range []table.Strategy{table.Guarded, table.GoCleanup} {
		f, o := openFront(t, strategy)
		h := mustCreate(t, f, 1)
		const workers, rounds = 8, 300
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < rounds; i++ {
					if err := f.Acquire(h); err != nil {
						t.Error(err)
						return
					}
					var info table.ResourceInfo
					if err := f.Info(h, &info); err != nil || info.Refs < 2 {
						t.Errorf("info %+v, %v while holding a reference", info, err)
						return
					}
					if err := f.Release(h); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		// Meanwhile, creates and releases of other handles through Go.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				var x Handle
				if err := f.Create(1, &x); err != nil {
					t.Error(err)
					return
				}
				if err := f.Release(x); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		wg.Wait()
		wantCounts(t, f, o, h, 0, 1)
		for _, r := range o.releaseLog() {
			if r.h == h && r.ack != ackNow {
				t.Fatalf("%v: a non-last release of %v had ack %d", strategy, h, r.ack)
			}
		}
		mustOK(t, f.Release(h))
		mustOK(t, f.Quiesce())
		if st := o.stats(); st.LiveResources != 0 || st.PendingResources != 0 || st.Reclaimed != rounds+1 {
			t.Fatalf("%v: stats %+v", strategy, st)
		}
		var report table.Stats
		mustOK(t, f.Shutdown(&report))
	}
}

// Buffers as the C API passes them.

type goBuf []byte

func (b goBuf) Null() bool    { return b == nil }
func (b goBuf) Len() uint64   { return uint64(len(b)) }
func (b goBuf) Bytes() []byte { return b }

type nullBuf uint64

func (nullBuf) Null() bool    { return true }
func (n nullBuf) Len() uint64 { return uint64(n) }
func (nullBuf) Bytes() []byte { panic("Bytes of a NULL buffer") }

type goEvents []table.ReclaimEvent

func (b goEvents) Null() bool                        { return b == nil }
func (b goEvents) Cap() uint64                       { return uint64(len(b)) }
func (b goEvents) Events(n int) []table.ReclaimEvent { return b[:n] }

type nullEvents uint64

func (nullEvents) Null() bool                      { return true }
func (n nullEvents) Cap() uint64                   { return uint64(n) }
func (nullEvents) Events(int) []table.ReclaimEvent { panic("Events of a NULL buffer") }
