/*
 * Per-thread last error message of a library built on the Go kit, kept in C
 * thread-local storage: a cgo export runs on the calling C thread for the
 * whole call, so "the calling thread" of the contract is the C thread, not a
 * goroutine. Each thread's message lives in its own fixed buffer, so nothing
 * is allocated and nothing leaks when a thread exits. Hidden: these are not
 * part of the library's exported ABI.
 */
#ifndef FHKIT_LASTERROR_H
#define FHKIT_LASTERROR_H

#include <stddef.h>

/* Bytes of message kept per thread, the terminating NUL included. Longer
 * messages are cut. */
enum { FHKIT_ERROR_CAP = 1024 };

/* The calling thread's message buffer, FHKIT_ERROR_CAP bytes. */
__attribute__((visibility("hidden"))) char *fhkit_error_buffer(void);

/* Makes the first len bytes of the buffer (len < FHKIT_ERROR_CAP) the
 * calling thread's message. */
__attribute__((visibility("hidden"))) void fhkit_error_set_length(size_t len);

/* The length of the calling thread's message. */
__attribute__((visibility("hidden"))) size_t fhkit_error_length(void);

/* Copies the calling thread's message into buf as fh_last_error specifies
 * (NUL-terminated, cut to cap - 1 bytes, nothing written when cap is 0) and
 * returns its full length. */
__attribute__((visibility("hidden"))) size_t fhkit_error_copy(char *buf, size_t cap);

#endif
