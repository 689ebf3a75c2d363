package front

// fakeOwner: a small owner in pure Go behind the Backend interface, with the
// per-runtime counts and guarded release of the contract, so the front can
// be tested without the Rust shim. Its "owner side" methods stand for calls
// made through the owner library itself.

import (
	"fmt"
	"sync"

	"fuzzharness/go_shim/internal/table"
)

type fakeRes struct {
	size           uint64
	data           []byte
	readOnly       bool
	owner, foreign uint32
	acksOwed       int  // ack = 0 last foreign releases not acknowledged yet
	dead, freed    bool // dead: both counts reached zero; freed: memory reclaimed
}

// release is one ForeignRelease call as the fake saw it.
type release struct {
	h   Handle
	ack uint32
}

type fakeOwner struct {
	mu       sync.Mutex
	open     bool
	cfg      table.Config
	slots    uint32 // handles issued: slot i has handle 1<<32 | i (no reuse)
	res      map[Handle]*fakeRes
	lastErr  string
	releases []release
	acks     []Handle
	// initStatus, if not OK, is what Init fails with.
	initStatus Status
}

func newFakeOwner() *fakeOwner { return &fakeOwner{res: make(map[Handle]*fakeRes)} }

// fail records "fn: msg" as the last error and returns st. o.mu must be held.
func (o *fakeOwner) fail(st Status, fn, format string, args ...any) Status {
	o.lastErr = fn + ": " + fmt.Sprintf(format, args...)
	return st
}

// lookup classifies h. o.mu must be held.
func (o *fakeOwner) lookup(fn string, h Handle) (*fakeRes, Status) {
	if !o.open {
		return nil, o.fail(table.NotInitialized, fn, "no session")
	}
	r := o.res[h]
	switch {
	case r == nil:
		return nil, o.fail(table.InvalidHandle, fn, "handle %v is invalid", h)
	case r.dead:
		return nil, o.fail(table.StaleHandle, fn, "handle %v is stale", h)
	}
	return r, table.OK
}

func (o *fakeOwner) install(r *fakeRes) Handle {
	h := Handle(1)<<32 | Handle(o.slots)
	o.slots++
	o.res[h] = r
	return h
}

// settle kills r when both counts are zero and frees it when, in addition,
// no acknowledgement is owed. o.mu must be held.
func (o *fakeOwner) settle(r *fakeRes) {
	if r.owner == 0 && r.foreign == 0 {
		r.dead = true
	}
	if r.dead && r.acksOwed == 0 {
		r.freed, r.data = true, nil
	}
}

func (o *fakeOwner) Init(cfg *table.Config) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.initStatus != table.OK {
		return o.fail(o.initStatus, "fh_init", "refused by the test")
	}
	if o.open {
		return o.fail(table.AlreadyInitialized, "fh_init", "already open")
	}
	o.open, o.cfg, o.slots, o.res = true, *cfg, 0, make(map[Handle]*fakeRes)
	return table.OK
}

func (o *fakeOwner) Shutdown(report *table.Stats) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.open {
		return o.fail(table.NotInitialized, "fh_shutdown", "no session")
	}
	*report = o.statsLocked()
	o.open, o.res = false, make(map[Handle]*fakeRes)
	return table.OK
}

func (o *fakeOwner) create(fn string, size uint64, foreign bool) (Handle, Status) {
	if !o.open {
		return 0, o.fail(table.NotInitialized, fn, "no session")
	}
	r := &fakeRes{size: size, data: make([]byte, size)}
	if foreign {
		r.foreign = 1
	} else {
		r.owner = 1
	}
	return o.install(r), table.OK
}

func (o *fakeOwner) ForeignCreate(size uint64, out *Handle) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	h, st := o.create("fh_create", size, true)
	if st == table.OK {
		*out = h
	}
	return st
}

func (o *fakeOwner) ForeignSnapshot(h Handle, out *Handle) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, st := o.lookup("fh_snapshot", h)
	if st != table.OK {
		return st
	}
	*out = o.install(&fakeRes{size: r.size, data: append([]byte(nil), r.data...), readOnly: true, foreign: 1})
	return table.OK
}

func (o *fakeOwner) ForeignAcquire(h Handle) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, st := o.lookup("fh_acquire", h)
	if st != table.OK {
		return st
	}
	r.foreign++
	return table.OK
}

