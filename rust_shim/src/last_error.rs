//! The per-thread last-error message (`fh_last_error`).
//!
//! Each thread has its own message (thread-local): the boundary in
//! [`crate::ffi`] replaces it with `"fh_xxx: <reason>"` after every failed
//! call of the thread, and a successful call never clears it. (The test
//! mutant `FH_MUTANT_SHARED_LAST_ERROR` replaces the thread-local message by a
//! process-wide one, see `crate::mutants` (the `mutants` feature).)
//!
//! Kept apart from [`crate::error`] because the mutants, which sit between
//! the two, use the error type and change where this message is kept.

use std::cell::RefCell;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Replaces the calling thread's last-error message.
///
/// Does nothing while the thread's locals are being destroyed (a call from a
/// thread-local destructor still returns its status).
pub fn set(message: String) {
    #[cfg(feature = "mutants")]
    if crate::mutants::set_shared_last_error(&message) {
        return;
    }
    // Ignoring the AccessError: during thread teardown there is nobody left to read it.
    let _ = LAST_ERROR.try_with(|last| *last.borrow_mut() = message);
}

/// The calling thread's last-error message ("" if it has had no error).
pub fn get() -> String {
    #[cfg(feature = "mutants")]
    if let Some(message) = crate::mutants::shared_last_error() {
        return message;
    }
    LAST_ERROR
        .try_with(|last| last.borrow().clone())
        .unwrap_or_default()
}
