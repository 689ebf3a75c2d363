// Package front is the Go shim as the FOREIGN FRONT of a cross-runtime pair
// (ABI 1.1, the "CROSS-RUNTIME TARGETS" section of fuzzharness_decls.h): an
// owner library (the Rust shim) allocates and frees resource memory, and this
// package keeps the Go runtime's own references and lifecycle bookkeeping,
// reaching the owner only through a Backend (the owner's fh_backend function
// table; the shim's cgo adapter implements Backend with C trampolines, tests
// with a fake owner in pure Go). No cgo, no unsafe here.
//
// What it guarantees:
//   - Go objects never reach the owner: Go's bookkeeping is a map, guarded by
//     a mutex, from handle to the number of references Go holds on it (and,
//     with GoCleanup, a wrapper object standing for Go's use of the resource).
//   - Go's count of a handle always equals the owner's foreign count of it:
//     every call that changes a reference (create, snapshot, acquire,
//     release) holds the session's bookkeeping lock across its backend call
//     and its bookkeeping update, so two of them never interleave. (One lock,
//     not one per handle: a create learns its handle only from the backend,
//     so a per-handle lock cannot cover a create racing a release of the
//     same, guessed, handle. Reads, writes, info and stats take no lock.)
//   - fh_release through Go drops a GO reference. The last one is
//     acknowledged inside the release with Guarded (ack = 1); with GoCleanup
//     it is released with ack = 0 and the wrapper is dropped: a cleanup
//     (runtime.AddCleanup) acknowledges it (foreign_ack) when Go's garbage
//     collector finds the wrapper unreachable, so the owner frees the memory
//     only then. A release of a handle on which Go holds nothing is still
//     forwarded, so the caller gets the owner's status (FH_NOT_HELD on a
//     resource live through the owner's references, or FH_INVALID_HANDLE /
//     FH_STALE_HANDLE).
//   - A cleanup of a closed session never reaches the owner (which may have
//     a new session where the handle means something else).
//   - A failed call returns the owner's status with the owner's message
//     (fetched from the owner on the calling thread) minus its "fh_xxx: "
//     prefix; the shim prefixes the contract function's name itself.
//
// The contract's check order puts FH_NOT_INITIALIZED and FH_NULL_ARGUMENT
// first: the front applies them itself (it knows whether its session is open
// and must not pass NULL outputs it needs), the owner applies the rest.
package front

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fuzzharness/go_shim/internal/table"
)

// Handle, Status and the value types are those of package table.
type (
	Handle = table.Handle
	Status = table.Status
)

// Backend is the owner as the front sees it: the entries of struct
// fh_backend. Each returns the owner's status; after a non-OK status,
// LastError, called on the same thread, returns the owner's message.
// Every method must be safe for concurrent use.
type Backend interface {
	Init(cfg *table.Config) Status
	Shutdown(report *table.Stats) Status
	ForeignCreate(size uint64, out *Handle) Status
	ForeignSnapshot(h Handle, out *Handle) Status
	ForeignAcquire(h Handle) Status
	ForeignRelease(h Handle, ack uint32) Status
	ForeignAck(h Handle) Status
	Write(h Handle, offset uint64, data table.Buffer) Status
	Read(h Handle, offset uint64, buf table.Buffer) Status
	Info(h Handle, out *table.ResourceInfo) Status
	Stats(out *table.Stats) Status
	Quiesce() Status
	LastError() string
}

// Ack values of Backend.ForeignRelease.
const (
	ackLater uint32 = 0 // the last foreign release is acknowledged later, by ForeignAck
	ackNow   uint32 = 1 // acknowledged by this release
)

// defaultQuiesceTimeout bounds Quiesce ("a few seconds"), like a standalone
// session's.
const defaultQuiesceTimeout = 5 * time.Second

// Front is the foreign front of one owner: at most one open session, and the
// backend it forwards to. Its methods mirror the exports of the contract one
// to one, like table.Library's. All methods except Init and Shutdown are safe
// for concurrent use.
type Front struct {
	b              Backend
	quiesceTimeout time.Duration
	cur            atomic.Pointer[session]
}

