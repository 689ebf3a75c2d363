//! The safe counterpart of every export, against the process-wide session.
//!
//! Each function applies the header's check order up to the point where a
//! [`Session`] takes over: `FH_NOT_INITIALIZED` first, then
//! `FH_NULL_ARGUMENT` (a `None` stands for a NULL pointer that is not
//! allowed), then the session's own checks. Outputs are written only when the
//! function returns `Ok`. `fh_init` and `fh_shutdown` take the session's
//! write lock; every other call shares its read lock, so all of them may run
//! concurrently.

use std::sync::RwLock;

use crate::buffer::{Sink, Source};
use crate::contract::{FH_ABI_MAJOR, FH_ABI_MINOR, FH_ALREADY_INITIALIZED, FH_NOT_INITIALIZED};
use crate::error::{self, required, Error, Result};
use crate::ffi::{fh_config, fh_resource_info, fh_stats};
use crate::session::Session;
use crate::sync;

static SESSION: RwLock<Option<Session>> = RwLock::new(None);

/// Runs `f` on the open session, or gives `FH_NOT_INITIALIZED`.
fn with_session<R>(f: impl FnOnce(&Session) -> Result<R>) -> Result<R> {
    let session = sync::read(&SESSION);
    let session = session.as_ref().ok_or_else(|| {
        Error::new(
            FH_NOT_INITIALIZED,
            "no session is open (before fh_init or after fh_shutdown)",
        )
    })?;
    f(session)
}

/// `fh_abi_version`.
pub fn abi_version(major: Option<&mut u32>, minor: Option<&mut u32>) -> Result<()> {
    let major = required(major, "major")?;
    let minor = required(minor, "minor")?;
    *major = FH_ABI_MAJOR;
    *minor = FH_ABI_MINOR;
    Ok(())
}

/// `fh_init`.
pub fn init(config: Option<&fh_config>) -> Result<()> {
    let config = required(config, "config")?;
    let mut session = sync::write(&SESSION);
    if session.is_some() {
        return Err(Error::new(
            FH_ALREADY_INITIALIZED,
            "a session is already open",
        ));
    }
    *session = Some(Session::new(config)?);
    Ok(())
}

/// `fh_shutdown`.
pub fn shutdown(report: Option<&mut fh_stats>) -> Result<()> {
    let mut session = sync::write(&SESSION);
    if session.is_none() {
        return Err(Error::new(FH_NOT_INITIALIZED, "no session is open"));
    }
    let report = required(report, "report")?;
    *report = session.take().expect("checked above").close();
    Ok(())
}

/// `fh_create`.
pub fn create(size: u64, out: Option<&mut u64>) -> Result<()> {
    with_session(|session| {
        let out = required(out, "out")?;
        *out = session.create(size)?;
        Ok(())
    })
}

/// Every error about a handle names it (the header's Errors rule): adds
/// "handle 0x...: " in front of a message that does not mention it yet.
fn naming<T>(handle: u64, result: Result<T>) -> Result<T> {
    result.map_err(|e| {
        if e.message().contains(&format!("{handle:#x}")) {
            e
        } else {
            e.context(format_args!("handle {handle:#x}"))
        }
    })
}

/// `fh_acquire`.
pub fn acquire(handle: u64) -> Result<()> {
    with_session(|session| naming(handle, session.acquire(handle)))
}

/// `fh_release`.
pub fn release(handle: u64) -> Result<()> {
    with_session(|session| naming(handle, session.release(handle)))
}

/// `fh_write`.
pub fn write<'a>(handle: u64, offset: u64, data: Option<impl Source<'a>>) -> Result<()> {
    with_session(|session| {
        naming(
            handle,
            session.write(handle, offset, required(data, "data")?),
        )
    })
}

/// `fh_read`.
pub fn read<'a>(handle: u64, offset: u64, buf: Option<impl Sink<'a>>) -> Result<()> {
    with_session(|session| naming(handle, session.read(handle, offset, required(buf, "buf")?)))
}

/// `fh_snapshot`.
pub fn snapshot(handle: u64, out: Option<&mut u64>) -> Result<()> {
    with_session(|session| {
        let out = required(out, "out")?;
        *out = naming(handle, session.snapshot(handle))?;
        Ok(())
    })
}

/// `fh_info`.
pub fn info(handle: u64, out: Option<&mut fh_resource_info>) -> Result<()> {
    with_session(|session| {
        let out = required(out, "out")?;
        *out = naming(handle, session.info(handle))?;
        Ok(())
    })
}

/// `fh_get_stats`.
pub fn get_stats(out: Option<&mut fh_stats>) -> Result<()> {
    with_session(|session| {
        *required(out, "out")? = session.stats();
        Ok(())
    })
}

/// `fh_quiesce`.
pub fn quiesce() -> Result<()> {
    with_session(Session::quiesce)
}

/// `fh_last_error`: the calling thread's message, NUL-terminated and
/// truncated to `buf.byte_len() - 1` bytes; its full length to `out_len`.
pub fn last_error<'a>(buf: Option<impl Sink<'a>>, out_len: Option<&mut usize>) -> Result<()> {
    let out_len = required(out_len, "out_len")?;
    let buf = required(buf, "buf")?;
    let message = error::last();
    if let Some(room) = buf.byte_len().checked_sub(1) {
        let n = message.len().min(room);
        let dst = buf.into_prefix(n + 1);
        dst[..n].copy_from_slice(&message.as_bytes()[..n]);
        dst[n] = 0;
    }
    *out_len = message.len();
    Ok(())
}

/// `fh_test_set_mutant`.
#[cfg(feature = "mutants")]
pub fn set_mutant(mutant: u32) -> Result<()> {
    crate::mutants::set(mutant)
}
