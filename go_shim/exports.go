package main

// The C boundary: every function of fuzzharness_decls.h, exported with the
// header's own C types and parameter names. The preamble includes the
// header, so the C compiler checks the prototypes cgo generates for these
// exports against the contract. This is the only file of the release build
// with cgo or unsafe code. Each export is a thin adapter: it converts its
// arguments and calls the Library inside the Go adapter kit's panic boundary
// (fhadapter.Boundary), which records the message of a failure for the
// calling thread (the kit's C thread-local last error) and turns any panic
// into FH_PANIC.
//
// ABI 1.1 cross-runtime pairs: once fh_attach_backend has made this library
// the foreign front of an owner, the exports route to the Front of package
// front instead of the standalone Library (one atomic load and a branch per
// call: see impl). The front reaches the owner only through cBackend below,
// which calls the owner's C function pointers through the static inline
// trampolines of the preamble (Go cannot call a C function pointer itself).
// gofront_collect is the collector the owner calls from its fh_quiesce; it
// is exported under a name outside the contract's fh_ namespace.

/*
#cgo CFLAGS: -I${SRCDIR}/../targets/include
#include <stdlib.h>
#include "fuzzharness.h"

// The Go collector registered with the owner (defined in Go, below).
void gofront_collect(void);

// Trampolines: each calls one entry of the owner's fh_backend.
static inline fh_status tramp_init(fh_init_fn f, fh_config *c) { return f(c); }
static inline fh_status tramp_shutdown(fh_shutdown_fn f, fh_stats *r) { return f(r); }
static inline fh_status tramp_create(fh_create_fn f, uint64_t size, fh_handle *out) { return f(size, out); }
static inline fh_status tramp_snapshot(fh_snapshot_fn f, fh_handle h, fh_handle *out) { return f(h, out); }
static inline fh_status tramp_handle(fh_handle_fn f, fh_handle h) { return f(h); }
static inline fh_status tramp_release(fh_foreign_release_fn f, fh_handle h, uint32_t ack) { return f(h, ack); }
static inline fh_status tramp_write(fh_write_fn f, fh_handle h, uint64_t off, uint8_t *d, size_t n) { return f(h, off, d, n); }
static inline fh_status tramp_read(fh_read_fn f, fh_handle h, uint64_t off, uint8_t *b, size_t n) { return f(h, off, b, n); }
static inline fh_status tramp_info(fh_info_fn f, fh_handle h, fh_resource_info *out) { return f(h, out); }
static inline fh_status tramp_stats(fh_stats_fn f, fh_stats *out) { return f(out); }
static inline fh_status tramp_void(fh_void_fn f) { return f(); }
static inline fh_status tramp_last_error(fh_last_error_fn f, char *buf, size_t cap, size_t *n) { return f(buf, cap, n); }
static inline fh_status tramp_set_collector(fh_set_collector_fn f) { return f(gofront_collect); }
*/
import "C"

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"fuzzharness/go_shim/internal/front"
	"fuzzharness/go_shim/internal/table"
	fhadapter "fuzzharness/kits/go"
)

// The contract's numbers and the layouts of fh_config, fh_stats and
// fh_resource_info come from the kit (generated from the header, and checked
// against it at compile time there); the table's own Handle and
// ReclaimEvent are checked here. Each line fails to compile unless its two
// sides are equal: a constant index other than 0 is out of range for a
// one-element array.
var (
	_ = [1]struct{}{}[unsafe.Sizeof(C.fh_handle(0))-unsafe.Sizeof(table.Handle(0))]
	_ = [1]struct{}{}[unsafe.Sizeof(C.fh_reclaim_event{})-unsafe.Sizeof(table.ReclaimEvent{})]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_reclaim_event{}.handle)-unsafe.Offsetof(table.ReclaimEvent{}.Handle)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_reclaim_event{}.bytes)-unsafe.Offsetof(table.ReclaimEvent{}.Bytes)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_reclaim_event{}.released_ns)-unsafe.Offsetof(table.ReclaimEvent{}.ReleasedNs)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_reclaim_event{}.freed_ns)-unsafe.Offsetof(table.ReclaimEvent{}.FreedNs)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_reclaim_event{}.strategy)-unsafe.Offsetof(table.ReclaimEvent{}.Strategy)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_reclaim_event{}.reserved)-unsafe.Offsetof(table.ReclaimEvent{}.Reserved)]
	// fh_drain_reclaim_events' *out_n (a size_t) is written as a uint64.
	_ = [1]struct{}{}[unsafe.Sizeof(C.size_t(0))-unsafe.Sizeof(uint64(0))]
)

