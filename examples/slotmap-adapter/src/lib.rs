//! A worked example for fuzzharness: the ownership contract (ABI 1.0 of
//! `targets/include/fuzzharness_decls.h`) over a handle system nobody in the
//! project wrote, [`slotmap::SlotMap`], whose OWN key values are the handles.
//! The project's adapter kit (`kits/rust`, crate `fuzzharness-adapter`) does
//! the rest: the C exports, the check order, the panic boundary, the last
//! error and the stats ([`Ledger`]). This crate has no `unsafe` code.
//!
//! A handle is `KeyData::as_ffi()` of the resource's key: slot index in the
//! low 32 bits, slot version in the high 32 bits, versions odd while a slot is
//! occupied, slot 0 never used, the last freed slot reused first. That is not
//! the contract's layout, so `registry.toml` declares `handles = "opaque"`.
//! What the adapter guarantees (without a `weak-*` feature):
//!
//! * a value that was never a key of a live resource is refused, including
//!   the values `KeyData::from_ffi` would silently accept by forcing the
//!   version odd (0, or bit 32 of a live handle flipped): `from_ffi(h)` must
//!   give back `h` (`FH_INVALID_HANDLE` otherwise);
//! * a well-formed key naming no live resource gives `FH_STALE_HANDLE`:
//!   `SlotMap::get` answers `None` alike for a key never issued and for one
//!   whose value was removed (`stale_status = "invalid-or-stale"`);
//! * a value is never issued twice: slotmap wraps a slot's version after 2^31
//!   reuses, so a slot whose version reached `u32::MAX` is retired (kept
//!   occupied by a tombstone) instead of freed (`reuse = "never"`);
//! * reference counts per resource, snapshots as read-only copies, exact
//!   stats, `FH_RECLAIM_IMMEDIATE` only. One mutex guards the slot map, so
//!   every call is atomic (a read never sees part of a write).
//!
//! The planted weaknesses are cargo features (one at a time), marked
//! `WEAKNESS` where they differ from the correct code; see README.md.

#![deny(unsafe_code)]

use std::sync::{Mutex, MutexGuard, PoisonError};

use fuzzharness_adapter::contract::{
    fh_config, fh_resource_info, fh_stats, FH_INVALID_HANDLE, FH_STALE_HANDLE,
};
use fuzzharness_adapter::{buffer, Admission, Contract, Error, Input, Ledger, Output, Result};
#[cfg(not(feature = "weak-aba"))]
use slotmap::KeyData;
use slotmap::{DefaultKey, Key, SlotMap};

#[cfg(any(
    all(feature = "weak-aba", feature = "weak-stale-panic"),
    all(feature = "weak-aba", feature = "weak-alias"),
    all(feature = "weak-aba", feature = "weak-race"),
    all(feature = "weak-stale-panic", feature = "weak-alias"),
    all(feature = "weak-stale-panic", feature = "weak-race"),
    all(feature = "weak-alias", feature = "weak-race"),
    all(feature = "weak-panic-alias", feature = "weak-aba"),
    all(feature = "weak-panic-alias", feature = "weak-stale-panic"),
    all(feature = "weak-panic-alias", feature = "weak-alias"),
    all(feature = "weak-panic-alias", feature = "weak-race"),
))]
compile_error!("enable at most one weak-* feature: each planted weakness is its own build");

struct Resource {
    bytes: Vec<u8>,
    refs: u32,
    read_only: bool,
}

enum Slot {
    Live(Resource),
    /// The tombstone of a dead resource whose slot version cannot grow any more.
    Retired,
}

/// `weak-aba`: the part of `as_ffi()` a handle keeps (slot index and the low
/// 16 bits of the version): the odd versions of a slot repeat every 2^15 reuses.
#[cfg(feature = "weak-aba")]
const SHORT_HANDLE_MASK: u64 = 0x0000_FFFF_FFFF_FFFF;

/// The handle value naming `key`.
pub fn handle_of(key: DefaultKey) -> u64 {
    let value = key.data().as_ffi();
    #[cfg(feature = "weak-aba")]
    let value = value & SHORT_HANDLE_MASK; // WEAKNESS: the version's high 16 bits are dropped
    value
}

/// Whether a dead resource's slot must be retired rather than freed: freeing
/// a slot at version `u32::MAX` would let slotmap wrap it to its first key.
pub fn retires(key: DefaultKey) -> bool {
    key.data().as_ffi() >> 32 == u64::from(u32::MAX)
}

fn stale() -> Error {
    Error::new(
        FH_STALE_HANDLE,
        "names no live resource (never issued, or released: slotmap cannot tell which)",
    )
}

/// The contract over one `SlotMap` (one session).
pub struct SlotmapAdapter {
    ledger: Ledger,
    map: Mutex<SlotMap<DefaultKey, Slot>>,
}

