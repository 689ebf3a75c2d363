package table

// Concurrency tests, meant for -race: many goroutines acquire, release,
// write, read and snapshot the same handles while resources die under them.

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// uniform reports whether all bytes of b are equal. Writers only ever write
// whole resources with one value, so a read that is not uniform has seen part
// of a write (or freed memory: freed bytes are poison, never written).
func uniform(b []byte) bool {
	for _, c := range b {
		if c != b[0] {
			return false
		}
	}
	return true
}

func TestConcurrentUse(t *testing.T) {
	for _, strategy := range []Strategy{Immediate, GoCleanup} {
		t.Run(map[Strategy]string{Immediate: "immediate", GoCleanup: "go-cleanup"}[strategy], func(t *testing.T) {
			testConcurrentUse(t, strategy)
		})
	}
}

func testConcurrentUse(t *testing.T, strategy Strategy) {
	const (
		size     = 4096
		shared   = 4
		duration = 300 * time.Millisecond
	)
	cfg := Config{Capacity: 64, Strategy: strategy, MaxResourceBytes: size, MaxTotalBytes: 64 * size}
	l, heap := open(t, cfg)
	var handles [shared]Handle
	for i := range handles {
		handles[i] = mustCreate(t, l, size)
	}
	// churn is a handle that one goroutine keeps replacing: others race with
	// its death.
	var churn atomic.Uint64
	churn.Store(uint64(mustCreate(t, l, size)))

	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads, torn atomic.Int64
	worker := func(seed uint64, body func(rng *rand.Rand)) {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, 0))
			for !stop.Load() {
				body(rng)
			}
		})
	}
	must := func(err error) { // t.Fatal may not be called from workers
		if err != nil {
			t.Error(err)
		}
	}
	check := func(h Handle, want ...Status) {
		buf := make([]byte, size)
		err := l.Read(h, 0, goBuf(buf))
		if err == nil {
			reads.Add(1)
			if !uniform(buf) {
				torn.Add(1)
			}
			return
		}
		for _, w := range want {
			if StatusOf(err) == w {
				return
			}
		}
		t.Errorf("read %v: %v", h, err)
	}
	for i := range 3 {
		worker(uint64(i), func(rng *rand.Rand) { // writers
			b := make([]byte, size)
			v := byte(rng.IntN(poison))
			for i := range b {
				b[i] = v
			}
			h := handles[rng.IntN(shared)]
			if rng.IntN(4) == 0 {
				h = Handle(churn.Load())
			}
			if err := l.Write(h, 0, goBuf(b)); err != nil && StatusOf(err) != StaleHandle {
				t.Errorf("write: %v", err)
			}
		})
	}
	for i := range 3 {
		worker(10+uint64(i), func(rng *rand.Rand) { // readers
			check(handles[rng.IntN(shared)])
			check(Handle(churn.Load()), StaleHandle)
		})
	}
	worker(20, func(rng *rand.Rand) { // snapshots
		var snap Handle
		err := l.Snapshot(handles[rng.IntN(shared)], &snap)
		if err != nil {
			if StatusOf(err) != Exhausted {
				t.Errorf("snapshot: %v", err)
			}
			return
		}
		check(snap)
		must(l.Release(snap))
	})
	worker(30, func(rng *rand.Rand) { // extra references come and go
		h := handles[rng.IntN(shared)]
		must(l.Acquire(h))
		var info ResourceInfo
		must(l.Info(h, &info))
		must(l.Release(h))
		h = Handle(churn.Load())
		if l.Acquire(h) == nil {
			check(h)
			must(l.Release(h))
		}
	})
	worker(40, func(*rand.Rand) { // churn: replace, then kill the old one
		var next Handle
		if err := l.Create(size, &next); err != nil {
			if StatusOf(err) != Exhausted {
				t.Errorf("create: %v", err)
			}
			return
		}
		old := Handle(churn.Swap(uint64(next)))
		must(l.Release(old))
	})
	worker(50, func(*rand.Rand) { // counters stay coherent
		var st Stats
		must(l.Stats(&st))
		if st.LiveResources > uint64(cfg.Capacity) || st.LiveBytes > cfg.MaxTotalBytes {
			t.Errorf("stats %+v", st)
		}
	})
	time.Sleep(duration)
	stop.Store(true)
	wg.Wait()

	if torn.Load() != 0 {
		t.Fatalf("%d of %d reads saw a torn or freed buffer", torn.Load(), reads.Load())
	}
	if reads.Load() == 0 {
		t.Fatal("no read succeeded")
	}
	for _, h := range handles {
		mustOK(t, l.Release(h))
	}
	mustOK(t, l.Release(Handle(churn.Load())))
	mustOK(t, l.Quiesce())
	st := mustStats(t, l)
	if st.LiveResources != 0 || st.LiveBytes != 0 || st.PendingResources != 0 || st.PendingBytes != 0 || st.Reclaimed != st.Created {
		t.Fatalf("after quiesce: %+v", st)
	}
	if heap.outstanding() != 0 {
		t.Fatalf("%d allocations outstanding after quiesce", heap.outstanding())
	}
	t.Logf("%d reads, %d resources created", reads.Load(), st.Created)
}
