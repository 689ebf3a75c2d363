package table

// Test helpers: a Go-heap allocator that catches double and foreign frees,
// Go buffers, and a library with an open session.

import (
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
)

// goHeap is an Allocator on the Go heap that tracks what is outstanding and
// poisons what it frees, so a use after free shows up as poison bytes (and,
// under -race, as a data race with Free).
type goHeap struct {
	mu    sync.Mutex
	live  map[*byte]uint64
	limit uint64 // Alloc of more than limit bytes fails
}

func newGoHeap() *goHeap { return &goHeap{live: make(map[*byte]uint64), limit: 1 << 30} }

func (a *goHeap) Alloc(n uint64) []byte {
	if n == 0 {
		panic("Alloc(0)")
	}
	if n > a.limit {
		return nil
	}
	b := make([]byte, n, n+1) // a spare byte for the BOUNDS_OFF_BY_ONE mutant to overflow into
	a.mu.Lock()
	defer a.mu.Unlock()
	a.live[&b[0]] = n
	return b
}

func (a *goHeap) Free(b []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.live[&b[0]]; !ok {
		panic("Free of memory not allocated, or freed twice")
	}
	delete(a.live, &b[0])
	for i := range b {
		b[i] = poison
	}
}

// poison is the value of every freed byte.
const poison = 0xEE

// outstanding returns the number of allocations not freed yet.
func (a *goHeap) outstanding() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.live)
}

// goBuf is a Buffer over a Go slice; nil is a NULL pointer with length 0.
type goBuf []byte

func (b goBuf) Null() bool    { return b == nil }
func (b goBuf) Len() uint64   { return uint64(len(b)) }
func (b goBuf) Bytes() []byte { return b }

// nullBuf is a NULL pointer with a length.
type nullBuf uint64

func (nullBuf) Null() bool    { return true }
func (n nullBuf) Len() uint64 { return uint64(n) }
func (nullBuf) Bytes() []byte { panic("Bytes of a NULL buffer") }

// claimBuf is a non-NULL buffer claiming a length it does not have: the
// table must reject it before asking for its bytes.
type claimBuf uint64

func (claimBuf) Null() bool    { return false }
func (n claimBuf) Len() uint64 { return uint64(n) }
func (claimBuf) Bytes() []byte { panic("Bytes called before the checks rejected the length") }

func defaultConfig() Config {
	return Config{Capacity: 8, Strategy: Immediate, MaxResourceBytes: 1 << 20, MaxTotalBytes: 1 << 22}
}

// open returns a library with a session opened with cfg; the session is
// shut down when the test ends.
func open(t testing.TB, cfg Config) (*Library, *goHeap) {
	t.Helper()
	return openClock(t, cfg, goClock)
}

// openClock is open with the given clock.
func openClock(t testing.TB, cfg Config, clock Clock) (*Library, *goHeap) {
	t.Helper()
	heap := newGoHeap()
	l := NewLibrary(heap, clock)
	if err := l.Init(&cfg); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() {
		var report Stats
		if l.current.Load() != nil {
			if err := l.Shutdown(&report); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		}
		if n := heap.outstanding(); n != 0 {
			t.Errorf("%d allocations leaked after shutdown", n)
		}
	})
	return l, heap
}

func mustCreate(t testing.TB, l *Library, size uint64) Handle {
	t.Helper()
	var h Handle
	if err := l.Create(size, &h); err != nil {
		t.Fatalf("Create(%d): %v", size, err)
	}
	return h
}

func mustSnapshot(t testing.TB, l *Library, h Handle) Handle {
	t.Helper()
	var snap Handle
	if err := l.Snapshot(h, &snap); err != nil {
		t.Fatalf("Snapshot(%v): %v", h, err)
	}
	return snap
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantStatus fails the test unless err has status want.
func wantStatus(t testing.TB, err error, want Status) {
	t.Helper()
	if got := StatusOf(err); got != want {
		t.Fatalf("status %d (%v), want %d", got, err, want)
	}
}

func mustStats(t testing.TB, l *Library) Stats {
	t.Helper()
	var st Stats
	mustOK(t, l.Stats(&st))
	if st.Created != st.LiveResources+st.PendingResources+st.Reclaimed {
		t.Fatalf("invariant broken: %+v", st)
	}
	return st
}

func readAll(t testing.TB, l *Library, h Handle, size uint64) []byte {
	t.Helper()
	b := make([]byte, size)
	mustOK(t, l.Read(h, 0, goBuf(b)))
	return b
}

// goClock is the tests' Clock: nanoseconds since the tests started, plus
// one, from Go's monotonic clock (never 0, never going back).
func goClock() uint64 { return uint64(time.Since(testStart)) + 1 }

var testStart = time.Now()

// goEvents is an EventBuffer over a Go slice; nil is a NULL pointer with
// capacity 0.
type goEvents []ReclaimEvent

func (b goEvents) Null() bool                  { return b == nil }
func (b goEvents) Cap() uint64                 { return uint64(len(b)) }
func (b goEvents) Events(n int) []ReclaimEvent { return b[:n] }

// nullEvents is a NULL pointer with a capacity.
type nullEvents uint64

func (nullEvents) Null() bool                { return true }
func (n nullEvents) Cap() uint64             { return uint64(n) }
func (nullEvents) Events(int) []ReclaimEvent { panic("Events of a NULL buffer") }

// maxHandle is the largest handle value.
const maxHandle = Handle(math.MaxUint64)

// runtimeGC runs a garbage collection and gives cleanups a moment to run.
func runtimeGC() {
	runtime.GC()
	time.Sleep(5 * time.Millisecond)
}
