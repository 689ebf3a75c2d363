//! The session side of the test mutants (`mutants` feature only): the racy
//! reference counting of `FH_MUTANT_RACY_ACQUIRE` and
//! `FH_MUTANT_RACY_REFCOUNT` (owner references), the dangling pointers of
//! `FH_MUTANT_STALE_USE_AFTER_FREE`, `FH_MUTANT_DOUBLE_RELEASE` and
//! `FH_MUTANT_GUARD_ONE_SIDE`, and the leaked reference of
//! `FH_MUTANT_LEAK_ON_ERROR`. Safe code: the raw memory
//! accesses go through [`RawBytes`] to the boundary (see [`crate::mutants`]).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use super::{byte_range, Session};
use crate::mutants::{self, race_window, RawBytes};
use crate::reclaim::{Retired, Strategy};
use crate::resource::Resource;
use crate::sync::{lock, read, write};
use crate::table::{split, Side, Table};
use fuzzharness_adapter::buffer::{Sink, Source};
use fuzzharness_adapter::contract::{FH_BOUNDS, FH_OVERFLOW, FH_READ_ONLY, FH_STALE_HANDLE};
use fuzzharness_adapter::error::{Error, Result};
use fuzzharness_adapter::testing::{
    FH_MUTANT_DOUBLE_RELEASE, FH_MUTANT_GUARD_ONE_SIDE, FH_MUTANT_LEAK_ON_ERROR,
    FH_MUTANT_RACY_ACQUIRE, FH_MUTANT_RACY_REFCOUNT, FH_MUTANT_STALE_USE_AFTER_FREE,
};

/// Per-session state of the mutants: the dangling pointers, by slot.
#[derive(Debug, Default)]
pub(super) struct State {
    dangling: Mutex<HashMap<u32, Dangling>>,
}

/// What a slot keeps of its dead resource under `STALE_USE_AFTER_FREE` and
/// `DOUBLE_RELEASE`: the generation it died at, its mode, and the address of
/// its freed bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dangling {
    generation: u32,
    read_only: bool,
    bytes: RawBytes,
}

impl Session {
    /// `fh_acquire` under a racy mutant, `None` under any other.
    pub(super) fn acquire_mutant(&self, handle: u64) -> Option<Result<()>> {
        match mutants::active() {
            FH_MUTANT_RACY_ACQUIRE => Some(self.racy_acquire(handle)),
            FH_MUTANT_RACY_REFCOUNT => Some(self.racy_refcount_acquire(handle)),
            _ => None,
        }
    }

    /// `fh_release` under `RACY_REFCOUNT`, or under `STALE_USE_AFTER_FREE` /
    /// `DOUBLE_RELEASE` with the immediate strategy; `None` otherwise.
    pub(super) fn release_mutant(&self, handle: u64) -> Option<Result<()>> {
        match mutants::active() {
            FH_MUTANT_RACY_REFCOUNT => Some(self.racy_refcount_release(handle)),
            FH_MUTANT_STALE_USE_AFTER_FREE | FH_MUTANT_DOUBLE_RELEASE
                if self.reclaimer.strategy() == Strategy::Immediate =>
            {
                Some(self.release_keeping_dangling(handle))
            }
            _ => None,
        }
    }

    /// `SNAPSHOT_PIN_RACE`: `fh_snapshot` looks its origin up under the table
    /// lock, lets go of it, waits a race window, and only then pins the epoch
    /// and copies. A release that kills the origin in the window frees its
    /// bytes; the copy then takes what is left there (zeros, as reused memory
    /// would read: [`Resource::snapshot_after_free`]) and the caller is told
    /// `FH_OK` for a snapshot of a resource that no longer had these bytes.
    pub(super) fn snapshot_pin_race(&self, side: Side, handle: u64) -> Result<u64> {
        let origin = self.lookup(handle)?;
        race_window();
        let _pin = self.reclaimer.pin();
        self.check_room(
            &read(&self.table),
            &self.reclaimer.counters(),
            origin.size(),
        )?;
        self.insert(origin.snapshot_after_free()?, side)
    }

