/* Per-thread last error message of the Go kit (see lasterror.h). */
#include <string.h>

#include "lasterror.h"

static __thread char message[FHKIT_ERROR_CAP];
static __thread size_t message_len;

char *fhkit_error_buffer(void) { return message; }

void fhkit_error_set_length(size_t len) { message_len = len; }

size_t fhkit_error_length(void) { return message_len; }

size_t fhkit_error_copy(char *buf, size_t cap) {
    if (cap > 0) {
        size_t n = message_len < cap - 1 ? message_len : cap - 1;
        memcpy(buf, message, n);
        buf[n] = '\0';
    }
    return message_len;
}