// lib is the process-wide state of the standalone target; resource memory
// comes from the C heap.
var lib = table.NewLibrary(cHeap{}, fhadapter.ClockNs)

// attached is the foreign front, once fh_attach_backend succeeded (then lib
// is never used again); attachMu serializes fh_attach_backend.
var (
	attached atomic.Pointer[front.Front]
	attachMu sync.Mutex
)

// contract is what the exports call: the standalone Library or, once
// attached, the Front. Both apply the contract's checks in its order.
type contract interface {
	Init(cfg *table.Config) error
	Shutdown(report *table.Stats) error
	Create(size uint64, out *table.Handle) error
	Acquire(h table.Handle) error
	Release(h table.Handle) error
	Write(h table.Handle, offset uint64, data table.Buffer) error
	Read(h table.Handle, offset uint64, buf table.Buffer) error
	Snapshot(h table.Handle, out *table.Handle) error
	Info(h table.Handle, out *table.ResourceInfo) error
	Stats(out *table.Stats) error
	Quiesce() error
	DrainReclaimEvents(buf table.EventBuffer, outN, dropped *uint64) error
}

// impl returns the implementation the exports call now.
func impl() contract {
	if f := attached.Load(); f != nil {
		return f
	}
	return lib
}

// cHeap allocates resource memory with calloc and frees it with free, so
// sanitizers and leak checkers see it. The table never asks for 0 bytes.
type cHeap struct{}

func (cHeap) Alloc(n uint64) []byte {
	if n > math.MaxInt {
		return nil // cannot be a Go slice (nor be had)
	}
	p := C.calloc(1, C.size_t(n))
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

func (cHeap) Free(b []byte) { C.free(unsafe.Pointer(unsafe.SliceData(b))) }

// cBuffer is a caller's (pointer, length) pair. The table calls Bytes only
// after the bounds check, so the slice it makes always has a sane length.
type cBuffer struct {
	p *C.uint8_t
	n C.size_t
}

func (b cBuffer) Null() bool  { return b.p == nil }
func (b cBuffer) Len() uint64 { return uint64(b.n) }

func (b cBuffer) Bytes() []byte {
	if b.p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(b.p)), b.n)
}

// cEvents is the caller's array of fh_reclaim_event (pointer, capacity).
// The table calls Events only with n <= the capacity and n <= its ring's.
type cEvents struct {
	p *C.fh_reclaim_event
	n C.size_t
}

func (b cEvents) Null() bool  { return b.p == nil }
func (b cEvents) Cap() uint64 { return uint64(b.n) }

func (b cEvents) Events(n int) []table.ReclaimEvent {
	return unsafe.Slice((*table.ReclaimEvent)(unsafe.Pointer(b.p)), n)
}

// boundary runs an export's body inside the kit's panic boundary and
// returns its status as C's. (In the mutants build, MutantSharedLastError
// then also makes a failure's message the process-wide one: see
// exports_mutants.go.)
func boundary(fn string, body func() error) C.fh_status {
	st := fhadapter.Boundary(fn, body)
	if st != table.OK {
		shareLastError()
	}
	return C.fh_status(st)
}

//export fh_abi_version
func fh_abi_version(major *C.uint32_t, minor *C.uint32_t) C.fh_status {
	return boundary("fh_abi_version", func() error { return table.ABIVersion((*uint32)(major), (*uint32)(minor)) })
}

//export fh_init
func fh_init(config *C.fh_config) C.fh_status {
	return boundary("fh_init", func() error { return impl().Init((*table.Config)(unsafe.Pointer(config))) })
}

//export fh_shutdown
func fh_shutdown(report *C.fh_stats) C.fh_status {
	return boundary("fh_shutdown", func() error { return impl().Shutdown((*table.Stats)(unsafe.Pointer(report))) })
}

//export fh_create
func fh_create(size C.uint64_t, out *C.fh_handle) C.fh_status {
	return boundary("fh_create", func() error {
		return impl().Create(uint64(size), (*table.Handle)(unsafe.Pointer(out)))
	})
}

//export fh_acquire
func fh_acquire(handle C.fh_handle) C.fh_status {
	return boundary("fh_acquire", func() error { return impl().Acquire(table.Handle(handle)) })
}

//export fh_release
func fh_release(handle C.fh_handle) C.fh_status {
	return boundary("fh_release", func() error { return impl().Release(table.Handle(handle)) })
}

//export fh_write
func fh_write(handle C.fh_handle, offset C.uint64_t, data *C.uint8_t, len C.size_t) C.fh_status {
	return boundary("fh_write", func() error {
		return impl().Write(table.Handle(handle), uint64(offset), cBuffer{data, len})
	})
}