// New returns a front with no open session that forwards to b.
func New(b Backend) *Front {
	return &Front{b: b, quiesceTimeout: defaultQuiesceTimeout}
}

// session is Go's bookkeeping of one open session of the owner.
type session struct {
	f        *Front
	strategy table.Strategy

	// mu guards refs and is held across every backend call that changes a
	// foreign reference count (see the package comment).
	mu   sync.Mutex
	refs map[Handle]*held

	// ackMu is held shared by each cleanup's acknowledgement and exclusively
	// by Shutdown, which sets closed: no acknowledgement reaches the owner
	// after (or during) the shutdown of its session.
	ackMu  sync.RWMutex
	closed bool

	acks       atomic.Uint64 // acknowledgements the owner accepted
	ackErrors  atomic.Uint64 // acknowledgements the owner refused (a bookkeeping bug, or an owner mutant)
	lateCleans atomic.Uint64 // cleanups that ran after the session closed, and acknowledged nothing
	// acked receives a token (without blocking; one is kept) after each
	// acknowledgement, so Quiesce waits for the cleanups instead of sleeping.
	acked chan struct{}
}

// held is Go's share of one handle: how many references Go holds on it, and
// with GoCleanup the wrapper whose collection acknowledges the last release.
type held struct {
	count uint32
	w     *wrapper
}

// wrapper stands for Go's use of a resource of the owner under GoCleanup:
// held by the bookkeeping while Go holds references, then dropped. Its
// cleanup acknowledges Go's last release. The padding keeps it out of the
// tiny allocator (pointer-free objects under 16 bytes share blocks, so one
// could not be collected until its neighbours are).
type wrapper struct {
	handle Handle
	_      [2]uint64
}

// open returns the open session, or FH_NOT_INITIALIZED.
func (f *Front) open() (*session, error) {
	s := f.cur.Load()
	if s == nil {
		return nil, table.Fail(table.NotInitialized, "no session is open (call fh_init first)")
	}
	return s, nil
}

// ownerError is the error of a call the owner failed with st: the owner's
// message, from its fh_last_error on this thread, without the owner's own
// "fh_xxx: " prefix.
func (f *Front) ownerError(st Status) error {
	msg := stripFunctionName(f.b.LastError())
	if msg == "" {
		msg = fmt.Sprintf("the owner failed with status %d and left no message", st)
	}
	return &table.Error{Status: st, Msg: msg}
}

// stripFunctionName removes a leading "fh_xxx: " from msg.
func stripFunctionName(msg string) string {
	name, rest, ok := strings.Cut(msg, ": ")
	if ok && strings.HasPrefix(name, "fh_") && !strings.ContainsAny(name, " \t\n") {
		return rest
	}
	return msg
}

// check returns nil for OK, else the owner's error.
func (f *Front) check(st Status) error {
	if st == table.OK {
		return nil
	}
	return f.ownerError(st)
}

// Init opens a session of the owner (fh_init). Only Guarded and GoCleanup
// are accepted: the pair's strategies.
func (f *Front) Init(cfg *table.Config) error {
	if cfg == nil {
		return table.Fail(table.NullArgument, "config is NULL")
	}
	if f.cur.Load() != nil {
		return table.Fail(table.AlreadyInitialized, "a session is already open (call fh_shutdown first)")
	}
	c := *cfg
	if err := table.CheckConfig(&c); err != nil {
		return err
	}
	if c.Strategy != table.Guarded && c.Strategy != table.GoCleanup {
		return table.Fail(table.Unsupported, "reclamation strategy %d is not one of a cross-runtime pair: "+
			"attached to an owner, the Go target accepts %d, guarded, and %d, go-cleanup",
			c.Strategy, table.Guarded, table.GoCleanup)
	}
	if err := f.check(f.b.Init(&c)); err != nil {
		return err
	}
	f.cur.Store(&session{f: f, strategy: c.Strategy, refs: make(map[Handle]*held), acked: make(chan struct{}, 1)})
	return nil
}

