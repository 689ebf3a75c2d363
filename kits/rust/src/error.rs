//! The error of every fallible operation: a contract status and why.
//!
//! An [`Error`]'s message does not name the function: the boundary
//! ([`crate::boundary`]) puts `"fh_xxx: "` in front when it records the
//! message as the calling thread's last error. Errors about a handle name it
//! in hex ([`naming`] adds it where the message does not), as the header's
//! Errors rule asks.

use std::fmt;

use crate::contract::{
    FH_INVALID_HANDLE, FH_NULL_ARGUMENT, FH_OVERFLOW, FH_PANIC, FH_READ_ONLY, FH_STALE_HANDLE,
};

/// A failed call: the status it returns and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: i32,
    message: String,
}

/// Result of every fallible operation of the contract.
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

    /// `FH_INVALID_HANDLE`: `handle` was never issued (or is malformed).
    pub fn invalid_handle(handle: u64) -> Self {
        Self::new(
            FH_INVALID_HANDLE,
            format!("handle {handle:#x} was never issued"),
        )
    }

    /// `FH_STALE_HANDLE`: `handle` was issued and its resource has died.
    pub fn stale_handle(handle: u64) -> Self {
        Self::new(
            FH_STALE_HANDLE,
            format!("handle {handle:#x} is stale: its resource died"),
        )
    }

    /// `FH_READ_ONLY`: `handle` names a snapshot.
    pub fn read_only(handle: u64) -> Self {
        Self::new(
            FH_READ_ONLY,
            format!("handle {handle:#x} is a read-only snapshot"),
        )
    }

    /// `FH_OVERFLOW`: `handle`'s reference count is at its maximum.
    pub fn too_many_references(handle: u64) -> Self {
        Self::new(
            FH_OVERFLOW,
            format!("handle {handle:#x} already has {} references", u32::MAX),
        )
    }

    /// `FH_PANIC` for a panic caught at the boundary, with its payload's text.
    pub fn panic(payload: &str) -> Self {
        Self::new(FH_PANIC, format!("panic: {payload}"))
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

/// `result`, its error naming `handle`: `"handle 0x...: "` is put in front of
/// a message that does not contain the handle in hex yet.
pub fn naming<T>(handle: u64, result: Result<T>) -> Result<T> {
    result.map_err(|e| {
        if e.message().contains(&format!("{handle:#x}")) {
            e
        } else {
            e.context(format_args!("handle {handle:#x}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_adds_the_handle_once() {
        let named = naming::<()>(0x1234, Err(Error::new(FH_OVERFLOW, "too many")));
        assert_eq!(named.unwrap_err().message(), "handle 0x1234: too many");
        let already = naming::<()>(0x1234, Err(Error::stale_handle(0x1234)));
        assert_eq!(
            already.unwrap_err().message(),
            "handle 0x1234 is stale: its resource died"
        );
        assert_eq!(naming(7, Ok(3)), Ok(3));
    }

    #[test]
    fn constructors_carry_their_status() {
        assert_eq!(Error::null("out").status(), FH_NULL_ARGUMENT);
        assert_eq!(Error::null("out").message(), "out is NULL");
        assert_eq!(Error::invalid_handle(0).status(), FH_INVALID_HANDLE);
        assert_eq!(Error::read_only(1).status(), FH_READ_ONLY);
        assert_eq!(Error::too_many_references(1).status(), FH_OVERFLOW);
        assert_eq!(Error::panic("boom").message(), "panic: boom");
        assert_eq!(
            required(None::<u8>, "buf").unwrap_err().status(),
            FH_NULL_ARGUMENT
        );
    }
}
