package fhadapter

// What an adapter implements (Contract) and what the kit does around it
// (Library): one method per contract function, with the rules every
// implementation must follow and no adapter should have to write again.

import (
	"math"
	"sync/atomic"
)

// Contract is what an adapter implements: the contract's operations on the
// library it wraps, in Go types. The kit's Library calls it, and has already
// applied, before any call:
//
//   - the session rules: Init is called only with no session open, every
//     other method only inside one (else FH_ALREADY_INITIALIZED or
//     FH_NOT_INITIALIZED); Init and Shutdown never overlap another call;
//   - every NULL check, in the header's order (a Buffer is never NULL with a
//     non-zero length);
//   - fh_init's FH_INVALID_ARGUMENT checks (capacity 1..MaxCapacity, flags 0).
//
// and does after it: writes the outputs only when the method returned nil,
// records "fh_xxx: " + the error's message for the calling thread, and turns
// a panic into FH_PANIC. What stays with the adapter, in the contract's check
// order: handle classification (FH_INVALID_HANDLE for a value never issued,
// FH_STALE_HANDLE for one whose resource died, unless the target's registry
// entry declares stale_status = "invalid-or-stale"), FH_READ_ONLY,
// FH_OVERFLOW and FH_BOUNDS (CheckRange), FH_EXHAUSTED (Counters.Admit),
// reference counts, snapshot copies, and the counters (Counters). Every
// failure is an *Error (Fail); the message of a call on a handle must name
// it (in hex, 0x...), and the kit puts "handle 0x...: " in front of one that
// does not. Any other error is reported as FH_PANIC. A failed call changes
// nothing.
// Methods other than Init and Shutdown are called from many threads at once.
type Contract interface {
	// Init opens a session with cfg (fh_init); FH_UNSUPPORTED for a strategy
	// the adapter does not implement.
	Init(cfg Config) error
	// Shutdown closes the session, freeing every resource still alive or
	// pending (fh_shutdown). The kit reads Stats just before, for the report.
	Shutdown() error
	// Create makes a zero-filled resource of size bytes holding one
	// reference and returns its handle (fh_create): any non-zero value the
	// library uses, distinct from every live handle.
	Create(size uint64) (Handle, error)
	// Acquire adds one reference (fh_acquire).
	Acquire(h Handle) error
	// Release drops one reference; at zero the resource dies (fh_release).
	Release(h Handle) error
	// Write copies data into the resource at offset (fh_write).
	Write(h Handle, offset uint64, data Buffer) error
	// Read copies the resource's bytes at offset into buf (fh_read).
	Read(h Handle, offset uint64, buf Buffer) error
	// Snapshot makes a read-only copy of the resource's bytes as a new
	// resource holding one reference and returns its handle (fh_snapshot).
	Snapshot(h Handle) (Handle, error)
	// Info describes a live resource (fh_info).
	Info(h Handle) (ResourceInfo, error)
	// Stats returns the session's counters (fh_get_stats); embed Counters.
	Stats() Stats
	// Quiesce finishes the deferred reclamation of every resource that died
	// before the call (fh_quiesce); nil at once with FH_RECLAIM_IMMEDIATE.
	Quiesce() error
}

// MaxCapacity is the largest capacity of a session (2^20; the header's
// comment of fh_config.capacity).
const MaxCapacity = 1 << 20

// The contract version a Library serves: 1.0, the single-runtime contract.
// The 1.1 additions (reclamation events, cross-runtime pairs) concern the
// bundled shims; the harness drives a 1.0 library with none of them.
const (
	ServedMajor = ABIMajor
	ServedMinor = 0
)

// Library serves one Contract as the contract's C API: its methods are the
// exports of ABI 1.0 in Go types (package cabi converts the C arguments and
// calls them). Each runs inside Boundary. Safe for concurrent use as the
// contract allows (fh_init and fh_shutdown overlap no other call).
type Library struct {
	c    Contract
	open atomic.Bool
}

// NewLibrary returns a Library with no open session, serving c. A Library
// serving nil refuses fh_init with FH_UNSUPPORTED (no adapter registered).
func NewLibrary(c Contract) *Library { return &Library{c: c} }

