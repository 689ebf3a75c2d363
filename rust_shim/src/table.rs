//! The slot table: handles, generations, lowest-free-slot allocation and
//! reference counts.
//!
//! Guarantees, exactly as in the header's "Handles" and "References":
//! * a handle is `generation << 32 | slot`; every slot starts at generation 0
//!   and its generation is incremented before each placement, so 0 is never a
//!   valid handle and a slot reused fewer than 2^32 times never repeats one;
//! * a slot at generation `u32::MAX` is retired when its resource dies;
//! * a new value goes into the lowest-numbered free slot;
//! * any `u64` is classified, never trusted: `FH_INVALID_HANDLE` (generation
//!   0, slot out of range, generation ahead of the slot) or `FH_STALE_HANDLE`
//!   (older generation, or the slot's resource died) or the live entry;
//! * each live value has two reference counts, one per runtime ([`Side`]):
//!   the owner's (this library's own exports) and the foreign runtime's (the
//!   `foreign_*` entries of the backend table). Each is a `u32`: acquiring at
//!   `u32::MAX` gives `FH_OVERFLOW` for that count. A release drops one
//!   reference of its side (`FH_NOT_HELD` if that side holds none), and the
//!   release that makes the SUM zero frees the slot and hands the value back
//!   to the caller (the resource died).
//!
//! The table is generic over the stored value and does no locking: the
//! session keeps it behind a lock. Storage grows lazily up to the capacity.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, Ordering};

use fuzzharness_adapter::contract::{
    FH_EXHAUSTED, FH_INVALID_HANDLE, FH_NOT_HELD, FH_OVERFLOW, FH_STALE_HANDLE,
};
use fuzzharness_adapter::error::{Error, Result};

/// The runtime a reference belongs to (header: "Per-runtime references").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This library's own exports (`fh_create`, `fh_acquire`, ...).
    Owner,
    /// The foreign front, through the `foreign_*` entries of `fh_backend`.
    Foreign,
}

impl Side {
    /// "owner" or "foreign", for messages.
    pub fn name(self) -> &'static str {
        match self {
            Side::Owner => "owner",
            Side::Foreign => "foreign",
        }
    }
}

/// A live value with its two reference counts (their sum is always >= 1).
///
/// The owner's count is an `AtomicU32` only so that the test mutant
/// `FH_MUTANT_RACY_REFCOUNT` can update it under the table's read lock; every
/// other access goes through `&mut` (`get_mut`) or a relaxed load, which
/// compile to the plain accesses of a `u32`.
#[derive(Debug)]
pub struct Entry<T> {
    value: T,
    refs: AtomicU32,
    foreign: u32,
    foreign_ever: bool,
}

impl<T> Entry<T> {
    /// The stored value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The reference count `fh_info` reports: the sum of both runtimes'
    /// counts (saturated at `u32::MAX`, which only two counts both above
    /// 2^31 can reach).
    pub fn refs(&self) -> u32 {
        self.owner_refs().saturating_add(self.foreign)
    }

    /// The owner's reference count.
    pub fn owner_refs(&self) -> u32 {
        self.refs.load(Ordering::Relaxed)
    }

    /// The foreign runtime's reference count.
    pub fn foreign_refs(&self) -> u32 {
        self.foreign
    }

    fn count_mut(&mut self, side: Side) -> &mut u32 {
        match side {
            Side::Owner => self.refs.get_mut(),
            Side::Foreign => &mut self.foreign,
        }
    }
}

/// What a successful [`Table::release`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Released<T> {
    /// The releasing side's count went from 1 to 0 (its last reference).
    pub side_emptied: bool,
    /// The value, when this release killed the resource (slot free at once).
    pub dead: Option<Dead<T>>,
}

/// A value whose resource died in a release.
#[derive(Debug, PartialEq, Eq)]
pub struct Dead<T> {
    /// The stored value.
    pub value: T,
    /// Whether the foreign runtime ever held a reference to it.
    pub foreign_ever: bool,
    /// Foreign references still held at death: 0, except under the test
    /// mutant `FH_MUTANT_GUARD_ONE_SIDE`.
    pub foreign_left: u32,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    entry: Option<Entry<T>>,
}

