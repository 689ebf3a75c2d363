//! Reclamation strategies: what happens to a resource's memory when it dies.
//!
//! The session calls [`Reclaimer::retire`] after the release that killed a
//! resource has freed its slot and moved it from live to pending in the
//! counters (under the table lock). Then:
//!
//! * `FH_RECLAIM_IMMEDIATE`: the bytes are freed inside that same release
//!   call. [`Resource::free`] takes the resource's write lock, so it first
//!   waits for the reads and writes already copying (they looked the handle
//!   up just before it died and finish normally); a call that looked the
//!   handle up but had not started copying then finds the bytes gone and
//!   returns `FH_STALE_HANDLE`, as if it had come after the release. Pending
//!   counters are non-zero only inside the release call.
//! * `FH_RECLAIM_EPOCH`: every call that touches a resource's bytes runs
//!   pinned to crossbeam-epoch ([`Reclaimer::pin`], taken before any lock).
//!   The dead resource is parked in a pending map and a function freeing it
//!   is `defer`red to crossbeam's global collector, then the thread's deferred
//!   functions are flushed to the global queue (so an idle thread never holds
//!   garbage back). The function runs once every thread pinned at death time
//!   has unpinned, so no call can still be reading those bytes; it frees them
//!   and moves the resource from pending to reclaimed. [`Reclaimer::quiesce`]
//!   pins and flushes until nothing is pending.
//!
//! Lock order: callers must not hold the table, a resource, the counters or
//! the pending map while pinning or retiring, since crossbeam may run
//! deferred functions (which take the pending map, a resource and the
//! counters) inside `pin` and `flush`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_epoch::{self as epoch, Guard};

use crate::contract::{
    FH_RECLAIM_EPOCH, FH_RECLAIM_GO_CLEANUP, FH_RECLAIM_IMMEDIATE, FH_TIMED_OUT, FH_UNSUPPORTED,
};
use crate::error::{Error, Result};
use crate::resource::Resource;
use crate::stats::Counters;
use crate::sync::lock;

/// The strategies this target implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `FH_RECLAIM_IMMEDIATE`.
    Immediate,
    /// `FH_RECLAIM_EPOCH`.
    Epoch,
}

impl Strategy {
    /// The strategy of `fh_config.strategy`, or `FH_UNSUPPORTED`.
    pub fn from_config(strategy: u32) -> Result<Self> {
        match strategy {
            FH_RECLAIM_IMMEDIATE => Ok(Self::Immediate),
            FH_RECLAIM_EPOCH => Ok(Self::Epoch),
            FH_RECLAIM_GO_CLEANUP => Err(Error::new(
                FH_UNSUPPORTED,
                "strategy 2 (FH_RECLAIM_GO_CLEANUP) needs a Go garbage collector; this is the Rust target",
            )),
            other => Err(Error::new(FH_UNSUPPORTED, format!("unknown reclamation strategy {other}"))),
        }
    }
}

/// State shared with the deferred functions (they outlive no session data
/// they need: they hold this `Arc`).
#[derive(Debug, Default)]
struct Shared {
    counters: Mutex<Counters>,
    pending: Mutex<Pending>,
}

/// Dead resources whose memory waits for the epoch to advance.
#[derive(Debug, Default)]
struct Pending {
    next_id: u64,
    resources: HashMap<u64, Arc<Resource>>,
}

impl Shared {
    /// Frees the pending resource `id` unless it was freed already (shutdown).
    fn reclaim(&self, id: u64) {
        let resource = lock(&self.pending).resources.remove(&id);
        if let Some(resource) = resource {
            resource.free();
            lock(&self.counters).reclaimed(resource.size());
        }
    }
}

/// A session's strategy with its counters.
#[derive(Debug)]
pub struct Reclaimer {
    strategy: Strategy,
    shared: Arc<Shared>,
}

impl Reclaimer {
    /// A reclaimer with zeroed counters.
    pub fn new(strategy: Strategy) -> Self {
        Self {
            strategy,
            shared: Arc::default(),
        }
    }

