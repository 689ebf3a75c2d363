package table

// Statuses and errors: what a failed call returns and says.

import (
	"errors"
	"fmt"
)

// Status is a contract status code (fh_status). The numbers are those of
// enum fh_status_code in fuzzharness_decls.h; the shim checks at compile time
// that they match.
type Status int32

// The statuses of the contract, ABI 1.1.
const (
	OK                 Status = 0
	InvalidHandle      Status = 1
	StaleHandle        Status = 2
	Bounds             Status = 3
	ReadOnly           Status = 4
	Exhausted          Status = 5
	NullArgument       Status = 6
	NotInitialized     Status = 7
	Overflow           Status = 8
	Panic              Status = 9
	AlreadyInitialized Status = 10
	Unsupported        Status = 11
	InvalidArgument    Status = 12
	TimedOut           Status = 13
	NotHeld            Status = 14 // 1.1: cross-runtime targets only
)

// Error is a failed call: the status the call returns and a message saying
// why. The message names the handle involved, in hex, but not the function:
// the shim prefixes "fh_xxx: " itself.
type Error struct {
	Status Status
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Fail returns an *Error with a formatted message (for package front, whose
// statuses and messages are those of this package).
func Fail(s Status, format string, args ...any) error { return fail(s, format, args...) }

// fail returns an *Error with a formatted message.
func fail(s Status, format string, args ...any) error {
	return &Error{Status: s, Msg: fmt.Sprintf(format, args...)}
}

// StatusOf returns the status a call returns for err: OK for nil, the status
// of an *Error, and Panic for any other error, which this package never
// returns (an unexpected error is a bug, and a bug is reported as one).
func StatusOf(err error) Status {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return Panic
}
