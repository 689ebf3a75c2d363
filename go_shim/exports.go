package main

// The C boundary: every function of fuzzharness_decls.h, exported with the
// header's own C types and parameter names. The preamble includes the
// header, so the C compiler checks the prototypes cgo generates for these
// exports against the contract. This is the only file of the release build
// with cgo or unsafe code. Each export is a thin adapter: it converts its
// arguments, calls the Library, records the message of a failure for the
// calling thread, and, deferred first, turns any panic into FH_PANIC.

/*
#cgo CFLAGS: -I${SRCDIR}/../targets/include
#include <stdlib.h>
#include "fuzzharness.h"
#include "lasterror.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"fuzzharness/go_shim/internal/table"
)

// The table package mirrors the contract's numbers and struct layouts in
// plain Go, and the exports below pass C structs to it in place. Each line
// fails to compile unless its two sides are equal: a constant index other
// than 0 is out of range for a one-element array.
var (
	_ = [1]struct{}{}[C.FH_OK-table.OK]
	_ = [1]struct{}{}[C.FH_INVALID_HANDLE-table.InvalidHandle]
	_ = [1]struct{}{}[C.FH_STALE_HANDLE-table.StaleHandle]
	_ = [1]struct{}{}[C.FH_BOUNDS-table.Bounds]
	_ = [1]struct{}{}[C.FH_READ_ONLY-table.ReadOnly]
	_ = [1]struct{}{}[C.FH_EXHAUSTED-table.Exhausted]
	_ = [1]struct{}{}[C.FH_NULL_ARGUMENT-table.NullArgument]
	_ = [1]struct{}{}[C.FH_NOT_INITIALIZED-table.NotInitialized]
	_ = [1]struct{}{}[C.FH_OVERFLOW-table.Overflow]
	_ = [1]struct{}{}[C.FH_PANIC-table.Panic]
	_ = [1]struct{}{}[C.FH_ALREADY_INITIALIZED-table.AlreadyInitialized]
	_ = [1]struct{}{}[C.FH_UNSUPPORTED-table.Unsupported]
	_ = [1]struct{}{}[C.FH_INVALID_ARGUMENT-table.InvalidArgument]
	_ = [1]struct{}{}[C.FH_TIMED_OUT-table.TimedOut]

	_ = [1]struct{}{}[C.FH_RECLAIM_IMMEDIATE-table.Immediate]
	_ = [1]struct{}{}[C.FH_RECLAIM_EPOCH-table.Epoch]
	_ = [1]struct{}{}[C.FH_RECLAIM_GO_CLEANUP-table.GoCleanup]
	_ = [1]struct{}{}[C.FH_ABI_MAJOR-table.ABIMajor]
	_ = [1]struct{}{}[C.FH_ABI_MINOR-table.ABIMinor]

	_ = [1]struct{}{}[unsafe.Sizeof(C.fh_handle(0))-unsafe.Sizeof(table.Handle(0))]
	_ = [1]struct{}{}[unsafe.Sizeof(C.fh_config{})-unsafe.Sizeof(table.Config{})]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_config{}.capacity)-unsafe.Offsetof(table.Config{}.Capacity)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_config{}.strategy)-unsafe.Offsetof(table.Config{}.Strategy)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_config{}.max_resource_bytes)-unsafe.Offsetof(table.Config{}.MaxResourceBytes)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_config{}.max_total_bytes)-unsafe.Offsetof(table.Config{}.MaxTotalBytes)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_config{}.flags)-unsafe.Offsetof(table.Config{}.Flags)]
	_ = [1]struct{}{}[unsafe.Sizeof(C.fh_stats{})-unsafe.Sizeof(table.Stats{})]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_stats{}.live_resources)-unsafe.Offsetof(table.Stats{}.LiveResources)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_stats{}.live_bytes)-unsafe.Offsetof(table.Stats{}.LiveBytes)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_stats{}.created)-unsafe.Offsetof(table.Stats{}.Created)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_stats{}.reclaimed)-unsafe.Offsetof(table.Stats{}.Reclaimed)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_stats{}.pending_resources)-unsafe.Offsetof(table.Stats{}.PendingResources)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_stats{}.pending_bytes)-unsafe.Offsetof(table.Stats{}.PendingBytes)]
	_ = [1]struct{}{}[unsafe.Sizeof(C.fh_resource_info{})-unsafe.Sizeof(table.ResourceInfo{})]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_resource_info{}.size)-unsafe.Offsetof(table.ResourceInfo{}.Size)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_resource_info{}.refs)-unsafe.Offsetof(table.ResourceInfo{}.Refs)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.fh_resource_info{}.read_only)-unsafe.Offsetof(table.ResourceInfo{}.ReadOnly)]
)

// lib is the process-wide state; resource memory comes from the C heap.
var lib = table.NewLibrary(cHeap{})

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

// setLastError makes msg the calling thread's last error message, cut to
// what the C buffer holds. (In the mutants build, MutantSharedLastError
// keeps it process-wide instead: see exports_mutants.go.)
func setLastError(msg string) {
	if setSharedLastError(msg) {
		return
	}
	storeLastError(msg)
}

// storeLastError writes msg into the calling thread's message buffer.
func storeLastError(msg string) {
	buf := unsafe.Slice((*byte)(unsafe.Pointer(C.shim_error_buffer())), C.SHIM_ERROR_CAP)
	n := copy(buf[:C.SHIM_ERROR_CAP-1], msg)
	C.shim_error_set_length(C.size_t(n))
}

// result returns the status for err, recording the message of a failure as
// "fn: why" for the calling thread.
func result(fn string, err error) C.fh_status {
	if err != nil {
		setLastError(fn + ": " + err.Error())
	}
	return C.fh_status(table.StatusOf(err))
}

// recoverPanic, deferred first by every export, turns a panic into FH_PANIC
// so no panic ever unwinds into C.
func recoverPanic(fn string, status *C.fh_status) {
	if v := recover(); v != nil {
		setLastError(fmt.Sprintf("%s: panic: %v", fn, v))
		*status = C.FH_PANIC
	}
}

//export fh_abi_version
func fh_abi_version(major *C.uint32_t, minor *C.uint32_t) (status C.fh_status) {
	defer recoverPanic("fh_abi_version", &status)
	return result("fh_abi_version", table.ABIVersion((*uint32)(major), (*uint32)(minor)))
}

//export fh_init
func fh_init(config *C.fh_config) (status C.fh_status) {
	defer recoverPanic("fh_init", &status)
	return result("fh_init", lib.Init((*table.Config)(unsafe.Pointer(config))))
}

//export fh_shutdown
func fh_shutdown(report *C.fh_stats) (status C.fh_status) {
	defer recoverPanic("fh_shutdown", &status)
	return result("fh_shutdown", lib.Shutdown((*table.Stats)(unsafe.Pointer(report))))
}

//export fh_create
func fh_create(size C.uint64_t, out *C.fh_handle) (status C.fh_status) {
	defer recoverPanic("fh_create", &status)
	return result("fh_create", lib.Create(uint64(size), (*table.Handle)(unsafe.Pointer(out))))
}

//export fh_acquire
func fh_acquire(handle C.fh_handle) (status C.fh_status) {
	defer recoverPanic("fh_acquire", &status)
	return result("fh_acquire", lib.Acquire(table.Handle(handle)))
}

//export fh_release
func fh_release(handle C.fh_handle) (status C.fh_status) {
	defer recoverPanic("fh_release", &status)
	return result("fh_release", lib.Release(table.Handle(handle)))
}

//export fh_write
func fh_write(handle C.fh_handle, offset C.uint64_t, data *C.uint8_t, len C.size_t) (status C.fh_status) {
	defer recoverPanic("fh_write", &status)
	return result("fh_write", lib.Write(table.Handle(handle), uint64(offset), cBuffer{data, len}))
}

//export fh_read
func fh_read(handle C.fh_handle, offset C.uint64_t, buf *C.uint8_t, len C.size_t) (status C.fh_status) {
	defer recoverPanic("fh_read", &status)
	return result("fh_read", lib.Read(table.Handle(handle), uint64(offset), cBuffer{buf, len}))
}

//export fh_snapshot
func fh_snapshot(handle C.fh_handle, out *C.fh_handle) (status C.fh_status) {
	defer recoverPanic("fh_snapshot", &status)
	return result("fh_snapshot", lib.Snapshot(table.Handle(handle), (*table.Handle)(unsafe.Pointer(out))))
}

//export fh_info
func fh_info(handle C.fh_handle, out *C.fh_resource_info) (status C.fh_status) {
	defer recoverPanic("fh_info", &status)
	return result("fh_info", lib.Info(table.Handle(handle), (*table.ResourceInfo)(unsafe.Pointer(out))))
}

//export fh_get_stats
func fh_get_stats(out *C.fh_stats) (status C.fh_status) {
	defer recoverPanic("fh_get_stats", &status)
	return result("fh_get_stats", lib.Stats((*table.Stats)(unsafe.Pointer(out))))
}

//export fh_quiesce
func fh_quiesce() (status C.fh_status) {
	defer recoverPanic("fh_quiesce", &status)
	return result("fh_quiesce", lib.Quiesce())
}

//export fh_last_error
func fh_last_error(buf *C.char, cap C.size_t, out_len *C.size_t) (status C.fh_status) {
	defer recoverPanic("fh_last_error", &status)
	switch {
	case out_len == nil:
		setLastError("fh_last_error: out_len is NULL")
		return C.FH_NULL_ARGUMENT
	case buf == nil && cap != 0:
		setLastError(fmt.Sprintf("fh_last_error: buf is NULL but cap is %d", cap))
		return C.FH_NULL_ARGUMENT
	}
	if msg, ok := sharedLastError(); ok {
		storeLastError(msg)
	}
	*out_len = C.shim_error_copy(buf, cap)
	return C.FH_OK
}
