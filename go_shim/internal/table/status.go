package table

// Statuses and errors: what a failed call returns and says. They are the Go
// adapter kit's (kits/go, generated from the contract header), so the shim
// and every adapter built on the kit speak the same numbers and messages.

import fhadapter "fuzzharness/kits/go"

// Status is a contract status code (fh_status).
type Status = fhadapter.Status

// The statuses of the contract, ABI 1.1.
const (
	OK                 = fhadapter.OK
	InvalidHandle      = fhadapter.InvalidHandle
	StaleHandle        = fhadapter.StaleHandle
	Bounds             = fhadapter.Bounds
	ReadOnly           = fhadapter.ReadOnly
	Exhausted          = fhadapter.Exhausted
	NullArgument       = fhadapter.NullArgument
	NotInitialized     = fhadapter.NotInitialized
	Overflow           = fhadapter.Overflow
	Panic              = fhadapter.Panic
	AlreadyInitialized = fhadapter.AlreadyInitialized
	Unsupported        = fhadapter.Unsupported
	InvalidArgument    = fhadapter.InvalidArgument
	TimedOut           = fhadapter.TimedOut
	NotHeld            = fhadapter.NotHeld // 1.1: cross-runtime targets only
)

// Error is a failed call: the status the call returns and a message saying
// why. The message names the handle involved, in hex, but not the function:
// the shim's boundary prefixes "fh_xxx: " itself.
type Error = fhadapter.Error

// Fail returns an *Error with a formatted message (for package front, whose
// statuses and messages are those of this package).
func Fail(s Status, format string, args ...any) error { return fhadapter.Fail(s, format, args...) }

// fail returns an *Error with a formatted message.
func fail(s Status, format string, args ...any) error { return fhadapter.Fail(s, format, args...) }

// StatusOf returns the status a call returns for err: OK for nil, the status
// of an *Error, and Panic for any other error, which this package never
// returns (an unexpected error is a bug, and a bug is reported as one).
func StatusOf(err error) Status { return fhadapter.StatusOf(err) }