/// Fixed-capacity table of reference-counted values addressed by handles.
#[derive(Debug)]
pub struct Table<T> {
    capacity: u32,
    /// Slots ever used (`0..slots.len()`); the rest are implicitly at generation 0.
    slots: Vec<Slot<T>>,
    /// Free, non-retired slots below `slots.len()`, lowest on top.
    free: BinaryHeap<Reverse<u32>>,
}

/// The handle of `slot` at `generation`.
pub fn handle(slot: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(slot)
}

/// `(slot, generation)` of a handle.
pub fn split(handle: u64) -> (u32, u32) {
    // Truncation is the point: the low half is the slot, the high half the generation.
    (handle as u32, (handle >> 32) as u32)
}

impl<T> Table<T> {
    /// An empty table of `capacity` slots, all at generation 0.
    pub fn new(capacity: u32) -> Self {
        Self {
            capacity,
            slots: Vec::new(),
            free: BinaryHeap::new(),
        }
    }

    /// `FH_EXHAUSTED` unless a value can be inserted now.
    pub fn check_free_slot(&self) -> Result<()> {
        if self.free.is_empty() && self.slots.len() >= self.capacity as usize {
            return Err(Error::new(
                FH_EXHAUSTED,
                format!(
                    "no free slot (all {} slots hold live or retired resources)",
                    self.capacity
                ),
            ));
        }
        Ok(())
    }

