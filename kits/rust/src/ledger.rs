//! The session's books: the counters of `fh_stats` and the limits of
//! `fh_config`.
//!
//! A resource moves through three states; each transition is one
//! [`Counters`] method, so a copy of the counters taken between transitions
//! satisfies `created == live_resources + pending_resources + reclaimed` and
//! the byte sums match the resource counts:
//!
//! ```text
//! born ──> live ──died──> pending ──reclaimed──> reclaimed
//! ```
//!
//! A [`Ledger`] is the thread-safe form an adapter keeps in its session: it
//! applies the config's limits when a resource is born ([`Ledger::admit`],
//! `FH_EXHAUSTED` in the header's order) and counts the transitions under one
//! lock. With `FH_RECLAIM_IMMEDIATE`, [`Ledger::freed`] moves a resource from
//! live to reclaimed at once, so `pending` is never seen non-zero.
//!
//! Capacity is a number of LIVE resources: a resource leaves it in the call
//! that drops its last reference, whatever happens to its memory (the header's
//! "the slot is free at once"). Handle values are the adapter's business: the
//! kit never looks at them.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::contract::{fh_config, fh_stats, FH_EXHAUSTED};
use crate::error::{Error, Result};

/// Largest `fh_config.capacity` ("number of slots, 1..1048576 (2^20)").
pub const MAX_CAPACITY: u32 = 1 << 20;

/// Counters of one session (see the module documentation).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    live_resources: u64,
    live_bytes: u64,
    created: u64,
    reclaimed: u64,
    pending_resources: u64,
    pending_bytes: u64,
}

impl Counters {
    /// Resources alive by reference count.
    pub fn live_resources(&self) -> u64 {
        self.live_resources
    }

    /// Sum of the sizes of the live resources.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Resources that died but whose memory is not freed yet.
    pub fn pending_resources(&self) -> u64 {
        self.pending_resources
    }

    /// A resource of `size` bytes was created (or snapshotted).
    pub fn born(&mut self, size: u64) {
        self.created += 1;
        self.live_resources += 1;
        self.live_bytes += size;
    }

    /// Undoes a [`born`](Self::born) whose resource was never handed out.
    pub fn unborn(&mut self, size: u64) {
        self.created -= 1;
        self.live_resources -= 1;
        self.live_bytes -= size;
    }

    /// A live resource of `size` bytes lost its last reference.
    pub fn died(&mut self, size: u64) {
        self.live_resources -= 1;
        self.live_bytes -= size;
        self.pending_resources += 1;
        self.pending_bytes += size;
    }

    /// The memory of a dead resource of `size` bytes was freed.
    pub fn reclaimed(&mut self, size: u64) {
        self.pending_resources -= 1;
        self.pending_bytes -= size;
        self.reclaimed += 1;
    }

    /// The counters as the C struct.
    pub fn to_ffi(self) -> fh_stats {
        fh_stats {
            live_resources: self.live_resources,
            live_bytes: self.live_bytes,
            created: self.created,
            reclaimed: self.reclaimed,
            pending_resources: self.pending_resources,
            pending_bytes: self.pending_bytes,
        }
    }
}

/// The limits of `fh_config` a new resource must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Live resources at most (`fh_config.capacity`).
    pub capacity: u32,
    /// `fh_create(size)` with `size >` this gives `FH_EXHAUSTED`.
    pub max_resource_bytes: u64,
    /// `live_bytes` may never exceed this.
    pub max_total_bytes: u64,
}

impl Limits {
    /// The limits of `config`.
    pub fn of(config: &fh_config) -> Self {
        Self {
            capacity: config.capacity,
            max_resource_bytes: config.max_resource_bytes,
            max_total_bytes: config.max_total_bytes,
        }
    }

    /// `FH_EXHAUSTED` unless a resource of `size` bytes may be born next to
    /// `counters`' live ones; checked in the header's order (the resource's
    /// size, the total bytes, then the number of live resources).
    pub fn check(&self, counters: &Counters, size: u64) -> Result<()> {
        if size > self.max_resource_bytes {
            return Err(Error::new(
                FH_EXHAUSTED,
                format!(
                    "size {size} exceeds max_resource_bytes {}",
                    self.max_resource_bytes
                ),
            ));
        }
        let total = counters.live_bytes().checked_add(size);
        if total.is_none_or(|total| total > self.max_total_bytes) {
            return Err(Error::new(
                FH_EXHAUSTED,
                format!(
                    "{} live bytes + {size} would exceed max_total_bytes {}",
                    counters.live_bytes(),
                    self.max_total_bytes
                ),
            ));
        }
        if counters.live_resources() >= u64::from(self.capacity) {
            return Err(Error::new(
                FH_EXHAUSTED,
                format!(
                    "no free slot: {} resources are live (capacity {})",
                    counters.live_resources(),
                    self.capacity
                ),
            ));
        }
        Ok(())
    }
}

/// Limits and counters of one session, thread-safe (see the module
/// documentation).
#[derive(Debug)]
pub struct Ledger {
    limits: Limits,
    counters: Mutex<Counters>,
}

