package fhadapter

// Stats bookkeeping and the byte and capacity limits of fh_config.

import "sync"

// Counters keeps the counters of a session (fh_stats) and applies the limits
// of its Config to new resources: bookkeeping that every adapter needs and
// that is easy to get subtly wrong. Safe for concurrent use. An adapter
// embeds it (its Stats method then serves fh_get_stats), calls Open from its
// Init, and reports the life of each resource:
//
//	Fits(size)     FH_EXHAUSTED unless a new resource of size bytes fits now: to refuse
//	               before allocating (the check of Admit, counting nothing)
//	Admit(size)    when it issues a resource (fh_create, fh_snapshot): FH_EXHAUSTED
//	               unless the resource fits, else it counts as created and live
//	Abandon(size)  an admitted resource was not issued after all (the library refused it)
//	Free(size)     a resource died and its memory was freed in the same call
//	Defer(size)    a resource died and its memory will be freed later (pending)
//	Reclaim(size)  the memory of a pending resource was freed
//
// Between calls Created == LiveResources + PendingResources + Reclaimed.
type Counters struct {
	mu  sync.Mutex
	cfg Config
	s   Stats
}

// Open starts the counters of a new session with cfg's limits, all at zero.
func (c *Counters) Open(cfg Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg, c.s = cfg, Stats{}
}

// Stats returns the counters (fh_get_stats, and fh_shutdown's report).
func (c *Counters) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

// Admit returns FH_EXHAUSTED unless a new resource of size bytes fits the
// session's limits (max_resource_bytes, max_total_bytes over the live bytes,
// capacity over the live resources), checked in that order; otherwise it
// counts the resource as created and live, atomically with the check.
func (c *Counters) Admit(size uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fits(size); err != nil {
		return err
	}
	c.s.Created++
	c.s.LiveResources++
	c.s.LiveBytes += size
	return nil
}

// Fits is the check of Admit, counting nothing: FH_EXHAUSTED unless a new
// resource of size bytes fits the limits now (Admit checks again).
func (c *Counters) Fits(size uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fits(size)
}

// fits is Fits with c.mu held.
func (c *Counters) fits(size uint64) error {
	switch {
	case size > c.cfg.MaxResourceBytes:
		return Fail(Exhausted, "size %d exceeds max_resource_bytes %d", size, c.cfg.MaxResourceBytes)
	case size > c.cfg.MaxTotalBytes-c.s.LiveBytes:
		return Fail(Exhausted, "size %d would bring live_bytes from %d over max_total_bytes %d",
			size, c.s.LiveBytes, c.cfg.MaxTotalBytes)
	case c.s.LiveResources >= uint64(c.cfg.Capacity):
		return Fail(Exhausted, "no free slot: all %d slots (the capacity) hold live resources", c.cfg.Capacity)
	}
	return nil
}

// Abandon takes back an Admit of size bytes whose resource was never
// issued.
func (c *Counters) Abandon(size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Created--
	c.s.LiveResources--
	c.s.LiveBytes -= size
}

// Free counts a resource of size bytes that died and whose memory was freed
// in the same call (FH_RECLAIM_IMMEDIATE).
func (c *Counters) Free(size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.LiveResources--
	c.s.LiveBytes -= size
	c.s.Reclaimed++
}

// Defer counts a resource of size bytes that died and whose memory will be
// freed later: it is pending until Reclaim.
func (c *Counters) Defer(size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.LiveResources--
	c.s.LiveBytes -= size
	c.s.PendingResources++
	c.s.PendingBytes += size
}

// Reclaim counts the memory of a pending resource of size bytes as freed.
func (c *Counters) Reclaim(size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.PendingResources--
	c.s.PendingBytes -= size
	c.s.Reclaimed++
}
