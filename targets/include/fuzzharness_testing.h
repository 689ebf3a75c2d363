/*
 * Test-only extension of the fuzzharness contract: mutant injection.
 *
 * Only the `mutants` build variant of a shim (Rust cargo feature `mutants`,
 * Go build tag `mutants`) exports these functions; release builds contain none
 * of the mutant code. See fuzzharness_testing_decls.h.
 */
#ifndef FUZZHARNESS_TESTING_H
#define FUZZHARNESS_TESTING_H

#include "fuzzharness.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "fuzzharness_testing_decls.h"

#ifdef __cplusplus
}
#endif

#endif /* FUZZHARNESS_TESTING_H */
