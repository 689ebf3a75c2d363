package fhadapter

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// fake is a Contract that records its calls and fails as told.
type fake struct {
	Counters
	calls    []string
	fail     error // returned by every method while set
	panicky  bool  // every method panics while set
	handle   Handle
	info     ResourceInfo
	lastData []byte
}

func (f *fake) call(name string) error {
	f.calls = append(f.calls, name)
	if f.panicky {
		panic("planted in " + name)
	}
	return f.fail
}

func (f *fake) Init(cfg Config) error {
	if err := f.call("Init"); err != nil {
		return err
	}
	f.Open(cfg)
	return nil
}
func (f *fake) Shutdown() error { return f.call("Shutdown") }
func (f *fake) Create(uint64) (Handle, error) {
	if err := f.call("Create"); err != nil {
		return 0, err
	}
	_ = f.Admit(3)
	return f.handle, nil
}
func (f *fake) Acquire(Handle) error { return f.call("Acquire") }
func (f *fake) Release(Handle) error { return f.call("Release") }
func (f *fake) Write(_ Handle, _ uint64, data Buffer) error {
	if err := f.call("Write"); err != nil {
		return err
	}
	f.lastData = append([]byte(nil), data.Bytes()...)
	return nil
}
func (f *fake) Read(_ Handle, _ uint64, buf Buffer) error {
	if err := f.call("Read"); err != nil {
		return err
	}
	copy(buf.Bytes(), "abc")
	return nil
}
func (f *fake) Snapshot(Handle) (Handle, error)   { return f.handle + 1, f.call("Snapshot") }
func (f *fake) Info(Handle) (ResourceInfo, error) { return f.info, f.call("Info") }
func (f *fake) Quiesce() error                    { return f.call("Quiesce") }

var goodConfig = Config{Capacity: 4, MaxResourceBytes: 1 << 10, MaxTotalBytes: 1 << 20}

func expect(t *testing.T, what string, got, want Status, msg string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %v, want %v (message %q)", what, got, want, LastErrorMessage())
	}
	if msg != "" && LastErrorMessage() != msg {
		t.Fatalf("%s: message %q, want %q", what, LastErrorMessage(), msg)
	}
}

func TestABIVersionIs1_0(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l := NewLibrary(&fake{})
	major, minor := uint32(9), uint32(9)
	expect(t, "major NULL", l.ABIVersion(nil, &minor), NullArgument, "fh_abi_version: major is NULL")
	expect(t, "minor NULL", l.ABIVersion(&major, nil), NullArgument, "fh_abi_version: minor is NULL")
	if major != 9 || minor != 9 {
		t.Fatal("a failed call wrote an output")
	}
	expect(t, "version", l.ABIVersion(&major, &minor), OK, "")
	if major != 1 || minor != 0 {
		t.Fatalf("version %d.%d, want 1.0", major, minor)
	}
}

// Without a session every session call is FH_NOT_INITIALIZED, before the
// NULL checks, and the adapter is never called.
func TestNoSession(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := &fake{}
	l := NewLibrary(f)
	for what, st := range map[string]Status{
		"fh_shutdown":  l.Shutdown(nil),
		"fh_create":    l.Create(1, nil),
		"fh_acquire":   l.Acquire(1),
		"fh_release":   l.Release(1),
		"fh_write":     l.Write(1, 0, Buffer{n: 5}),
		"fh_read":      l.Read(1, 0, Buffer{n: 5}),
		"fh_snapshot":  l.Snapshot(1, nil),
		"fh_info":      l.Info(1, nil),
		"fh_get_stats": l.GetStats(nil),
		"fh_quiesce":   l.Quiesce(),
	} {
		if st != NotInitialized {
			t.Errorf("%s: %v, want FH_NOT_INITIALIZED", what, st)
		}
	}
	if len(f.calls) != 0 {
		t.Fatalf("the adapter was called without a session: %v", f.calls)
	}
	l.Quiesce()
	if msg := LastErrorMessage(); msg != "fh_quiesce: no session is open (call fh_init first)" {
		t.Fatalf("message %q", msg)
	}
}

