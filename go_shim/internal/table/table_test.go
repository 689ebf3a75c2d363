package table

// Unit tests of the contract's sequential behaviour: sessions, handle
// classification, allocation, references, snapshots, the check order,
// limits, counters and reclamation.

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestABIVersion(t *testing.T) {
	var major, minor uint32
	mustOK(t, ABIVersion(&major, &minor))
	if major != 1 || minor != 1 {
		t.Fatalf("ABI %d.%d, want 1.1", major, minor)
	}
	wantStatus(t, ABIVersion(nil, &minor), NullArgument)
	wantStatus(t, ABIVersion(&major, nil), NullArgument)
}

func TestInitChecks(t *testing.T) {
	l := NewLibrary(newGoHeap(), goClock)
	cfg := func(edit func(*Config)) *Config {
		c := defaultConfig()
		edit(&c)
		return &c
	}
	for _, tc := range []struct {
		name string
		cfg  *Config
		want Status
	}{
		{"null", nil, NullArgument},
		{"capacity 0", cfg(func(c *Config) { c.Capacity = 0 }), InvalidArgument},
		{"capacity 2^20+1", cfg(func(c *Config) { c.Capacity = MaxCapacity + 1 }), InvalidArgument},
		{"unknown flag", cfg(func(c *Config) { c.Flags = 2 }), InvalidArgument},
		{"known and unknown flags", cfg(func(c *Config) { c.Flags = FlagReclaimEvents | 1<<63 }), InvalidArgument},
		{"invalid before unsupported", cfg(func(c *Config) { c.Flags, c.Strategy = 2, Epoch }), InvalidArgument},
		{"epoch", cfg(func(c *Config) { c.Strategy = Epoch }), Unsupported},
		{"guarded needs an owner", cfg(func(c *Config) { c.Strategy = Guarded }), Unsupported},
		{"reserved strategy", cfg(func(c *Config) { c.Strategy = 4 }), Unsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, l.Init(tc.cfg), tc.want)
			if l.current.Load() != nil {
				t.Fatal("a failed Init opened a session")
			}
		})
	}

	c := cfg(func(c *Config) { c.Capacity = MaxCapacity })
	mustOK(t, l.Init(c))
	wantStatus(t, l.Init(nil), NullArgument)
	wantStatus(t, l.Init(c), AlreadyInitialized)
	var report Stats
	mustOK(t, l.Shutdown(&report))
	mustOK(t, l.Init(c)) // a new session after shutdown
	mustOK(t, l.Shutdown(&report))
}

func TestNotInitializedComesFirst(t *testing.T) {
	l := NewLibrary(newGoHeap(), goClock)
	check := func(t *testing.T) {
		wantStatus(t, l.Shutdown(nil), NotInitialized)
		wantStatus(t, l.Create(1, nil), NotInitialized)
		wantStatus(t, l.Acquire(0), NotInitialized)
		wantStatus(t, l.Release(0), NotInitialized)
		wantStatus(t, l.Write(0, 0, nullBuf(5)), NotInitialized)
		wantStatus(t, l.Read(0, 0, nullBuf(5)), NotInitialized)
		wantStatus(t, l.Snapshot(0, nil), NotInitialized)
		wantStatus(t, l.Info(0, nil), NotInitialized)
		wantStatus(t, l.Stats(nil), NotInitialized)
		wantStatus(t, l.Quiesce(), NotInitialized)
	}
	t.Run("before init", check)
	c := defaultConfig()
	mustOK(t, l.Init(&c))
	wantStatus(t, l.Shutdown(nil), NullArgument) // the session stays open
	var report Stats
	mustOK(t, l.Shutdown(&report))
	t.Run("after shutdown", check)
}

