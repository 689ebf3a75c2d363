//! The session's counters, reported as `fh_stats`.
//!
//! A resource moves through three states, each transition one method call
//! made under the counters' lock, so any copy taken under the same lock
//! satisfies `created == live_resources + pending_resources + reclaimed` and
//! the byte sums match the resource counts:
//!
//! ```text
//! born ──> live ──died──> pending ──reclaimed──> reclaimed
//! ```

use crate::ctypes::fh_stats;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
