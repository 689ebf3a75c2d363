package table

// Reclamation events (ABI 1.1): a bounded ring of ReclaimEvent, recorded when
// a session opened with FlagReclaimEvents frees a resource's memory.

import "sync"

// EventRingCapacity is how many undrained events a session keeps; further
// events are dropped and counted until the next drain.
const EventRingCapacity = 1 << 16

// eventRing is a bounded FIFO of events. push never blocks beyond its own
// short lock and never grows the ring: when it is full the event is dropped
// and counted. Safe for concurrent use.
type eventRing struct {
	mu      sync.Mutex
	buf     []ReclaimEvent // fixed length: the capacity
	head    int            // index of the oldest event
	n       int            // events held
	dropped uint64         // events dropped since the last drain
}

func newEventRing(capacity int) *eventRing {
	return &eventRing{buf: make([]ReclaimEvent, capacity)}
}

// push records e, or counts it as dropped when the ring is full.
func (r *eventRing) push(e ReclaimEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == len(r.buf) {
		r.dropped++
		return
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
}

// drain moves up to cap events, oldest first, into out (made by the caller
// for the count it is given) and returns how many it moved and how many were
// dropped since the last drain (resetting that count).
func (r *eventRing) drain(capacity uint64, out func(n int) []ReclaimEvent) (int, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	if uint64(n) > capacity {
		n = int(capacity)
	}
	if n > 0 {
		dst := out(n)
		for i := range dst {
			dst[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.head = (r.head + n) % len(r.buf)
		r.n -= n
	}
	dropped := r.dropped
	r.dropped = 0
	return n, dropped
}