    /// Places `value` with one reference of `side` in the lowest free slot
    /// and returns its handle, or `FH_EXHAUSTED` (the value is then dropped).
    pub fn insert(&mut self, value: T, side: Side) -> Result<u64> {
        self.check_free_slot()?;
        let index = match self.free.pop() {
            Some(Reverse(index)) => index as usize,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        // Retired slots (generation u32::MAX) never return to `free`.
        slot.generation = next_generation(slot.generation);
        let foreign = side == Side::Foreign;
        slot.entry = Some(Entry {
            value,
            refs: AtomicU32::new(u32::from(!foreign)),
            foreign: u32::from(foreign),
            foreign_ever: foreign,
        });
        // `index < capacity <= 2^20`, so it fits in u32.
        Ok(handle(index as u32, slot.generation))
    }

    /// The live entry named by `handle`, or why there is none.
    pub fn get(&self, handle: u64) -> Result<&Entry<T>> {
        let index = self.locate(handle)?;
        Ok(self.slots[index]
            .entry
            .as_ref()
            .expect("locate returns live slots"))
    }

    /// Adds one reference of `side`; `FH_OVERFLOW` when that side already
    /// holds `u32::MAX` references.
    pub fn acquire(&mut self, handle: u64, side: Side) -> Result<()> {
        let index = self.locate(handle)?;
        let entry = self.slots[index]
            .entry
            .as_mut()
            .expect("locate returns live slots");
        let refs = entry.count_mut(side);
        *refs = refs.checked_add(1).ok_or_else(|| {
            let side = side.name();
            Error::new(
                FH_OVERFLOW,
                format!(
                    "handle {handle:#x} already has {} {side} references",
                    u32::MAX
                ),
            )
        })?;
        if side == Side::Foreign {
            entry.foreign_ever = true;
        }
        Ok(())
    }

    /// Drops one reference of `side` (`FH_NOT_HELD`, without effect, if that
    /// side holds none). When both counts are then zero, the slot is free (or
    /// retired) at once and the value is returned: the resource died.
    pub fn release(&mut self, handle: u64, side: Side) -> Result<Released<T>> {
        let index = self.locate(handle)?;
        let slot = &mut self.slots[index];
        let entry = slot.entry.as_mut().expect("locate returns live slots");
        let refs = entry.count_mut(side);
        if *refs == 0 {
            let other = entry.refs();
            return Err(Error::new(
                FH_NOT_HELD,
                format!(
                    "handle {handle:#x}: the {} runtime holds no reference of its own \
                     (the other runtime holds {other})",
                    side.name()
                ),
            ));
        }
        *refs -= 1;
        let side_emptied = *refs == 0;
        let (owner, foreign) = (entry.owner_refs(), entry.foreign);
        let alive = u64::from(owner) + u64::from(foreign) > u64::from(death_threshold());
        if alive && !(side == Side::Owner && owner == 0 && guard_one_side()) {
            return Ok(Released {
                side_emptied,
                dead: None,
            });
        }
        let dead = slot.entry.take().expect("checked above");
        if slot.generation != u32::MAX {
            self.free.push(Reverse(index as u32));
        }
        Ok(Released {
            side_emptied,
            dead: Some(Dead {
                value: dead.value,
                foreign_ever: dead.foreign_ever,
                foreign_left: dead.foreign,
            }),
        })
    }

    /// Index of the live slot named by `handle` (see the module's classification).
    fn locate(&self, handle: u64) -> Result<usize> {
        let (slot, generation) = split(handle);
        let invalid = |why: String| {
            Err(Error::new(
                FH_INVALID_HANDLE,
                format!("handle {handle:#x} is invalid ({why})"),
            ))
        };
        let stale = |why: String| {
            Err(Error::new(
                FH_STALE_HANDLE,
                format!("handle {handle:#x} is stale ({why})"),
            ))
        };
        if generation == 0 {
            return invalid("generation 0 is never issued".into());
        }
        if slot >= self.capacity {
            return invalid(format!(
                "slot {slot} is out of range, capacity {}",
                self.capacity
            ));
        }
        let index = slot as usize;
        let current = self.slots.get(index).map_or(0, |s| s.generation);
        if generation > current {
            return invalid(format!(
                "generation {generation} was never issued, slot {slot} is at generation {current}"
            ));
        }
        // `current >= generation >= 1`, so the slot has been used and exists.
        let live = self.slots[index].entry.is_some();
        if live && (generation == current || skip_generation()) {
            Ok(index)
        } else if generation < current {
            stale(format!("slot {slot} is at generation {current}"))
        } else if current == u32::MAX {
            stale(format!("its resource died, slot {slot} is retired"))
        } else {
            stale(format!("its resource died, slot {slot} is free"))
        }
    }
}

/// Whether `FH_MUTANT_SKIP_GENERATION` makes a live slot answer older generations.
#[cfg(feature = "mutants")]
fn skip_generation() -> bool {
    crate::mutants::is_active(fuzzharness_adapter::testing::FH_MUTANT_SKIP_GENERATION)
}

/// Without the `mutants` feature the generation is always checked.
#[cfg(not(feature = "mutants"))]
fn skip_generation() -> bool {
    false
}

/// The next generation of a slot (`FH_MUTANT_GENERATION_WRAP` cycles 1, 2, 3).
#[cfg(feature = "mutants")]
fn next_generation(generation: u32) -> u32 {
    crate::mutants::next_generation(generation)
}

/// Without the `mutants` feature: the next generation.
#[cfg(not(feature = "mutants"))]
fn next_generation(generation: u32) -> u32 {
    generation + 1
}

/// The count at or below which a release kills (`FH_MUTANT_EARLY_FREE`: 1).
#[cfg(feature = "mutants")]
fn death_threshold() -> u32 {
    crate::mutants::death_threshold()
}

/// Without the `mutants` feature a release kills at 0.
#[cfg(not(feature = "mutants"))]
fn death_threshold() -> u32 {
    0
}

/// Whether `FH_MUTANT_GUARD_ONE_SIDE` kills a resource when the owner's count
/// reaches zero whatever the foreign count.
#[cfg(feature = "mutants")]
fn guard_one_side() -> bool {
    crate::mutants::is_active(fuzzharness_adapter::testing::FH_MUTANT_GUARD_ONE_SIDE)
}

/// Without the `mutants` feature both counts guard the resource.
#[cfg(not(feature = "mutants"))]
fn guard_one_side() -> bool {
    false
}

/// Table operations of the racy and dangling-pointer test mutants.
#[cfg(feature = "mutants")]
impl<T> Table<T> {
    /// The generation of `slot` if it has been used and is free now (its
    /// resource died and no other took its place).
    pub fn free_generation(&self, slot: u32) -> Option<u32> {
        let slot = self.slots.get(slot as usize)?;
        slot.entry.is_none().then_some(slot.generation)
    }

