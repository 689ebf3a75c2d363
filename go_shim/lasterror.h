/*
 * Per-thread last error message of the Go shim, kept in C thread-local
 * storage: a cgo export runs on the calling C thread for the whole call, so
 * "the calling thread" of the contract is the C thread, not a goroutine.
 * Hidden: these are not part of the library's exported ABI.
 */
#ifndef FH_GO_SHIM_LASTERROR_H
#define FH_GO_SHIM_LASTERROR_H

#include <stddef.h>

/* Bytes of message kept per thread, the terminating NUL included. Longer
 * messages are cut; a shim message is far shorter. */
enum { SHIM_ERROR_CAP = 1024 };

/* The calling thread's message buffer, SHIM_ERROR_CAP bytes. */
__attribute__((visibility("hidden"))) char *shim_error_buffer(void);

/* Makes the first len bytes of the buffer (len < SHIM_ERROR_CAP) the calling
 * thread's message. */
__attribute__((visibility("hidden"))) void shim_error_set_length(size_t len);

/* Copies the calling thread's message into buf as fh_last_error specifies
 * (NUL-terminated, cut to cap - 1 bytes, nothing written when cap is 0) and
 * returns its full length. */
__attribute__((visibility("hidden"))) size_t shim_error_copy(char *buf, size_t cap);

#endif
