//go:build mutants

package table

import (
	"encoding/binary"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Test-only mutant injection (build tag mutants), as fuzzharness_testing_decls.h
// specifies: one process-wide mutant at a time, kept across sessions. Each
// mutant plants one kind of bug so the harness can prove it finds it. Release
// builds use nomutants.go instead and contain none of this.
//
// Where each mutant acts:
//   - SnapshotShares: a snapshot shares its origin's buffer (session.snapshot).
//   - SkipGeneration: lookup ignores the generation of a live slot.
//   - Segfault, Hang, Abort, CaughtPanic: the trigger (injectWriteMutant).
//   - MagicCrash: injectWriteMutant crashes like Segfault when the data starts
//     with "FUZZ", compared a byte at a time in startsWithMagic.
//   - StaleUseAfterFree, DoubleRelease (Immediate strategy): a dying
//     resource's slot keeps its memory (mutantDied), which is freed as usual;
//     while the slot is free, a read/write through a stale handle of it copies
//     from/into the freed memory, a release frees it a second time.
//   - GenerationWrap, EarlyFree, BoundsOffByOne: nextGeneration,
//     deathThreshold, boundsSlack with copyIn/copyOut (which reach one byte past
//     the end of the memory through the shim's unsafe widen hook).
//   - LeakOnError: a write failing with FH_BOUNDS takes a reference and an
//     owner of the buffer that nobody drops, so fh_shutdown never frees it.
//   - RacyAcquire, RacyRefcount, UnsyncWriter: racy acquire/release/write,
//     with raceWindow (or a yield per byte) where other threads interleave.
//   - ReclaimNever (GoCleanup strategy): the cleanup's argument keeps the
//     resource reachable, so its cleanup never runs; fh_quiesce then times
//     out after mutantQuiesceTimeout rather than the session's 5 s.
//   - GoCacheUseAfterFree: a cache (the shim's, by default goCacheDefault)
//     keeps each new resource's memory by slot; a read through a stale handle
//     reads through it.
//   - SharedLastError: SetSharedLastError and SharedLastError, used by the shim.
//   - SnapshotPinRace: snapshotPin looks the origin up under the lock, lets go
//     of it, waits raceWindow, then pins: a release that kills the origin in
//     the window frees its memory (Immediate strategy) and the snapshot copies
//     the freed C memory.

// Mutant is a plantable bug (enum fh_mutant).
type Mutant uint32

// The mutants of fuzzharness_testing_decls.h.
const (
	MutantNone                Mutant = 0
	MutantSnapshotShares      Mutant = 1
	MutantSegfault            Mutant = 2
	MutantHang                Mutant = 3
	MutantAbort               Mutant = 4
	MutantCaughtPanic         Mutant = 5
	MutantSkipGeneration      Mutant = 6
	MutantStaleUseAfterFree   Mutant = 7
	MutantDoubleRelease       Mutant = 8
	MutantGenerationWrap      Mutant = 9
	MutantLeakOnError         Mutant = 10
	MutantEarlyFree           Mutant = 11
	MutantBoundsOffByOne      Mutant = 12
	MutantRacyAcquire         Mutant = 13
	MutantReclaimNever        Mutant = 14
	MutantGoCacheUseAfterFree Mutant = 15
	MutantSharedLastError     Mutant = 16
	MutantRacyRefcount        Mutant = 17
	MutantUnsyncWriter        Mutant = 18
	MutantMagicCrash          Mutant = 19
	// MutantGuardOneSide is the cross-runtime OWNER's (Rust's): this shim
	// does not implement it (SetMutant gives FH_UNSUPPORTED).
	MutantGuardOneSide Mutant = 20
	// MutantCleanupUnreachable acts in the cross-runtime foreign front
	// (package front, GoCleanup): the cleanup's argument captures the
	// wrapper itself, which therefore stays reachable; the owner never gets
	// the acknowledgement. A standalone session ignores it.
	MutantCleanupUnreachable Mutant = 21
	// MutantSnapshotPinRace: fh_snapshot pins its origin only after letting go
	// of the session lock (snapshotPin), a race window in between.
	MutantSnapshotPinRace Mutant = 22
	lastMutant                   = MutantSnapshotPinRace
)

// The trigger of the crash mutants: a write of exactly triggerLen bytes whose
// first byte is triggerFirstByte, on a live writable handle, in bounds.
const (
	triggerLen       = 3
	triggerFirstByte = 0xFD
)

// mutantQuiesceTimeout bounds fh_quiesce while MutantReclaimNever is active.
const mutantQuiesceTimeout = time.Second

// MutantQuiesceTimeout bounds the foreign front's fh_quiesce while
// MutantCleanupUnreachable is active (the same bound, for the same reason).
const MutantQuiesceTimeout = mutantQuiesceTimeout

// raceWindowSpin is how long raceWindow spins after yielding.
const raceWindowSpin = 20 * time.Microsecond

var (
	active   atomic.Uint32
	segfault func()
	// widen returns mem extended by one byte past its end. The default
	// reslices within the capacity (tests allocate one spare byte); the shim
	// sets one that reaches past the end of the C allocation.
	widen = func(mem []byte) []byte { return mem[:len(mem)+1] }
	// goCacheStore and goCacheLoad are the cache of MutantGoCacheUseAfterFree.
	goCacheStore = goCacheDefault.store
	goCacheLoad  = goCacheDefault.load
)

// SetMutant switches the process-wide mutant (fh_test_set_mutant). No session is
// needed.
func SetMutant(f uint32) error {
	if Mutant(f) > lastMutant {
		return fail(InvalidArgument, "unknown mutant %d (mutants are 0..%d)", f, lastMutant)
	}
	if Mutant(f) == MutantGuardOneSide {
		return fail(Unsupported, "mutant %d (GUARD_ONE_SIDE) belongs to the cross-runtime owner (Rust); "+
			"the Go shim does not implement it", f)
	}
	active.Store(f)
	return nil
}

// Active reports whether m is the process-wide mutant (for package front).
func Active(m Mutant) bool { return isActive(m) }

// SetSegfault sets how MutantSegfault crashes the process. Go code cannot
// write through a null pointer (Go turns that into a recoverable panic), so
// the shim passes a C function that does. It must be called before any
// session is opened, e.g. from an init function.
func SetSegfault(crash func()) { segfault = crash }

// SetWiden sets how MutantBoundsOffByOne reaches one byte past the end of a
// resource's memory: the shim's function makes a slice one byte longer than
// the C allocation. Call it before any session is opened.
func SetWiden(f func(mem []byte) []byte) { widen = f }

// SetGoCache replaces the cache of MutantGoCacheUseAfterFree: store keeps the
// memory of the new resource h by slot, load returns what is kept for the
// slot of h if it was kept for h's generation. The shim keeps raw pointers.
// Call it before any session is opened.
func SetGoCache(store func(h Handle, mem []byte), load func(h Handle) ([]byte, bool)) {
	goCacheStore, goCacheLoad = store, load
}

func isActive(f Mutant) bool { return Mutant(active.Load()) == f }

func skipGeneration() bool { return isActive(MutantSkipGeneration) }
func snapshotShares() bool { return isActive(MutantSnapshotShares) }

// injectWriteMutant acts on the trigger. The caller has checked that the
// handle is live and writable and the write in bounds; data is what it
// writes.
func injectWriteMutant(data []byte) {
	if isActive(MutantMagicCrash) && startsWithMagic(data) {
		segfault()
	}
	if len(data) != triggerLen || data[0] != triggerFirstByte {
		return
	}
	switch Mutant(active.Load()) {
	case MutantSegfault:
		segfault()
	case MutantHang:
		sleepForever()
	case MutantAbort:
		go func() { panic("fuzzharness: injected mutant FH_MUTANT_ABORT (uncaught, on a goroutine of its own)") }()
		sleepForever()
	case MutantCaughtPanic:
		panic("fuzzharness: injected mutant FH_MUTANT_CAUGHT_PANIC")
	}
}

// startsWithMagic reports whether data starts with MutantMagicCrash's magic,
// the 4-byte value "FUZZ" (46 55 5A 5A), read as one little-endian uint32 and
// compared once: -d=libfuzzer reports the 32-bit comparison to a coverage-guided
// fuzzer (__sanitizer_cov_trace_const_cmp4), where a random one must guess all
// 32 bits at once.
func startsWithMagic(data []byte) bool {
	const magic = uint32('F') | uint32('U')<<8 | uint32('Z')<<16 | uint32('Z')<<24
	return len(data) >= 4 && binary.LittleEndian.Uint32(data) == magic
}

// sleepForever blocks the calling goroutine for good. It sleeps rather than
// blocking on a channel so the runtime never reports a deadlock.
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// raceWindow is the window of a racy mutant between its check and its
// update: it yields, then spins briefly, so that concurrent calls land in it.
func raceWindow() {
	perturb(pointRaceWindow)
	runtime.Gosched()
	for start := time.Now(); time.Since(start) < raceWindowSpin; {
	}
}

// nextGeneration is the generation of a slot's next resource: 1, 2, 3, 1, ...
// under MutantGenerationWrap.
func nextGeneration(g uint32) uint32 {
	if isActive(MutantGenerationWrap) {
		return g%3 + 1
	}
	return g + 1
}

// deathThreshold is the count at or below which a release kills: 1 under
// MutantEarlyFree.
func deathThreshold() uint32 {
	if isActive(MutantEarlyFree) {
		return 1
	}
	return 0
}

// boundsSlack is how many bytes past the end the bounds check accepts: 1
// under MutantBoundsOffByOne, for a resource that has memory.
func boundsSlack(size uint64) uint64 {
	if size > 0 && isActive(MutantBoundsOffByOne) {
		return 1
	}
	return 0
}

// copyIn copies src into mem at offset. An access accepted by boundsSlack
// ends one byte past the end: the bytes in bounds are copied, then the last
// one is written alone through the widened slice, so that the faulting access
// starts at the first byte past the end (heap-buffer-overflow under ASan).
func copyIn(mem []byte, offset uint64, src []byte) {
	if len(src) == 0 {
		return // offset may be one past the end: nothing to touch
	}
	if n := len(src); offset+uint64(n) > uint64(len(mem)) {
		copy(mem[offset:], src[:n-1])
		widen(mem)[len(mem)] = src[n-1]
		return
	}
	copy(mem[offset:], src)
}

// copyOut copies len(dst) bytes of mem at offset into dst, reading the byte
// past the end alone as copyIn writes it.
func copyOut(dst, mem []byte, offset uint64) {
	if len(dst) == 0 {
		return // offset may be one past the end: nothing to touch
	}
	if n := len(dst); offset+uint64(n) > uint64(len(mem)) {
		copy(dst[:n-1], mem[offset:])
		dst[n-1] = widen(mem)[len(mem)]
		return
	}
	copy(dst, mem[offset:])
}

func quiesceTimeout(d time.Duration) time.Duration {
	if isActive(MutantReclaimNever) {
		return mutantQuiesceTimeout
	}
	return d
}

// sessionMutants is the mutants' per-session state, guarded by session.mu:
// the memory of dead resources by slot (StaleUseAfterFree, DoubleRelease).
type sessionMutants struct {
	dangling map[uint32]dangling
}

// dangling is what a slot keeps of its dead resource.
type dangling struct {
	gen      uint32
	readOnly bool
	mem      []byte
}

// mutantDied, called as r dies (s.mu held), keeps r's memory by slot under
// StaleUseAfterFree and DoubleRelease with the Immediate strategy (the
// memory is freed as usual, once no call is copying).
func (s *session) mutantDied(r *resource) {
	if s.cfg.Strategy != Immediate || !(isActive(MutantStaleUseAfterFree) || isActive(MutantDoubleRelease)) {
		return
	}
	if s.mut.dangling == nil {
		s.mut.dangling = make(map[uint32]dangling)
	}
	s.mut.dangling[r.handle.slot()] = dangling{gen: r.handle.gen(), readOnly: r.readOnly, mem: r.buf.mem}
}

// danglingOf returns what the slot of the stale handle h keeps, if the slot
// is still free since that death (the generation check is skipped for free
// slots); take forgets it.
func (s *session) danglingOf(h Handle, take bool) (dangling, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := h.slot()
	if int(idx) >= len(s.slots) || s.slots[idx].res != nil {
		return dangling{}, false
	}
	d, ok := s.mut.dangling[idx]
	if !ok || d.gen != s.slots[idx].gen || h.gen() == 0 || h.gen() > d.gen {
		return dangling{}, false
	}
	if take {
		delete(s.mut.dangling, idx)
	}
	return d, true
}

// mutantStaleRead is fh_read after h failed to classify as live with err:
// under StaleUseAfterFree and GoCacheUseAfterFree a stale handle reads the
// dead resource's (freed) memory.
func (s *session) mutantStaleRead(h Handle, offset uint64, buf Buffer, err error) error {
	if StatusOf(err) != StaleHandle {
		return err
	}
	var mem []byte
	switch Mutant(active.Load()) {
	case MutantStaleUseAfterFree:
		d, ok := s.danglingOf(h, false)
		if !ok {
			return err
		}
		mem = d.mem
	case MutantGoCacheUseAfterFree:
		cached, ok := goCacheLoad(h)
		if !ok {
			return err
		}
		mem = cached
	default:
		return err
	}
	if err := checkBounds(h, uint64(len(mem)), offset, buf.Len()); err != nil {
		return err
	}
	copy(buf.Bytes(), mem[offset:])
	return nil
}

// mutantStaleWrite is fh_write after h failed to classify as live with err:
// under StaleUseAfterFree a stale handle writes into the dead resource's
// (freed) memory.
func (s *session) mutantStaleWrite(h Handle, offset uint64, data Buffer, err error) error {
	if StatusOf(err) != StaleHandle || !isActive(MutantStaleUseAfterFree) {
		return err
	}
	d, ok := s.danglingOf(h, false)
	if !ok {
		return err
	}
	if d.readOnly {
		return fail(ReadOnly, "handle %v is a snapshot, which is read-only", h)
	}
	if err := checkBounds(h, uint64(len(d.mem)), offset, data.Len()); err != nil {
		return err
	}
	copy(d.mem[offset:], data.Bytes())
	return nil
}

// mutantStaleRelease is fh_release after h failed to classify as live with
// err: under DoubleRelease a stale handle frees the dead resource's memory a
// second time, once, and succeeds.
func (s *session) mutantStaleRelease(h Handle, err error) error {
	if StatusOf(err) != StaleHandle || !isActive(MutantDoubleRelease) {
		return err
	}
	d, ok := s.danglingOf(h, true)
	if !ok {
		return err
	}
	if d.mem != nil {
		s.alloc.Free(d.mem)
	}
	return nil
}

// mutantLeakOnError: under LeakOnError, a write to r that failed with
// FH_BOUNDS takes a reference, and an owner of its buffer, that nobody ever
// drops: r never dies and fh_shutdown does not free its memory.
func (s *session) mutantLeakOnError(r *resource, err error) {
	if StatusOf(err) != Bounds || !isActive(MutantLeakOnError) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slots[r.handle.slot()].res == r && r.refs < math.MaxUint32 {
		r.refs++
		r.buf.owners++
	}
}

// mutantForget, called by close after dropping the session's owner of buf:
// if an owner is left (LeakOnError), Go forgets the memory, so that nothing
// but the leak is left of it (a Go pointer to it would hide it from LSan).
func mutantForget(buf *buffer) {
	if buf.owners > 0 {
		buf.mem = nil
	}
}

// mutantAcquire is fh_acquire under RacyAcquire and RacyRefcount; handled
// is false under any other mutant.
func (s *session) mutantAcquire(h Handle) (handled bool, err error) {
	switch Mutant(active.Load()) {
	case MutantRacyAcquire:
		// Checks liveness, lets go of the lock, yields, then increments the
		// count of the resource it found, dead or alive.
		r, err := s.lookupUnlocked(h)
		if err != nil {
			return true, err
		}
		raceWindow()
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.refs == math.MaxUint32 {
			return true, fail(Overflow, "handle %v already holds the maximum of %d references", h, uint32(math.MaxUint32))
		}
		r.refs++
		return true, nil
	case MutantRacyRefcount:
		// A plain load, a yield, a plain store, outside any lock.
		r, err := s.lookupUnlocked(h)
		if err != nil {
			return true, err
		}
		refs := r.refs
		if refs == math.MaxUint32 {
			return true, fail(Overflow, "handle %v already holds the maximum of %d references", h, uint32(math.MaxUint32))
		}
		raceWindow()
		r.refs = refs + 1
		return true, nil
	}
	return false, nil
}

// mutantRelease is fh_release under RacyRefcount: a plain load, a yield,
// then a plain store of the count - 1, or, if the count loaded was 1, the
// death of the resource (whatever was acquired meanwhile).
func (s *session) mutantRelease(h Handle) (handled bool, err error) {
	if !isActive(MutantRacyRefcount) {
		return false, nil
	}
	r, err := s.lookupUnlocked(h)
	if err != nil {
		return true, err
	}
	refs := r.refs
	raceWindow()
	if refs > 1 {
		r.refs = refs - 1
		return true, nil
	}
	s.mu.Lock()
	if s.slots[r.handle.slot()].res != r { // another release killed it
		s.mu.Unlock()
		return true, nil
	}
	r.refs = 0
	s.kill(r)
	s.mu.Unlock()
	s.unpin(r)
	return true, nil
}

// lookupUnlocked is lookup, taking s.mu for the classification only.
func (s *session) lookupUnlocked(h Handle) (*resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookup(h)
}

// mutantUnsyncWrite: under UnsyncWriter, copies src into r at offset one
// byte at a time without the buffer's lock, yielding between bytes, and
// returns true.
func mutantUnsyncWrite(r *resource, offset uint64, src []byte) bool {
	if !isActive(MutantUnsyncWriter) {
		return false
	}
	mem := r.buf.mem[offset:]
	for i, b := range src {
		mem[i] = b
		runtime.Gosched()
	}
	return true
}

// keeper is the cleanup argument of ReclaimNever: it references the
// resource, which therefore stays reachable and is never cleaned up. (A
// plain *resource argument equal to the object would make AddCleanup panic.)
type keeper struct{ r *resource }

// mutantCleanup registers the GoCleanup cleanup of r under ReclaimNever, with
// an argument that keeps r reachable forever, and returns true.
func (s *session) mutantCleanup(r *resource) bool {
	if !isActive(MutantReclaimNever) {
		return false
	}
	runtime.AddCleanup(r, func(k keeper) { s.reclaim(k.r.handle) }, keeper{r})
	return true
}

// mutantInstalled: under GoCacheUseAfterFree, caches the memory of the new
// resource r by slot.
func mutantInstalled(r *resource) {
	if isActive(MutantGoCacheUseAfterFree) {
		goCacheStore(r.handle, r.buf.mem)
	}
}

// goCache is the default cache of MutantGoCacheUseAfterFree, in safe Go (the
// shim replaces it with one that keeps raw pointers).
type goCache struct {
	mu      sync.Mutex
	entries map[uint32]dangling
}

var goCacheDefault = &goCache{entries: make(map[uint32]dangling)}

func (c *goCache) store(h Handle, mem []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[h.slot()] = dangling{gen: h.gen(), mem: mem}
}

func (c *goCache) load(h Handle) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[h.slot()]
	if !ok || e.gen != h.gen() {
		return nil, false
	}
	return e.mem, true
}