func (o *fakeOwner) ForeignRelease(h Handle, ack uint32) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.releases = append(o.releases, release{h, ack})
	r, st := o.lookup("fh_release", h)
	if st != table.OK {
		return st
	}
	if r.foreign == 0 {
		return o.fail(table.NotHeld, "fh_release", "handle %v: the foreign runtime holds no reference", h)
	}
	r.foreign--
	if r.foreign == 0 && ack == 0 {
		r.acksOwed++
	}
	o.settle(r)
	return table.OK
}

func (o *fakeOwner) ForeignAck(h Handle) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.acks = append(o.acks, h)
	r := o.res[h]
	if !o.open || r == nil || r.acksOwed == 0 {
		return o.fail(table.InvalidHandle, "fh_release", "no acknowledgement of %v is outstanding", h)
	}
	r.acksOwed--
	o.settle(r)
	return table.OK
}

func (o *fakeOwner) Write(h Handle, offset uint64, data table.Buffer) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, st := o.lookup("fh_write", h)
	if st != table.OK {
		return st
	}
	if r.readOnly {
		return o.fail(table.ReadOnly, "fh_write", "read-only")
	}
	if offset > r.size || data.Len() > r.size-offset {
		return o.fail(table.Bounds, "fh_write", "out of bounds")
	}
	copy(r.data[offset:], data.Bytes())
	return table.OK
}

func (o *fakeOwner) Read(h Handle, offset uint64, buf table.Buffer) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, st := o.lookup("fh_read", h)
	if st != table.OK {
		return st
	}
	if offset > r.size || buf.Len() > r.size-offset {
		return o.fail(table.Bounds, "fh_read", "out of bounds")
	}
	copy(buf.Bytes(), r.data[offset:])
	return table.OK
}

func (o *fakeOwner) Info(h Handle, out *table.ResourceInfo) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, st := o.lookup("fh_info", h)
	if st != table.OK {
		return st
	}
	*out = table.ResourceInfo{Size: r.size, Refs: r.owner + r.foreign}
	if r.readOnly {
		out.ReadOnly = 1
	}
	return table.OK
}

func (o *fakeOwner) statsLocked() table.Stats {
	var st table.Stats
	for _, r := range o.res {
		st.Created++
		switch {
		case !r.dead:
			st.LiveResources++
			st.LiveBytes += r.size
		case !r.freed:
			st.PendingResources++
			st.PendingBytes += r.size
		default:
			st.Reclaimed++
		}
	}
	return st
}

func (o *fakeOwner) Stats(out *table.Stats) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.open {
		return o.fail(table.NotInitialized, "fh_get_stats", "no session")
	}
	*out = o.statsLocked()
	return table.OK
}

func (o *fakeOwner) Quiesce() Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.open {
		return o.fail(table.NotInitialized, "fh_quiesce", "no session")
	}
	if st := o.statsLocked(); st.PendingResources != 0 {
		return o.fail(table.TimedOut, "fh_quiesce", "%d pending", st.PendingResources)
	}
	return table.OK
}

func (o *fakeOwner) LastError() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastErr
}

// The owner side: calls made through the owner library itself.

func (o *fakeOwner) ownerCreate(size uint64) Handle {
	o.mu.Lock()
	defer o.mu.Unlock()
	h, st := o.create("fh_create", size, false)
	if st != table.OK {
		panic(o.lastErr)
	}
	return h
}

func (o *fakeOwner) ownerAcquire(h Handle) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, st := o.lookup("fh_acquire", h)
	if st != table.OK {
		return st
	}
	r.owner++
	return table.OK
}

func (o *fakeOwner) ownerRelease(h Handle) Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, st := o.lookup("fh_release", h)
	if st != table.OK {
		return st
	}
	if r.owner == 0 {
		return o.fail(table.NotHeld, "fh_release", "handle %v: the owner holds no reference", h)
	}
	r.owner--
	o.settle(r)
	return table.OK
}

// kill makes h die at once, whatever its counts (as an owner bug would).
func (o *fakeOwner) kill(h Handle) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.res[h]
	r.dead, r.freed, r.owner, r.foreign = true, true, 0, 0
}

// counts returns h's owner and foreign counts and whether it is dead and
// freed.
func (o *fakeOwner) counts(h Handle) (owner, foreign uint32, dead, freed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.res[h]
	return r.owner, r.foreign, r.dead, r.freed
}

// releaseLog and ackLog return copies of the calls seen so far.
func (o *fakeOwner) releaseLog() []release {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]release(nil), o.releases...)
}

func (o *fakeOwner) ackLog() []Handle {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Handle(nil), o.acks...)
}

func (o *fakeOwner) stats() table.Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.statsLocked()
}