func TestClassification(t *testing.T) {
	cfg := defaultConfig()
	cfg.Capacity = 4
	l, _ := open(t, cfg)
	first := mustCreate(t, l, 8)  // slot 0, generation 1
	mustOK(t, l.Release(first))   // slot 0 free at generation 1
	second := mustCreate(t, l, 8) // slot 0, generation 2
	other := mustCreate(t, l, 8)  // slot 1, generation 1
	mustOK(t, l.Release(other))   // slot 1 free at generation 1
	if first != makeHandle(0, 1) || second != makeHandle(0, 2) || other != makeHandle(1, 1) {
		t.Fatalf("handles %v %v %v", first, second, other)
	}
	for _, tc := range []struct {
		name string
		h    Handle
		want Status
	}{
		{"zero", 0, InvalidHandle},
		{"generation 0", makeHandle(0, 0), InvalidHandle},
		{"slot beyond capacity", makeHandle(4, 1), InvalidHandle},
		{"slot 2^32-1", makeHandle(math.MaxUint32, 1), InvalidHandle},
		{"all ones", maxHandle, InvalidHandle},
		{"generation never issued", makeHandle(0, 3), InvalidHandle},
		{"unused slot", makeHandle(2, 1), InvalidHandle},
		{"old generation of a live slot", first, StaleHandle},
		{"current generation of a free slot", other, StaleHandle},
		{"live", second, OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var info ResourceInfo
			err := l.Info(tc.h, &info)
			wantStatus(t, err, tc.want)
			if err != nil && !strings.Contains(err.Error(), tc.h.String()) {
				t.Fatalf("message %q does not name handle %v", err, tc.h)
			}
			for _, err := range []error{l.Acquire(tc.h), l.Release(tc.h), l.Read(tc.h, 0, goBuf(nil))} {
				wantStatus(t, err, tc.want)
			}
			if tc.want == OK {
				mustOK(t, l.Acquire(tc.h)) // undo the Release above
			}
		})
	}
}

func TestLowestFreeSlotAndGenerations(t *testing.T) {
	l, _ := open(t, defaultConfig())
	var h [5]Handle
	for i := range h {
		h[i] = mustCreate(t, l, 1)
		if h[i] != makeHandle(uint32(i), 1) {
			t.Fatalf("create %d: handle %v", i, h[i])
		}
	}
	mustOK(t, l.Release(h[3]))
	mustOK(t, l.Release(h[1]))
	if got := mustCreate(t, l, 1); got != makeHandle(1, 2) {
		t.Fatalf("got %v, want slot 1 generation 2", got)
	}
	if got := mustSnapshot(t, l, h[0]); got != makeHandle(3, 2) {
		t.Fatalf("snapshot got %v, want slot 3 generation 2", got)
	}
	if got := mustCreate(t, l, 1); got != makeHandle(5, 1) {
		t.Fatalf("got %v, want slot 5 generation 1", got)
	}
}

func TestRetiredSlotIsNeverReused(t *testing.T) {
	l, _ := open(t, defaultConfig())
	mustOK(t, l.Release(mustCreate(t, l, 1)))
	s := l.current.Load()
	s.slots[0].gen = math.MaxUint32 - 1 // as if reused 2^32-2 times
	last := mustCreate(t, l, 1)
	if last != makeHandle(0, math.MaxUint32) {
		t.Fatalf("got %v", last)
	}
	mustOK(t, l.Release(last))
	if got := mustCreate(t, l, 1); got != makeHandle(1, 1) {
		t.Fatalf("got %v, want slot 1: slot 0 is retired", got)
	}
	var info ResourceInfo
	wantStatus(t, l.Info(last, &info), StaleHandle)
}

func TestReferences(t *testing.T) {
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 4)
	refs := func() uint32 {
		var info ResourceInfo
		mustOK(t, l.Info(h, &info))
		return info.Refs
	}
	mustOK(t, l.Acquire(h))
	mustOK(t, l.Acquire(h))
	if got := refs(); got != 3 {
		t.Fatalf("refs %d, want 3", got)
	}
	mustOK(t, l.Release(h))
	mustOK(t, l.Release(h))
	if got := refs(); got != 1 {
		t.Fatalf("refs %d, want 1", got)
	}

	// Overflow at 0xFFFFFFFF references, through the internal state.
	s := l.current.Load()
	s.mu.Lock()
	s.slots[h.slot()].res.refs = math.MaxUint32
	s.mu.Unlock()
	err := l.Acquire(h)
	wantStatus(t, err, Overflow)
	if !strings.Contains(err.Error(), h.String()) {
		t.Fatalf("message %q does not name the handle", err)
	}
	if got := refs(); got != math.MaxUint32 {
		t.Fatalf("a failed acquire changed refs to %d", got)
	}
	s.mu.Lock()
	s.slots[h.slot()].res.refs = 1
	s.mu.Unlock()

	mustOK(t, l.Release(h))
	wantStatus(t, l.Release(h), StaleHandle) // released more often than acquired
}

