//! The C ABI called directly through the rlib: check order at the boundary
//! (no session, NULL pointers), last-error messages, outputs left untouched
//! by failed calls, and a whole session lifecycle.
//!
//! The session is process-wide, so every test holds [`exclusive`].

use std::ffi::c_char;
use std::ptr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;

use fuzzharness_rust::contract::*;
use fuzzharness_rust::ffi::*;

static GLOBAL: Mutex<()> = Mutex::new(());

/// Serializes the tests and closes any session a previous test left open.
fn exclusive() -> MutexGuard<'static, ()> {
    let guard = GLOBAL.lock().unwrap_or_else(PoisonError::into_inner);
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
            fh_init(&mut config(1, FH_RECLAIM_GO_CLEANUP)),
            FH_UNSUPPORTED
        );
        assert!(last_error().starts_with("fh_init: strategy 2"));
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