    /// `RACY_ACQUIRE`: checks that the resource is live, lets go of the table
    /// lock, yields, then increments without checking again. If the last
    /// reference was released in the window, the increment goes to a dead
    /// resource (its slot is free, its memory reclaimed) and the caller is
    /// told `FH_OK`: it believes it holds a reference to a live resource.
    fn racy_acquire(&self, handle: u64) -> Result<()> {
        read(&self.table).get(handle)?;
        race_window();
        match write(&self.table).acquire(handle, Side::Owner) {
            Err(error) if error.status() == FH_OVERFLOW => Err(error),
            _ => Ok(()),
        }
    }

    /// `RACY_REFCOUNT` acquire: a load of the count, a yield, a store of the
    /// count + 1, with no lock held in between: concurrent updates are lost.
    fn racy_refcount_acquire(&self, handle: u64) -> Result<()> {
        let refs = read(&self.table).get(handle)?.owner_refs();
        if refs == u32::MAX {
            return Err(Error::new(
                FH_OVERFLOW,
                format!("handle {handle:#x} already has {} references", u32::MAX),
            ));
        }
        race_window();
        read(&self.table).store_refs(handle, refs + 1);
        Ok(())
    }

    /// `RACY_REFCOUNT` release: a load, a yield, then a store of the count - 1,
    /// or, if the loaded count was 1, the death of the resource (whatever
    /// other threads acquired in the window).
    fn racy_refcount_release(&self, handle: u64) -> Result<()> {
        let refs = read(&self.table).get(handle)?.owner_refs();
        race_window();
        if refs > 1 {
            read(&self.table).store_refs(handle, refs - 1);
            return Ok(());
        }
        let dead = {
            let mut table = write(&self.table);
            let dead = table.kill(handle);
            if let Some(resource) = &dead {
                self.reclaimer.counters().died(resource.size());
            }
            dead
        };
        if let Some(resource) = dead {
            self.reclaimer.retire(Retired {
                handle,
                resource,
                released_ns: self.reclaimer.death_stamp(),
            });
        }
        Ok(())
    }

    /// `fh_release` (immediate strategy) keeping a dangling pointer to the
    /// bytes of the resource it kills; under `DOUBLE_RELEASE`, a stale handle
    /// of a slot that still has one frees the memory again and gives `FH_OK`.
    fn release_keeping_dangling(&self, handle: u64) -> Result<()> {
        let dead = {
            let mut table = write(&self.table);
            match table.release(handle, Side::Owner) {
                Ok(released) => {
                    let dead = released.dead.map(|dead| dead.value);
                    if let Some(resource) = &dead {
                        self.reclaimer.counters().died(resource.size());
                    }
                    dead
                }
                Err(error) => {
                    if mutants::is_active(FH_MUTANT_DOUBLE_RELEASE) {
                        if let Some(dangling) = self.find_dangling(&table, handle, &error, true) {
                            drop(table);
                            dangling.bytes.free();
                            return Ok(());
                        }
                    }
                    return Err(error);
                }
            }
        };
        if let Some(resource) = dead {
            let released_ns = self.reclaimer.death_stamp();
            self.free_keeping_dangling(Retired {
                handle,
                resource,
                released_ns,
            });
        }
        Ok(())
    }

    /// `GUARD_ONE_SIDE`: `retired` died when the owner's references reached
    /// zero although the foreign runtime still holds some. Its memory is
    /// freed now, ignoring any acknowledgement owed, and (strategies that
    /// free at once) its slot keeps a dangling pointer to it, through which
    /// the foreign runtime's later reads and writes of its handle go.
    pub(super) fn free_under_one_sided_guard(&self, retired: Retired) {
        if self.reclaimer.strategy() == Strategy::Epoch {
            self.reclaimer.retire(retired);
        } else {
            self.free_keeping_dangling(retired);
        }
    }

