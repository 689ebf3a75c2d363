package table

// The process-wide entry points: one method per export of the contract.

import "sync/atomic"

// Library is the process-wide state behind the C API: at most one open
// session, and the allocator sessions take memory from. Its methods mirror
// the exports one to one and apply the first two steps of the contract's
// check order (FH_NOT_INITIALIZED, then FH_NULL_ARGUMENT); the session
// applies the rest. Output pointers are written only when a method returns
// nil. All methods except Init and Shutdown are safe for concurrent use.
type Library struct {
	alloc   Allocator
	clock   Clock
	current atomic.Pointer[session]
}

// NewLibrary returns a Library with no open session whose resources take
// their memory from alloc and whose reclamation events read clock.
func NewLibrary(alloc Allocator, clock Clock) *Library {
	return &Library{alloc: alloc, clock: clock}
}

// Open reports whether a session is open.
func (l *Library) Open() bool { return l.current.Load() != nil }

// ABIVersion reports the ABI version (fh_abi_version). No session is needed.
func ABIVersion(major, minor *uint32) error {
	switch {
	case major == nil:
		return fail(NullArgument, "major is NULL")
	case minor == nil:
		return fail(NullArgument, "minor is NULL")
	}
	*major, *minor = ABIMajor, ABIMinor
	return nil
}

// open returns the open session, or FH_NOT_INITIALIZED.
func (l *Library) open() (*session, error) {
	s := l.current.Load()
	if s == nil {
		return nil, fail(NotInitialized, "no session is open (call fh_init first)")
	}
	return s, nil
}

// Init opens a session with a copy of *cfg (fh_init).
func (l *Library) Init(cfg *Config) error {
	if cfg == nil {
		return fail(NullArgument, "config is NULL")
	}
	if l.current.Load() != nil {
		return fail(AlreadyInitialized, "a session is already open (call fh_shutdown first)")
	}
	c := *cfg
	if err := CheckConfig(&c); err != nil {
		return err
	}
	switch {
	case c.Strategy == Guarded:
		return fail(Unsupported, "reclamation strategy %d (guarded) needs a cross-runtime owner: "+
			"attach one with fh_attach_backend first (alone, the Go target implements %d, immediate, and %d, go-cleanup)",
			c.Strategy, Immediate, GoCleanup)
	case c.Strategy != Immediate && c.Strategy != GoCleanup:
		return fail(Unsupported, "reclamation strategy %d is not implemented by the Go target "+
			"(it implements %d, immediate, and %d, go-cleanup)", c.Strategy, Immediate, GoCleanup)
	}
	l.current.Store(newSession(c, l.alloc, l.clock))
	return nil
}

// CheckConfig applies fh_init's FH_INVALID_ARGUMENT checks to *c: the
// capacity's range and the flag bits. (Which strategies are supported is up
// to the caller.)
func CheckConfig(c *Config) error {
	switch {
	case c.Capacity == 0 || c.Capacity > MaxCapacity:
		return fail(InvalidArgument, "capacity %d is out of range 1..%d", c.Capacity, MaxCapacity)
	case c.Flags&^knownFlags != 0:
		return fail(InvalidArgument, "flags 0x%x: bits 0x%x are not fh_config_flag bits (the defined ones are 0x%x)",
			c.Flags, c.Flags&^knownFlags, knownFlags)
	}
	return nil
}

// Shutdown closes the session, reclaiming all its memory, and writes the
// stats as they were just before to *report (fh_shutdown).
func (l *Library) Shutdown(report *Stats) error {
	s, err := l.open()
	if err != nil {
		return err
	}
	if report == nil {
		return fail(NullArgument, "report is NULL (the session stays open)")
	}
	*report = s.close()
	l.current.Store(nil)
	return nil
}

// Create makes a zero-filled resource of size bytes and writes its handle to
// *out (fh_create).
func (l *Library) Create(size uint64, out *Handle) error {
	s, err := l.open()
	if err != nil {
		return err
	}
	if out == nil {
		return fail(NullArgument, "out is NULL")
	}
	h, err := s.create(size)
	if err != nil {
		return err
	}
	*out = h
	return nil
}