func TestInitChecksInOrder(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := &fake{}
	l := NewLibrary(f)
	expect(t, "NULL", l.Init(nil), NullArgument, "fh_init: config is NULL")
	for _, tc := range []struct {
		cfg Config
		msg string
	}{
		{Config{Capacity: 0}, "fh_init: capacity 0 is out of range 1..1048576"},
		{Config{Capacity: MaxCapacity + 1}, "fh_init: capacity 1048577 is out of range 1..1048576"},
		{Config{Capacity: 1, Flags: FlagReclaimEvents}, "fh_init: flags 0x1: this library implements contract 1.0, which has no flags"},
	} {
		expect(t, tc.msg, l.Init(&tc.cfg), InvalidArgument, tc.msg)
	}
	f.fail = Fail(Unsupported, "strategy 1 is not implemented")
	cfg := goodConfig
	expect(t, "adapter refuses", l.Init(&cfg), Unsupported, "fh_init: strategy 1 is not implemented")
	expect(t, "still closed", l.Quiesce(), NotInitialized, "")
	f.fail = nil
	expect(t, "opens", l.Init(&cfg), OK, "")
	bad := Config{}
	expect(t, "twice", l.Init(&bad), AlreadyInitialized, "fh_init: a session is already open (call fh_shutdown first)")
	if strings.Join(f.calls, ",") != "Init,Init" {
		t.Fatalf("calls %v", f.calls)
	}
}

func TestNoAdapterServed(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cfg := goodConfig
	expect(t, "nil adapter", NewLibrary(nil).Init(&cfg), Unsupported,
		"fh_init: no adapter is served: register one (cabi.Serve) in an init function of package main")
}

func TestCallsInsideASession(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := &fake{handle: 0xfeed, info: ResourceInfo{Size: 3, Refs: 2}}
	l := NewLibrary(f)
	cfg := goodConfig
	expect(t, "init", l.Init(&cfg), OK, "")

	out := Handle(7)
	expect(t, "create NULL", l.Create(1, nil), NullArgument, "fh_create: out is NULL")
	f.fail = Fail(Exhausted, "size 1 is too much")
	expect(t, "create fails", l.Create(1, &out), Exhausted, "fh_create: size 1 is too much")
	if out != 7 {
		t.Fatal("a failed create wrote its output")
	}
	f.fail = nil
	expect(t, "create", l.Create(1, &out), OK, "")
	if out != 0xfeed {
		t.Fatalf("out %v", out)
	}

	expect(t, "write NULL", l.Write(out, 0, Buffer{n: 3}), NullArgument, "fh_write: data is NULL but len is 3")
	expect(t, "write NULL, len 0", l.Write(out, 0, Buffer{}), OK, "")
	expect(t, "write", l.Write(out, 0, BufferOf([]byte("xyz"))), OK, "")
	if string(f.lastData) != "xyz" {
		t.Fatalf("wrote %q", f.lastData)
	}
	buf := make([]byte, 3)
	expect(t, "read NULL", l.Read(out, 0, Buffer{n: 3}), NullArgument, "fh_read: buf is NULL but len is 3")
	expect(t, "read", l.Read(out, 0, BufferOf(buf)), OK, "")
	if string(buf) != "abc" {
		t.Fatalf("read %q", buf)
	}

	snap := Handle(7)
	expect(t, "snapshot NULL", l.Snapshot(out, nil), NullArgument, "fh_snapshot: out is NULL")
	f.fail = Fail(StaleHandle, "handle %v is stale", out)
	expect(t, "snapshot fails", l.Snapshot(out, &snap), StaleHandle, "fh_snapshot: handle 0x000000000000feed is stale")
	if snap != 7 {
		t.Fatal("a failed snapshot wrote its output")
	}
	info := ResourceInfo{Size: 99}
	expect(t, "info fails", l.Info(out, &info), StaleHandle, "")
	if info.Size != 99 {
		t.Fatal("a failed info wrote its output")
	}
	f.fail = nil
	expect(t, "snapshot", l.Snapshot(out, &snap), OK, "")
	expect(t, "info NULL", l.Info(out, nil), NullArgument, "fh_info: out is NULL")
	expect(t, "info", l.Info(out, &info), OK, "")
	if snap != 0xfeee || info != f.info {
		t.Fatalf("snapshot %v, info %+v", snap, info)
	}

	f.panicky = true
	expect(t, "panic", l.Acquire(out), Panic, "fh_acquire: panic: planted in Acquire")
	f.panicky = false

	var stats Stats
	expect(t, "stats NULL", l.GetStats(nil), NullArgument, "fh_get_stats: out is NULL")
	expect(t, "stats", l.GetStats(&stats), OK, "")
	if stats.Created != 1 || stats.LiveBytes != 3 {
		t.Fatalf("stats %+v", stats)
	}

	expect(t, "shutdown NULL", l.Shutdown(nil), NullArgument, "fh_shutdown: report is NULL (the session stays open)")
	f.fail = Fail(Panic, "cannot close")
	report := Stats{Created: 42}
	expect(t, "shutdown fails", l.Shutdown(&report), Panic, "fh_shutdown: cannot close")
	if report.Created != 42 {
		t.Fatal("a failed shutdown wrote its report")
	}
	f.fail = nil
	expect(t, "still open", l.Quiesce(), OK, "")
	expect(t, "shutdown", l.Shutdown(&report), OK, "")
	if report != stats {
		t.Fatalf("report %+v, want the stats of before %+v", report, stats)
	}
	expect(t, "closed", l.Release(out), NotInitialized, "")
}