// session returns FH_NOT_INITIALIZED unless a session is open.
func (l *Library) session() error {
	if !l.open.Load() {
		return Fail(NotInitialized, "no session is open (call fh_init first)")
	}
	return nil
}

// ABIVersion reports the contract version served, 1.0 (fh_abi_version). No
// session is needed.
func (l *Library) ABIVersion(major, minor *uint32) Status {
	return Boundary("fh_abi_version", func() error {
		switch {
		case major == nil:
			return Fail(NullArgument, "major is NULL")
		case minor == nil:
			return Fail(NullArgument, "minor is NULL")
		}
		*major, *minor = ServedMajor, ServedMinor
		return nil
	})
}

// Init opens a session with a copy of *cfg (fh_init).
func (l *Library) Init(cfg *Config) Status {
	return Boundary("fh_init", func() error {
		if cfg == nil {
			return Fail(NullArgument, "config is NULL")
		}
		if l.open.Load() {
			return Fail(AlreadyInitialized, "a session is already open (call fh_shutdown first)")
		}
		c := *cfg
		switch {
		case c.Capacity == 0 || c.Capacity > MaxCapacity:
			return Fail(InvalidArgument, "capacity %d is out of range 1..%d", c.Capacity, MaxCapacity)
		case c.Flags != 0:
			return Fail(InvalidArgument, "flags 0x%x: this library implements contract %d.%d, which has no flags",
				c.Flags, ServedMajor, ServedMinor)
		case l.c == nil:
			return Fail(Unsupported, "no adapter is served: register one (cabi.Serve) in an init function of package main")
		}
		if err := l.c.Init(c); err != nil {
			return err
		}
		l.open.Store(true)
		return nil
	})
}

// Shutdown closes the session and writes the counters as they were just
// before to *report (fh_shutdown). If the adapter fails to close, the
// session stays open.
func (l *Library) Shutdown(report *Stats) Status {
	return Boundary("fh_shutdown", func() error {
		if err := l.session(); err != nil {
			return err
		}
		if report == nil {
			return Fail(NullArgument, "report is NULL (the session stays open)")
		}
		before := l.c.Stats()
		if err := l.c.Shutdown(); err != nil {
			return err
		}
		l.open.Store(false)
		*report = before
		return nil
	})
}

// Create makes a resource of size bytes and writes its handle to *out
// (fh_create).
func (l *Library) Create(size uint64, out *Handle) Status {
	return Boundary("fh_create", func() error {
		if err := l.session(); err != nil {
			return err
		}
		if out == nil {
			return Fail(NullArgument, "out is NULL")
		}
		h, err := l.c.Create(size)
		if err != nil {
			return err
		}
		*out = h
		return nil
	})
}

// Acquire adds a reference to h (fh_acquire).
func (l *Library) Acquire(h Handle) Status {
	return Boundary("fh_acquire", func() error {
		if err := l.session(); err != nil {
			return err
		}
		return about(h, l.c.Acquire(h))
	})
}

// Release drops a reference of h (fh_release).
func (l *Library) Release(h Handle) Status {
	return Boundary("fh_release", func() error {
		if err := l.session(); err != nil {
			return err
		}
		return about(h, l.c.Release(h))
	})
}

// Write copies data into h at offset (fh_write).
func (l *Library) Write(h Handle, offset uint64, data Buffer) Status {
	return Boundary("fh_write", func() error {
		if err := l.session(); err != nil {
			return err
		}
		if data.Null() && data.Len() != 0 {
			return Fail(NullArgument, "data is NULL but len is %d", data.Len())
		}
		return about(h, l.c.Write(h, offset, data))
	})
}

// Read copies h's bytes at offset into buf (fh_read).
func (l *Library) Read(h Handle, offset uint64, buf Buffer) Status {
	return Boundary("fh_read", func() error {
		if err := l.session(); err != nil {
			return err
		}
		if buf.Null() && buf.Len() != 0 {
			return Fail(NullArgument, "buf is NULL but len is %d", buf.Len())
		}
		return about(h, l.c.Read(h, offset, buf))
	})
}