//export fh_read
func fh_read(handle C.fh_handle, offset C.uint64_t, buf *C.uint8_t, len C.size_t) C.fh_status {
	return boundary("fh_read", func() error {
		return impl().Read(table.Handle(handle), uint64(offset), cBuffer{buf, len})
	})
}

//export fh_snapshot
func fh_snapshot(handle C.fh_handle, out *C.fh_handle) C.fh_status {
	return boundary("fh_snapshot", func() error {
		return impl().Snapshot(table.Handle(handle), (*table.Handle)(unsafe.Pointer(out)))
	})
}

//export fh_info
func fh_info(handle C.fh_handle, out *C.fh_resource_info) C.fh_status {
	return boundary("fh_info", func() error {
		return impl().Info(table.Handle(handle), (*table.ResourceInfo)(unsafe.Pointer(out)))
	})
}

//export fh_get_stats
func fh_get_stats(out *C.fh_stats) C.fh_status {
	return boundary("fh_get_stats", func() error { return impl().Stats((*table.Stats)(unsafe.Pointer(out))) })
}

//export fh_quiesce
func fh_quiesce() C.fh_status {
	return boundary("fh_quiesce", func() error { return impl().Quiesce() })
}

//export fh_last_error
func fh_last_error(buf *C.char, cap C.size_t, out_len *C.size_t) C.fh_status {
	return boundary("fh_last_error", func() error {
		if msg, ok := sharedLastError(); ok {
			fhadapter.SetLastError(msg)
		}
		return fhadapter.CopyLastError((*byte)(unsafe.Pointer(buf)), uintptr(cap), (*uintptr)(unsafe.Pointer(out_len)))
	})
}

//export fh_drain_reclaim_events
func fh_drain_reclaim_events(buf *C.fh_reclaim_event, cap C.size_t, out_n *C.size_t, dropped *C.uint64_t) C.fh_status {
	return boundary("fh_drain_reclaim_events", func() error {
		return impl().DrainReclaimEvents(cEvents{buf, cap}, (*uint64)(unsafe.Pointer(out_n)), (*uint64)(unsafe.Pointer(dropped)))
	})
}

//export fh_clock_ns
func fh_clock_ns(out *C.uint64_t) C.fh_status {
	return boundary("fh_clock_ns", func() error { return lib.ClockNs((*uint64)(unsafe.Pointer(out))) })
}

//export fh_backend_table
func fh_backend_table(out *C.fh_backend) C.fh_status {
	return boundary("fh_backend_table", func() error {
		if out == nil {
			return table.Fail(table.NullArgument, "out is NULL")
		}
		return table.Fail(table.Unsupported, "the Go target is no cross-runtime owner: "+
			"take the owner's table (the Rust shim's fh_backend_table) and give it to this library's fh_attach_backend")
	})
}

//export fh_attach_backend
func fh_attach_backend(backend *C.fh_backend) C.fh_status {
	return boundary("fh_attach_backend", func() error { return attach(backend) })
}

// attach makes this library the foreign front of the owner behind *backend
// (fh_attach_backend): it copies and checks the table, registers the Go
// collector with the owner, and from then on routes every export to a Front.
func attach(backend *C.fh_backend) error {
	if backend == nil {
		return table.Fail(table.NullArgument, "backend is NULL")
	}
	attachMu.Lock()
	defer attachMu.Unlock()
	switch {
	case attached.Load() != nil:
		return table.Fail(table.AlreadyInitialized, "a backend is already attached (once per process)")
	case lib.Open():
		return table.Fail(table.AlreadyInitialized, "a session is open (call fh_shutdown before attaching a backend)")
	}
	t := *backend
	if t.abi_major != C.FH_ABI_MAJOR {
		return table.Fail(table.InvalidArgument, "the backend's ABI is %d.%d, this library's major is %d",
			t.abi_major, t.abi_minor, C.FH_ABI_MAJOR)
	}
	for _, e := range []struct {
		name string
		fn   unsafe.Pointer
	}{
		{"init", unsafe.Pointer(t.init)}, {"shutdown", unsafe.Pointer(t.shutdown)},
		{"foreign_create", unsafe.Pointer(t.foreign_create)}, {"foreign_snapshot", unsafe.Pointer(t.foreign_snapshot)},
		{"foreign_acquire", unsafe.Pointer(t.foreign_acquire)}, {"foreign_release", unsafe.Pointer(t.foreign_release)},
		{"foreign_ack", unsafe.Pointer(t.foreign_ack)}, {"write", unsafe.Pointer(t.write)}, {"read", unsafe.Pointer(t.read)},
		{"info", unsafe.Pointer(t.info)}, {"get_stats", unsafe.Pointer(t.get_stats)}, {"quiesce", unsafe.Pointer(t.quiesce)},
		{"last_error", unsafe.Pointer(t.last_error)}, {"set_collector", unsafe.Pointer(t.set_collector)},
	} {
		if e.fn == nil {
			return table.Fail(table.InvalidArgument, "the backend's entry %s is NULL", e.name)
		}
	}
	b := &cBackend{t: t}
	if st := table.Status(C.tramp_set_collector(t.set_collector)); st != table.OK {
		return &table.Error{Status: st, Msg: "the owner's set_collector refused the Go collector: " + b.LastError()}
	}
	attached.Store(front.New(b))
	return nil
}

