//! The C ABI called directly through the rlib: check order at the boundary
//! (no session, NULL pointers), last-error messages, outputs left untouched
//! by failed calls, and a whole session lifecycle.
//!
//! The session is process-wide, so every test holds [`exclusive`].

use std::ffi::c_char;
use std::ptr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;

use fuzzharness_adapter::contract::*;
use fuzzharness_adapter::ledger::MAX_CAPACITY;
use fuzzharness_rust::ffi::*;

static GLOBAL: Mutex<()> = Mutex::new(());

/// Serializes the tests and closes any session a previous test left open.
fn exclusive() -> MutexGuard<'static, ()> {
    let guard = GLOBAL.lock().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: NULL unregisters the collector.
    assert_eq!(unsafe { backend().set_collector.unwrap()(None) }, FH_OK);
    let mut report = fh_stats::default();
    // SAFETY: valid pointer; FH_NOT_INITIALIZED when nothing is open.
    let status = unsafe { fh_shutdown(&mut report) };
    assert!(status == FH_OK || status == FH_NOT_INITIALIZED);
    guard
}

fn config(capacity: u32, strategy: u32) -> fh_config {
    fh_config {
        capacity,
        strategy,
        max_resource_bytes: 1 << 16,
        max_total_bytes: 1 << 20,
        flags: 0,
    }
}

fn init(capacity: u32, strategy: u32) {
    let mut config = config(capacity, strategy);
    assert_eq!(unsafe { fh_init(&mut config) }, FH_OK);
}

fn create(size: u64) -> u64 {
    let mut handle = 0;
    assert_eq!(unsafe { fh_create(size, &mut handle) }, FH_OK);
    handle
}

fn stats() -> fh_stats {
    let mut stats = fh_stats::default();
    assert_eq!(unsafe { fh_get_stats(&mut stats) }, FH_OK);
    stats
}

/// The calling thread's last error, through fh_last_error.
fn last_error() -> String {
    let mut len = 0usize;
    assert_eq!(
        unsafe { fh_last_error(ptr::null_mut(), 0, &mut len) },
        FH_OK
    );
    let mut buf = vec![0x55u8; len + 1];
    let mut len2 = 0usize;
    assert_eq!(
        unsafe { fh_last_error(buf.as_mut_ptr().cast::<c_char>(), buf.len(), &mut len2) },
        FH_OK
    );
    assert_eq!((len2, buf[len]), (len, 0));
    buf.truncate(len);
    String::from_utf8(buf).unwrap()
}

#[test]
fn abi_version_needs_both_pointers() {
    let _guard = exclusive();
    let (mut major, mut minor) = (77, 77);
    assert_eq!(unsafe { fh_abi_version(&mut major, &mut minor) }, FH_OK);
    assert_eq!((major, minor), (FH_ABI_MAJOR, FH_ABI_MINOR));
    assert_eq!((major, minor), (1, 1));
    let mut minor = 77;
    assert_eq!(
        unsafe { fh_abi_version(ptr::null_mut(), &mut minor) },
        FH_NULL_ARGUMENT
    );
    assert_eq!(minor, 77);
    assert_eq!(last_error(), "fh_abi_version: major is NULL");
}

#[test]
fn not_initialized_is_checked_before_null_arguments() {
    let _guard = exclusive();
    let null = ptr::null_mut();
    unsafe {
        assert_eq!(fh_create(1, ptr::null_mut()), FH_NOT_INITIALIZED);
        assert_eq!(
            last_error(),
            "fh_create: no session is open (before fh_init or after fh_shutdown)"
        );
        assert_eq!(fh_acquire(0x1_0000_0000), FH_NOT_INITIALIZED);
        assert_eq!(fh_release(0), FH_NOT_INITIALIZED);
        assert_eq!(fh_write(1, 0, null, 5), FH_NOT_INITIALIZED);
        assert_eq!(fh_read(1, 0, null, 5), FH_NOT_INITIALIZED);
        assert_eq!(fh_snapshot(1, ptr::null_mut()), FH_NOT_INITIALIZED);
        assert_eq!(fh_info(1, ptr::null_mut()), FH_NOT_INITIALIZED);
        assert_eq!(fh_get_stats(ptr::null_mut()), FH_NOT_INITIALIZED);
        assert_eq!(fh_quiesce(), FH_NOT_INITIALIZED);
        assert_eq!(fh_shutdown(ptr::null_mut()), FH_NOT_INITIALIZED);
        assert!(last_error().starts_with("fh_shutdown: "));
        let mut out = 0xDEAD;
        assert_eq!(fh_create(1, &mut out), FH_NOT_INITIALIZED);
        assert_eq!(out, 0xDEAD);
    }
}

