package table

// One open session: the slot table, reference counting, reclamation.

import (
	"container/heap"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// session is one open session: the slot table, the counters, and the memory
// not reclaimed yet.
//
// Locking. mu guards everything in the session except the bytes of the
// resources. It is held only for bookkeeping (and the quick free of
// reclaimed memory), never while bytes are copied or memory is allocated.
// Each resource's bytes have their own RWMutex
// (buffer.mu): a write holds it exclusively, so writes are serialized and a
// read or a snapshot copy sees each write entirely or not at all.
//
// Lifetime. A resource dies when its reference count reaches zero: in that
// call its slot is freed and its handle becomes stale. Its memory must still
// outlive every call that reached the resource before it died and is still
// copying. So each resource also counts pins: one held while it is alive,
// plus one per call in progress on it (taken under mu while the handle is
// classified, dropped when the call is done). When the pins reach zero:
//   - with Immediate, the memory is freed there and then: in the call that
//     dropped the last reference, or, if a concurrent read, write or snapshot
//     was still copying, in that call as it finishes;
//   - with GoCleanup nothing happens: the table no longer references the
//     resource, so the garbage collector will find it unreachable and run the
//     cleanup registered at creation (runtime.AddCleanup, keyed by the
//     handle, an integer, so the cleanup never keeps the resource reachable),
//     which frees the memory. A call in progress keeps the resource reachable
//     through its own pin.
//
// Between the death and the free the resource is pending in the counters.
//
// Reclamation events (FlagReclaimEvents). events is nil without the flag, so
// the measured paths pay one nil check. With it, kill stamps the death in
// releasedAt and reclaim, right after freeing the memory, pushes the event
// (in the same call with Immediate, in the cleanup with GoCleanup). close
// frees memory without events, as the contract says.
type session struct {
	mut            sessionMutants // test mutants' state: empty (and zero-sized) in release builds
	cfg            Config
	alloc          Allocator
	quiesceTimeout time.Duration
	clock          Clock
	events         *eventRing // nil unless cfg.Flags has FlagReclaimEvents

	mu    sync.Mutex
	slots []slot    // slots used so far; slots at and above len(slots) are at generation 0
	free  freeSlots // free slots below len(slots), except retired ones
	count Stats
	// unreclaimed holds, by handle, the buffer of every resource created and
	// not reclaimed yet. Reclaiming removes the entry first, so a resource is
	// reclaimed exactly once, whoever gets there first: its death, its GC
	// cleanup, or fh_shutdown.
	unreclaimed map[Handle]*buffer
	// releasedAt is, with events, the clock reading of each pending
	// resource's death, by handle.
	releasedAt map[Handle]uint64
	// settled receives a token (without blocking; one is kept) each time a
	// pending resource is reclaimed, so quiesce waits for the cleanup path
	// itself instead of sleeping a fixed time.
	settled chan struct{}
}

// slot is one entry of the table. res is nil while the slot is free.
type slot struct {
	gen uint32
	res *resource
}

// resource is a live or dying resource. It is also the Go object whose
// reachability the GoCleanup strategy tracks, so nothing reachable from it
// may reference the session (the cleanup refers to the session, and a
// cleanup whose object is reachable from it never runs).
type resource struct {
	handle   Handle
	size     uint64
	readOnly bool
	refs     uint32       // references held by the caller; guarded by session.mu
	pins     atomic.Int64 // 1 while alive + calls in progress; see session
	buf      *buffer
}

// buffer is the bytes of a resource and the lock that makes writes atomic to
// readers. mem is what the allocator gave, nil for a size of 0; its length
// is the size of every resource using the buffer. A buffer belongs to one
// resource, except under the SNAPSHOT_SHARES mutant, where a snapshot shares
// its origin's: owners counts the resources not reclaimed yet that use it,
// and the last one reclaimed frees mem.
type buffer struct {
	mu     sync.RWMutex
	mem    []byte
	owners int // guarded by session.mu
}

// defaultQuiesceTimeout bounds fh_quiesce ("a few seconds").
const defaultQuiesceTimeout = 5 * time.Second

func newSession(cfg Config, alloc Allocator, clock Clock) *session {
	s := &session{
		cfg:            cfg,
		alloc:          alloc,
		quiesceTimeout: defaultQuiesceTimeout,
		clock:          clock,
		unreclaimed:    make(map[Handle]*buffer),
		settled:        make(chan struct{}, 1),
	}
	if cfg.Flags&FlagReclaimEvents != 0 {
		s.events = newEventRing(EventRingCapacity)
		s.releasedAt = make(map[Handle]uint64)
	}
	return s
}

// lookup classifies h as the contract's Handles section says and returns its
// live resource. s.mu must be held.
func (s *session) lookup(h Handle) (*resource, error) {
	idx, g := h.slot(), h.gen()
	if g == 0 {
		return nil, fail(InvalidHandle, "handle %v is invalid: generation 0 is never issued", h)
	}
	if idx >= s.cfg.Capacity {
		return nil, fail(InvalidHandle, "handle %v is invalid: slot %d is beyond the capacity of %d slots", h, idx, s.cfg.Capacity)
	}
	var sl slot
	if int(idx) < len(s.slots) {
		sl = s.slots[idx]
	}
	switch {
	case g > sl.gen:
		return nil, fail(InvalidHandle, "handle %v is invalid: generation %d of slot %d was never issued (the slot is at generation %d)", h, g, idx, sl.gen)
	case sl.res == nil:
		return nil, fail(StaleHandle, "handle %v is stale: its resource has died (slot %d is free)", h, idx)
	case g < sl.gen && !skipGeneration():
		return nil, fail(StaleHandle, "handle %v is stale: its resource has died (slot %d has been reused, at generation %d)", h, idx, sl.gen)
	}
	return sl.res, nil
}

// pin classifies h and pins its resource for the duration of a call; the
// caller must unpin it.
func (s *session) pin(h Handle) (*resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(h)
	if err != nil {
		return nil, err
	}
	r.pins.Add(1)
	return r, nil
}

// unpin drops a pin; with the Immediate strategy the last one (the resource
// is dead and no call is in progress on it) reclaims the resource. s.mu must
// not be held.
func (s *session) unpin(r *resource) {
	if r.pins.Add(-1) == 0 && s.cfg.Strategy == Immediate {
		s.reclaim(r.handle)
	}
}

// reclaim moves the dead resource h from pending to reclaimed and frees its
// memory, unless fh_shutdown already did. It is also the GoCleanup
// strategy's cleanup function.
func (s *session) reclaim(h Handle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf, ok := s.unreclaimed[h]
	if !ok {
		return
	}
	delete(s.unreclaimed, h)
	perturbFree()
	s.disown(buf)
	s.count.PendingResources--
	s.count.PendingBytes -= uint64(len(buf.mem))
	s.count.Reclaimed++
	if s.events != nil {
		s.recordReclaim(h, uint64(len(buf.mem)))
	}
	select { // wake a waiting quiesce
	case s.settled <- struct{}{}:
	default:
	}
}

// recordReclaim records the event of the resource h of size bytes, whose
// memory was just freed. s.mu must be held.
func (s *session) recordReclaim(h Handle, size uint64) {
	freed := s.clock()
	released, ok := s.releasedAt[h]
	if !ok {
		released = freed // not stamped at its death (cannot happen): no latency rather than a bogus one
	}
	delete(s.releasedAt, h)
	s.events.push(ReclaimEvent{Handle: h, Bytes: size, ReleasedNs: released, FreedNs: freed, Strategy: s.cfg.Strategy})
}

// drainEvents moves recorded events into buf (DrainReclaimEvents). Without
// FlagReclaimEvents there are none and none were dropped.
func (s *session) drainEvents(buf EventBuffer) (n int, dropped uint64) {
	if s.events == nil {
		return 0, 0
	}
	return s.events.drain(buf.Cap(), buf.Events)
}

// disown drops one owner of buf and frees its memory if that was the last.
// s.mu must be held.
func (s *session) disown(buf *buffer) {
	buf.owners--
	if buf.owners == 0 && buf.mem != nil {
		s.alloc.Free(buf.mem)
	}
}

// checkRoom returns FH_EXHAUSTED unless a new resource of size bytes fits the
// byte limits and a free slot. s.mu must be held.
func (s *session) checkRoom(size uint64) error {
	switch {
	case size > s.cfg.MaxResourceBytes:
		return fail(Exhausted, "size %d exceeds max_resource_bytes %d", size, s.cfg.MaxResourceBytes)
	case size > s.cfg.MaxTotalBytes-s.count.LiveBytes:
		return fail(Exhausted, "size %d would bring live_bytes from %d over max_total_bytes %d", size, s.count.LiveBytes, s.cfg.MaxTotalBytes)
	case s.free.Len() == 0 && len(s.slots) == int(s.cfg.Capacity):
		return fail(Exhausted, "no free slot: all %d slots are live or retired", s.cfg.Capacity)
	}
	return nil
}

// admit is checkRoom under the lock: a cheap early refusal before memory is
// allocated and copied. install checks again.
func (s *session) admit(size uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkRoom(size)
}

// allocate returns size zero bytes from the allocator (nil for size 0).
func (s *session) allocate(size uint64) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	mem := s.alloc.Alloc(size)
	if mem == nil {
		return nil, fail(Exhausted, "out of memory: cannot allocate %d bytes", size)
	}
	return mem, nil
}

