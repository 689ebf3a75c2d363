//! Errors of the safe layer and the per-thread last-error message.
//!
//! An [`Error`] is a contract status plus a message that does not yet name
//! the function: the boundary in [`crate::ffi`] prefixes `"fh_xxx: "` when it
//! records the message with [`set_last`]. Each thread has its own message
//! (thread-local); it is replaced by the next failed call of the same thread
//! and never cleared by a successful one. (The test mutant
//! `FH_MUTANT_SHARED_LAST_ERROR` replaces the thread-local message by a
//! process-wide one, see `crate::mutants` (the `mutants` feature).)

use std::cell::RefCell;
use std::fmt;

use crate::contract::FH_NULL_ARGUMENT;

/// A failed call: the status to return and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: i32,
    message: String,
}

/// Result of every fallible operation of the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with `status` (an `FH_*` status code) and a message.
    pub fn new(status: i32, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// `FH_NULL_ARGUMENT` for the required pointer parameter `parameter`.
    pub fn null(parameter: &str) -> Self {
        Self::new(FH_NULL_ARGUMENT, format!("{parameter} is NULL"))
    }

    /// The same error with `context` put in front of its message.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self::new(self.status, format!("{context}: {}", self.message))
    }

    /// The status code.
    pub fn status(&self) -> i32 {
        self.status
    }

    /// The reason, without the function name.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `Some(value)` or `FH_NULL_ARGUMENT` naming `parameter`.
pub fn required<T>(value: Option<T>, parameter: &str) -> Result<T> {
    value.ok_or_else(|| Error::null(parameter))
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Replaces the calling thread's last-error message.
///
/// Does nothing while the thread's locals are being destroyed (a call from a
/// thread-local destructor still returns its status).
pub fn set_last(message: String) {
    #[cfg(feature = "mutants")]
    if crate::mutants::set_shared_last_error(&message) {
        return;
    }
    // Ignoring the AccessError: during thread teardown there is nobody left to read it.
    let _ = LAST_ERROR.try_with(|last| *last.borrow_mut() = message);
}

/// The calling thread's last-error message ("" if it has had no error).
pub fn last() -> String {
    #[cfg(feature = "mutants")]
    if let Some(message) = crate::mutants::shared_last_error() {
        return message;
    }
    LAST_ERROR
        .try_with(|last| last.borrow().clone())
        .unwrap_or_default()
}