#[test]
fn init_checks_in_order_and_once() {
    let _guard = exclusive();
    unsafe {
        assert_eq!(fh_init(ptr::null_mut()), FH_NULL_ARGUMENT);
        assert_eq!(last_error(), "fh_init: config is NULL");
        assert_eq!(
            fh_init(&mut config(0, FH_RECLAIM_GO_CLEANUP)),
            FH_INVALID_ARGUMENT
        );
        assert_eq!(
            fh_init(&mut config(MAX_CAPACITY + 1, 0)),
            FH_INVALID_ARGUMENT
        );
        assert_eq!(
            fh_init(&mut fh_config {
                flags: 2,
                ..config(1, 0)
            }),
            FH_INVALID_ARGUMENT
        );
        assert_eq!(
            fh_init(&mut fh_config {
                flags: u64::from(FH_FLAG_RECLAIM_EVENTS) | 4,
                ..config(1, 99)
            }),
            FH_INVALID_ARGUMENT
        );
        assert_eq!(
            last_error(),
            "fh_init: flags 0x5 has bits outside fh_config_flag (known: 0x1)"
        );
        assert_eq!(fh_init(&mut config(1, 4)), FH_UNSUPPORTED);
        assert_eq!(last_error(), "fh_init: unknown reclamation strategy 4");
        assert_eq!(fh_init(&mut config(1, 99)), FH_UNSUPPORTED);
        assert_eq!(fh_init(&mut config(1, FH_RECLAIM_EPOCH)), FH_OK);
        assert_eq!(fh_init(&mut config(0, 99)), FH_ALREADY_INITIALIZED);
        assert_eq!(fh_init(ptr::null_mut()), FH_NULL_ARGUMENT);
    }
}

#[test]
fn null_arguments_come_after_the_session_and_before_handles() {
    let _guard = exclusive();
    init(2, FH_RECLAIM_IMMEDIATE);
    let bogus = 0xFFFF_FFFF_FFFF_FFFF;
    unsafe {
        assert_eq!(fh_create(u64::MAX, ptr::null_mut()), FH_NULL_ARGUMENT);
        assert_eq!(last_error(), "fh_create: out is NULL");
        assert_eq!(
            fh_write(bogus, u64::MAX, ptr::null_mut(), 3),
            FH_NULL_ARGUMENT
        );
        assert_eq!(last_error(), "fh_write: data is NULL");
        assert_eq!(fh_read(bogus, 0, ptr::null_mut(), 3), FH_NULL_ARGUMENT);
        assert_eq!(fh_snapshot(bogus, ptr::null_mut()), FH_NULL_ARGUMENT);
        assert_eq!(fh_info(bogus, ptr::null_mut()), FH_NULL_ARGUMENT);
        assert_eq!(fh_get_stats(ptr::null_mut()), FH_NULL_ARGUMENT);
        // NULL with length 0 is allowed.
        let h = create(4);
        assert_eq!(fh_write(h, 4, ptr::null_mut(), 0), FH_OK);
        assert_eq!(fh_read(h, 0, ptr::null_mut(), 0), FH_OK);
        assert_eq!(fh_read(h, 5, ptr::null_mut(), 0), FH_BOUNDS);
        assert_eq!(fh_write(bogus, 0, ptr::null_mut(), 0), FH_INVALID_HANDLE);
        // shutdown without a report keeps the session open
        assert_eq!(fh_shutdown(ptr::null_mut()), FH_NULL_ARGUMENT);
        assert_eq!(last_error(), "fh_shutdown: report is NULL");
        assert_eq!(stats().live_resources, 1);
    }
}