// Shutdown closes the owner's session and drops Go's bookkeeping
// (fh_shutdown). Wrappers still held become garbage; their cleanups find the
// session closed and acknowledge nothing (the owner freed everything).
func (f *Front) Shutdown(report *table.Stats) error {
	s, err := f.open()
	if err != nil {
		return err
	}
	if report == nil {
		return table.Fail(table.NullArgument, "report is NULL (the session stays open)")
	}
	s.ackMu.Lock()
	st := f.b.Shutdown(report)
	if st == table.OK {
		s.closed = true
	}
	s.ackMu.Unlock()
	if err := f.check(st); err != nil {
		return err
	}
	s.mu.Lock()
	s.refs = nil
	s.mu.Unlock()
	f.cur.Store(nil)
	return nil
}

// addRef records one more Go reference on h. s.mu must be held.
func (s *session) addRef(h Handle) {
	e := s.refs[h]
	if e == nil {
		e = &held{}
		if s.strategy == table.GoCleanup {
			e.w = s.newWrapper(h)
		}
		s.refs[h] = e
	}
	e.count++
}

// newWrapper makes the wrapper of h and registers the cleanup that
// acknowledges Go's last release of h. The cleanup's argument is the handle
// alone, so it does not keep the wrapper reachable (except under the
// CLEANUP_UNREACHABLE mutant).
func (s *session) newWrapper(h Handle) *wrapper {
	w := &wrapper{handle: h}
	if !s.mutantCleanup(w) {
		runtime.AddCleanup(w, s.ack, h)
	}
	return w
}

// ack is the cleanup of a wrapper: it acknowledges Go's last release of h,
// unless the session has closed since.
func (s *session) ack(h Handle) {
	s.ackMu.RLock()
	defer s.ackMu.RUnlock()
	if s.closed {
		s.lateCleans.Add(1)
		return
	}
	if s.f.b.ForeignAck(h) == table.OK {
		s.acks.Add(1)
	} else {
		s.ackErrors.Add(1)
	}
	select { // wake a waiting Quiesce
	case s.acked <- struct{}{}:
	default:
	}
}

// Create creates a resource whose one reference is Go's (fh_create).
func (f *Front) Create(size uint64, out *Handle) error {
	return f.produce(out, func(h *Handle) Status { return f.b.ForeignCreate(size, h) })
}

// Snapshot snapshots a resource; the snapshot's one reference is Go's
// (fh_snapshot).
func (f *Front) Snapshot(h Handle, out *Handle) error {
	return f.produce(out, func(snap *Handle) Status { return f.b.ForeignSnapshot(h, snap) })
}