    /// The session's strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The session's counters, locked.
    pub fn counters(&self) -> MutexGuard<'_, Counters> {
        lock(&self.shared.counters)
    }

    /// Keeps dead resources' memory alive while the guard lives (epoch
    /// strategy only). Take it before any lock, hold it while touching bytes.
    pub fn pin(&self) -> Option<Guard> {
        (self.strategy == Strategy::Epoch).then(epoch::pin)
    }

    /// Reclaims a resource that just died, per the strategy (see the module).
    pub fn retire(&self, resource: Arc<Resource>) {
        match self.strategy {
            Strategy::Immediate => {
                resource.free();
                self.counters().reclaimed(resource.size());
            }
            Strategy::Epoch => {
                let id = {
                    let mut pending = lock(&self.shared.pending);
                    let id = pending.next_id;
                    pending.next_id += 1;
                    pending.resources.insert(id, resource);
                    id
                };
                #[cfg(feature = "mutants")]
                if crate::mutants::is_active(crate::contract::testing::FH_MUTANT_RECLAIM_NEVER) {
                    // The garbage is never collected: it stays pending until
                    // fh_shutdown, and fh_quiesce times out.
                    return;
                }
                let shared = Arc::clone(&self.shared);
                let guard = epoch::pin();
                guard.defer(move || shared.reclaim(id));
                guard.flush();
            }
        }
    }

    /// Waits until no resource is pending, driving the epoch forward; gives
    /// `FH_TIMED_OUT` after `timeout`.
    pub fn quiesce(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last = u64::MAX;
        loop {
            if self.strategy == Strategy::Epoch {
                epoch::pin().flush();
            }
            let pending = self.counters().pending_resources();
            if pending == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    FH_TIMED_OUT,
                    format!("{pending} dead resources still pending after {timeout:?} (a call is still running?)"),
                ));
            }
            if pending < last {
                thread::yield_now();
            } else {
                thread::sleep(Duration::from_micros(200));
            }
            last = pending;
        }
    }

    /// Frees every pending resource now, whatever the epoch (session shutdown:
    /// no call runs, so nothing can be reading them). Their deferred functions
    /// later find nothing to do.
    pub fn reclaim_all_pending(&self) {
        let resources = std::mem::take(&mut lock(&self.shared.pending).resources);
        for resource in resources.into_values() {
            resource.free();
            self.counters().reclaimed(resource.size());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_resource(reclaimer: &Reclaimer, size: u64) -> Arc<Resource> {
        let resource = Arc::new(Resource::zeroed(size).unwrap());
        let mut counters = reclaimer.counters();
        counters.born(size);
        counters.died(size);
        resource
    }

    #[test]
    fn strategies_from_config() {
        assert_eq!(
            Strategy::from_config(FH_RECLAIM_IMMEDIATE).unwrap(),
            Strategy::Immediate
        );
        assert_eq!(
            Strategy::from_config(FH_RECLAIM_EPOCH).unwrap(),
            Strategy::Epoch
        );
        assert_eq!(
            Strategy::from_config(FH_RECLAIM_GO_CLEANUP)
                .unwrap_err()
                .status(),
            FH_UNSUPPORTED
        );
        assert_eq!(
            Strategy::from_config(3).unwrap_err().status(),
            FH_UNSUPPORTED
        );
    }

    #[test]
    fn immediate_frees_in_retire() {
        let reclaimer = Reclaimer::new(Strategy::Immediate);
        assert!(reclaimer.pin().is_none());
        let resource = dead_resource(&reclaimer, 4);
        reclaimer.retire(Arc::clone(&resource));
        assert_eq!(
            resource.read(1, 0, &mut [0; 4]).unwrap_err().status(),
            crate::contract::FH_STALE_HANDLE
        );
        let stats = reclaimer.counters().to_ffi();
        assert_eq!(
            (
                stats.pending_resources,
                stats.pending_bytes,
                stats.reclaimed
            ),
            (0, 0, 1)
        );
    }

    #[test]
    fn epoch_defers_until_pinned_threads_unpin() {
        let reclaimer = Reclaimer::new(Strategy::Epoch);
        let resource = dead_resource(&reclaimer, 4);
        let pin = reclaimer.pin().expect("epoch strategy pins");
        reclaimer.retire(Arc::clone(&resource));
        // This thread is pinned: the memory cannot be reclaimed yet.
        assert_eq!(
            reclaimer
                .quiesce(Duration::from_millis(50))
                .unwrap_err()
                .status(),
            FH_TIMED_OUT
        );
        resource.read(1, 0, &mut [0; 4]).unwrap();
        drop(pin);
        reclaimer.quiesce(Duration::from_secs(5)).unwrap();
        let stats = reclaimer.counters().to_ffi();
        assert_eq!(
            (
                stats.pending_resources,
                stats.pending_bytes,
                stats.reclaimed
            ),
            (0, 0, 1)
        );
        assert!(resource.read(1, 0, &mut [0; 4]).is_err());
    }

    #[test]
    fn shutdown_reclaims_pending_once() {
        let reclaimer = Reclaimer::new(Strategy::Epoch);
        let pin = reclaimer.pin();
        for _ in 0..3 {
            let resource = dead_resource(&reclaimer, 2);
            reclaimer.retire(resource);
        }
        reclaimer.reclaim_all_pending();
        drop(pin);
        reclaimer.quiesce(Duration::from_secs(5)).unwrap();
        let stats = reclaimer.counters().to_ffi();
        assert_eq!(
            (stats.created, stats.pending_resources, stats.reclaimed),
            (3, 0, 3)
        );
    }
}