#[test]
fn failed_calls_leave_outputs_untouched() {
    let _guard = exclusive();
    let mut config = fh_config {
        max_total_bytes: 8,
        ..config(2, FH_RECLAIM_IMMEDIATE)
    };
    assert_eq!(unsafe { fh_init(&mut config) }, FH_OK);
    let h = create(8);
    unsafe {
        let mut out = 0xDEAD;
        assert_eq!(fh_create(1, &mut out), FH_EXHAUSTED);
        assert_eq!(fh_snapshot(h, &mut out), FH_EXHAUSTED);
        assert_eq!(fh_snapshot(h + (1 << 32), &mut out), FH_INVALID_HANDLE);
        assert_eq!(out, 0xDEAD);
        let mut info = fh_resource_info {
            size: 1,
            refs: 2,
            read_only: 3,
        };
        assert_eq!(fh_info(0, &mut info), FH_INVALID_HANDLE);
        assert_eq!(
            info,
            fh_resource_info {
                size: 1,
                refs: 2,
                read_only: 3
            }
        );
        let mut buf = [0xAAu8; 8];
        assert_eq!(fh_read(h, 1, buf.as_mut_ptr(), 8), FH_BOUNDS);
        assert_eq!(buf, [0xAA; 8]);
        let mut data = [1u8; 9];
        assert_eq!(fh_write(h, 0, data.as_mut_ptr(), 9), FH_BOUNDS);
        assert_eq!(fh_read(h, 0, buf.as_mut_ptr(), 8), FH_OK);
        assert_eq!(buf, [0; 8]);
        let mut message = [0x55 as c_char; 4];
        assert_eq!(
            fh_last_error(message.as_mut_ptr(), 4, ptr::null_mut()),
            FH_NULL_ARGUMENT
        );
        assert_eq!(message, [0x55; 4]);
        assert_eq!(last_error(), "fh_last_error: out_len is NULL");
        let mut len = 99;
        assert_eq!(
            fh_last_error(ptr::null_mut(), 1, &mut len),
            FH_NULL_ARGUMENT
        );
        assert_eq!(len, 99);
    }
}

#[test]
fn impossible_lengths_are_reported_not_dereferenced() {
    let _guard = exclusive();
    init(2, FH_RECLAIM_IMMEDIATE);
    let h = create(4);
    let mut small = [0u8; 4];
    unsafe {
        assert_eq!(fh_read(h, 1, small.as_mut_ptr(), usize::MAX), FH_OVERFLOW);
        assert_eq!(fh_read(h, 0, small.as_mut_ptr(), usize::MAX), FH_BOUNDS);
        assert_eq!(fh_write(h, 0, small.as_mut_ptr(), usize::MAX), FH_BOUNDS);
        assert_eq!(fh_write(h, u64::MAX, small.as_mut_ptr(), 1), FH_OVERFLOW);
    }
}

