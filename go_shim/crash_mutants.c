//go:build mutants

/*
 * FH_MUTANT_SEGFAULT and FH_MUTANT_MAGIC_CRASH of the mutants build: a write through a null pointer, in C
 * so that it is a real SIGSEGV outside Go code (Go turns a nil dereference in
 * Go code into a recoverable panic).
 */

__attribute__((visibility("hidden"))) void shim_write_through_null(void) {
    volatile unsigned char *volatile p = 0;
    *p = 0xFD;
}