func TestWriteRead(t *testing.T) {
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 8)
	if got := readAll(t, l, h, 8); !bytes.Equal(got, make([]byte, 8)) {
		t.Fatalf("new resource not zero-filled: %v", got)
	}
	mustOK(t, l.Write(h, 2, goBuf{1, 2, 3}))
	mustOK(t, l.Write(h, 8, goBuf(nil))) // empty write at the end, NULL data
	buf := make([]byte, 4)
	mustOK(t, l.Read(h, 1, goBuf(buf)))
	if !bytes.Equal(buf, []byte{0, 1, 2, 3}) {
		t.Fatalf("read %v", buf)
	}
	mustOK(t, l.Read(h, 8, goBuf(nil)))

	zero := mustCreate(t, l, 0)
	mustOK(t, l.Write(zero, 0, goBuf(nil)))
	mustOK(t, l.Read(zero, 0, goBuf{}))
	wantStatus(t, l.Write(zero, 1, goBuf(nil)), Bounds)
	wantStatus(t, l.Write(zero, 0, goBuf{1}), Bounds)
	mustOK(t, l.Release(zero))
}

func TestFailedCallsHaveNoEffect(t *testing.T) {
	cfg := defaultConfig()
	cfg.Capacity = 2
	l, _ := open(t, cfg)
	h := mustCreate(t, l, 4)
	mustOK(t, l.Write(h, 0, goBuf{9, 9, 9, 9}))
	before := mustStats(t, l)

	wantStatus(t, l.Write(h, 2, goBuf{1, 2, 3}), Bounds)
	if got := readAll(t, l, h, 4); !bytes.Equal(got, []byte{9, 9, 9, 9}) {
		t.Fatalf("a failed write changed bytes: %v", got)
	}
	buf := []byte{7, 7, 7, 7, 7}
	wantStatus(t, l.Read(h, 0, goBuf(buf)), Bounds)
	if !bytes.Equal(buf, []byte{7, 7, 7, 7, 7}) {
		t.Fatalf("a failed read wrote the buffer: %v", buf)
	}
	const sentinel = Handle(0xDEAD)
	out := sentinel
	wantStatus(t, l.Create(cfg.MaxResourceBytes+1, &out), Exhausted)
	wantStatus(t, l.Snapshot(maxHandle, &out), InvalidHandle)
	if out != sentinel {
		t.Fatalf("a failed call wrote its output: %v", out)
	}
	info := ResourceInfo{Size: 5, Refs: 5, ReadOnly: 5}
	wantStatus(t, l.Info(h+1<<32, &info), InvalidHandle)
	if info != (ResourceInfo{Size: 5, Refs: 5, ReadOnly: 5}) {
		t.Fatalf("a failed Info wrote its output: %+v", info)
	}
	if after := mustStats(t, l); after != before {
		t.Fatalf("failed calls changed the stats: %+v -> %+v", before, after)
	}
}

