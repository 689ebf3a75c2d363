/*
 * Per-thread last error message of the Go shim (see lasterror.h). Each
 * thread's message lives in its own fixed buffer, so nothing is allocated
 * and nothing leaks when a thread exits.
 */
#include <string.h>

#include "lasterror.h"

static __thread char message[SHIM_ERROR_CAP];
static __thread size_t message_len;

char *shim_error_buffer(void) { return message; }

void shim_error_set_length(size_t len) { message_len = len; }

size_t shim_error_copy(char *buf, size_t cap) {
    if (cap > 0) {
        size_t n = message_len < cap - 1 ? message_len : cap - 1;
        memcpy(buf, message, n);
        buf[n] = '\0';
    }
    return message_len;
}
