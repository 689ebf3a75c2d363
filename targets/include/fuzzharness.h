/*
 * fuzzharness ownership contract, ABI 1.1 -- the C header.
 *
 * This file is the canonical contract between the harness and every target
 * (the Go c-shared shim, the Rust cdylib shim, and any future implementation).
 * It only adds what cffi cannot read (include guard, system includes) around
 * fuzzharness_decls.h, which holds every declaration and its documentation.
 * Python's cdef, the Go cgo preamble and the Rust declarations are all checked
 * against fuzzharness_decls.h (see fuzzharness/abi_check.py); never edit an
 * implementation's signatures without editing that file first.
 */
#ifndef FUZZHARNESS_H
#define FUZZHARNESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "fuzzharness_decls.h"

#ifdef __cplusplus
}
#endif

#endif /* FUZZHARNESS_H */