// gofront_collect is the foreign runtime's collector (fh_backend's
// set_collector): one Go garbage collection, so that the cleanups of the
// wrappers Go dropped acknowledge their releases. The owner calls it from
// its fh_quiesce, from any thread, holding no lock.
//
//export gofront_collect
func gofront_collect() {
	defer func() { _ = recover() }() // nothing may unwind into the owner
	runtime.GC()
}

// cBackend is the owner's fh_backend as a front.Backend: each method calls
// one C function pointer of the table through its trampoline. Pointers passed
// to the owner are the caller's C memory or Go values without Go pointers,
// and the owner keeps none past the call (the contract's ownership rule).
type cBackend struct{ t C.fh_backend }

var _ front.Backend = (*cBackend)(nil)

func ownerStatus(s C.fh_status) table.Status { return table.Status(s) }

func (b *cBackend) Init(cfg *table.Config) table.Status {
	return ownerStatus(C.tramp_init(b.t.init, (*C.fh_config)(unsafe.Pointer(cfg))))
}

func (b *cBackend) Shutdown(report *table.Stats) table.Status {
	return ownerStatus(C.tramp_shutdown(b.t.shutdown, (*C.fh_stats)(unsafe.Pointer(report))))
}

func (b *cBackend) ForeignCreate(size uint64, out *table.Handle) table.Status {
	return ownerStatus(C.tramp_create(b.t.foreign_create, C.uint64_t(size), (*C.fh_handle)(unsafe.Pointer(out))))
}

func (b *cBackend) ForeignSnapshot(h table.Handle, out *table.Handle) table.Status {
	return ownerStatus(C.tramp_snapshot(b.t.foreign_snapshot, C.fh_handle(h), (*C.fh_handle)(unsafe.Pointer(out))))
}

func (b *cBackend) ForeignAcquire(h table.Handle) table.Status {
	return ownerStatus(C.tramp_handle(b.t.foreign_acquire, C.fh_handle(h)))
}

func (b *cBackend) ForeignRelease(h table.Handle, ack uint32) table.Status {
	return ownerStatus(C.tramp_release(b.t.foreign_release, C.fh_handle(h), C.uint32_t(ack)))
}

func (b *cBackend) ForeignAck(h table.Handle) table.Status {
	return ownerStatus(C.tramp_handle(b.t.foreign_ack, C.fh_handle(h)))
}

// Write and Read pass the caller's pointer and length on as they came (the
// exports only ever hand cBuffers to the front): the owner checks them.
func (b *cBackend) Write(h table.Handle, offset uint64, data table.Buffer) table.Status {
	d := data.(cBuffer)
	return ownerStatus(C.tramp_write(b.t.write, C.fh_handle(h), C.uint64_t(offset), d.p, d.n))
}

func (b *cBackend) Read(h table.Handle, offset uint64, buf table.Buffer) table.Status {
	d := buf.(cBuffer)
	return ownerStatus(C.tramp_read(b.t.read, C.fh_handle(h), C.uint64_t(offset), d.p, d.n))
}

func (b *cBackend) Info(h table.Handle, out *table.ResourceInfo) table.Status {
	return ownerStatus(C.tramp_info(b.t.info, C.fh_handle(h), (*C.fh_resource_info)(unsafe.Pointer(out))))
}

func (b *cBackend) Stats(out *table.Stats) table.Status {
	return ownerStatus(C.tramp_stats(b.t.get_stats, (*C.fh_stats)(unsafe.Pointer(out))))
}

func (b *cBackend) Quiesce() table.Status { return ownerStatus(C.tramp_void(b.t.quiesce)) }

// LastError returns the owner's message for the calling thread. The calling
// goroutine is the cgo callback of an export, locked to the caller's C
// thread, so this is the thread whose call just failed.
func (b *cBackend) LastError() string {
	var buf [fhadapter.LastErrorCap]byte
	var n C.size_t
	if C.tramp_last_error(b.t.last_error, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n) != C.FH_OK {
		return ""
	}
	return string(buf[:min(int(n), len(buf)-1)])
}
