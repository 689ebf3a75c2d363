//! Reclamation strategies: what happens to a resource's memory when it dies.
//!
//! The session calls [`Reclaimer::retire`] after the release that killed a
//! resource has freed its slot and moved it from live to pending in the
//! counters (under the table lock), and, for a resource the foreign runtime
//! referenced, once that runtime acknowledged its last release (see
//! [`crate::guard`]). Then:
//!
//! * `FH_RECLAIM_IMMEDIATE`: the bytes are freed inside that same release
//!   call. [`Resource::free`] takes the resource's write lock, so it first
//!   waits for the reads and writes already copying (they looked the handle
//!   up just before it died and finish normally); a call that looked the
//!   handle up but had not started copying then finds the bytes gone and
//!   returns `FH_STALE_HANDLE`, as if it had come after the release. Pending
//!   counters are non-zero only inside the release call.
//! * `FH_RECLAIM_GUARDED`, `FH_RECLAIM_GO_CLEANUP` (cross-runtime owner): freed
//!   as `IMMEDIATE` once retired; the guard of [`crate::guard`] decides when
//!   that is (inside the release with `ack = 1`, at `foreign_ack` with
//!   `ack = 0`). With no foreign runtime involved both behave as `IMMEDIATE`.
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
//! Every free outside `fh_shutdown` goes through `Shared::freed`, which
//! moves the resource from pending to reclaimed and, with
//! `FH_FLAG_RECLAIM_EVENTS`, records its event (see [`crate::events`]).
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

use crate::clock::monotonic_ns;
use crate::events::EventRing;
use crate::resource::Resource;
use crate::sync::lock;
use fuzzharness_adapter::contract::fh_reclaim_event;
use fuzzharness_adapter::contract::{
    FH_RECLAIM_EPOCH, FH_RECLAIM_GO_CLEANUP, FH_RECLAIM_GUARDED, FH_RECLAIM_IMMEDIATE,
    FH_TIMED_OUT, FH_UNSUPPORTED,
};
use fuzzharness_adapter::error::{Error, Result};
use fuzzharness_adapter::ledger::Counters;

/// The strategies this target implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `FH_RECLAIM_IMMEDIATE`.
    Immediate,
    /// `FH_RECLAIM_EPOCH`.
    Epoch,
    /// `FH_RECLAIM_GO_CLEANUP` as a cross-runtime owner: guarded, the foreign
    /// (Go) runtime acknowledges later with `foreign_ack`.
    GoCleanup,
    /// `FH_RECLAIM_GUARDED`: guarded, acknowledged inside the release.
    Guarded,
}

impl Strategy {
    /// The strategy of `fh_config.strategy`, or `FH_UNSUPPORTED`.
    pub fn from_config(strategy: u32) -> Result<Self> {
        match strategy {
            FH_RECLAIM_IMMEDIATE => Ok(Self::Immediate),
            FH_RECLAIM_EPOCH => Ok(Self::Epoch),
            FH_RECLAIM_GO_CLEANUP => Ok(Self::GoCleanup),
            FH_RECLAIM_GUARDED => Ok(Self::Guarded),
            other => Err(Error::new(
                FH_UNSUPPORTED,
                format!("unknown reclamation strategy {other}"),
            )),
        }
    }

    /// The `fh_reclaim_strategy` number.
    pub fn code(self) -> u32 {
        match self {
            Self::Immediate => FH_RECLAIM_IMMEDIATE,
            Self::Epoch => FH_RECLAIM_EPOCH,
            Self::GoCleanup => FH_RECLAIM_GO_CLEANUP,
            Self::Guarded => FH_RECLAIM_GUARDED,
        }
    }
}

/// State shared with the deferred functions (they outlive no session data
/// they need: they hold this `Arc`).
#[derive(Debug)]
struct Shared {
    strategy: Strategy,
    counters: Mutex<Counters>,
    pending: Mutex<Pending>,
    events: Option<EventRing>,
}

/// Dead resources whose memory waits for the epoch to advance.
#[derive(Debug, Default)]
struct Pending {
    next_id: u64,
    resources: HashMap<u64, Retired>,
}

/// A dead resource on its way to being freed.
#[derive(Debug)]
pub struct Retired {
    /// The handle it had.
    pub handle: u64,
    /// The resource.
    pub resource: Arc<Resource>,
    /// When it died (`CLOCK_MONOTONIC` ns; 0 without events).
    pub released_ns: u64,
}

impl Shared {
    /// Frees the pending resource `id` unless it was freed already (shutdown).
    fn reclaim(&self, id: u64) {
        let retired = lock(&self.pending).resources.remove(&id);
        if let Some(retired) = retired {
            retired.resource.free();
            self.freed(retired.handle, retired.resource.size(), retired.released_ns);
        }
    }