    /// `FH_MUTANT_RACY_REFCOUNT`: stores `refs` as the owner's count of
    /// `handle` if it is still live, without the write lock (the lost update
    /// is the bug).
    pub fn store_refs(&self, handle: u64, refs: u32) {
        if let Ok(entry) = self.get(handle) {
            entry.refs.store(refs, Ordering::Relaxed);
        }
    }

    /// `FH_MUTANT_RACY_REFCOUNT`: kills `handle` whatever its count, if it is
    /// still live; returns the value as [`Table::release`] does.
    pub fn kill(&mut self, handle: u64) -> Option<T> {
        let index = self.locate(handle).ok()?;
        let slot = &mut self.slots[index];
        let dead = slot.entry.take().expect("locate returns live slots");
        if slot.generation != u32::MAX {
            self.free.push(Reverse(index as u32));
        }
        Some(dead.value)
    }
}

#[cfg(test)]
impl<T> Table<T> {
    /// Test helper: sets the generation of the used slot `index`.
    fn set_generation(&mut self, index: u32, generation: u32) {
        self.slots[index as usize].generation = generation;
    }

    /// Test helper: an owner release, giving the value if it died.
    fn release_owner(&mut self, handle: u64) -> Result<Option<T>> {
        Ok(self
            .release(handle, Side::Owner)?
            .dead
            .map(|dead| dead.value))
    }

