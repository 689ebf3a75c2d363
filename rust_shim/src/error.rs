//! Errors of the safe layer.
//!
//! An [`Error`] is a contract status plus a message that does not yet name
//! the function: the boundary in [`crate::ffi`] prefixes `"fh_xxx: "` when it
//! records the message as the thread's last error (see [`crate::last_error`]).

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