#[test]
fn last_error_names_the_function_and_handle_per_thread() {
    let _guard = exclusive();
    init(4, FH_RECLAIM_IMMEDIATE);
    let h = create(4);
    assert_eq!(fh_release(h), FH_OK);
    let replacement = create(4);
    let mut buf = [0u8; 4];
    assert_eq!(
        unsafe { fh_read(h, 0, buf.as_mut_ptr(), 4) },
        FH_STALE_HANDLE
    );
    let message = "fh_read: handle 0x100000000 is stale (slot 0 is at generation 2)";
    assert_eq!(last_error(), message);
    // OK calls do not clear it.
    assert_eq!(
        unsafe { fh_read(replacement, 0, buf.as_mut_ptr(), 4) },
        FH_OK
    );
    assert_eq!(last_error(), message);
    // Truncation like snprintf.
    let mut small = [0x55 as c_char; 8];
    let mut len = 0;
    assert_eq!(
        unsafe { fh_last_error(small.as_mut_ptr(), small.len(), &mut len) },
        FH_OK
    );
    assert_eq!(len, message.len());
    let expected: Vec<c_char> = b"fh_read\0".iter().map(|&b| b as c_char).collect();
    assert_eq!(small.to_vec(), expected);
    let mut one = [0x55 as c_char; 1];
    assert_eq!(
        unsafe { fh_last_error(one.as_mut_ptr(), 1, &mut len) },
        FH_OK
    );
    assert_eq!(one, [0]);
    // Another thread has its own (empty) message.
    thread::spawn(|| assert_eq!(last_error(), ""))
        .join()
        .unwrap();
    thread::spawn(|| {
        assert_eq!(fh_acquire(0), FH_INVALID_HANDLE);
        assert_eq!(
            last_error(),
            "fh_acquire: handle 0x0 is invalid (generation 0 is never issued)"
        );
    })
    .join()
    .unwrap();
    assert_eq!(last_error(), message);
}

#[test]
fn a_session_lifecycle_through_the_exports() {
    let _guard = exclusive();
    for strategy in [FH_RECLAIM_IMMEDIATE, FH_RECLAIM_EPOCH] {
        init(8, strategy);
        let h = create(16);
        let mut data = *b"0123456789abcdef";
        unsafe {
            assert_eq!(fh_write(h, 0, data.as_mut_ptr(), 16), FH_OK);
            let mut snap = 0;
            assert_eq!(fh_snapshot(h, &mut snap), FH_OK);
            assert_eq!(snap, 0x1_0000_0001);
            assert_eq!(fh_write(snap, 0, data.as_mut_ptr(), 1), FH_READ_ONLY);
            assert_eq!(fh_acquire(h), FH_OK);
            let mut info = fh_resource_info::default();
            assert_eq!(fh_info(h, &mut info), FH_OK);
            assert_eq!(
                info,
                fh_resource_info {
                    size: 16,
                    refs: 2,
                    read_only: 0
                }
            );
            assert_eq!(fh_info(snap, &mut info), FH_OK);
            assert_eq!(
                info,
                fh_resource_info {
                    size: 16,
                    refs: 1,
                    read_only: 1
                }
            );
            assert_eq!(fh_release(h), FH_OK);
            assert_eq!(fh_release(h), FH_OK);
            assert_eq!(fh_release(h), FH_STALE_HANDLE);
            let mut buf = [0u8; 16];
            assert_eq!(fh_read(snap, 0, buf.as_mut_ptr(), 16), FH_OK);
            assert_eq!(&buf, b"0123456789abcdef");
            assert_eq!(fh_quiesce(), FH_OK);
            let stats = stats();
            assert_eq!(
                (
                    stats.live_resources,
                    stats.live_bytes,
                    stats.created,
                    stats.reclaimed,
                    stats.pending_resources
                ),
                (1, 16, 2, 1, 0)
            );
            let mut report = fh_stats::default();
            assert_eq!(fh_shutdown(&mut report), FH_OK);
            assert_eq!(report, stats);
            assert_eq!(fh_info(snap, &mut info), FH_NOT_INITIALIZED);
        }
    }
}

// ----------------------------------------------------------------- ABI 1.1

/// This library's backend table, through fh_backend_table.
fn backend() -> fh_backend {
    let mut table = fh_backend::default();
    assert_eq!(unsafe { fh_backend_table(&mut table) }, FH_OK);
    table
}

/// The foreign runtime's calls, through the backend table's pointers.
struct Foreign(fh_backend);

impl Foreign {
    fn create(&self, size: u64) -> Result<u64, i32> {
        let mut handle = 0;
        match unsafe { self.0.foreign_create.unwrap()(size, &mut handle) } {
            FH_OK => Ok(handle),
            status => Err(status),
        }
    }

    fn snapshot(&self, handle: u64) -> Result<u64, i32> {
        let mut out = 0;
        match unsafe { self.0.foreign_snapshot.unwrap()(handle, &mut out) } {
            FH_OK => Ok(out),
            status => Err(status),
        }
    }

