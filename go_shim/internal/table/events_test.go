package table

// Reclamation events (ABI 1.1): what is recorded, when, and the ring's bounds.

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tickClock is a Clock that returns 1, 2, 3, ...: each reading is later than
// every earlier one, so stamps show the order in which they were taken.
type tickClock struct{ n atomic.Uint64 }

func (c *tickClock) now() uint64 { return c.n.Add(1) }

func drainAll(t *testing.T, l *Library) ([]ReclaimEvent, uint64) {
	t.Helper()
	buf := make(goEvents, 64)
	var n, dropped uint64
	mustOK(t, l.DrainReclaimEvents(buf, &n, &dropped))
	return buf[:n], dropped
}

func TestReclaimEventsImmediate(t *testing.T) {
	clock := &tickClock{}
	cfg := defaultConfig()
	cfg.Flags = FlagReclaimEvents
	l, _ := openClock(t, cfg, clock.now)

	a := mustCreate(t, l, 10)
	b := mustCreate(t, l, 0)
	snap := mustSnapshot(t, l, a)
	mustOK(t, l.Acquire(a))
	mustOK(t, l.Release(a)) // not the last reference: no event
	if ev, _ := drainAll(t, l); len(ev) != 0 {
		t.Fatalf("events before any death: %+v", ev)
	}
	before := clock.now()
	mustOK(t, l.Release(b))
	mustOK(t, l.Release(a))
	mustOK(t, l.Release(snap))
	after := clock.now()

	ev, dropped := drainAll(t, l)
	if dropped != 0 || len(ev) != 3 {
		t.Fatalf("got %d events (%d dropped), want 3: %+v", len(ev), dropped, ev)
	}
	want := []struct {
		h    Handle
		size uint64
	}{{b, 0}, {a, 10}, {snap, 10}}
	last := before
	for i, e := range ev {
		if e.Handle != want[i].h || e.Bytes != want[i].size || e.Strategy != Immediate || e.Reserved != 0 {
			t.Errorf("event %d is %+v, want handle %v, %d bytes, immediate", i, e, want[i].h, want[i].size)
		}
		// Immediate: stamped in the release itself, death then free, in call order.
		if !(last < e.ReleasedNs && e.ReleasedNs < e.FreedNs && e.FreedNs < after) {
			t.Errorf("event %d stamps %d..%d are not in order within %d..%d", i, e.ReleasedNs, e.FreedNs, last, after)
		}
		last = e.FreedNs
	}
	if ev, dropped := drainAll(t, l); len(ev) != 0 || dropped != 0 {
		t.Fatalf("a second drain gave %d events, %d dropped", len(ev), dropped)
	}
}

func TestReclaimEventsGoCleanup(t *testing.T) {
	clock := &tickClock{}
	cfg := defaultConfig()
	cfg.Strategy = GoCleanup
	cfg.Flags = FlagReclaimEvents
	l, _ := openClock(t, cfg, clock.now)

	h := mustCreate(t, l, 7)
	mustOK(t, l.Release(h))
	released := clock.now()
	mustOK(t, l.Quiesce())
	ev, _ := drainAll(t, l)
	if len(ev) != 1 {
		t.Fatalf("got %d events after quiesce, want 1: %+v", len(ev), ev)
	}
	e := ev[0]
	if e.Handle != h || e.Bytes != 7 || e.Strategy != GoCleanup {
		t.Fatalf("event %+v, want handle %v, 7 bytes, go-cleanup", e, h)
	}
	// The death is stamped in the release, the free later, in the cleanup.
	if !(e.ReleasedNs < released && released < e.FreedNs) {
		t.Fatalf("stamps released %d, freed %d; the release returned at %d", e.ReleasedNs, e.FreedNs, released)
	}
}

func TestReclaimEventsOffWithoutFlag(t *testing.T) {
	for _, strategy := range []Strategy{Immediate, GoCleanup} {
		cfg := defaultConfig()
		cfg.Strategy = strategy
		l, _ := open(t, cfg)
		mustOK(t, l.Release(mustCreate(t, l, 3)))
		mustOK(t, l.Quiesce())
		if ev, dropped := drainAll(t, l); len(ev) != 0 || dropped != 0 {
			t.Fatalf("%v: %d events, %d dropped without the flag", strategy, len(ev), dropped)
		}
		s := l.current.Load()
		if s.events != nil || s.releasedAt != nil {
			t.Fatalf("%v: event state allocated without the flag", strategy)
		}
		var report Stats
		mustOK(t, l.Shutdown(&report))
	}
}

