//! Guarded release: the foreign runtime's outstanding acknowledgements.
//!
//! Header, "Guarded release": the owner frees a dead resource's memory only
//! once the foreign runtime has acknowledged its last release. The foreign
//! front acknowledges either inside that release (`foreign_release(h, 1)`)
//! or later (`foreign_release(h, 0)`, then `foreign_ack(h)`, from a Go GC
//! cleanup). [`Acks`] keeps, per handle value:
//!
//! * `outstanding`: the number of acknowledgements still owed. Each
//!   `foreign_release(h, 0)` that drops the foreign count from 1 to 0 adds one
//!   ([`Acks::expect`]); each `foreign_ack(h)` removes one ([`Acks::ack`]).
//!   The count can exceed 1: the foreign count may go 1 -> 0 with `ack = 0`,
//!   back up (a `foreign_acquire` while owner references keep the resource
//!   alive) and 1 -> 0 again, before the first acknowledgement arrives.
//!   A handle with nothing owed has no entry, so `foreign_ack` of it gives
//!   `FH_INVALID_HANDLE`.
//! * `parked`: the dead resource, when it died while acknowledgements were
//!   owed ([`Acks::park`]). It stays pending (dead, memory not freed) until
//!   the last owed acknowledgement, which hands it back for reclamation.
//!
//! Resources the foreign runtime never referenced never reach this map (the
//! session checks [`crate::table::Dead::foreign_ever`] first), so a
//! single-runtime program pays nothing for it. Acknowledgements owed for a
//! LIVE resource are just counted: acknowledging them early is fine, the
//! resource is then freed at its death like any other.
//!
//! No locking here: the session keeps an [`Acks`] behind a mutex, taken
//! after the table lock when both are needed (never the other way round).

use std::collections::HashMap;

use fuzzharness_adapter::contract::FH_INVALID_HANDLE;
use fuzzharness_adapter::error::{Error, Result};

/// What is owed for one handle.
#[derive(Debug)]
struct Owed<T> {
    outstanding: u64,
    parked: Option<T>,
}

/// The outstanding acknowledgements of a session, by handle value.
#[derive(Debug)]
pub struct Acks<T> {
    owed: HashMap<u64, Owed<T>>,
    parked: usize,
}

impl<T> Default for Acks<T> {
    fn default() -> Self {
        Self {
            owed: HashMap::new(),
            parked: 0,
        }
    }
}

impl<T> Acks<T> {
    /// The foreign runtime dropped its last reference of `handle` without
    /// acknowledging it (`ack = 0`): one more acknowledgement is owed.
    pub fn expect(&mut self, handle: u64) {
        self.owed
            .entry(handle)
            .or_insert(Owed {
                outstanding: 0,
                parked: None,
            })
            .outstanding += 1;
    }

    /// `handle`'s resource died with `value`: `None` if acknowledgements are
    /// owed (the value is parked until the last one), else `Some(value)` to
    /// reclaim now.
    pub fn park(&mut self, handle: u64, value: T) -> Option<T> {
        match self.owed.get_mut(&handle) {
            Some(owed) => {
                debug_assert!(owed.parked.is_none(), "a handle dies once");
                owed.parked = Some(value);
                self.parked += 1;
                None
            }
            None => Some(value),
        }
    }

    /// One acknowledgement of `handle` arrived (`foreign_ack`): gives the
    /// parked value when it was the last one owed for a dead resource.
    /// `FH_INVALID_HANDLE` if nothing is owed for `handle`.
    pub fn ack(&mut self, handle: u64) -> Result<Option<T>> {
        let Some(owed) = self.owed.get_mut(&handle) else {
            return Err(Error::new(
                FH_INVALID_HANDLE,
                format!("handle {handle:#x} has no outstanding acknowledgement"),
            ));
        };
        owed.outstanding -= 1;
        if owed.outstanding > 0 {
            return Ok(None);
        }
        let parked = self.owed.remove(&handle).and_then(|owed| owed.parked);
        if parked.is_some() {
            self.parked -= 1;
        }
        Ok(parked)
    }

    /// Dead resources waiting for acknowledgements (pending in `fh_stats`).
    pub fn parked(&self) -> usize {
        self.parked
    }

    /// Acknowledgements owed for `handle` (0 if none).
    pub fn outstanding(&self, handle: u64) -> u64 {
        self.owed.get(&handle).map_or(0, |owed| owed.outstanding)
    }

    /// Forgets everything and returns the parked values (session shutdown).
    pub fn take_parked(&mut self) -> Vec<T> {
        self.parked = 0;
        self.owed
            .drain()
            .filter_map(|(_, owed)| owed.parked)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_owed_means_reclaim_now_and_ack_is_invalid() {
        let mut acks = Acks::default();
        assert_eq!(acks.park(7, "mem"), Some("mem"));
        let error = acks.ack(7).unwrap_err();
        assert_eq!(error.status(), FH_INVALID_HANDLE);
        assert_eq!(
            error.message(),
            "handle 0x7 has no outstanding acknowledgement"
        );
        assert_eq!(acks.parked(), 0);
    }

    #[test]
    fn a_dead_resource_waits_for_its_acknowledgement() {
        let mut acks = Acks::default();
        acks.expect(7);
        assert_eq!(acks.park(7, "mem"), None);
        assert_eq!(acks.parked(), 1);
        assert_eq!(acks.ack(7).unwrap(), Some("mem"));
        assert_eq!(acks.parked(), 0);
        assert_eq!(acks.ack(7).unwrap_err().status(), FH_INVALID_HANDLE);
    }

    #[test]
    fn acknowledgements_are_counted_per_resource() {
        let mut acks = Acks::default();
        // 1 -> 0 with ack = 0, back up, 1 -> 0 again: two owed.
        acks.expect(7);
        acks.expect(7);
        acks.expect(9);
        assert_eq!(acks.outstanding(7), 2);
        assert_eq!(acks.park(7, "seven"), None);
        assert_eq!(acks.ack(7).unwrap(), None, "one still owed");
        assert_eq!(acks.parked(), 1);
        assert_eq!(acks.ack(7).unwrap(), Some("seven"));
        // An acknowledgement before the death: nothing left to wait for.
        assert_eq!(acks.ack(9).unwrap(), None);
        assert_eq!(acks.park(9, "nine"), Some("nine"));
        assert_eq!(acks.parked(), 0);
    }

    #[test]
    fn shutdown_takes_the_parked_values() {
        let mut acks = Acks::default();
        acks.expect(1);
        acks.expect(2);
        assert_eq!(acks.park(1, "one"), None);
        assert_eq!(acks.take_parked(), ["one"]);
        assert_eq!((acks.parked(), acks.outstanding(2)), (0, 0));
    }
}
