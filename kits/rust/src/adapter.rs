//! The safe trait an adapter implements, and the exports' check order in
//! front of it.
//!
//! An adapter is one type implementing [`Contract`]: a value of it is one
//! open session (`fh_init` builds it with [`Contract::open`], `fh_shutdown`
//! drops it). [`Exports`] holds the process-wide session of the exported
//! functions and applies the header's rules that do not depend on the
//! adapter, so each [`Contract`] method sees a call that already passed them:
//!
//! 1. `FH_NOT_INITIALIZED`: no session is open (every function but
//!    `fh_abi_version`, `fh_init` and `fh_last_error`);
//! 2. `FH_NULL_ARGUMENT`: a required pointer is NULL (the data and buffer of
//!    `fh_write` / `fh_read` only when their length is not 0);
//! 3. then the adapter: `FH_INVALID_HANDLE` / `FH_STALE_HANDLE`, then
//!    `FH_READ_ONLY`, then `FH_OVERFLOW`, then `FH_BOUNDS` (the last two are
//!    [`Input::bytes_within`] / [`Output::within`], or
//!    [`Input::copy_to`] / [`Output::copy_from`]).
//!
//! `fh_init` checks the config before [`Contract::open`]: `FH_NULL_ARGUMENT`,
//! `FH_ALREADY_INITIALIZED`, `FH_INVALID_ARGUMENT` (capacity outside
//! 1..=2^20; any flag, since the kit implements contract 1.0, which has
//! none), `FH_UNSUPPORTED` (a strategy not in [`Contract::STRATEGIES`]).
//! Outputs are written only when the adapter returns `Ok`. Every error of a
//! call on a handle names the handle in hex ([`naming`]).
//!
//! `fh_init` and `fh_shutdown` take the session's write lock, every other
//! call a read lock: an adapter's methods run concurrently (`&self`, the
//! type is `Sync`) and must be linearizable, as the header's Threads rule
//! asks. Handle values are the adapter's own: any non-zero 64-bit values
//! (register the target with `handles = "opaque"`).

use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use crate::contract::{
    fh_config, fh_resource_info, fh_stats, FH_ABI_MAJOR, FH_ALREADY_INITIALIZED,
    FH_INVALID_ARGUMENT, FH_NOT_INITIALIZED, FH_RECLAIM_IMMEDIATE, FH_UNSUPPORTED,
};
use crate::error::{naming, required, Error, Result};
use crate::ffi::{Input, Output};
use crate::ledger::MAX_CAPACITY;

/// The minor ABI version the kit's exports implement: 1.0 (no reclamation
/// events, clock or cross-runtime functions; `fh_config.flags` must be 0).
pub const KIT_ABI_MINOR: u32 = 0;

