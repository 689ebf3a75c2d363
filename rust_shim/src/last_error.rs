//! The last-error message of the exports (`fh_last_error`).
//!
//! The message is the adapter kit's per-thread one
//! ([`fuzzharness_adapter::last_error`]): the boundary in [`crate::ffi`]
//! replaces it with `"fh_xxx: <reason>"` after every failed call of the
//! thread, and a successful call never clears it. This module only adds the
//! test mutant `FH_MUTANT_SHARED_LAST_ERROR`, which keeps the message in one
//! process-wide string instead (see `crate::mutants`, the `mutants` feature):
//! without the feature both functions are the kit's.
//!
//! Kept apart from the error type because the mutants, which sit between the
//! two, use the error type and change where this message is kept.

use fuzzharness_adapter::last_error as per_thread;

/// Replaces the calling thread's last-error message.
///
/// Does nothing while the thread's locals are being destroyed (a call from a
/// thread-local destructor still returns its status).
pub fn set(message: String) {
    #[cfg(feature = "mutants")]
    if crate::mutants::set_shared_last_error(&message) {
        return;
    }
    per_thread::set(message);
}

/// The calling thread's last-error message ("" if it has had no error).
pub fn get() -> String {
    #[cfg(feature = "mutants")]
    if let Some(message) = crate::mutants::shared_last_error() {
        return message;
    }
    per_thread::get()
}