    /// Test helper: sets the reference count of a live handle.
    fn set_refs(&mut self, handle: u64, refs: u32) {
        let index = self.locate(handle).expect("live handle");
        *self.slots[index]
            .entry
            .as_mut()
            .expect("live")
            .count_mut(Side::Owner) = refs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status<T: std::fmt::Debug>(result: Result<T>) -> i32 {
        result.expect_err("expected an error").status()
    }

    #[test]
    fn handles_pack_slot_and_generation() {
        assert_eq!(handle(3, 1), 0x1_0000_0003);
        assert_eq!(split(0x2_0000_0005), (5, 2));
        assert_eq!(split(u64::MAX), (u32::MAX, u32::MAX));
    }

    #[test]
    fn first_handles_use_lowest_slots_at_generation_one() {
        let mut table = Table::new(4);
        for slot in 0..4 {
            assert_eq!(table.insert(slot, Side::Owner).unwrap(), handle(slot, 1));
        }
        assert_eq!(status(table.check_free_slot()), FH_EXHAUSTED);
        assert_eq!(status(table.insert(9, Side::Owner)), FH_EXHAUSTED);
    }

    #[test]
    fn allocation_takes_lowest_free_slot_and_bumps_generation() {
        let mut table = Table::new(8);
        let handles: Vec<u64> = (0..5)
            .map(|v| table.insert(v, Side::Owner).unwrap())
            .collect();
        assert_eq!(table.release_owner(handles[3]).unwrap(), Some(3));
        assert_eq!(table.release_owner(handles[1]).unwrap(), Some(1));
        assert_eq!(table.insert(10, Side::Owner).unwrap(), handle(1, 2));
        assert_eq!(table.insert(11, Side::Owner).unwrap(), handle(3, 2));
        assert_eq!(table.insert(12, Side::Owner).unwrap(), handle(5, 1));
        assert_eq!(*table.get(handle(1, 2)).unwrap().value(), 10);
    }

    #[test]
    fn classification_invalid_cases() {
        let mut table = Table::new(4);
        let h = table.insert("a", Side::Owner).unwrap();
        assert_eq!(h, handle(0, 1));
        // generation 0, even on a live slot
        assert_eq!(status(table.get(0)), FH_INVALID_HANDLE);
        // slot >= capacity
        assert_eq!(status(table.get(handle(4, 1))), FH_INVALID_HANDLE);
        assert_eq!(status(table.get(handle(u32::MAX, 1))), FH_INVALID_HANDLE);
        // generation ahead of the slot, used or never used
        assert_eq!(status(table.get(handle(0, 2))), FH_INVALID_HANDLE);
        assert_eq!(status(table.get(handle(2, 1))), FH_INVALID_HANDLE);
        assert_eq!(status(table.get(u64::MAX)), FH_INVALID_HANDLE);
        let message = table.get(handle(0, 2)).unwrap_err().message().to_owned();
        assert_eq!(message, "handle 0x200000000 is invalid (generation 2 was never issued, slot 0 is at generation 1)");
    }

    #[test]
    fn classification_stale_cases() {
        let mut table = Table::new(4);
        let old = table.insert("a", Side::Owner).unwrap();
        table.release_owner(old).unwrap();
        // g == G and the slot is free
        assert_eq!(status(table.get(old)), FH_STALE_HANDLE);
        assert_eq!(status(table.release_owner(old)), FH_STALE_HANDLE);
        let new = table.insert("b", Side::Owner).unwrap();
        assert_eq!(new, handle(0, 2));
        // g < G with the slot live again
        let error = table.get(old).unwrap_err();
        assert_eq!(error.status(), FH_STALE_HANDLE);
        assert_eq!(
            error.message(),
            "handle 0x100000000 is stale (slot 0 is at generation 2)"
        );
        assert_eq!(*table.get(new).unwrap().value(), "b");
    }

    #[test]
    fn references_count_and_last_release_kills() {
        let mut table = Table::new(2);
        let h = table.insert(7, Side::Owner).unwrap();
        table.acquire(h, Side::Owner).unwrap();
        table.acquire(h, Side::Owner).unwrap();
        assert_eq!(table.get(h).unwrap().refs(), 3);
        assert_eq!(table.release_owner(h).unwrap(), None);
        assert_eq!(table.release_owner(h).unwrap(), None);
        assert_eq!(table.get(h).unwrap().refs(), 1);
        assert_eq!(table.release_owner(h).unwrap(), Some(7));
        assert_eq!(status(table.acquire(h, Side::Owner)), FH_STALE_HANDLE);
        assert_eq!(status(table.release_owner(h)), FH_STALE_HANDLE);
    }

    #[test]
    fn acquire_at_max_references_overflows_without_effect() {
        let mut table = Table::new(1);
        let h = table.insert((), Side::Owner).unwrap();
        table.set_refs(h, u32::MAX - 1);
        table.acquire(h, Side::Owner).unwrap();
        assert_eq!(table.get(h).unwrap().refs(), u32::MAX);
        assert_eq!(status(table.acquire(h, Side::Owner)), FH_OVERFLOW);
        assert_eq!(table.get(h).unwrap().refs(), u32::MAX);
        assert_eq!(table.release_owner(h).unwrap(), None);
        assert_eq!(table.get(h).unwrap().refs(), u32::MAX - 1);
    }

    #[test]
    fn per_runtime_counts_guard_the_resource_together() {
        let mut table = Table::new(2);
        let h = table.insert('x', Side::Owner).unwrap();
        table.acquire(h, Side::Foreign).unwrap();
        table.acquire(h, Side::Foreign).unwrap();
        let entry = table.get(h).unwrap();
        assert_eq!(
            (entry.owner_refs(), entry.foreign_refs(), entry.refs()),
            (1, 2, 3)
        );
        // The owner's last reference does not kill: the foreign side holds two.
        let released = table.release(h, Side::Owner).unwrap();
        assert_eq!(
            released,
            Released {
                side_emptied: true,
                dead: None
            }
        );
        // The owner holds none now: NOT_HELD, without effect.
        let error = table.release(h, Side::Owner).unwrap_err();
        assert_eq!(error.status(), FH_NOT_HELD);
        assert_eq!(
            error.message(),
            "handle 0x100000000: the owner runtime holds no reference of its own (the other runtime holds 2)"
        );
        assert_eq!(table.get(h).unwrap().refs(), 2);
        assert_eq!(
            table.release(h, Side::Foreign).unwrap(),
            Released {
                side_emptied: false,
                dead: None
            }
        );
        let released = table.release(h, Side::Foreign).unwrap();
        assert_eq!(
            released,
            Released {
                side_emptied: true,
                dead: Some(Dead {
                    value: 'x',
                    foreign_ever: true,
                    foreign_left: 0
                })
            }
        );
        // Dead: stale for both sides, the slot is free at once.
        assert_eq!(status(table.release(h, Side::Foreign)), FH_STALE_HANDLE);
        assert_eq!(status(table.release(h, Side::Owner)), FH_STALE_HANDLE);
        assert_eq!(table.insert('y', Side::Foreign).unwrap(), handle(0, 2));
    }

    #[test]
    fn foreign_created_values_and_foreign_ever() {
        let mut table = Table::new(2);
        let foreign = table.insert(1, Side::Foreign).unwrap();
        assert_eq!(
            (
                table.get(foreign).unwrap().owner_refs(),
                table.get(foreign).unwrap().foreign_refs()
            ),
            (0, 1)
        );
        assert_eq!(status(table.release(foreign, Side::Owner)), FH_NOT_HELD);
        let dead = table.release(foreign, Side::Foreign).unwrap().dead.unwrap();
        assert!(dead.foreign_ever);
        // The owner alone: never foreign.
        let owner = table.insert(2, Side::Owner).unwrap();
        let dead = table.release(owner, Side::Owner).unwrap().dead.unwrap();
        assert!(!dead.foreign_ever);
        // A foreign reference taken and dropped again still counts as "ever".
        let h = table.insert(3, Side::Owner).unwrap();
        table.acquire(h, Side::Foreign).unwrap();
        table.release(h, Side::Foreign).unwrap();
        assert!(
            table
                .release(h, Side::Owner)
                .unwrap()
                .dead
                .unwrap()
                .foreign_ever
        );
    }

    #[test]
    fn each_count_overflows_on_its_own() {
        let mut table = Table::new(1);
        let h = table.insert((), Side::Owner).unwrap();
        table.set_refs(h, u32::MAX);
        assert_eq!(status(table.acquire(h, Side::Owner)), FH_OVERFLOW);
        table.acquire(h, Side::Foreign).unwrap();
        table.slots[0].entry.as_mut().unwrap().foreign = u32::MAX;
        let error = table.acquire(h, Side::Foreign).unwrap_err();
        assert_eq!(error.status(), FH_OVERFLOW);
        assert!(
            error.message().contains("foreign references"),
            "{}",
            error.message()
        );
        assert_eq!(table.get(h).unwrap().refs(), u32::MAX, "the sum saturates");
    }

    #[test]
    fn slot_at_last_generation_is_retired() {
        let mut table = Table::new(2);
        let h = table.insert(0, Side::Owner).unwrap();
        table.release_owner(h).unwrap();
        table.set_generation(0, u32::MAX - 1);
        let last = table.insert(1, Side::Owner).unwrap();
        assert_eq!(last, handle(0, u32::MAX));
        assert_eq!(table.release_owner(last).unwrap(), Some(1));
        let error = table.get(last).unwrap_err();
        assert_eq!(error.status(), FH_STALE_HANDLE);
        assert!(error.message().contains("retired"), "{}", error.message());
        // slot 0 is never reused: the next value goes to slot 1, then the table is full
        assert_eq!(table.insert(2, Side::Owner).unwrap(), handle(1, 1));
        assert_eq!(status(table.insert(3, Side::Owner)), FH_EXHAUSTED);
    }

    #[test]
    fn any_value_is_classified_without_panic() {
        let mut table = Table::new(3);
        let live = table.insert(1, Side::Owner).unwrap();
        let dead = table.insert(2, Side::Owner).unwrap();
        table.release_owner(dead).unwrap();
        let mut value = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..10_000 {
            value = value.rotate_left(13).wrapping_mul(0x2545_F491_4F6C_DD1D);
            match table.get(value) {
                Ok(entry) => assert_eq!((value, *entry.value()), (live, 1)),
                Err(e) => assert!([FH_INVALID_HANDLE, FH_STALE_HANDLE].contains(&e.status())),
            }
        }
    }
}