    fn acquire(&self, handle: u64) -> i32 {
        unsafe { self.0.foreign_acquire.unwrap()(handle) }
    }

    fn release(&self, handle: u64, ack: u32) -> i32 {
        unsafe { self.0.foreign_release.unwrap()(handle, ack) }
    }

    fn ack(&self, handle: u64) -> i32 {
        unsafe { self.0.foreign_ack.unwrap()(handle) }
    }

    fn info(&self, handle: u64) -> Result<fh_resource_info, i32> {
        let mut info = fh_resource_info::default();
        match unsafe { self.0.info.unwrap()(handle, &mut info) } {
            FH_OK => Ok(info),
            status => Err(status),
        }
    }

    fn stats(&self) -> fh_stats {
        let mut stats = fh_stats::default();
        assert_eq!(unsafe { self.0.get_stats.unwrap()(&mut stats) }, FH_OK);
        stats
    }

    fn write(&self, handle: u64, data: &[u8]) -> i32 {
        let mut data = data.to_vec();
        unsafe { self.0.write.unwrap()(handle, 0, data.as_mut_ptr(), data.len()) }
    }

    fn read(&self, handle: u64, len: usize) -> Result<Vec<u8>, i32> {
        let mut buf = vec![0u8; len];
        match unsafe { self.0.read.unwrap()(handle, 0, buf.as_mut_ptr(), len) } {
            FH_OK => Ok(buf),
            status => Err(status),
        }
    }

    /// The owner's last error, through the table.
    fn last_error(&self) -> String {
        let mut buf = [0u8; 256];
        let mut len = 0;
        assert_eq!(
            unsafe { self.0.last_error.unwrap()(buf.as_mut_ptr().cast(), buf.len(), &mut len) },
            FH_OK
        );
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }
}

fn init_with_flags(strategy: u32, flags: u64) {
    let mut config = fh_config {
        flags,
        ..config(16, strategy)
    };
    assert_eq!(unsafe { backend().init.unwrap()(&mut config) }, FH_OK);
}

fn pending(stats: &fh_stats) -> (u64, u64) {
    assert_eq!(
        stats.created,
        stats.live_resources + stats.pending_resources + stats.reclaimed,
        "{stats:?}"
    );
    (stats.pending_resources, stats.pending_bytes)
}

#[test]
fn backend_table_is_the_owners() {
    let _guard = exclusive();
    assert_eq!(
        unsafe { fh_backend_table(ptr::null_mut()) },
        FH_NULL_ARGUMENT
    );
    assert_eq!(last_error(), "fh_backend_table: out is NULL");
    let table = backend();
    assert_eq!(
        (table.abi_major, table.abi_minor),
        (FH_ABI_MAJOR, FH_ABI_MINOR)
    );
    // The owner's own exports, by address.
    let same = |entry: Option<usize>, export: usize| assert_eq!(entry, Some(export));
    same(
        table.init.map(|f| f as *const () as usize),
        fh_init as *const () as usize,
    );
    same(
        table.shutdown.map(|f| f as *const () as usize),
        fh_shutdown as *const () as usize,
    );
    same(
        table.write.map(|f| f as *const () as usize),
        fh_write as *const () as usize,
    );
    same(
        table.read.map(|f| f as *const () as usize),
        fh_read as *const () as usize,
    );
    same(
        table.info.map(|f| f as *const () as usize),
        fh_info as *const () as usize,
    );
    same(
        table.get_stats.map(|f| f as *const () as usize),
        fh_get_stats as *const () as usize,
    );
    same(
        table.quiesce.map(|f| f as *const () as usize),
        fh_quiesce as *const () as usize,
    );
    same(
        table.last_error.map(|f| f as *const () as usize),
        fh_last_error as *const () as usize,
    );
    // The foreign entries are functions of their own.
    for entry in [
        table.foreign_create.map(|f| f as *const () as usize),
        table.foreign_snapshot.map(|f| f as *const () as usize),
        table.foreign_acquire.map(|f| f as *const () as usize),
        table.foreign_release.map(|f| f as *const () as usize),
        table.foreign_ack.map(|f| f as *const () as usize),
        table.set_collector.map(|f| f as *const () as usize),
    ] {
        let entry = entry.expect("every entry is set");
        assert!(
            entry != fh_create as *const () as usize && entry != fh_acquire as *const () as usize
        );
        assert!(
            entry != fh_release as *const () as usize && entry != fh_snapshot as *const () as usize
        );
    }
    // Never a foreign front.
    let mut copy = table;
    assert_eq!(
        unsafe { fh_attach_backend(ptr::null_mut()) },
        FH_NULL_ARGUMENT
    );
    assert_eq!(unsafe { fh_attach_backend(&mut copy) }, FH_UNSUPPORTED);
    assert!(
        last_error().starts_with(
            "fh_attach_backend: this library (the Rust shim) is a cross-runtime owner"
        ),
        "{}",
        last_error()
    );
}

