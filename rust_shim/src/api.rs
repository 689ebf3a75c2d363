//! The safe counterpart of every export, against the process-wide session.
//!
//! Each function applies the header's check order up to the point where a
//! [`Session`] takes over: `FH_NOT_INITIALIZED` first, then
//! `FH_NULL_ARGUMENT` (a `None` stands for a NULL pointer that is not
//! allowed), then the session's own checks. Outputs are written only when the
//! function returns `Ok`. `fh_init` and `fh_shutdown` take the session's
//! write lock; every other call shares its read lock, so all of them may run
//! concurrently. `fh_quiesce` holds no lock at all while it waits (it calls
//! the foreign runtime's collector, which calls back into this library from
//! other threads): it keeps the session alive by its `Arc` instead.
//!
//! The `*_as` functions are the backend table's `foreign_*` entries (with
//! [`Side::Foreign`]): same checks, same messages, the reference counted for
//! the foreign runtime.

use std::sync::{Arc, RwLock};

use crate::last_error;
use crate::session::Session;
use crate::sync;
use crate::table::Side;
use fuzzharness_adapter::buffer::{ItemSink, Sink, Source};
use fuzzharness_adapter::contract::{
    fh_backend, fh_config, fh_reclaim_event, fh_resource_info, fh_stats,
};
use fuzzharness_adapter::contract::{
    FH_ABI_MAJOR, FH_ABI_MINOR, FH_ALREADY_INITIALIZED, FH_NOT_INITIALIZED, FH_UNSUPPORTED,
};
use fuzzharness_adapter::error::{naming, required, Error, Result};
use fuzzharness_adapter::last_error::copy_message;

static SESSION: RwLock<Option<Arc<Session>>> = RwLock::new(None);

fn not_initialized() -> Error {
    Error::new(
        FH_NOT_INITIALIZED,
        "no session is open (before fh_init or after fh_shutdown)",
    )
}

/// Runs `f` on the open session, or gives `FH_NOT_INITIALIZED`.
fn with_session<R>(f: impl FnOnce(&Session) -> Result<R>) -> Result<R> {
    let session = sync::read(&SESSION);
    f(session.as_deref().ok_or_else(not_initialized)?)
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
    *session = Some(Arc::new(Session::new(config)?));
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
    // The session (and with it every live resource) is freed here, unless a
    // concurrent call still holds it, which the contract forbids.
    Ok(())
}

/// `fh_create`.
pub fn create(size: u64, out: Option<&mut u64>) -> Result<()> {
    create_as(Side::Owner, size, out)
}

/// `fh_create` (`foreign_create` for [`Side::Foreign`]).
pub fn create_as(side: Side, size: u64, out: Option<&mut u64>) -> Result<()> {
    with_session(|session| {
        let out = required(out, "out")?;
        *out = session.create_as(side, size)?;
        Ok(())
    })
}

/// `fh_acquire`.
pub fn acquire(handle: u64) -> Result<()> {
    acquire_as(Side::Owner, handle)
}

/// `fh_acquire` (`foreign_acquire` for [`Side::Foreign`]).
pub fn acquire_as(side: Side, handle: u64) -> Result<()> {
    with_session(|session| naming(handle, session.acquire_as(side, handle)))
}

/// `fh_release` (an owner reference).
pub fn release(handle: u64) -> Result<()> {
    with_session(|session| naming(handle, session.release(handle)))
}

/// `foreign_release`: drops a foreign reference; `ack` (non-zero) says the
/// foreign runtime acknowledges this release now.
pub fn foreign_release(handle: u64, ack: u32) -> Result<()> {
    with_session(|session| naming(handle, session.release_as(Side::Foreign, handle, ack != 0)))
}

/// `foreign_ack`.
pub fn foreign_ack(handle: u64) -> Result<()> {
    with_session(|session| naming(handle, session.foreign_ack(handle)))
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
    snapshot_as(Side::Owner, handle, out)
}

/// `fh_snapshot` (`foreign_snapshot` for [`Side::Foreign`]).
pub fn snapshot_as(side: Side, handle: u64, out: Option<&mut u64>) -> Result<()> {
    with_session(|session| {
        let out = required(out, "out")?;
        *out = naming(handle, session.snapshot_as(side, handle))?;
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

/// `fh_quiesce`; `collect` is the foreign runtime's collector (a no-op if
/// none is registered). No lock is held while it runs.
pub fn quiesce(collect: &dyn Fn()) -> Result<()> {
    let session = sync::read(&SESSION)
        .as_ref()
        .map(Arc::clone)
        .ok_or_else(not_initialized)?;
    session.quiesce(collect)
}

/// `fh_drain_reclaim_events`: moves up to `buf`'s capacity of events into it
/// and writes their number and the dropped count.
pub fn drain_reclaim_events<'a>(
    buf: Option<impl ItemSink<'a, fh_reclaim_event>>,
    out_n: Option<&mut usize>,
    dropped: Option<&mut u64>,
) -> Result<()> {
    with_session(|session| {
        let out_n = required(out_n, "out_n")?;
        let dropped = required(dropped, "dropped")?;
        let buf = required(buf, "buf")?;
        let (events, lost) = session.drain_events(buf.item_capacity());
        buf.into_items(events.len()).copy_from_slice(&events);
        *out_n = events.len();
        *dropped = lost;
        Ok(())
    })
}

/// `fh_clock_ns`, with `now` the library's `CLOCK_MONOTONIC` reading.
pub fn clock_ns(out: Option<&mut u64>, now: impl FnOnce() -> u64) -> Result<()> {
    *required(out, "out")? = now();
    Ok(())
}

/// `fh_backend_table`: copies `table` (this library's) into `out`.
pub fn backend_table(out: Option<&mut fh_backend>, table: fh_backend) -> Result<()> {
    *required(out, "out")? = table;
    Ok(())
}

/// `fh_attach_backend`: this library is an owner, never a foreign front.
pub fn attach_backend(backend: Option<&fh_backend>) -> Result<()> {
    required(backend, "backend")?;
    Err(Error::new(
        FH_UNSUPPORTED,
        "this library (the Rust shim) is a cross-runtime owner, never a foreign front: \
         pass its fh_backend_table to the foreign library's fh_attach_backend",
    ))
}

/// `fh_last_error`: the calling thread's message ([`last_error::get`]),
/// NUL-terminated and truncated to `buf.byte_len() - 1` bytes; its full
/// length to `out_len`.
pub fn last_error<'a>(buf: Option<impl Sink<'a>>, out_len: Option<&mut usize>) -> Result<()> {
    copy_message(&last_error::get(), buf, out_len)
}

/// `fh_test_set_mutant`, with `bugs` the boundary's real memory errors.
#[cfg(feature = "mutants")]
pub fn set_mutant(mutant: u32, bugs: crate::mutants::MemoryBugs) -> Result<()> {
    crate::mutants::set(mutant, bugs)
}
