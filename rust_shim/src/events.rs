//! Reclamation events (`FH_FLAG_RECLAIM_EVENTS`, `fh_drain_reclaim_events`).
//!
//! With the flag, a session records one `fh_reclaim_event` each time the
//! memory of a resource is really freed (not what `fh_shutdown` frees):
//!
//! * `released_ns`: [`crate::clock::monotonic_ns`] read by the release that made
//!   the resource die (both runtimes' counts zero), under the table lock;
//! * `freed_ns`: read right after the bytes went back to the allocator: in
//!   that same release for `IMMEDIATE` and `GUARDED` (and for a resource the
//!   foreign runtime acknowledged in its release), in crossbeam-epoch's
//!   deferred function for `EPOCH`, in `foreign_ack` for a resource whose
//!   acknowledgement came later (`GO_CLEANUP`). So `released_ns <= freed_ns`.
//!
//! Both come from `CLOCK_MONOTONIC`, the clock of `fh_clock_ns` and of C's
//! `clock_gettime(CLOCK_MONOTONIC)`.
//!
//! The events go into a bounded lock-free ring ([`crossbeam_queue::ArrayQueue`],
//! [`RING_CAPACITY`] events): recording never blocks and never allocates; when
//! the ring is full the event is counted as dropped instead. A drain moves the
//! oldest events out and takes (resets) the dropped count. Without the flag the
//! session has no ring at all and the release path pays one branch on an
//! `Option` (the time stamp is read only when there is a ring).

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

use fuzzharness_adapter::contract::fh_reclaim_event;

/// Events a session's ring holds before it drops new ones.
pub const RING_CAPACITY: usize = 65_536;

/// A bounded ring of reclamation events plus the count of dropped ones.
#[derive(Debug)]
pub struct EventRing {
    queue: ArrayQueue<fh_reclaim_event>,
    dropped: AtomicU64,
}

impl EventRing {
    /// An empty ring of `capacity` (>= 1) events.
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: ArrayQueue::new(capacity),
            dropped: AtomicU64::new(0),
        }
    }

    /// Records `event`, or counts it as dropped when the ring is full.
    pub fn record(&self, event: fh_reclaim_event) {
        if self.queue.push(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Moves up to `max` events out, oldest first, and returns them with the
    /// number of events dropped since the previous drain.
    pub fn drain(&self, max: usize) -> (Vec<fh_reclaim_event>, u64) {
        let mut events = Vec::with_capacity(max.min(self.queue.len()));
        while events.len() < max {
            match self.queue.pop() {
                Some(event) => events.push(event),
                None => break,
            }
        }
        (events, self.dropped.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(handle: u64) -> fh_reclaim_event {
        fh_reclaim_event {
            handle,
            bytes: 1,
            released_ns: 2,
            freed_ns: 3,
            strategy: 0,
            reserved: 0,
        }
    }

    #[test]
    fn drains_oldest_first_up_to_max() {
        let ring = EventRing::new(8);
        for h in 1..=5 {
            ring.record(event(h));
        }
        let (events, dropped) = ring.drain(3);
        assert_eq!(
            events.iter().map(|e| e.handle).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(dropped, 0);
        let (events, _) = ring.drain(100);
        assert_eq!(events.iter().map(|e| e.handle).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(ring.drain(0), (vec![], 0));
    }

    #[test]
    fn a_full_ring_counts_drops_until_the_next_drain() {
        let ring = EventRing::new(2);
        for h in 1..=5 {
            ring.record(event(h));
        }
        let (events, dropped) = ring.drain(10);
        assert_eq!(events.iter().map(|e| e.handle).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(dropped, 3, "the newest are dropped, the oldest kept");
        assert_eq!(ring.drain(10).1, 0, "a drain resets the count");
        ring.record(event(6));
        assert_eq!(ring.drain(10).0[0].handle, 6);
    }

    #[test]
    fn concurrent_recording_loses_nothing_that_fits() {
        let ring = EventRing::new(4000);
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let ring = &ring;
                scope.spawn(move || (0..1000).for_each(|i| ring.record(event(t * 1000 + i))));
            }
        });
        let (mut events, dropped) = ring.drain(usize::MAX);
        assert_eq!((events.len(), dropped), (4000, 0));
        events.sort_by_key(|e| e.handle);
        assert!(events.iter().enumerate().all(|(i, e)| e.handle == i as u64));
    }
}