#[test]
fn per_runtime_references_through_the_table() {
    let _guard = exclusive();
    let foreign = Foreign(backend());
    for strategy in [FH_RECLAIM_GUARDED, FH_RECLAIM_GO_CLEANUP] {
        init_with_flags(strategy, 0);
        assert_eq!(foreign.create(1 << 17), Err(FH_EXHAUSTED));
        assert_eq!(
            foreign.last_error(),
            "fh_create: size 131072 exceeds max_resource_bytes 65536"
        );
        let h = foreign.create(8).unwrap();
        assert_eq!(h, 0x1_0000_0000, "the lowest free slot, whoever creates");
        assert_eq!(foreign.acquire(h), FH_OK);
        assert_eq!(fh_acquire(h), FH_OK);
        assert_eq!(foreign.info(h).unwrap().refs, 3);
        // The owner drops its only reference; a second release is NOT_HELD.
        assert_eq!(fh_release(h), FH_OK);
        assert_eq!(fh_release(h), FH_NOT_HELD);
        assert_eq!(
            last_error(),
            "fh_release: handle 0x100000000: the owner runtime holds no reference of its own (the other runtime holds 2)"
        );
        assert_eq!(foreign.info(h).unwrap().refs, 2, "no effect");
        assert_eq!(foreign.write(h, b"abcdefgh"), FH_OK);
        let snap = foreign.snapshot(h).unwrap();
        assert_eq!(fh_release(snap), FH_NOT_HELD);
        assert_eq!(foreign.release(h, 1), FH_OK);
        assert_eq!(foreign.release(h, 1), FH_OK);
        // Dead: stale for both runtimes.
        assert_eq!(foreign.release(h, 1), FH_STALE_HANDLE);
        assert!(foreign
            .last_error()
            .starts_with("fh_release: handle 0x100000000 is stale"));
        assert_eq!(fh_release(h), FH_STALE_HANDLE);
        assert_eq!(foreign.acquire(h), FH_STALE_HANDLE);
        assert_eq!(foreign.read(snap, 8).unwrap(), b"abcdefgh");
        assert_eq!(foreign.release(snap, 1), FH_OK);
        let stats = foreign.stats();
        assert_eq!(pending(&stats), (0, 0), "acknowledged in the release");
        assert_eq!((stats.created, stats.reclaimed), (2, 2));
        assert_eq!(foreign.ack(h), FH_INVALID_HANDLE);
        assert_eq!(
            foreign.last_error(),
            "foreign_ack: handle 0x100000000 has no outstanding acknowledgement"
        );
        let mut report = fh_stats::default();
        assert_eq!(unsafe { foreign.0.shutdown.unwrap()(&mut report) }, FH_OK);
    }
    // Without a session.
    assert_eq!(foreign.create(1), Err(FH_NOT_INITIALIZED));
    assert_eq!(foreign.release(1, 0), FH_NOT_INITIALIZED);
    assert_eq!(foreign.ack(1), FH_NOT_INITIALIZED);
    assert_eq!(
        unsafe { foreign.0.foreign_create.unwrap()(1, ptr::null_mut()) },
        FH_NOT_INITIALIZED
    );
}