// TestCheckOrder checks that, when several errors apply, the first of the
// contract's list wins.
func TestCheckOrder(t *testing.T) {
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 8)
	snap := mustSnapshot(t, l, h)
	dead := mustCreate(t, l, 8)
	mustOK(t, l.Release(dead))
	huge := uint64(math.MaxUint64)
	for _, tc := range []struct {
		name string
		err  error
		want Status
	}{
		{"null before invalid", l.Write(maxHandle, huge, nullBuf(2)), NullArgument},
		{"null before stale", l.Read(dead, huge, nullBuf(2)), NullArgument},
		{"null out before invalid", l.Snapshot(maxHandle, nil), NullArgument},
		{"null info before stale", l.Info(dead, nil), NullArgument},
		{"stale before overflow", l.Write(dead, huge, claimBuf(2)), StaleHandle},
		{"invalid before bounds", l.Read(0, 100, claimBuf(2)), InvalidHandle},
		{"read-only before overflow", l.Write(snap, huge, claimBuf(2)), ReadOnly},
		{"read-only before bounds", l.Write(snap, 7, claimBuf(2)), ReadOnly},
		{"read-only even for an empty write", l.Write(snap, 0, goBuf(nil)), ReadOnly},
		{"overflow before bounds", l.Write(h, huge, claimBuf(1)), Overflow},
		{"overflow of len alone", l.Read(h, 1, claimBuf(huge)), Overflow},
		{"bounds, huge len", l.Read(h, 0, claimBuf(huge)), Bounds},
		{"bounds, huge offset", l.Read(h, huge, goBuf(nil)), Bounds},
		{"bounds by one", l.Write(h, 5, claimBuf(4)), Bounds},
	} {
		t.Run(tc.name, func(t *testing.T) { wantStatus(t, tc.err, tc.want) })
	}
}

func TestSnapshot(t *testing.T) {
	l, _ := open(t, defaultConfig())
	h := mustCreate(t, l, 4)
	mustOK(t, l.Write(h, 0, goBuf{1, 2, 3, 4}))
	snap := mustSnapshot(t, l, h)
	mustOK(t, l.Write(h, 0, goBuf{5, 5, 5, 5}))
	if got := readAll(t, l, snap, 4); !bytes.Equal(got, []byte{1, 2, 3, 4}) {
		t.Fatalf("snapshot sees a later write: %v", got)
	}
	var info ResourceInfo
	mustOK(t, l.Info(snap, &info))
	if info != (ResourceInfo{Size: 4, Refs: 1, ReadOnly: 1}) {
		t.Fatalf("snapshot info %+v", info)
	}
	mustOK(t, l.Info(h, &info))
	if info.ReadOnly != 0 {
		t.Fatal("origin is read-only")
	}
	err := l.Write(snap, 0, goBuf{1})
	wantStatus(t, err, ReadOnly)
	if !strings.Contains(err.Error(), snap.String()) {
		t.Fatalf("message %q does not name the handle", err)
	}

	snapOfSnap := mustSnapshot(t, l, snap)
	mustOK(t, l.Release(h)) // the origin dies; the snapshots live on
	mustOK(t, l.Release(snap))
	if got := readAll(t, l, snapOfSnap, 4); !bytes.Equal(got, []byte{1, 2, 3, 4}) {
		t.Fatalf("snapshot of snapshot reads %v", got)
	}
	if st := mustStats(t, l); st.Created != 3 || st.LiveResources != 1 || st.LiveBytes != 4 || st.Reclaimed != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestExhausted(t *testing.T) {
	t.Run("slots", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.Capacity = 2
		l, _ := open(t, cfg)
		a := mustCreate(t, l, 1)
		mustCreate(t, l, 1)
		var out Handle
		wantStatus(t, l.Create(1, &out), Exhausted)
		err := l.Snapshot(a, &out)
		wantStatus(t, err, Exhausted)
		if !strings.Contains(err.Error(), a.String()) {
			t.Fatalf("message %q does not name the origin", err)
		}
		mustOK(t, l.Release(a))
		mustCreate(t, l, 1)
	})
	t.Run("max_resource_bytes", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.MaxResourceBytes = 10
		l, _ := open(t, cfg)
		mustCreate(t, l, 10)
		var out Handle
		wantStatus(t, l.Create(11, &out), Exhausted)
		wantStatus(t, l.Create(math.MaxUint64, &out), Exhausted)
	})
	t.Run("max_total_bytes", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.MaxTotalBytes = 10
		l, _ := open(t, cfg)
		a := mustCreate(t, l, 6)
		var out Handle
		wantStatus(t, l.Snapshot(a, &out), Exhausted)
		wantStatus(t, l.Create(5, &out), Exhausted)
		b := mustCreate(t, l, 4) // exactly at the limit
		mustCreate(t, l, 0)      // size 0 always fits
		mustOK(t, l.Release(b))
		mustSnapshot(t, l, mustCreate(t, l, 2))
		if st := mustStats(t, l); st.LiveBytes != 10 {
			t.Fatalf("live bytes %d", st.LiveBytes)
		}
	})
	t.Run("out of memory", func(t *testing.T) {
		l, heap := open(t, defaultConfig())
		heap.limit = 100
		var out Handle
		wantStatus(t, l.Create(101, &out), Exhausted)
		a := mustCreate(t, l, 100)
		if st := mustStats(t, l); st.Created != 1 {
			t.Fatalf("stats %+v", st)
		}
		heap.limit = 10
		wantStatus(t, l.Snapshot(a, &out), Exhausted)
	})
}