// Acquire adds a reference to a live resource (fh_acquire).
func (l *Library) Acquire(h Handle) error {
	s, err := l.open()
	if err != nil {
		return err
	}
	return s.acquire(h)
}

// Release drops a reference; the last one kills the resource (fh_release).
func (l *Library) Release(h Handle) error {
	s, err := l.open()
	if err != nil {
		return err
	}
	return s.release(h)
}

// Write copies data into the resource at offset (fh_write).
func (l *Library) Write(h Handle, offset uint64, data Buffer) error {
	s, err := l.open()
	if err != nil {
		return err
	}
	if data.Null() && data.Len() != 0 {
		return fail(NullArgument, "data is NULL but len is %d", data.Len())
	}
	return s.write(h, offset, data)
}

// Read copies bytes of the resource at offset into buf (fh_read).
func (l *Library) Read(h Handle, offset uint64, buf Buffer) error {
	s, err := l.open()
	if err != nil {
		return err
	}
	if buf.Null() && buf.Len() != 0 {
		return fail(NullArgument, "buf is NULL but len is %d", buf.Len())
	}
	return s.read(h, offset, buf)
}

// Snapshot makes a read-only copy of the resource and writes its handle to
// *out (fh_snapshot).
func (l *Library) Snapshot(h Handle, out *Handle) error {
	s, err := l.open()
	if err != nil {
		return err
	}
	if out == nil {
		return fail(NullArgument, "out is NULL")
	}
	snap, err := s.snapshot(h)
	if err != nil {
		return err
	}
	*out = snap
	return nil
}

// Info describes a live resource into *out (fh_info).
func (l *Library) Info(h Handle, out *ResourceInfo) error {
	s, err := l.open()
	if err != nil {
		return err
	}
	if out == nil {
		return fail(NullArgument, "out is NULL")
	}
	info, err := s.info(h)
	if err != nil {
		return err
	}
	*out = info
	return nil
}

// Stats writes the session's counters to *out (fh_get_stats).
func (l *Library) Stats(out *Stats) error {
	s, err := l.open()
	if err != nil {
		return err
	}
	if out == nil {
		return fail(NullArgument, "out is NULL")
	}
	*out = s.stats()
	return nil
}

// Quiesce waits until no dead resource awaits reclamation (fh_quiesce).
func (l *Library) Quiesce() error {
	s, err := l.open()
	if err != nil {
		return err
	}
	return s.quiesce()
}

// DrainReclaimEvents moves up to buf.Cap() recorded reclamation events,
// oldest first, into buf, and writes their number to *outN and the number of
// events dropped since the last drain to *dropped (fh_drain_reclaim_events).
// Safe for concurrent use with every other call but Init and Shutdown.
func (l *Library) DrainReclaimEvents(buf EventBuffer, outN *uint64, dropped *uint64) error {
	s, err := l.open()
	if err != nil {
		return err
	}
	if err := CheckDrainArgs(buf, outN, dropped); err != nil {
		return err
	}
	n, d := s.drainEvents(buf)
	*outN, *dropped = uint64(n), d
	return nil
}

// CheckDrainArgs applies the FH_NULL_ARGUMENT checks of
// fh_drain_reclaim_events.
func CheckDrainArgs(buf EventBuffer, outN *uint64, dropped *uint64) error {
	switch {
	case outN == nil:
		return fail(NullArgument, "out_n is NULL")
	case dropped == nil:
		return fail(NullArgument, "dropped is NULL")
	case buf.Null() && buf.Cap() > 0:
		return fail(NullArgument, "buf is NULL but cap is %d", buf.Cap())
	}
	return nil
}

// ClockNs writes the clock's reading to *out (fh_clock_ns). No session is
// needed.
func (l *Library) ClockNs(out *uint64) error {
	if out == nil {
		return fail(NullArgument, "out is NULL")
	}
	*out = l.clock()
	return nil
}