// Snapshot makes a read-only copy of h and writes its handle to *out
// (fh_snapshot).
func (l *Library) Snapshot(h Handle, out *Handle) Status {
	return Boundary("fh_snapshot", func() error {
		if err := l.session(); err != nil {
			return err
		}
		if out == nil {
			return Fail(NullArgument, "out is NULL")
		}
		s, err := l.c.Snapshot(h)
		if err != nil {
			return about(h, err)
		}
		*out = s
		return nil
	})
}

// Info describes h into *out (fh_info).
func (l *Library) Info(h Handle, out *ResourceInfo) Status {
	return Boundary("fh_info", func() error {
		if err := l.session(); err != nil {
			return err
		}
		if out == nil {
			return Fail(NullArgument, "out is NULL")
		}
		info, err := l.c.Info(h)
		if err != nil {
			return about(h, err)
		}
		*out = info
		return nil
	})
}

// GetStats writes the session's counters to *out (fh_get_stats).
func (l *Library) GetStats(out *Stats) Status {
	return Boundary("fh_get_stats", func() error {
		if err := l.session(); err != nil {
			return err
		}
		if out == nil {
			return Fail(NullArgument, "out is NULL")
		}
		*out = l.c.Stats()
		return nil
	})
}

// Quiesce finishes deferred reclamation (fh_quiesce).
func (l *Library) Quiesce() Status {
	return Boundary("fh_quiesce", func() error {
		if err := l.session(); err != nil {
			return err
		}
		return l.c.Quiesce()
	})
}

// LastError copies the calling thread's last error message into the capN
// bytes at buf and writes its full length to *outLen (fh_last_error).
func (l *Library) LastError(buf *byte, capN uintptr, outLen *uintptr) Status {
	return Boundary("fh_last_error", func() error { return CopyLastError(buf, capN, outLen) })
}

// CopyLastError is fh_last_error: the calling thread's message into the
// capN bytes at buf (NUL-terminated, cut to capN-1 bytes; buf may be NULL
// only when capN is 0), its full length into *outLen (required).
func CopyLastError(buf *byte, capN uintptr, outLen *uintptr) error {
	switch {
	case outLen == nil:
		return Fail(NullArgument, "out_len is NULL")
	case buf == nil && capN != 0:
		return Fail(NullArgument, "buf is NULL but cap is %d", capN)
	}
	*outLen = copyLastError(buf, capN)
	return nil
}

// about makes a failure of a call on h name h, as the contract's messages
// must: an *Error whose message names no 0x value equal to h gets
// "handle h: " in front. Other errors pass unchanged.
func about(h Handle, err error) error {
	e, ok := asError(err)
	if !ok || namesHandle(e.Msg, h) {
		return err
	}
	return &Error{Status: e.Status, Msg: "handle " + h.String() + ": " + e.Msg}
}

// namesHandle reports whether msg has a hexadecimal number 0x... (up to 16
// digits, any case, any zero padding) equal to h.
func namesHandle(msg string, h Handle) bool {
	for i := 0; i+2 < len(msg); i++ {
		if msg[i] != '0' || (msg[i+1] != 'x' && msg[i+1] != 'X') {
			continue
		}
		var v uint64
		digits := 0
		for j := i + 2; j < len(msg) && digits <= 16; j++ {
			d, ok := hexDigit(msg[j])
			if !ok {
				break
			}
			v = v<<4 | uint64(d)
			digits++
		}
		if digits > 0 && digits <= 16 && Handle(v) == h {
			return true
		}
	}
	return false
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// CheckRange applies steps 5 and 6 of the contract's check order to an
// access of n bytes at offset in the resource h of size bytes: FH_OVERFLOW
// when offset + n does not fit in 64 bits, then FH_BOUNDS when it exceeds
// size.
func CheckRange(h Handle, offset, n, size uint64) error {
	if n > math.MaxUint64-offset {
		return Fail(Overflow, "handle %v: offset %d + len %d overflows 64 bits", h, offset, n)
	}
	if offset+n > size {
		return Fail(Bounds, "handle %v: offset %d + len %d exceeds the size of %d bytes", h, offset, n, size)
	}
	return nil
}
