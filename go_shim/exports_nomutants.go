//go:build !mutants

package main

// Release build: the last-error message is always per thread. These no-ops
// compile away; exports_mutants.go has the mutants build's versions.

func shareLastError()                 {}
func sharedLastError() (string, bool) { return "", false }
