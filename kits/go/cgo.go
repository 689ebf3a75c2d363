package fhadapter

// The kit's only hand-written cgo and unsafe code (contract_check_gen.go,
// generated, only compares constants and layouts): the calling thread's last
// error message in C thread-local storage (lasterror.c), the C clock, and
// caller-owned buffers as Go slices.

/*
#include <stdint.h>
#include <time.h>
#include "lasterror.h"

// CLOCK_MONOTONIC in nanoseconds: the clock of fh_clock_ns and of the
// reclamation events, the one the harness and every runtime read.
static inline uint64_t fhkit_clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
*/
import "C"

import (
	"math"
	"strconv"
	"unsafe"
)

// LastErrorCap is the number of bytes of message kept per thread, the
// terminating NUL included; a longer message is cut (the contract's messages
// are far shorter).
const LastErrorCap = 1024

var (
	_ = [1]struct{}{}[C.FHKIT_ERROR_CAP-LastErrorCap]
	// fh_last_error's cap and *out_len (size_t) travel as uintptr.
	_ = [1]struct{}{}[unsafe.Sizeof(C.size_t(0))-unsafe.Sizeof(uintptr(0))]
)

// SetLastError makes msg the calling thread's last error message, cut to
// LastErrorCap-1 bytes. "The calling thread" is the C thread of the export
// being served: the goroutine of a cgo callback stays on it for the whole
// call. (Plain Go code, such as a test, must lock its goroutine to its
// thread with runtime.LockOSThread to see its own message again.)
func SetLastError(msg string) {
	buf := unsafe.Slice((*byte)(unsafe.Pointer(C.fhkit_error_buffer())), LastErrorCap)
	n := copy(buf[:LastErrorCap-1], msg)
	C.fhkit_error_set_length(C.size_t(n))
}

// LastErrorMessage returns the calling thread's last error message.
func LastErrorMessage() string {
	return C.GoStringN(C.fhkit_error_buffer(), C.int(C.fhkit_error_length()))
}

// copyLastError copies the calling thread's message into the n bytes at buf
// as fh_last_error does and returns the message's full length.
func copyLastError(buf *byte, n uintptr) uintptr {
	return uintptr(C.fhkit_error_copy((*C.char)(unsafe.Pointer(buf)), C.size_t(n)))
}

// ClockNs reads CLOCK_MONOTONIC in nanoseconds (fh_clock_ns).
func ClockNs() uint64 { return uint64(C.fhkit_clock_ns()) }

// Buffer is a caller-owned byte buffer as the C API passes it (fh_write's
// data, fh_read's buf): a pointer that may be NULL, and a length. The kit
// has already refused a NULL pointer with a non-zero length. Call Bytes only
// once every check of the call has passed (the handle, read-only, and the
// range, see CheckRange): a length that could never be a slice then never
// becomes one.
type Buffer struct {
	p *byte
	n uint64
}

// BufferAt is the buffer of n bytes at p, C memory of the caller (cabi's
// exports pass theirs so).
func BufferAt(p unsafe.Pointer, n uint64) Buffer { return Buffer{p: (*byte)(p), n: n} }

// BufferOf is the buffer over b (for tests and Go callers).
func BufferOf(b []byte) Buffer { return Buffer{p: unsafe.SliceData(b), n: uint64(len(b))} }

// Null reports whether the pointer is NULL.
func (b Buffer) Null() bool { return b.p == nil }

// Len is the length in bytes.
func (b Buffer) Len() uint64 { return b.n }

// Bytes returns the buffer as a slice of Len bytes (nil when Null). A length
// above math.MaxInt cannot be a slice: it panics, and the boundary returns
// FH_PANIC (no resource is that large, so after CheckRange it never does).
func (b Buffer) Bytes() []byte {
	if b.p == nil {
		return nil
	}
	if b.n > math.MaxInt {
		panic("a buffer of " + strconv.FormatUint(b.n, 10) + " bytes cannot be a Go slice")
	}
	return unsafe.Slice(b.p, int(b.n))
}