// install places a new resource into the lowest free slot, with one
// reference, and returns its handle. If there is no room any more, it
// returns FH_EXHAUSTED and frees r's memory unless r shares it.
func (s *session) install(r *resource) (Handle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.buf.owners++
	if err := s.checkRoom(r.size); err != nil {
		s.disown(r.buf)
		return 0, err
	}
	var idx uint32
	if s.free.Len() > 0 {
		idx = heap.Pop(&s.free).(uint32)
	} else {
		idx = uint32(len(s.slots))
		s.slots = append(s.slots, slot{})
	}
	sl := &s.slots[idx]
	sl.gen = nextGeneration(sl.gen)
	sl.res = r
	r.handle = makeHandle(idx, sl.gen)
	r.refs = 1
	r.pins.Store(1)
	s.unreclaimed[r.handle] = r.buf
	if s.cfg.Strategy == GoCleanup && !s.mutantCleanup(r) {
		runtime.AddCleanup(r, s.reclaim, r.handle)
	}
	mutantInstalled(r)
	s.count.Created++
	s.count.LiveResources++
	s.count.LiveBytes += r.size
	return r.handle, nil
}

func (s *session) create(size uint64) (Handle, error) {
	if err := s.admit(size); err != nil {
		return 0, err
	}
	mem, err := s.allocate(size)
	if err != nil {
		return 0, err
	}
	return s.install(&resource{size: size, buf: &buffer{mem: mem}})
}