    /// The bytes of a dead resource went back to the allocator just now.
    fn freed(&self, handle: u64, bytes: u64, released_ns: u64) {
        lock(&self.counters).reclaimed(bytes);
        if let Some(events) = &self.events {
            events.record(fh_reclaim_event {
                handle,
                bytes,
                released_ns,
                freed_ns: monotonic_ns(),
                strategy: self.strategy.code(),
                reserved: 0,
            });
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
    /// A reclaimer with zeroed counters, recording events into `events` if given.
    pub fn new(strategy: Strategy, events: Option<EventRing>) -> Self {
        Self {
            strategy,
            shared: Arc::new(Shared {
                strategy,
                counters: Mutex::default(),
                pending: Mutex::default(),
                events,
            }),
        }
    }

    /// The event ring, if the session records events.
    pub fn events(&self) -> Option<&EventRing> {
        self.shared.events.as_ref()
    }

    /// The `released_ns` stamp of a resource dying now: `CLOCK_MONOTONIC`
    /// when events are recorded, else 0 without reading the clock.
    pub fn death_stamp(&self) -> u64 {
        if self.shared.events.is_some() {
            monotonic_ns()
        } else {
            0
        }
    }

    /// The memory of a dead resource (its bytes were freed by the caller,
    /// a test mutant): counts it as reclaimed and records its event.
    #[cfg(feature = "mutants")]
    pub(crate) fn freed_elsewhere(&self, handle: u64, bytes: u64, released_ns: u64) {
        self.shared.freed(handle, bytes, released_ns);
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
    pub fn retire(&self, retired: Retired) {
        match self.strategy {
            Strategy::Immediate | Strategy::Guarded | Strategy::GoCleanup => {
                retired.resource.free();
                let size = retired.resource.size();
                self.shared.freed(retired.handle, size, retired.released_ns);
            }
            Strategy::Epoch => {
                let id = {
                    let mut pending = lock(&self.shared.pending);
                    let id = pending.next_id;
                    pending.next_id += 1;
                    pending.resources.insert(id, retired);
                    id
                };
                #[cfg(feature = "mutants")]
                if crate::mutants::is_active(fuzzharness_adapter::testing::FH_MUTANT_RECLAIM_NEVER)
                {
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
        self.quiesce_until(Instant::now() + timeout, timeout)
    }

    /// [`Reclaimer::quiesce`] until `deadline`; `bound` is the whole wait, as
    /// the error message states it.
    pub fn quiesce_until(&self, deadline: Instant, bound: Duration) -> Result<()> {
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
                    format!("{pending} dead resources still pending after {bound:?} (a call is still running?)"),
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
        for retired in resources.into_values() {
            self.free_at_shutdown(&retired.resource);
        }
    }

    /// Frees a dead resource's memory at session shutdown (no event).
    pub fn free_at_shutdown(&self, resource: &Resource) {
        resource.free();
        self.counters().reclaimed(resource.size());
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

    fn retired(resource: &Arc<Resource>) -> Retired {
        Retired {
            handle: 0x1_0000_0000,
            resource: Arc::clone(resource),
            released_ns: 0,
        }
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
        for code in [FH_RECLAIM_GO_CLEANUP, FH_RECLAIM_GUARDED] {
            assert_eq!(Strategy::from_config(code).unwrap().code(), code);
        }
        assert_eq!(
            Strategy::from_config(4).unwrap_err().status(),
            FH_UNSUPPORTED
        );
    }

    #[test]
    fn immediate_frees_in_retire() {
        let reclaimer = Reclaimer::new(Strategy::Immediate, None);
        assert!(reclaimer.pin().is_none());
        let resource = dead_resource(&reclaimer, 4);
        reclaimer.retire(retired(&resource));
        assert_eq!(
            resource.read(1, 0, &mut [0; 4]).unwrap_err().status(),
            fuzzharness_adapter::contract::FH_STALE_HANDLE
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
        let reclaimer = Reclaimer::new(Strategy::Epoch, None);
        let resource = dead_resource(&reclaimer, 4);
        let pin = reclaimer.pin().expect("epoch strategy pins");
        reclaimer.retire(retired(&resource));
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
        let reclaimer = Reclaimer::new(Strategy::Epoch, None);
        let pin = reclaimer.pin();
        for _ in 0..3 {
            let resource = dead_resource(&reclaimer, 2);
            reclaimer.retire(retired(&resource));
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

    #[test]
    fn events_are_stamped_where_the_memory_is_freed() {
        use crate::events::EventRing;
        for strategy in [Strategy::Immediate, Strategy::Guarded, Strategy::Epoch] {
            let reclaimer = Reclaimer::new(strategy, Some(EventRing::new(16)));
            let resource = dead_resource(&reclaimer, 4);
            let pin = reclaimer.pin();
            let released_ns = reclaimer.death_stamp();
            assert!(released_ns > 0);
            reclaimer.retire(Retired {
                handle: 0x2_0000_0001,
                resource: Arc::clone(&resource),
                released_ns,
            });
            let (events, dropped) = reclaimer.events().unwrap().drain(16);
            if strategy == Strategy::Epoch {
                assert!(events.is_empty(), "not freed while this thread is pinned");
            }
            drop(pin);
            reclaimer.quiesce(Duration::from_secs(5)).unwrap();
            let (more, _) = reclaimer.events().unwrap().drain(16);
            let all: Vec<_> = events.into_iter().chain(more).collect();
            assert_eq!((all.len(), dropped), (1, 0), "{strategy:?}");
            let event = all[0];
            assert_eq!(
                (
                    event.handle,
                    event.bytes,
                    event.released_ns,
                    event.strategy,
                    event.reserved
                ),
                (0x2_0000_0001, 4, released_ns, strategy.code(), 0)
            );
            assert!(event.freed_ns >= event.released_ns, "{event:?}");
        }
        // Without a ring nothing is stamped.
        assert_eq!(Reclaimer::new(Strategy::Immediate, None).death_stamp(), 0);
    }

    #[test]
    fn shutdown_records_no_event() {
        let reclaimer = Reclaimer::new(Strategy::Epoch, Some(crate::events::EventRing::new(4)));
        let pin = reclaimer.pin();
        let resource = dead_resource(&reclaimer, 2);
        reclaimer.retire(retired(&resource));
        reclaimer.reclaim_all_pending();
        drop(pin);
        reclaimer.quiesce(Duration::from_secs(5)).unwrap();
        assert_eq!(reclaimer.events().unwrap().drain(4), (vec![], 0));
    }
}