// produce runs a backend call that makes a new resource holding one foreign
// reference, and records that reference as Go's, under the bookkeeping lock
// so that Go's count and the owner's foreign count never disagree.
func (f *Front) produce(out *Handle, call func(*Handle) Status) error {
	s, err := f.open()
	if err != nil {
		return err
	}
	if out == nil {
		return table.Fail(table.NullArgument, "out is NULL")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var h Handle
	if err := f.check(call(&h)); err != nil {
		return err
	}
	s.addRef(h)
	*out = h
	return nil
}

// Acquire adds a Go reference (fh_acquire).
func (f *Front) Acquire(h Handle) error {
	s, err := f.open()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := f.check(f.b.ForeignAcquire(h)); err != nil {
		return err
	}
	s.addRef(h)
	return nil
}

// Release drops a Go reference (fh_release); see the package comment.
func (f *Front) Release(h Handle) error {
	s, err := f.open()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.refs[h]
	if e == nil {
		// Go holds nothing on h: the owner says why the release is refused
		// (FH_NOT_HELD, FH_INVALID_HANDLE, FH_STALE_HANDLE).
		return f.check(f.b.ForeignRelease(h, ackNow))
	}
	ack := ackNow
	if e.count == 1 && s.strategy == table.GoCleanup {
		ack = ackLater // the wrapper's cleanup acknowledges
	}
	switch st := f.b.ForeignRelease(h, ack); st {
	case table.OK:
		e.count--
		if e.count == 0 {
			delete(s.refs, h) // drops the wrapper: collectable from now on
		}
		return nil
	case table.InvalidHandle, table.StaleHandle:
		// The owner killed the resource although Go held references (an
		// owner bug, e.g. the GUARD_ONE_SIDE mutant): Go's references are void.
		delete(s.refs, h)
		return f.ownerError(st)
	default:
		return f.ownerError(st)
	}
}

// Write forwards fh_write to the owner.
func (f *Front) Write(h Handle, offset uint64, data table.Buffer) error {
	if _, err := f.open(); err != nil {
		return err
	}
	if data.Null() && data.Len() != 0 {
		return table.Fail(table.NullArgument, "data is NULL but len is %d", data.Len())
	}
	return f.check(f.b.Write(h, offset, data))
}

// Read forwards fh_read to the owner.
func (f *Front) Read(h Handle, offset uint64, buf table.Buffer) error {
	if _, err := f.open(); err != nil {
		return err
	}
	if buf.Null() && buf.Len() != 0 {
		return table.Fail(table.NullArgument, "buf is NULL but len is %d", buf.Len())
	}
	return f.check(f.b.Read(h, offset, buf))
}

// Info forwards fh_info to the owner (refs is the sum of both runtimes').
func (f *Front) Info(h Handle, out *table.ResourceInfo) error {
	if _, err := f.open(); err != nil {
		return err
	}
	if out == nil {
		return table.Fail(table.NullArgument, "out is NULL")
	}
	return f.check(f.b.Info(h, out))
}

// Stats forwards fh_get_stats to the owner.
func (f *Front) Stats(out *table.Stats) error {
	if _, err := f.open(); err != nil {
		return err
	}
	if out == nil {
		return table.Fail(table.NullArgument, "out is NULL")
	}
	return f.check(f.b.Stats(out))
}

// Quiesce runs Go's garbage collector until the owner reports nothing
// pending (so every wrapper dropped before the call has been acknowledged),
// within the bound, then lets the owner finish its own deferred work
// (fh_quiesce).
func (f *Front) Quiesce() error {
	s, err := f.open()
	if err != nil {
		return err
	}
	timeout := quiesceTimeout(f.quiesceTimeout)
	deadline := time.Now().Add(timeout)
	select { // only acknowledgements from now on count
	case <-s.acked:
	default:
	}
	collect := true
	for {
		var st table.Stats
		if err := f.check(f.b.Stats(&st)); err != nil {
			return err
		}
		if st.PendingResources == 0 && st.PendingBytes == 0 {
			break
		}
		if time.Now().After(deadline) {
			return table.Fail(table.TimedOut, "%d dead resources (%d bytes) still await reclamation after %v "+
				"(Go's cleanups acknowledged %d releases so far); nothing is lost, call again",
				st.PendingResources, st.PendingBytes, timeout, s.acks.Load())
		}
		if collect {
			runtime.GC()
		}
		// No fixed sleep: wait for a cleanup's acknowledgement, and collect again
		// only when none came within the wait (another cycle is needed).
		collect = !table.AwaitSignal(s.acked, settleWait)
	}
	return f.check(f.b.Quiesce())
}

// settleWait bounds one wait for an acknowledgement in Quiesce.
const settleWait = time.Millisecond

// DrainReclaimEvents serves fh_drain_reclaim_events for an attached front.
// The owner frees the memory and records the events (drain them through the
// owner library); the front frees none, so it has none to give.
func (f *Front) DrainReclaimEvents(buf table.EventBuffer, outN, dropped *uint64) error {
	if _, err := f.open(); err != nil {
		return err
	}
	if err := table.CheckDrainArgs(buf, outN, dropped); err != nil {
		return err
	}
	*outN, *dropped = 0, 0
	return nil
}

// Held returns the number of references Go holds on h (0 without a session).
func (f *Front) Held(h Handle) uint32 {
	s := f.cur.Load()
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.refs[h]; e != nil {
		return e.count
	}
	return 0
}

// AckCounts returns, for the open session, how many acknowledgements the
// owner accepted and refused, and how many cleanups ran after the session
// closed (for tests and diagnostics).
func (f *Front) AckCounts() (accepted, refused, late uint64) {
	s := f.cur.Load()
	if s == nil {
		return 0, 0, 0
	}
	return s.acks.Load(), s.ackErrors.Load(), s.lateCleans.Load()
}