func TestReclaimEventsNotAtShutdown(t *testing.T) {
	for _, strategy := range []Strategy{Immediate, GoCleanup} {
		cfg := defaultConfig()
		cfg.Strategy = strategy
		cfg.Flags = FlagReclaimEvents
		l, _ := open(t, cfg)
		mustCreate(t, l, 4) // alive at shutdown
		dead := mustCreate(t, l, 5)
		mustOK(t, l.Release(dead)) // pending at shutdown under GoCleanup
		s := l.current.Load()
		before := s.events.held()
		var report Stats
		mustOK(t, l.Shutdown(&report))
		runtimeGC() // a late cleanup finds the session closed and records nothing
		after := s.events.held()
		// Immediate: the release freed dead (one event). GoCleanup: dead is
		// pending, unless a GC already ran its cleanup (then one event too).
		okBefore := before == 1 || (strategy == GoCleanup && before == 0)
		if !okBefore || after != before {
			t.Fatalf("%v: %d events before shutdown, %d after (shutdown and late cleanups record none)", strategy, before, after)
		}
	}
}

func TestDrainReclaimEventsChecks(t *testing.T) {
	l := NewLibrary(newGoHeap(), goClock)
	var n, dropped uint64
	wantStatus(t, l.DrainReclaimEvents(nullEvents(1), nil, nil), NotInitialized)

	cfg := defaultConfig()
	cfg.Flags = FlagReclaimEvents
	l, _ = open(t, cfg)
	for i := 0; i < 3; i++ {
		mustOK(t, l.Release(mustCreate(t, l, uint64(i))))
	}
	wantStatus(t, l.DrainReclaimEvents(goEvents{}, nil, &dropped), NullArgument)
	wantStatus(t, l.DrainReclaimEvents(goEvents{}, &n, nil), NullArgument)
	wantStatus(t, l.DrainReclaimEvents(nullEvents(2), &n, &dropped), NullArgument)
	n, dropped = 99, 99
	mustOK(t, l.DrainReclaimEvents(nullEvents(0), &n, &dropped)) // NULL with cap 0 moves nothing
	if n != 0 || dropped != 0 {
		t.Fatalf("cap 0 drained %d events, %d dropped", n, dropped)
	}
	one := make(goEvents, 1)
	for i := 0; i < 3; i++ { // oldest first, one at a time
		mustOK(t, l.DrainReclaimEvents(one, &n, &dropped))
		if n != 1 || one[0].Bytes != uint64(i) {
			t.Fatalf("drain %d: n %d, event %+v, want the one of %d bytes", i, n, one[0], i)
		}
	}
	mustOK(t, l.DrainReclaimEvents(one, &n, &dropped))
	if n != 0 {
		t.Fatalf("drained %d events from an empty ring", n)
	}
}

// held is the number of events in the ring.
func (r *eventRing) held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func TestEventRingBoundedAndOrdered(t *testing.T) {
	r := newEventRing(4)
	out := make([]ReclaimEvent, 10)
	take := func(n int) []ReclaimEvent { return out[:n] }
	for i := 1; i <= 3; i++ {
		r.push(ReclaimEvent{Handle: Handle(i)})
	}
	if n, d := r.drain(2, take); n != 2 || d != 0 || out[0].Handle != 1 || out[1].Handle != 2 {
		t.Fatalf("drain 2: n %d, dropped %d, %+v", n, d, out[:2])
	}
	for i := 4; i <= 9; i++ { // 3 is still in: 4, 5, 6 fit, 7, 8, 9 are dropped
		r.push(ReclaimEvent{Handle: Handle(i)})
	}
	n, d := r.drain(10, take)
	if n != 4 || d != 3 {
		t.Fatalf("n %d, dropped %d, want 4 and 3", n, d)
	}
	for i, e := range out[:n] { // wrapped around the ring's end, still oldest first
		if e.Handle != Handle(i+3) {
			t.Fatalf("event %d is handle %v, want %d", i, e.Handle, i+3)
		}
	}
	if n, d := r.drain(10, take); n != 0 || d != 0 {
		t.Fatalf("after a drain: n %d, dropped %d (the dropped count resets)", n, d)
	}
}

func TestReclaimEventsConcurrentDrain(t *testing.T) {
	cfg := defaultConfig()
	cfg.Capacity = 64
	cfg.Flags = FlagReclaimEvents
	l, _ := open(t, cfg)
	const workers, rounds = 4, 500
	var wg sync.WaitGroup
	var total atomic.Uint64
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() { // drains while the workers release
		defer close(drained)
		buf := make(goEvents, 8)
		for {
			var n, dropped uint64
			mustOK(t, l.DrainReclaimEvents(buf, &n, &dropped))
			total.Add(n + dropped)
			select {
			case <-stop:
				if n == 0 {
					return
				}
			default:
				time.Sleep(10 * time.Microsecond)
			}
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				var h Handle
				if err := l.Create(1, &h); err != nil {
					t.Error(err)
					return
				}
				if err := l.Release(h); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-drained
	if got := total.Load(); got != workers*rounds {
		t.Fatalf("drained or dropped %d events, want %d", got, workers*rounds)
	}
}

func TestClockNs(t *testing.T) {
	l := NewLibrary(newGoHeap(), goClock)
	wantStatus(t, l.ClockNs(nil), NullArgument)
	var a, b uint64
	mustOK(t, l.ClockNs(&a))
	mustOK(t, l.ClockNs(&b))
	if a == 0 || b < a {
		t.Fatalf("clock readings %d then %d", a, b)
	}
}