#[test]
fn guarded_release_waits_for_the_acknowledgement() {
    let _guard = exclusive();
    let foreign = Foreign(backend());
    init_with_flags(FH_RECLAIM_GO_CLEANUP, 0);
    let h = foreign.create(32).unwrap();
    assert_eq!(fh_acquire(h), FH_OK);
    // 1 -> 0 without acknowledgement, back up, 1 -> 0 again: two owed.
    assert_eq!(foreign.release(h, 0), FH_OK);
    assert_eq!(foreign.acquire(h), FH_OK);
    assert_eq!(foreign.release(h, 0), FH_OK);
    assert_eq!(foreign.release(h, 0), FH_NOT_HELD);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(foreign.info(h), Err(FH_STALE_HANDLE));
    assert_eq!(pending(&stats()), (1, 32), "dead, its memory kept");
    assert_eq!(foreign.ack(h), FH_OK);
    assert_eq!(pending(&stats()), (1, 32), "one acknowledgement still owed");
    assert_eq!(foreign.ack(h), FH_OK);
    assert_eq!(pending(&stats()), (0, 0));
    assert_eq!(foreign.ack(h), FH_INVALID_HANDLE);
    // Shutdown frees what still waits, and reports it pending.
    let h = foreign.create(4).unwrap();
    assert_eq!(foreign.release(h, 0), FH_OK);
    let mut report = fh_stats::default();
    assert_eq!(unsafe { fh_shutdown(&mut report) }, FH_OK);
    assert_eq!(pending(&report), (1, 4));
}

/// Handles the test collector acknowledges, one per call, from a thread of
/// its own (as Go runs cleanups on a goroutine).
static TO_ACK: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static COLLECTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn test_collector() {
    COLLECTIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let next = TO_ACK.lock().unwrap().pop();
    if let Some(h) = next {
        let table = backend();
        thread::spawn(move || {
            // Calls back into the library while fh_quiesce waits: a lock held
            // by fh_quiesce would deadlock here.
            let mut stats = fh_stats::default();
            assert_eq!(unsafe { table.get_stats.unwrap()(&mut stats) }, FH_OK);
            assert_eq!(unsafe { table.foreign_ack.unwrap()(h) }, FH_OK);
        })
        .join()
        .unwrap();
    }
}

#[test]
fn quiesce_runs_the_collector_until_nothing_is_owed() {
    let _guard = exclusive();
    let foreign = Foreign(backend());
    init_with_flags(FH_RECLAIM_GO_CLEANUP, 0);
    let registered = unsafe { foreign.0.set_collector.unwrap()(Some(test_collector)) };
    assert_eq!(registered, FH_OK);
    COLLECTIONS.store(0, std::sync::atomic::Ordering::SeqCst);
    // Nothing owed: the collector is not called.
    assert_eq!(unsafe { foreign.0.quiesce.unwrap()() }, FH_OK);
    assert_eq!(COLLECTIONS.load(std::sync::atomic::Ordering::SeqCst), 0);
    let handles: Vec<u64> = (0..3)
        .map(|_| {
            let h = foreign.create(8).unwrap();
            assert_eq!(foreign.release(h, 0), FH_OK);
            h
        })
        .collect();
    *TO_ACK.lock().unwrap() = handles;
    assert_eq!(pending(&stats()), (3, 24));
    assert_eq!(fh_quiesce(), FH_OK);
    assert_eq!(pending(&stats()), (0, 0));
    assert_eq!(COLLECTIONS.load(std::sync::atomic::Ordering::SeqCst), 3);
}

fn drain(cap: usize) -> (Vec<fh_reclaim_event>, u64) {
    let mut buf = vec![fh_reclaim_event::default(); cap];
    let (mut n, mut dropped) = (usize::MAX, u64::MAX);
    assert_eq!(
        unsafe { fh_drain_reclaim_events(buf.as_mut_ptr(), cap, &mut n, &mut dropped) },
        FH_OK
    );
    buf.truncate(n);
    (buf, dropped)
}

