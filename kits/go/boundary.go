package fhadapter

// The panic boundary of an export.

import "fmt"

// Boundary runs body as the export named fn and returns the status of the
// call: OK when body returns nil, StatusOf(err) when it fails, and Panic
// when it panics. No panic ever unwinds into C. A failure's message is
// recorded for the calling thread (SetLastError) as "fn: why"; a panic's as
// "fn: panic: value"; an error that is no *Error (an adapter bug, see
// StatusOf) as "fn: unexpected error ...". body is not kept, so a closure
// passed here stays on the stack.
func Boundary(fn string, body func() error) (st Status) {
	defer func() {
		if v := recover(); v != nil {
			SetLastError(fmt.Sprintf("%s: panic: %v", fn, v))
			st = Panic
		}
	}()
	err := body()
	if err == nil {
		return OK
	}
	e, ok := asError(err)
	if !ok {
		SetLastError(fmt.Sprintf("%s: unexpected error (not an *fhadapter.Error, so FH_PANIC): %v", fn, err))
		return Panic
	}
	SetLastError(fn + ": " + err.Error())
	return e.Status
}
