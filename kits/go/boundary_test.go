package fhadapter

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// lastError reads the calling thread's message through fh_last_error's
// path, with a buffer of capN bytes; the test's goroutine must be locked to
// its thread.
func lastError(t *testing.T, capN int) (string, uintptr) {
	t.Helper()
	buf := make([]byte, capN+1)
	buf[capN] = 0xAA // a guard byte past the buffer
	var n uintptr
	var p *byte
	if capN > 0 {
		p = &buf[0]
	}
	if err := CopyLastError(p, uintptr(capN), &n); err != nil {
		t.Fatal(err)
	}
	if buf[capN] != 0xAA {
		t.Fatalf("CopyLastError wrote past cap %d", capN)
	}
	if capN == 0 {
		return "", n
	}
	end := 0
	for end < capN && buf[end] != 0 {
		end++
	}
	if end == capN {
		t.Fatalf("no NUL within cap %d: %q", capN, buf[:capN])
	}
	return string(buf[:end]), n
}

func TestBoundaryStatusesAndMessages(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	SetLastError("before")
	if st := Boundary("fh_x", func() error { return nil }); st != OK {
		t.Fatalf("nil error: %v", st)
	}
	if msg, _ := lastError(t, 64); msg != "before" {
		t.Fatalf("an OK call changed the message: %q", msg)
	}

	for _, tc := range []struct {
		err    error
		status Status
		msg    string
	}{
		{Fail(StaleHandle, "handle %v is stale", Handle(0x1_0000_0002)), StaleHandle, "fh_x: handle 0x0000000100000002 is stale"},
		{fmt.Errorf("wrapped: %w", Fail(Bounds, "too far")), Bounds, "fh_x: wrapped: too far"},
		{errors.New("boom"), Panic, "fh_x: unexpected error (not an *fhadapter.Error, so FH_PANIC): boom"},
	} {
		if st := Boundary("fh_x", func() error { return tc.err }); st != tc.status {
			t.Errorf("%v: status %v, want %v", tc.err, st, tc.status)
		}
		if msg, _ := lastError(t, 256); msg != tc.msg {
			t.Errorf("message %q, want %q", msg, tc.msg)
		}
	}
}

func TestBoundaryRecoversPanics(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, tc := range []struct {
		body func() error
		msg  string
	}{
		{func() error { panic("planted") }, "fh_y: panic: planted"},
		{func() error { var m map[int]int; m[1] = 1; return nil }, "fh_y: panic: assignment to entry in nil map"},
		{func() error { panic(nil) }, "fh_y: panic: panic called with nil argument"},
	} {
		if st := Boundary("fh_y", tc.body); st != Panic {
			t.Errorf("status %v, want FH_PANIC", st)
		}
		if msg, _ := lastError(t, 256); !strings.HasPrefix(msg, tc.msg) {
			t.Errorf("message %q, want prefix %q", msg, tc.msg)
		}
	}
}

func TestCopyLastErrorCutsAndCounts(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	SetLastError("fh_write: handle 0x0000000000000001 is stale")
	full := uintptr(len("fh_write: handle 0x0000000000000001 is stale"))
	if msg, n := lastError(t, 9); msg != "fh_write" || n != full {
		t.Errorf("cap 9: %q, %d", msg, n)
	}
	if msg, n := lastError(t, 0); msg != "" || n != full {
		t.Errorf("cap 0: %q, %d", msg, n)
	}
	if msg, n := lastError(t, 100); n != full || msg != LastErrorMessage() {
		t.Errorf("cap 100: %q, %d", msg, n)
	}

	long := strings.Repeat("x", 3*LastErrorCap)
	SetLastError(long)
	if msg, n := lastError(t, 4*LastErrorCap); n != LastErrorCap-1 || msg != long[:LastErrorCap-1] {
		t.Errorf("a long message is cut to %d bytes: got %d", LastErrorCap-1, n)
	}
}

func TestCopyLastErrorNullChecks(t *testing.T) {
	var n uintptr = 7
	var b [4]byte
	if err := CopyLastError(&b[0], 4, nil); StatusOf(err) != NullArgument || err.Error() != "out_len is NULL" {
		t.Errorf("out_len NULL: %v", err)
	}
	if err := CopyLastError(nil, 4, &n); StatusOf(err) != NullArgument || err.Error() != "buf is NULL but cap is 4" {
		t.Errorf("buf NULL: %v", err)
	}
	if n != 7 {
		t.Errorf("a failed call wrote *out_len: %d", n)
	}
	if err := CopyLastError(nil, 0, &n); err != nil {
		t.Errorf("buf NULL with cap 0 is fine: %v", err)
	}
}

// Each thread has its own message: another thread's error never shows up.
func TestLastErrorIsPerThread(t *testing.T) {
	const threads = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan string, threads)
	for i := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			<-start
			for j := range 2000 {
				want := fmt.Sprintf("fh_t: thread %d call %d", i, j)
				Boundary("fh_t", func() error { return Fail(InvalidHandle, "thread %d call %d", i, j) })
				if got := LastErrorMessage(); got != want {
					errs <- fmt.Sprintf("thread %d read %q, want %q", i, got, want)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestHandleAndStatusNames(t *testing.T) {
	if got := Handle(0xAB).String(); got != "0x00000000000000ab" {
		t.Errorf("Handle.String: %q", got)
	}
	if got := fmt.Sprint(StaleHandle, Status(77), ReclaimGoCleanup); got != "FH_STALE_HANDLE fh_status_code 77 FH_RECLAIM_GO_CLEANUP" {
		t.Errorf("names: %q", got)
	}
	if StatusOf(nil) != OK {
		t.Error("StatusOf(nil) is OK")
	}
}