type Map = SlotMap<DefaultKey, Slot>;

/// The key a handle value decodes to, before any lookup.
#[cfg(not(feature = "weak-aba"))]
fn decode(_map: &Map, handle: u64) -> Result<DefaultKey> {
    let key = KeyData::from_ffi(handle);
    if key.as_ffi() != handle {
        return Err(Error::new(
            FH_INVALID_HANDLE,
            "is not a slotmap key (0, or an even version half)",
        ));
    }
    Ok(key.into())
}

#[cfg(feature = "weak-aba")]
fn decode(map: &Map, handle: u64) -> Result<DefaultKey> {
    if handle & !SHORT_HANDLE_MASK != 0 {
        return Err(Error::new(
            FH_INVALID_HANDLE,
            "is not a short slotmap key (bits 48..63 are set)",
        ));
    }
    // WEAKNESS: the key is whichever occupant of the slot matches the short form.
    map.keys()
        .find(|&key| handle_of(key) == handle)
        .ok_or_else(stale)
}

/// The key of the live resource `handle` names.
fn resolve(map: &Map, handle: u64) -> Result<DefaultKey> {
    // WEAKNESS (two at once, `weak-panic-alias`): a naive table resolves a handle by its
    // slot index alone: an occupied slot gives its occupant whatever the version (a stale
    // or forged value aliases a live resource), an empty one panics (an unwrap).
    #[cfg(feature = "weak-panic-alias")]
    {
        match live_in_slot(map, handle) {
            Some(key) => return Ok(key),
            None if handle & 0xFFFF_FFFF != 0 && handle & 0xFFFF_FFFF <= map.capacity() as u64 => {
                panic!("no resource in slot {}", handle & 0xFFFF_FFFF)
            }
            None => {}
        }
    }
    let key = decode(map, handle)?;
    #[cfg(not(feature = "weak-stale-panic"))]
    let slot = map.get(key);
    // WEAKNESS: slotmap's Index panics ("invalid SlotMap key used") on a key that is not live.
    #[cfg(feature = "weak-stale-panic")]
    let slot = Some(&map[key]);
    match slot {
        Some(Slot::Live(_)) => Ok(key),
        #[cfg(feature = "weak-alias")]
        // WEAKNESS: a version mismatch is settled by the slot index alone
        _ => live_in_slot(map, handle).ok_or_else(stale),
        #[cfg(not(feature = "weak-alias"))]
        _ => Err(stale()),
    }
}

/// `weak-alias`: the live resource in the slot of `handle`, whatever its version.
#[cfg(any(feature = "weak-alias", feature = "weak-panic-alias"))]
fn live_in_slot(map: &Map, handle: u64) -> Option<DefaultKey> {
    let index = |value: u64| value & 0xFFFF_FFFF;
    map.iter()
        .find(|(key, slot)| {
            matches!(slot, Slot::Live(_)) && index(key.data().as_ffi()) == index(handle)
        })
        .map(|(key, _)| key)
}

fn live_mut(map: &mut Map, handle: u64) -> Result<(DefaultKey, &mut Resource)> {
    let key = resolve(map, handle)?;
    match map.get_mut(key) {
        Some(Slot::Live(resource)) => Ok((key, resource)),
        _ => Err(stale()),
    }
}

/// `weak-race`: the window between a racy release's read and its update:
/// yields, then spins briefly, so that another thread's call lands in it often.
#[cfg(feature = "weak-race")]
fn race_window() {
    std::thread::yield_now();
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_micros(20) {
        std::hint::spin_loop();
    }
}

impl SlotmapAdapter {
    fn map(&self) -> MutexGuard<'_, Map> {
        // Only weak-stale-panic panics with the lock held, and leaves the map whole.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the live resource `handle` names.
    fn with<R>(&self, handle: u64, f: impl FnOnce(&mut Resource) -> Result<R>) -> Result<R> {
        f(live_mut(&mut self.map(), handle)?.1)
    }

    /// A new resource holding `bytes`, with one reference, counted by the
    /// `admission` the limits gave it (taken before the bytes were allocated).
    fn insert(&self, admission: Admission<'_>, bytes: Vec<u8>, read_only: bool) -> u64 {
        let resource = Resource {
            bytes,
            refs: 1,
            read_only,
        };
        let key = self.map().insert(Slot::Live(resource));
        admission.commit();
        handle_of(key)
    }

    /// The resource of `key` (live, in `map`) dies: its memory is freed now
    /// (IMMEDIATE) and its slot freed, or retired when its version is exhausted.
    fn kill(&self, map: &mut Map, key: DefaultKey) {
        let slot = if retires(key) {
            map.get_mut(key)
                .map(|slot| std::mem::replace(slot, Slot::Retired))
        } else {
            map.remove(key)
        };
        if let Some(Slot::Live(resource)) = slot {
            self.ledger.freed(resource.bytes.len() as u64);
        }
    }

