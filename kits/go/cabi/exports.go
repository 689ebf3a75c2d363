// Package cabi exports the functions of the fuzzharness contract, ABI 1.0,
// from a Go c-shared library, and serves them with the adapter registered by
// Serve. An adapter's package main is then only:
//
//	import "fuzzharness/kits/go/cabi"
//
//	func init() { cabi.Serve(newAdapter()) }
//
//	func main() {}
//
// built with `go build -buildmode=c-shared`. (cgo exports of an imported
// package are exported by a c-shared library like those of package main.)
// Each export converts its C arguments and calls the fhadapter.Library of
// the adapter, which applies the contract's rules and the panic boundary.
// The preamble includes the header, so the C compiler rejects an export
// whose prototype differs from the contract's.
//
// A library must contain this package at most once and no other fh_ export:
// the Go shim of this repository has exports of its own and does not import
// it.
package cabi

/*
#cgo CFLAGS: -I${SRCDIR}/../../../targets/include
#include "fuzzharness.h"
*/
import "C"

import (
	"sync/atomic"
	"unsafe"

	fhadapter "fuzzharness/kits/go"
)

// served is the Library of the registered adapter; unserved answers before
// (or without) Serve: every session call finds no session, and fh_init
// says that no adapter is registered.
var (
	served   atomic.Pointer[fhadapter.Library]
	unserved = fhadapter.NewLibrary(nil)
)

// Serve registers the adapter this library's exports serve. Call it once,
// from an init function of package main; a second call panics (a library
// serves one adapter).
func Serve(c fhadapter.Contract) {
	if c == nil {
		panic("cabi.Serve: the adapter is nil")
	}
	if !served.CompareAndSwap(nil, fhadapter.NewLibrary(c)) {
		panic("cabi.Serve called twice: a library serves one adapter")
	}
}

func lib() *fhadapter.Library {
	if l := served.Load(); l != nil {
		return l
	}
	return unserved
}

func status(s fhadapter.Status) C.fh_status { return C.fh_status(s) }

//export fh_abi_version
func fh_abi_version(major *C.uint32_t, minor *C.uint32_t) C.fh_status {
	return status(lib().ABIVersion((*uint32)(major), (*uint32)(minor)))
}

//export fh_init
func fh_init(config *C.fh_config) C.fh_status {
	return status(lib().Init((*fhadapter.Config)(unsafe.Pointer(config))))
}

//export fh_shutdown
func fh_shutdown(report *C.fh_stats) C.fh_status {
	return status(lib().Shutdown((*fhadapter.Stats)(unsafe.Pointer(report))))
}

//export fh_create
func fh_create(size C.uint64_t, out *C.fh_handle) C.fh_status {
	return status(lib().Create(uint64(size), (*fhadapter.Handle)(unsafe.Pointer(out))))
}

//export fh_acquire
func fh_acquire(handle C.fh_handle) C.fh_status {
	return status(lib().Acquire(fhadapter.Handle(handle)))
}

//export fh_release
func fh_release(handle C.fh_handle) C.fh_status {
	return status(lib().Release(fhadapter.Handle(handle)))
}

//export fh_write
func fh_write(handle C.fh_handle, offset C.uint64_t, data *C.uint8_t, len C.size_t) C.fh_status {
	return status(lib().Write(fhadapter.Handle(handle), uint64(offset), fhadapter.BufferAt(unsafe.Pointer(data), uint64(len))))
}

//export fh_read
func fh_read(handle C.fh_handle, offset C.uint64_t, buf *C.uint8_t, len C.size_t) C.fh_status {
	return status(lib().Read(fhadapter.Handle(handle), uint64(offset), fhadapter.BufferAt(unsafe.Pointer(buf), uint64(len))))
}

//export fh_snapshot
func fh_snapshot(handle C.fh_handle, out *C.fh_handle) C.fh_status {
	return status(lib().Snapshot(fhadapter.Handle(handle), (*fhadapter.Handle)(unsafe.Pointer(out))))
}

//export fh_info
func fh_info(handle C.fh_handle, out *C.fh_resource_info) C.fh_status {
	return status(lib().Info(fhadapter.Handle(handle), (*fhadapter.ResourceInfo)(unsafe.Pointer(out))))
}

//export fh_get_stats
func fh_get_stats(out *C.fh_stats) C.fh_status {
	return status(lib().GetStats((*fhadapter.Stats)(unsafe.Pointer(out))))
}

//export fh_quiesce
func fh_quiesce() C.fh_status {
	return status(lib().Quiesce())
}

//export fh_last_error
func fh_last_error(buf *C.char, cap C.size_t, out_len *C.size_t) C.fh_status {
	return status(lib().LastError((*byte)(unsafe.Pointer(buf)), uintptr(cap), (*uintptr)(unsafe.Pointer(out_len))))
}
