//! The C exports (the process's one adapter, so these tests take turns):
//! statuses, the `"fh_xxx: "` messages of `fh_last_error`, and the panic
//! boundary.

use std::ffi::CStr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use fuzzharness_adapter::contract::*;
use fuzzharness_slotmap::*;

static TURN: Mutex<()> = Mutex::new(());

/// An open session of the exports for one test, closed when dropped.
struct Session(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Session {
    fn open() -> Self {
        let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        let mut config = fh_config {
            capacity: 16,
            strategy: 0,
            max_resource_bytes: 64,
            max_total_bytes: 1024,
            flags: 0,
        };
        assert_eq!(unsafe { fh_init(&mut config) }, FH_OK);
        Session(turn)
    }

    fn create(&self, size: u64) -> u64 {
        let mut handle = 0;
        assert_eq!(unsafe { fh_create(size, &mut handle) }, FH_OK);
        handle
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut report = fh_stats::default();
        assert_eq!(unsafe { fh_shutdown(&mut report) }, FH_OK);
    }
}

fn last_error() -> String {
    let mut buf = [0 as std::ffi::c_char; 256];
    let mut len = 0;
    assert_eq!(
        unsafe { fh_last_error(buf.as_mut_ptr(), buf.len(), &mut len) },
        FH_OK
    );
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(text.len(), len);
    text
}

#[test]
fn the_abi_version_is_1_0() {
    let (mut major, mut minor) = (9, 9);
    assert_eq!(unsafe { fh_abi_version(&mut major, &mut minor) }, FH_OK);
    assert_eq!((major, minor), (1, 0));
    assert_eq!(
        unsafe { fh_abi_version(std::ptr::null_mut(), &mut minor) },
        FH_NULL_ARGUMENT
    );
}

#[cfg(not(feature = "weak-stale-panic"))]
#[test]
fn a_failure_names_the_function_and_the_handle_in_hex() {
    let session = Session::open();
    let handle = session.create(4);
    assert_eq!(fh_release(handle), FH_OK);
    assert_eq!(fh_acquire(handle), FH_STALE_HANDLE);
    let message = last_error();
    assert!(message.starts_with("fh_acquire: "), "{message}");
    assert!(message.contains(&format!("{handle:#x}")), "{message}");
    assert_eq!(fh_quiesce(), FH_OK);
    assert_eq!(last_error(), message, "an OK call keeps the message");
}

#[test]
fn last_error_truncates_like_snprintf() {
    let _session = Session::open();
    assert_eq!(
        unsafe { fh_write(0, 0, std::ptr::null_mut(), 1) },
        FH_NULL_ARGUMENT
    );
    let mut buf = [0x7f as std::ffi::c_char; 4];
    let mut len = 0;
    assert_eq!(
        unsafe { fh_last_error(buf.as_mut_ptr(), 4, &mut len) },
        FH_OK
    );
    assert_eq!(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes(), b"fh_");
    assert_eq!(len, last_error().len());
    assert_eq!(
        unsafe { fh_last_error(std::ptr::null_mut(), 0, &mut len) },
        FH_OK
    );
    assert_eq!(
        unsafe { fh_last_error(std::ptr::null_mut(), 1, &mut len) },
        FH_NULL_ARGUMENT
    );
    assert_eq!(
        unsafe { fh_last_error(buf.as_mut_ptr(), 4, std::ptr::null_mut()) },
        FH_NULL_ARGUMENT
    );
}

#[cfg(feature = "weak-stale-panic")]
#[test]
fn weak_stale_panic_a_stale_handle_panics_and_the_boundary_catches_it() {
    let session = Session::open();
    let handle = session.create(4);
    assert_eq!(fh_release(handle), FH_OK);
    assert_eq!(fh_release(handle), FH_PANIC);
    let message = last_error();
    assert!(message.starts_with("fh_release: panic: "), "{message}");
    let mut info = fh_resource_info::default();
    assert_eq!(
        unsafe { fh_info(handle ^ (1 << 32), &mut info) },
        FH_INVALID_HANDLE,
        "malformed: no panic"
    );
    let other = session.create(2);
    assert_eq!(
        unsafe { fh_info(other, &mut info) },
        FH_OK,
        "the session lives on after the panic"
    );
}