    /// `weak-race`: the second half of a release: stores `refs` (what the
    /// first half read, minus one) and frees the resource at zero.
    #[cfg(feature = "weak-race")]
    fn store_refs(&self, handle: u64, refs: u32) -> Result<()> {
        let mut map = self.map();
        let (key, resource) = live_mut(&mut map, handle)?;
        resource.refs = refs;
        if refs == 0 {
            self.kill(&mut map, key);
        }
        Ok(())
    }
}

impl Contract for SlotmapAdapter {
    fn open(config: &fh_config) -> Result<Self> {
        let slots = config.capacity.min(1024) as usize; // grows on demand up to the capacity
        Ok(Self {
            ledger: Ledger::new(config),
            map: Mutex::new(SlotMap::with_capacity(slots)),
        })
    }

    fn create(&self, size: u64) -> Result<u64> {
        let admission = self.ledger.admit(size)?; // FH_EXHAUSTED before allocating
        Ok(self.insert(admission, buffer::zeroed(size)?, false))
    }

    fn acquire(&self, handle: u64) -> Result<()> {
        self.with(handle, |resource| {
            resource.refs = resource
                .refs
                .checked_add(1)
                .ok_or_else(|| Error::too_many_references(handle))?;
            Ok(())
        })
    }

    #[cfg(not(feature = "weak-race"))]
    fn release(&self, handle: u64) -> Result<()> {
        let mut map = self.map();
        let (key, resource) = live_mut(&mut map, handle)?;
        resource.refs -= 1;
        if resource.refs == 0 {
            self.kill(&mut map, key);
        }
        Ok(())
    }

    #[cfg(feature = "weak-race")]
    fn release(&self, handle: u64) -> Result<()> {
        // WEAKNESS: the count is read under the lock, the lock is dropped, and the
        // decremented count is stored later: two concurrent releases lose one.
        let refs = self.with(handle, |resource| Ok(resource.refs))?;
        race_window();
        self.store_refs(handle, refs - 1)
    }

    fn write(&self, handle: u64, offset: u64, data: Input<'_>) -> Result<()> {
        self.with(handle, |resource| {
            if resource.read_only {
                return Err(Error::read_only(handle));
            }
            data.copy_to(&mut resource.bytes, offset) // FH_OVERFLOW, FH_BOUNDS; all or nothing
        })
    }

    fn read(&self, handle: u64, offset: u64, buf: Output<'_>) -> Result<()> {
        self.with(handle, |resource| buf.copy_from(&resource.bytes, offset))
    }

    fn snapshot(&self, handle: u64) -> Result<u64> {
        // Admitted and copied under the lock, inserted after it: a snapshot of the
        // bytes as they were at the copy (the snapshot's instant). Lock order: the
        // map, then the ledger.
        let (admission, bytes) = self.with(handle, |resource| {
            let admission = self.ledger.admit(resource.bytes.len() as u64)?;
            Ok((admission, resource.bytes.clone()))
        })?;
        Ok(self.insert(admission, bytes, true))
    }

    fn info(&self, handle: u64) -> Result<fh_resource_info> {
        self.with(handle, |resource| {
            Ok(fh_resource_info {
                size: resource.bytes.len() as u64,
                refs: resource.refs,
                read_only: resource.read_only.into(),
            })
        })
    }

    fn stats(&self) -> fh_stats {
        self.ledger.stats()
    }
}

fuzzharness_adapter::export_contract!(SlotmapAdapter);

#[cfg(test)]
mod tests {
    use super::*;
    use fuzzharness_adapter::contract::{FH_OVERFLOW, FH_RECLAIM_IMMEDIATE};
    use slotmap::KeyData;

    #[test]
    fn a_slot_at_the_last_version_is_retired_not_freed() {
        assert!(retires(
            KeyData::from_ffi(u64::from(u32::MAX) << 32 | 3).into()
        ));
        assert!(!retires(
            KeyData::from_ffi(u64::from(u32::MAX - 2) << 32 | 3).into()
        ));
    }

    #[test]
    fn acquire_at_the_maximum_count_overflows() {
        let config = fh_config {
            capacity: 1,
            strategy: FH_RECLAIM_IMMEDIATE,
            max_resource_bytes: 1,
            max_total_bytes: 1,
            flags: 0,
        };
        let adapter = SlotmapAdapter::open(&config).unwrap();
        let handle = adapter.create(1).unwrap();
        adapter
            .with(handle, |resource| {
                resource.refs = u32::MAX - 1;
                Ok(())
            })
            .unwrap();
        adapter.acquire(handle).unwrap();
        assert_eq!(adapter.acquire(handle).unwrap_err().status(), FH_OVERFLOW);
    }
}