    /// Frees `retired`'s bytes now, keeping their address for its slot.
    fn free_keeping_dangling(&self, retired: Retired) {
        let Retired {
            handle,
            resource,
            released_ns,
        } = retired;
        let (slot, generation) = split(handle);
        if let Some(bytes) = resource.free_keeping_address() {
            lock(&self.mutant.dangling).insert(
                slot,
                Dangling {
                    generation,
                    read_only: resource.read_only(),
                    bytes,
                },
            );
        }
        self.reclaimer
            .freed_elsewhere(handle, resource.size(), released_ns);
    }

    /// Under `STALE_USE_AFTER_FREE` or `GUARD_ONE_SIDE`, the dangling pointer
    /// that a read or write of `handle`, which failed with `error`, goes
    /// through instead.
    pub(super) fn dangling(&self, handle: u64, error: &Error) -> Option<Dangling> {
        if !matches!(
            mutants::active(),
            FH_MUTANT_STALE_USE_AFTER_FREE | FH_MUTANT_GUARD_ONE_SIDE
        ) {
            return None;
        }
        self.find_dangling(&read(&self.table), handle, error, false)
    }

    /// The dangling pointer of the slot of the stale `handle` (`error` is
    /// why it is not live) if that slot is still free since the death that
    /// left it: the generation check is skipped for free slots. `take`
    /// removes it.
    fn find_dangling(
        &self,
        table: &Table<Arc<Resource>>,
        handle: u64,
        error: &Error,
        take: bool,
    ) -> Option<Dangling> {
        if error.status() != FH_STALE_HANDLE {
            return None;
        }
        let (slot, generation) = split(handle);
        let current = table.free_generation(slot)?;
        let mut dangling = lock(&self.mutant.dangling);
        let found = *dangling.get(&slot)?;
        if found.generation != current || generation > current {
            return None;
        }
        if take {
            dangling.remove(&slot);
        }
        Some(found)
    }

    /// `LEAK_ON_ERROR`: when the range check of a write failed with
    /// `FH_BOUNDS`, takes a reference that nobody ever drops, and leaks the
    /// resource's `Arc` so that even `fh_shutdown` never frees its bytes.
    pub(super) fn leak_on_error(
        &self,
        handle: u64,
        resource: &Arc<Resource>,
        range: &Result<Range<usize>>,
    ) {
        if !mutants::is_active(FH_MUTANT_LEAK_ON_ERROR)
            || !matches!(range, Err(error) if error.status() == FH_BOUNDS)
        {
            return;
        }
        if write(&self.table).acquire(handle, Side::Owner).is_ok() {
            std::mem::forget(Arc::clone(resource));
        }
    }
}

/// `fh_read` through a dangling pointer: the usual range checks against the
/// dead resource's size, then a copy out of freed memory.
pub(super) fn read_dangling<'a>(
    handle: u64,
    dangling: Dangling,
    offset: u64,
    buf: impl Sink<'a>,
) -> Result<()> {
    let size = dangling.bytes.byte_len() as u64;
    let range = byte_range(handle, size, offset, buf.byte_len())?;
    dangling
        .bytes
        .read(range.start, buf.into_prefix(range.len()));
    Ok(())
}

/// `fh_write` through a dangling pointer: the usual checks against the dead
/// resource, then a copy into freed memory.
pub(super) fn write_dangling<'a>(
    handle: u64,
    dangling: Dangling,
    offset: u64,
    data: impl Source<'a>,
) -> Result<()> {
    if dangling.read_only {
        return Err(Error::new(
            FH_READ_ONLY,
            format!("handle {handle:#x} is a read-only snapshot"),
        ));
    }
    let size = dangling.bytes.byte_len() as u64;
    let range = byte_range(handle, size, offset, data.byte_len())?;
    dangling.bytes.write(range.start, data.into_slice());
    Ok(())
}