func TestCheckRange(t *testing.T) {
	h := Handle(0x2_0000_0001)
	for _, tc := range []struct {
		offset, n, size uint64
		want            Status
		msg             string
	}{
		{0, 10, 10, OK, ""},
		{10, 0, 10, OK, ""},
		{5, 6, 10, Bounds, "handle 0x0000000200000001: offset 5 + len 6 exceeds the size of 10 bytes"},
		{1 << 63, 1 << 63, 10, Overflow, "handle 0x0000000200000001: offset 9223372036854775808 + len 9223372036854775808 overflows 64 bits"},
		{^uint64(0), 0, 10, Bounds, ""},
	} {
		err := CheckRange(h, tc.offset, tc.n, tc.size)
		if StatusOf(err) != tc.want || (tc.msg != "" && err.Error() != tc.msg) {
			t.Errorf("CheckRange(%d, %d, %d) = %v, want %v %q", tc.offset, tc.n, tc.size, err, tc.want, tc.msg)
		}
	}
}

func TestBufferBytes(t *testing.T) {
	if b := (Buffer{}); !b.Null() || b.Bytes() != nil || b.Len() != 0 {
		t.Error("the zero Buffer is NULL and empty")
	}
	if b := BufferOf([]byte("hey")); b.Null() || string(b.Bytes()) != "hey" || b.Len() != 3 {
		t.Error("BufferOf")
	}
	x := byte(1)
	if st := Boundary("fh_b", func() error { _ = (Buffer{p: &x, n: 1 << 63}).Bytes(); return nil }); st != Panic {
		t.Errorf("a length beyond MaxInt is a panic at the boundary, got %v", st)
	}
}

// A failure on a handle names it: the kit adds "handle 0x...: " where the
// adapter's message does not.
func TestMessagesNameTheHandle(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := &fake{}
	l := NewLibrary(f)
	cfg := goodConfig
	expect(t, "init", l.Init(&cfg), OK, "")
	f.fail = Fail(Exhausted, "no free slot")
	var out Handle
	expect(t, "added", l.Snapshot(5, &out), Exhausted, "fh_snapshot: handle 0x0000000000000005: no free slot")
	f.fail = Fail(StaleHandle, "0X5 died")
	expect(t, "named already", l.Release(5), StaleHandle, "fh_release: 0X5 died")
	f.fail = errors.New("raw")
	expect(t, "not an *Error", l.Acquire(5), Panic, "fh_acquire: unexpected error (not an *fhadapter.Error, so FH_PANIC): raw")
	for msg, want := range map[string]bool{
		"handle 0x0000000000000005 is stale": true,
		"at 0x5.":                            true,
		"0x50":                               false,
		"0x":                                 false,
		"0x00000000000000005":                false, // 17 digits: no 64-bit value
		"offset 5":                           false,
	} {
		if got := namesHandle(msg, 5); got != want {
			t.Errorf("namesHandle(%q, 5) = %v, want %v", msg, got, want)
		}
	}
}