// sharedLastError is the process-wide last error of MutantSharedLastError.
var sharedLastError struct {
	sync.Mutex
	msg string
}

// SetSharedLastError: under MutantSharedLastError, makes msg the
// process-wide last error message, yields (the window in which another
// thread's error replaces it before this thread asks for it), and returns
// true. Otherwise it returns false and the shim keeps msg per thread.
func SetSharedLastError(msg string) bool {
	if !isActive(MutantSharedLastError) {
		return false
	}
	sharedLastError.Lock()
	sharedLastError.msg = msg
	sharedLastError.Unlock()
	raceWindow()
	return true
}

// SharedLastError returns, under MutantSharedLastError, the process-wide last
// error message.
func SharedLastError() (string, bool) {
	if !isActive(MutantSharedLastError) {
		return "", false
	}
	sharedLastError.Lock()
	defer sharedLastError.Unlock()
	return sharedLastError.msg, true
}

// snapshotPin is pin for fh_snapshot; under MutantSnapshotPinRace the pin comes
// after the lock is let go and a race window, so the origin can die and be
// freed in between and the snapshot copies freed memory.
func (s *session) snapshotPin(h Handle) (*resource, error) {
	if !isActive(MutantSnapshotPinRace) {
		return s.pin(h)
	}
	s.mu.Lock()
	r, err := s.lookup(h)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	raceWindow()
	r.pins.Add(1)
	return r, nil
}

// The in-call perturbation points of the table (the numbers the hook of
// fh_test_set_perturb is called with): the window of a racy mutant, between a
// snapshot's lookup of its origin and its copy, before a dead resource's memory
// is freed.
const (
	pointRaceWindow          = 1
	pointSnapshotAfterLookup = 2
	pointReleaseBeforeFree   = 3
)

// perturb is the shim's perturbation point (SetPerturb; nothing until set).
var perturb = func(uint32) {}

// SetPerturb makes point the table's perturbation point: the shim passes the
// adapter kit's PerturbPoint, which calls the hook fh_test_set_perturb installed.
func SetPerturb(point func(uint32)) { perturb = point }

func perturbSnapshot() { perturb(pointSnapshotAfterLookup) }
func perturbFree()     { perturb(pointReleaseBeforeFree) }