func (s *session) acquire(h Handle) error {
	if handled, err := s.mutantAcquire(h); handled {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(h)
	if err != nil {
		return err
	}
	if r.refs == math.MaxUint32 {
		return fail(Overflow, "handle %v already holds the maximum of %d references", h, uint32(math.MaxUint32))
	}
	r.refs++
	return nil
}

func (s *session) release(h Handle) error {
	if handled, err := s.mutantRelease(h); handled {
		return err
	}
	s.mu.Lock()
	r, err := s.lookup(h)
	if err != nil {
		s.mu.Unlock()
		return s.mutantStaleRelease(h, err)
	}
	r.refs--
	if r.refs > deathThreshold() {
		s.mu.Unlock()
		return nil
	}
	s.kill(r)
	s.mu.Unlock()
	s.unpin(r) // the pin of its life
	return nil
}

// kill makes r, whose last reference was just dropped, die: its slot is
// free (unless retired) and its handle stale from now on; its memory is
// pending until reclaimed. s.mu must be held; the caller then drops the pin
// of its life (unpin) once s.mu is released.
func (s *session) kill(r *resource) {
	idx := r.handle.slot()
	s.slots[idx].res = nil
	if s.slots[idx].gen != math.MaxUint32 {
		heap.Push(&s.free, idx)
	}
	s.count.LiveResources--
	s.count.LiveBytes -= r.size
	s.count.PendingResources++
	s.count.PendingBytes += r.size
	if s.events != nil {
		s.releasedAt[r.handle] = s.clock()
	}
	s.mutantDied(r)
}

// checkRange applies steps 5 and 6 of the check order to an access of n
// bytes at offset in r.
func checkRange(r *resource, offset, n uint64) error {
	return checkBounds(r.handle, r.size, offset, n)
}

// checkBounds is checkRange for the resource h of size bytes.
func checkBounds(h Handle, size, offset, n uint64) error {
	if n > math.MaxUint64-offset {
		return fail(Overflow, "handle %v: offset %d + len %d overflows 64 bits", h, offset, n)
	}
	if offset+n > size+boundsSlack(size) {
		return fail(Bounds, "handle %v: offset %d + len %d exceeds the size of %d bytes", h, offset, n, size)
	}
	return nil
}

func (s *session) write(h Handle, offset uint64, data Buffer) error {
	r, err := s.pin(h)
	if err != nil {
		return s.mutantStaleWrite(h, offset, data, err)
	}
	defer s.unpin(r)
	if r.readOnly {
		return fail(ReadOnly, "handle %v is a snapshot, which is read-only", h)
	}
	if err := checkRange(r, offset, data.Len()); err != nil {
		s.mutantLeakOnError(r, err)
		return err
	}
	src := data.Bytes()
	injectWriteMutant(src)
	if mutantUnsyncWrite(r, offset, src) {
		return nil
	}
	r.buf.mu.Lock()
	defer r.buf.mu.Unlock()
	copyIn(r.buf.mem, offset, src)
	return nil
}

func (s *session) read(h Handle, offset uint64, buf Buffer) error {
	r, err := s.pin(h)
	if err != nil {
		return s.mutantStaleRead(h, offset, buf, err)
	}
	defer s.unpin(r)
	if err := checkRange(r, offset, buf.Len()); err != nil {
		return err
	}
	dst := buf.Bytes()
	r.buf.mu.RLock()
	defer r.buf.mu.RUnlock()
	copyOut(dst, r.buf.mem, offset)
	return nil
}

func (s *session) snapshot(h Handle) (Handle, error) {
	origin, err := s.snapshotPin(h)
	if err != nil {
		return 0, err
	}
	defer s.unpin(origin)
	perturbSnapshot()
	if err := s.admit(origin.size); err != nil {
		return 0, snapshotError(h, err)
	}
	snap := &resource{size: origin.size, readOnly: true, buf: origin.buf}
	if !snapshotShares() {
		mem, err := s.allocate(origin.size)
		if err != nil {
			return 0, snapshotError(h, err)
		}
		origin.buf.mu.RLock()
		copy(mem, origin.buf.mem)
		origin.buf.mu.RUnlock()
		snap.buf = &buffer{mem: mem}
	}
	handle, err := s.install(snap)
	if err != nil {
		return 0, snapshotError(h, err)
	}
	return handle, nil
}

// snapshotError names the origin in an FH_EXHAUSTED error of fh_snapshot.
func snapshotError(h Handle, err error) error {
	return &Error{Status: StatusOf(err), Msg: fmt.Sprintf("snapshot of handle %v: %v", h, err)}
}

func (s *session) info(h Handle) (ResourceInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(h)
	if err != nil {
		return ResourceInfo{}, err
	}
	info := ResourceInfo{Size: r.size, Refs: r.refs}
	if r.readOnly {
		info.ReadOnly = 1
	}
	return info, nil
}

func (s *session) stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// quiesce waits, up to s.quiesceTimeout, until nothing is pending. With
// GoCleanup it forces garbage collections so the cleanups run; with
// Immediate a resource is pending only while a call that reached it before
// its death is still copying, so it just waits for those calls.
//
// The bound is the session's quiesceTimeout (5 s); in mutants builds,
// while MutantReclaimNever is active, it is mutantQuiesceTimeout (1 s), so
// that the time-out that mutant causes is detected sooner.
//
// It sleeps no fixed time: after a collection it waits for the cleanup path
// to signal a reclamation (session.settled), and collects again only when
// none came within settleWait (a cleanup that needs another cycle).
func (s *session) quiesce() error {
	timeout := quiesceTimeout(s.quiesceTimeout)
	deadline := time.Now().Add(timeout)
	drain(s.settled) // only reclamations from now on count
	collect := true
	for {
		st := s.stats()
		if st.PendingResources == 0 && st.PendingBytes == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fail(TimedOut, "%d dead resources (%d bytes) still await reclamation after %v; nothing is lost, call again",
				st.PendingResources, st.PendingBytes, timeout)
		}
		if s.cfg.Strategy == GoCleanup && collect {
			runtime.GC()
		}
		collect = !AwaitSignal(s.settled, settleWait)
	}
}

// settleWait bounds one wait for a reclamation signal in quiesce; past it
// the loop collects (GoCleanup) and looks again.
const settleWait = time.Millisecond

// drain empties a signal channel without blocking.
func drain(c chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// AwaitSignal waits up to d for a token on c and reports whether one came.
// A token already there is taken at once (no timer).
func AwaitSignal(c chan struct{}, d time.Duration) bool {
	select {
	case <-c:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-t.C:
		return false
	}
}

// close frees every allocation, live or pending, and returns the counters as
// they were. It also drops the table, so that resources alive at shutdown do
// not stay reachable from their own (now pointless) GC cleanups forever.
func (s *session) close() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	report := s.count
	for _, buf := range s.unreclaimed {
		s.disown(buf)
		mutantForget(buf)
	}
	s.unreclaimed, s.slots, s.free, s.releasedAt = nil, nil, nil, nil
	return report
}
