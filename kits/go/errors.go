package fhadapter

// Failures: what a failed call returns and what its message says.

import (
	"errors"
	"fmt"
)

// Error is a failed call: the status it returns and a message saying why.
// The message names the handle involved (Handle's String: hex) but not the
// function: the boundary prefixes "fh_xxx: " itself.
type Error struct {
	Status Status
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Fail returns an *Error with status s and a formatted message.
func Fail(s Status, format string, args ...any) error {
	return &Error{Status: s, Msg: fmt.Sprintf(format, args...)}
}

// StatusOf returns the status a call returns for err: OK for nil, the status
// of an *Error (also wrapped, errors.As), and Panic for any other error. An
// adapter maps every failure of the library it wraps to a status (Fail); an
// error that reaches the boundary unmapped is a bug of the adapter, and a
// bug is reported as one.
func StatusOf(err error) Status {
	if err == nil {
		return OK
	}
	if e, ok := asError(err); ok {
		return e.Status
	}
	return Panic
}

// asError finds the *Error in err: err itself (no allocation), or one it
// wraps.
func asError(err error) (*Error, bool) {
	if e, ok := err.(*Error); ok {
		return e, true
	}
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// String formats the handle as messages name it: 0x and 16 hex digits.
func (h Handle) String() string { return fmt.Sprintf("0x%016x", uint64(h)) }
