package fhadapter

import (
	"sync"
	"testing"
)

func TestCountersLimitsInOrder(t *testing.T) {
	var c Counters
	c.Open(Config{Capacity: 2, MaxResourceBytes: 100, MaxTotalBytes: 150})
	for _, tc := range []struct {
		size uint64
		want Status
		msg  string
	}{
		{101, Exhausted, "size 101 exceeds max_resource_bytes 100"},
		{100, OK, ""},
		{51, Exhausted, "size 51 would bring live_bytes from 100 over max_total_bytes 150"},
		{50, OK, ""},
		{0, Exhausted, "no free slot: all 2 slots (the capacity) hold live resources"},
	} {
		if err := c.Fits(tc.size); StatusOf(err) != tc.want {
			t.Fatalf("Fits(%d) = %v, want %v", tc.size, err, tc.want)
		}
		err := c.Admit(tc.size)
		if StatusOf(err) != tc.want || (err != nil && err.Error() != tc.msg) {
			t.Fatalf("Admit(%d) = %v, want %v %q", tc.size, err, tc.want, tc.msg)
		}
	}
	if got := c.Stats(); got != (Stats{LiveResources: 2, LiveBytes: 150, Created: 2}) {
		t.Fatalf("after two admits: %+v", got)
	}
	c.Free(100)
	c.Defer(50)
	if got := c.Stats(); got != (Stats{Created: 2, Reclaimed: 1, PendingResources: 1, PendingBytes: 50}) {
		t.Fatalf("after a free and a deferred death: %+v", got)
	}
	c.Reclaim(50)
	if err := c.Admit(7); err != nil {
		t.Fatal(err)
	}
	c.Abandon(7)
	if got := c.Stats(); got != (Stats{Created: 2, Reclaimed: 2}) {
		t.Fatalf("after reclaim and an abandoned admit: %+v", got)
	}
	c.Open(Config{Capacity: 1, MaxResourceBytes: 1, MaxTotalBytes: 1})
	if got := c.Stats(); got != (Stats{}) {
		t.Fatalf("Open starts at zero: %+v", got)
	}
}

// Admit checks and counts atomically: racing admits never exceed the
// limits, and the books balance.
func TestCountersUnderConcurrency(t *testing.T) {
	var c Counters
	c.Open(Config{Capacity: 50, MaxResourceBytes: 10, MaxTotalBytes: 1 << 40})
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if c.Admit(10) != nil {
					continue
				}
				mu.Lock()
				admitted++
				mu.Unlock()
				if i%2 == 0 {
					c.Free(10)
				} else {
					c.Defer(10)
					c.Reclaim(10)
				}
			}
		}()
	}
	wg.Wait()
	s := c.Stats()
	if s.Created != uint64(admitted) || s.Reclaimed != s.Created || s.LiveResources != 0 || s.LiveBytes != 0 || s.PendingResources != 0 {
		t.Fatalf("books do not balance: %+v, %d admitted", s, admitted)
	}
}