fn clock() -> u64 {
    let mut now = 0;
    assert_eq!(unsafe { fh_clock_ns(&mut now) }, FH_OK);
    now
}

#[test]
fn clock_ns_is_c_clock_monotonic() {
    let _guard = exclusive();
    assert_eq!(unsafe { fh_clock_ns(ptr::null_mut()) }, FH_NULL_ARGUMENT);
    assert_eq!(last_error(), "fh_clock_ns: out is NULL");
    let c = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        assert_eq!(
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) },
            0
        );
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    };
    let before = c();
    let ours = clock();
    let after = c();
    assert!(before <= ours && ours <= after, "{before} {ours} {after}");
    thread::sleep(std::time::Duration::from_millis(20));
    assert!(clock() - ours >= 20_000_000);
}

#[test]
fn reclaim_events_through_the_exports() {
    let _guard = exclusive();
    unsafe {
        let (mut n, mut dropped) = (7usize, 7u64);
        assert_eq!(
            fh_drain_reclaim_events(ptr::null_mut(), 0, &mut n, &mut dropped),
            FH_NOT_INITIALIZED
        );
        init_with_flags(FH_RECLAIM_IMMEDIATE, u64::from(FH_FLAG_RECLAIM_EVENTS));
        let mut buf = [fh_reclaim_event::default(); 1];
        assert_eq!(
            fh_drain_reclaim_events(buf.as_mut_ptr(), 1, ptr::null_mut(), &mut dropped),
            FH_NULL_ARGUMENT
        );
        assert_eq!(last_error(), "fh_drain_reclaim_events: out_n is NULL");
        assert_eq!(
            fh_drain_reclaim_events(buf.as_mut_ptr(), 1, &mut n, ptr::null_mut()),
            FH_NULL_ARGUMENT
        );
        assert_eq!(
            fh_drain_reclaim_events(ptr::null_mut(), 1, &mut n, &mut dropped),
            FH_NULL_ARGUMENT
        );
        assert_eq!(last_error(), "fh_drain_reclaim_events: buf is NULL");
        assert_eq!((n, dropped), (7, 7), "untouched");
        assert_eq!(
            fh_drain_reclaim_events(ptr::null_mut(), 0, &mut n, &mut dropped),
            FH_OK
        );
        assert_eq!((n, dropped), (0, 0));
    }
    let start = clock();
    let handles: Vec<u64> = (1..=5).map(create).collect();
    for &h in &handles {
        assert_eq!(fh_release(h), FH_OK);
    }
    let (first, dropped) = drain(2);
    let (rest, _) = drain(10);
    assert_eq!(dropped, 0);
    let events: Vec<_> = first.into_iter().chain(rest).collect();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.handle, e.bytes))
            .collect::<Vec<_>>(),
        handles
            .iter()
            .zip(1..=5)
            .map(|(&h, b)| (h, b))
            .collect::<Vec<_>>(),
        "oldest first"
    );
    let end = clock();
    for e in &events {
        assert!(start <= e.released_ns && e.released_ns <= e.freed_ns && e.freed_ns <= end);
        assert_eq!((e.strategy, e.reserved), (FH_RECLAIM_IMMEDIATE, 0));
    }
    assert_eq!(stats().reclaimed, 5, "one event per free");
    // A full ring drops the newest events and counts them, without blocking.
    let ring = 65_536;
    for _ in 0..ring + 10 {
        assert_eq!(fh_release(create(0)), FH_OK);
    }
    let (events, dropped) = drain(ring + 100);
    assert_eq!((events.len(), dropped), (ring, 10));
    assert_eq!(drain(1), (vec![], 0), "the count restarts");
    // Nothing recorded without the flag.
    let mut report = fh_stats::default();
    assert_eq!(unsafe { fh_shutdown(&mut report) }, FH_OK);
    init(4, FH_RECLAIM_IMMEDIATE);
    assert_eq!(fh_release(create(3)), FH_OK);
    assert_eq!(drain(4), (vec![], 0));
}