/// One open session of an adapter: the contract's operations over a handle
/// system. Each method is called only after the checks of [`Exports`] (see
/// the module documentation) and returns an [`Error`] with the status the
/// header gives (its message need not name the function or the handle: the
/// kit adds both).
///
/// Methods take `&self` and may run concurrently from any number of threads;
/// each must appear to happen at one instant (a read never sees part of a
/// write). A panic is caught at the boundary (`FH_PANIC`, a finding).
pub trait Contract: Sized + Send + Sync + 'static {
    /// The reclamation strategies the adapter implements (values of
    /// `enum fh_reclaim_strategy`); `fh_init` gives `FH_UNSUPPORTED` for any
    /// other. Default: `FH_RECLAIM_IMMEDIATE` only (memory freed inside the
    /// call that drops the last reference).
    const STRATEGIES: &'static [u32] = &[FH_RECLAIM_IMMEDIATE];

    /// Opens a session for `config` (capacity, flags and strategy already
    /// checked). Typically keeps a [`Ledger`](crate::Ledger) of it.
    fn open(config: &fh_config) -> Result<Self>;

    /// A zero-filled resource of `size` bytes with one reference; its handle
    /// (non-zero, distinct from every live one). `FH_EXHAUSTED` for the
    /// config's limits ([`Ledger::admit`](crate::Ledger::admit)).
    fn create(&self, size: u64) -> Result<u64>;

    /// Adds one reference (`FH_OVERFLOW` at `u32::MAX` references).
    fn acquire(&self, handle: u64) -> Result<()>;

    /// Drops one reference; at zero the resource dies: its handle is stale
    /// at once and no longer counts against the capacity.
    fn release(&self, handle: u64) -> Result<()>;

    /// Copies `data` into the resource at `offset` (`FH_READ_ONLY` for a
    /// snapshot; a failed write changes no byte).
    fn write(&self, handle: u64, offset: u64, data: Input<'_>) -> Result<()>;

    /// Fills `buf` from the resource at `offset` (a failed read touches no
    /// byte of `buf`).
    fn read(&self, handle: u64, offset: u64, buf: Output<'_>) -> Result<()>;

    /// A new read-only resource holding a copy of the resource's bytes, with
    /// one reference; its handle. `FH_EXHAUSTED` as for `create`.
    fn snapshot(&self, handle: u64) -> Result<u64>;

    /// The size, reference count and read-only flag of a live resource.
    fn info(&self, handle: u64) -> Result<fh_resource_info>;

    /// The session's counters ([`Ledger::stats`](crate::Ledger::stats)).
    fn stats(&self) -> fh_stats;

    /// Finishes deferred reclamation (`FH_TIMED_OUT` if it cannot within a
    /// few seconds). Default: nothing is ever deferred.
    fn quiesce(&self) -> Result<()> {
        Ok(())
    }

    /// Closes the session; returns the stats as they were just before (every
    /// resource still alive or pending is freed when `self` drops). Default:
    /// [`stats`](Self::stats), then drop.
    fn close(self) -> fh_stats {
        self.stats()
    }
}

/// The process-wide session of an adapter's exports and the checks in front
/// of it (see the module documentation).
/// [`export_contract!`](crate::export_contract) keeps one in a `static`;
/// tests may create their own.
#[derive(Debug)]
pub struct Exports<A> {
    session: RwLock<Option<A>>,
}

impl<A> Default for Exports<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A> Exports<A> {
    /// No session open.
    pub const fn new() -> Self {
        Self {
            session: RwLock::new(None),
        }
    }
}

fn not_initialized() -> Error {
    Error::new(
        FH_NOT_INITIALIZED,
        "no session is open (before fh_init or after fh_shutdown)",
    )
}

impl<A: Contract> Exports<A> {
    fn read_session(&self) -> RwLockReadGuard<'_, Option<A>> {
        // A panic in fh_init or fh_shutdown leaves the session None or whole.
        self.session.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the open session, or gives `FH_NOT_INITIALIZED`.
    fn with_session<R>(&self, f: impl FnOnce(&A) -> Result<R>) -> Result<R> {
        let session = self.read_session();
        f(session.as_ref().ok_or_else(not_initialized)?)
    }

    /// `fh_abi_version`: 1.0 ([`KIT_ABI_MINOR`]).
    pub fn abi_version(major: Option<&mut u32>, minor: Option<&mut u32>) -> Result<()> {
        let major = required(major, "major")?;
        let minor = required(minor, "minor")?;
        *major = FH_ABI_MAJOR;
        *minor = KIT_ABI_MINOR;
        Ok(())
    }

    /// `fh_init`.
    pub fn init(&self, config: Option<&fh_config>) -> Result<()> {
        let config = required(config, "config")?;
        let mut session = self.session.write().unwrap_or_else(PoisonError::into_inner);
        if session.is_some() {
            return Err(Error::new(
                FH_ALREADY_INITIALIZED,
                "a session is already open",
            ));
        }
        if config.capacity == 0 || config.capacity > MAX_CAPACITY {
            return Err(Error::new(
                FH_INVALID_ARGUMENT,
                format!("capacity {} is outside 1..={MAX_CAPACITY}", config.capacity),
            ));
        }
        if config.flags != 0 {
            return Err(Error::new(
                FH_INVALID_ARGUMENT,
                format!(
                    "flags {:#x}: this library implements contract {FH_ABI_MAJOR}.{KIT_ABI_MINOR}, \
                     which has no flags",
                    config.flags
                ),
            ));
        }
        if !A::STRATEGIES.contains(&config.strategy) {
            return Err(Error::new(
                FH_UNSUPPORTED,
                format!(
                    "strategy {} is not implemented by this library (it implements {:?})",
                    config.strategy,
                    A::STRATEGIES
                ),
            ));
        }
        *session = Some(A::open(config)?);
        Ok(())
    }

    /// `fh_shutdown`.
    pub fn shutdown(&self, report: Option<&mut fh_stats>) -> Result<()> {
        let mut session = self.session.write().unwrap_or_else(PoisonError::into_inner);
        if session.is_none() {
            return Err(not_initialized());
        }
        let report = required(report, "report")?;
        *report = session.take().expect("checked above").close();
        Ok(())
    }

    /// `fh_create`.
    pub fn create(&self, size: u64, out: Option<&mut u64>) -> Result<()> {
        self.with_session(|session| {
            let out = required(out, "out")?;
            *out = session.create(size)?;
            Ok(())
        })
    }

    /// `fh_acquire`.
    pub fn acquire(&self, handle: u64) -> Result<()> {
        self.with_session(|session| naming(handle, session.acquire(handle)))
    }

    /// `fh_release`.
    pub fn release(&self, handle: u64) -> Result<()> {
        self.with_session(|session| naming(handle, session.release(handle)))
    }

    /// `fh_write`; `None` stands for NULL `data` with a non-zero length.
    pub fn write(&self, handle: u64, offset: u64, data: Option<Input<'_>>) -> Result<()> {
        self.with_session(|session| {
            let data = required(data, "data")?;
            naming(handle, session.write(handle, offset, data))
        })
    }

    /// `fh_read`; `None` stands for a NULL `buf` with a non-zero length.
    pub fn read(&self, handle: u64, offset: u64, buf: Option<Output<'_>>) -> Result<()> {
        self.with_session(|session| {
            let buf = required(buf, "buf")?;
            naming(handle, session.read(handle, offset, buf))
        })
    }

    /// `fh_snapshot`.
    pub fn snapshot(&self, handle: u64, out: Option<&mut u64>) -> Result<()> {
        self.with_session(|session| {
            let out = required(out, "out")?;
            *out = naming(handle, session.snapshot(handle))?;
            Ok(())
        })
    }

    /// `fh_info`.
    pub fn info(&self, handle: u64, out: Option<&mut fh_resource_info>) -> Result<()> {
        self.with_session(|session| {
            let out = required(out, "out")?;
            *out = naming(handle, session.info(handle))?;
            Ok(())
        })
    }

    /// `fh_get_stats`.
    pub fn get_stats(&self, out: Option<&mut fh_stats>) -> Result<()> {
        self.with_session(|session| {
            *required(out, "out")? = session.stats();
            Ok(())
        })
    }

    /// `fh_quiesce`.
    pub fn quiesce(&self) -> Result<()> {
        self.with_session(A::quiesce)
    }
}