impl Ledger {
    /// The books of a new session opened with `config`.
    pub fn new(config: &fh_config) -> Self {
        Self {
            limits: Limits::of(config),
            counters: Mutex::default(),
        }
    }

    /// The session's limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn counters(&self) -> MutexGuard<'_, Counters> {
        // The counters are consistent after every method: a panic elsewhere
        // while the lock was held cannot have left them half-updated.
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new resource of `size` bytes as live, or gives
    /// `FH_EXHAUSTED` ([`Limits::check`]). The check and the count are one
    /// step, so concurrent creations never exceed a limit together. Call
    /// [`Admission::commit`] once the resource exists; an admission dropped
    /// without it (the adapter failed after all) is undone.
    pub fn admit(&self, size: u64) -> Result<Admission<'_>> {
        let mut counters = self.counters();
        self.limits.check(&counters, size)?;
        counters.born(size);
        Ok(Admission {
            ledger: self,
            size,
            committed: false,
        })
    }

    /// A live resource of `size` bytes lost its last reference; its memory
    /// is freed later ([`reclaimed`](Self::reclaimed)).
    pub fn died(&self, size: u64) {
        self.counters().died(size);
    }

    /// The memory of a dead resource of `size` bytes was freed.
    pub fn reclaimed(&self, size: u64) {
        self.counters().reclaimed(size);
    }

    /// A live resource of `size` bytes lost its last reference and its memory
    /// is freed in the same call (`FH_RECLAIM_IMMEDIATE`).
    pub fn freed(&self, size: u64) {
        let mut counters = self.counters();
        counters.died(size);
        counters.reclaimed(size);
    }

    /// A copy of the counters.
    pub fn counters_now(&self) -> Counters {
        *self.counters()
    }

    /// The counters as `fh_stats`.
    pub fn stats(&self) -> fh_stats {
        self.counters().to_ffi()
    }
}

/// A resource counted as born by [`Ledger::admit`], until it is committed.
#[must_use = "an admission dropped without commit() is undone"]
#[derive(Debug)]
pub struct Admission<'a> {
    ledger: &'a Ledger,
    size: u64,
    committed: bool,
}

impl Admission<'_> {
    /// The resource exists: it stays counted.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.ledger.counters().unborn(self.size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(capacity: u32, max_resource_bytes: u64, max_total_bytes: u64) -> fh_config {
        fh_config {
            capacity,
            max_resource_bytes,
            max_total_bytes,
            ..fh_config::default()
        }
    }

    #[test]
    fn transitions_keep_the_invariant() {
        let mut counters = Counters::default();
        counters.born(10);
        counters.born(5);
        counters.died(10);
        let stats = counters.to_ffi();
        assert_eq!(
            stats.created,
            stats.live_resources + stats.pending_resources + stats.reclaimed
        );
        assert_eq!((stats.live_bytes, stats.pending_bytes), (5, 10));
        counters.reclaimed(10);
        let stats = counters.to_ffi();
        assert_eq!(
            (
                stats.created,
                stats.live_resources,
                stats.pending_resources,
                stats.reclaimed
            ),
            (2, 1, 0, 1)
        );
        assert_eq!(stats.pending_bytes, 0);
    }

    #[test]
    fn limits_in_the_headers_order() {
        let ledger = Ledger::new(&config(2, 10, 12));
        let status = |r: Result<Admission<'_>>| r.map(Admission::commit).unwrap_err().status();
        assert_eq!(status(ledger.admit(11)), FH_EXHAUSTED);
        ledger.admit(10).unwrap().commit();
        let message = ledger.admit(3).unwrap_err().message().to_owned();
        assert!(message.contains("max_total_bytes 12"), "{message}");
        ledger.admit(2).unwrap().commit();
        let message = ledger.admit(0).unwrap_err().message().to_owned();
        assert!(message.contains("no free slot"), "{message}");
        ledger.freed(10);
        ledger.admit(0).unwrap().commit();
        let stats = ledger.stats();
        assert_eq!(
            (
                stats.created,
                stats.live_resources,
                stats.live_bytes,
                stats.reclaimed
            ),
            (3, 2, 2, 1)
        );
        assert_eq!((stats.pending_resources, stats.pending_bytes), (0, 0));
    }

    #[test]
    fn an_uncommitted_admission_is_undone() {
        let ledger = Ledger::new(&config(1, 10, 10));
        let admission = ledger.admit(4).unwrap();
        assert_eq!(ledger.admit(0).unwrap_err().status(), FH_EXHAUSTED);
        drop(admission);
        assert_eq!(ledger.stats(), fh_stats::default());
        ledger.admit(4).unwrap().commit();
        ledger.died(4);
        assert_eq!(
            (
                ledger.stats().pending_resources,
                ledger.stats().pending_bytes
            ),
            (1, 4)
        );
        ledger.reclaimed(4);
        assert_eq!(ledger.counters_now().pending_resources(), 0);
    }
}