func TestImmediateReclaimsInTheReleasingCall(t *testing.T) {
	l, heap := open(t, defaultConfig())
	h := mustCreate(t, l, 100)
	mustOK(t, l.Acquire(h))
	mustOK(t, l.Release(h))
	if heap.outstanding() != 1 {
		t.Fatal("freed with a reference left")
	}
	mustOK(t, l.Release(h))
	if heap.outstanding() != 0 {
		t.Fatal("not freed in the releasing call")
	}
	if st := mustStats(t, l); st != (Stats{Created: 1, Reclaimed: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestImmediateWaitsForCallsInProgress checks that memory outlives a call
// that reached the resource before it died.
func TestImmediateWaitsForCallsInProgress(t *testing.T) {
	l, heap := open(t, defaultConfig())
	h := mustCreate(t, l, 100)
	s := l.current.Load()
	r, err := s.pin(h) // as a read in progress does
	mustOK(t, err)
	mustOK(t, l.Release(h))
	if heap.outstanding() != 1 {
		t.Fatal("memory freed under a call in progress")
	}
	if st := mustStats(t, l); st.PendingResources != 1 || st.PendingBytes != 100 || st.LiveResources != 0 {
		t.Fatalf("stats %+v", st)
	}
	s.unpin(r) // the call finishes
	if heap.outstanding() != 0 {
		t.Fatal("memory not freed when the last call finished")
	}
	if st := mustStats(t, l); st != (Stats{Created: 1, Reclaimed: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestGoCleanupQuiesce(t *testing.T) {
	cfg := defaultConfig()
	cfg.Strategy = GoCleanup
	cfg.Capacity = 64
	l, heap := open(t, cfg)
	keep := mustCreate(t, l, 10)
	for range 50 {
		h := mustCreate(t, l, 1000)
		mustOK(t, l.Write(h, 0, goBuf{1, 2, 3}))
		s := mustSnapshot(t, l, h)
		mustOK(t, l.Release(h))
		mustOK(t, l.Release(s))
	}
	st := mustStats(t, l)
	if st.Created != 101 || st.LiveResources != 1 || st.LiveBytes != 10 {
		t.Fatalf("stats %+v", st)
	}
	mustOK(t, l.Quiesce())
	st = mustStats(t, l)
	if st != (Stats{LiveResources: 1, LiveBytes: 10, Created: 101, Reclaimed: 100}) {
		t.Fatalf("after quiesce %+v", st)
	}
	if heap.outstanding() != 1 {
		t.Fatalf("%d allocations outstanding, want 1", heap.outstanding())
	}
	readAll(t, l, keep, 10) // the live one is intact
}

func TestQuiesceTimesOut(t *testing.T) {
	for _, strategy := range []Strategy{Immediate, GoCleanup} {
		cfg := defaultConfig()
		cfg.Strategy = strategy
		l, _ := open(t, cfg)
		l.current.Load().quiesceTimeout = 20 * time.Millisecond
		h := mustCreate(t, l, 8)
		s := l.current.Load()
		r, err := s.pin(h) // a call in progress keeps it pending
		mustOK(t, err)
		mustOK(t, l.Release(h))
		err = l.Quiesce()
		wantStatus(t, err, TimedOut)
		s.unpin(r)
		mustOK(t, l.Quiesce())
	}
}

func TestShutdownReclaimsEverything(t *testing.T) {
	for _, strategy := range []Strategy{Immediate, GoCleanup} {
		cfg := defaultConfig()
		cfg.Strategy = strategy
		l, heap := open(t, cfg)
		a := mustCreate(t, l, 10)
		mustSnapshot(t, l, a)
		mustOK(t, l.Release(mustCreate(t, l, 20)))
		var report Stats
		mustOK(t, l.Shutdown(&report))
		want := Stats{LiveResources: 2, LiveBytes: 20, Created: 3}
		if strategy == Immediate {
			want.Reclaimed = 1
		} else {
			want.PendingResources, want.PendingBytes = 1, 20
		}
		if report != want {
			t.Fatalf("strategy %d: report %+v, want %+v", strategy, report, want)
		}
		if heap.outstanding() != 0 {
			t.Fatalf("strategy %d: %d allocations left", strategy, heap.outstanding())
		}
		// Cleanups that run after shutdown must not free anything twice
		// (goHeap panics if they do).
		for range 3 {
			runtimeGC()
		}
	}
}

// TestStatsInvariants drives random operations and checks the counters
// against a model after each.
func TestStatsInvariants(t *testing.T) {
	for _, strategy := range []Strategy{Immediate, GoCleanup} {
		cfg := Config{Capacity: 16, Strategy: strategy, MaxResourceBytes: 64, MaxTotalBytes: 256}
		l, _ := open(t, cfg)
		rng := rand.New(rand.NewPCG(1, uint64(strategy)))
		type model struct{ size, refs uint64 }
		live := map[Handle]*model{}
		var handles []Handle
		var liveBytes uint64
		for range 3000 {
			var h Handle
			if len(handles) > 0 {
				h = handles[rng.IntN(len(handles))]
			}
			switch op := rng.IntN(5); {
			case op == 0 || len(handles) == 0:
				size := rng.Uint64N(80)
				var out Handle
				err := l.Create(size, &out)
				fits := size <= 64 && liveBytes+size <= 256 && len(live) < 16
				if (err == nil) != fits {
					t.Fatalf("create %d: %v (live %d bytes, %d resources)", size, err, liveBytes, len(live))
				}
				if err == nil {
					live[out] = &model{size, 1}
					handles = append(handles, out)
					liveBytes += size
				}
			case op == 1:
				err := l.Acquire(h)
				if m := live[h]; m != nil {
					mustOK(t, err)
					m.refs++
				} else {
					wantStatus(t, err, StaleHandle)
				}
			case op == 2 || op == 3:
				err := l.Release(h)
				if m := live[h]; m != nil {
					mustOK(t, err)
					if m.refs--; m.refs == 0 {
						delete(live, h)
						liveBytes -= m.size
					}
				} else {
					wantStatus(t, err, StaleHandle)
				}
			case op == 4:
				var out Handle
				err := l.Snapshot(h, &out)
				if m := live[h]; m != nil && err == nil {
					live[out] = &model{m.size, 1}
					handles = append(handles, out)
					liveBytes += m.size
				} else if m != nil {
					wantStatus(t, err, Exhausted)
				} else {
					wantStatus(t, err, StaleHandle)
				}
			}
			st := mustStats(t, l)
			if st.LiveResources != uint64(len(live)) || st.LiveBytes != liveBytes {
				t.Fatalf("stats %+v, model %d resources %d bytes", st, len(live), liveBytes)
			}
			if strategy == Immediate && (st.PendingResources != 0 || st.PendingBytes != 0) {
				t.Fatalf("immediate has pending between calls: %+v", st)
			}
		}
		mustOK(t, l.Quiesce())
		if st := mustStats(t, l); st.PendingResources != 0 || st.PendingBytes != 0 {
			t.Fatalf("pending after quiesce: %+v", st)
		}
	}
}
