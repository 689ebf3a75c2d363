//! One open session: limits, the handle table, the foreign runtime's
//! outstanding acknowledgements and the reclamation strategy.
//!
//! Every reference-taking operation exists for both runtimes ([`Side`]): the
//! owner's (`create`, `acquire`, `release`, `snapshot`, used by this
//! library's exports) and the `*_as` forms the backend table's `foreign_*`
//! entries use with [`Side::Foreign`]. A dead resource the foreign runtime
//! ever referenced is parked in [`crate::guard::Acks`] until every
//! acknowledgement owed for it arrived ([`Session::foreign_ack`]), and only
//! then handed to the reclaimer.
//!
//! A [`Session`] is thread-safe (`Sync`). Each operation takes the table lock
//! only to classify the handle and clone the resource's `Arc` (read lock), or
//! to change slots and reference counts (write lock, never held while
//! allocating or copying bytes); bytes are copied under the resource's own
//! lock. Operations check in the header's order: invalid/stale handle, then
//! read-only, then overflow, then bounds (the session and NULL checks come
//! before, in [`crate::api`]). A failed operation changes nothing.
//! Lock order: the table, then the acknowledgements; neither is held while
//! retiring a resource, pinning the epoch or calling the foreign collector.
//!
//! The process-wide session used by the exports lives in [`crate::api`];
//! tests create independent sessions with [`Session::new`].

use std::ops::Range;
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::events::{EventRing, RING_CAPACITY};
use crate::guard::Acks;
use crate::reclaim::{Reclaimer, Retired, Strategy};
use crate::resource::Resource;
use crate::sync::{lock, read, write};
use crate::table::{Side, Table};
use fuzzharness_adapter::buffer::{Sink, Source};
use fuzzharness_adapter::contract::{fh_config, fh_reclaim_event, fh_resource_info, fh_stats};
use fuzzharness_adapter::contract::{
    FH_BOUNDS, FH_EXHAUSTED, FH_FLAG_RECLAIM_EVENTS, FH_INVALID_ARGUMENT, FH_OVERFLOW,
    FH_READ_ONLY, FH_TIMED_OUT,
};
use fuzzharness_adapter::error::{Error, Result};
use fuzzharness_adapter::ledger::Counters;
use fuzzharness_adapter::ledger::MAX_CAPACITY;

#[cfg(feature = "mutants")]
mod mutant;

/// How long `fh_quiesce` waits for deferred reclamation. (In `mutants`
/// builds, while `FH_MUTANT_RECLAIM_NEVER` is active, the bound is
/// `crate::mutants::MUTANT_QUIESCE_TIMEOUT` instead.)
pub const QUIESCE_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest sleep of `fh_quiesce` between two calls of the foreign
/// runtime's collector (it starts at a tenth of this and doubles).
const COLLECT_INTERVAL: Duration = Duration::from_millis(10);

/// The `fh_config.flags` bits this library knows.
const KNOWN_FLAGS: u64 = FH_FLAG_RECLAIM_EVENTS as u64;

/// An open session.
#[derive(Debug)]
pub struct Session {
    max_resource_bytes: u64,
    max_total_bytes: u64,
    table: RwLock<Table<Arc<Resource>>>,
    acks: Mutex<Acks<Retired>>,
    reclaimer: Reclaimer,
    /// State of the test mutants that keep dangling pointers.
    #[cfg(feature = "mutants")]
    mutant: mutant::State,
}

impl Session {
    /// Validates `config` (`FH_INVALID_ARGUMENT`, then `FH_UNSUPPORTED`) and
    /// opens a session with no resources.
    pub fn new(config: &fh_config) -> Result<Self> {
        if config.capacity == 0 || config.capacity > MAX_CAPACITY {
            return Err(Error::new(
                FH_INVALID_ARGUMENT,
                format!("capacity {} is outside 1..={MAX_CAPACITY}", config.capacity),
            ));
        }
        if config.flags & !KNOWN_FLAGS != 0 {
            return Err(Error::new(
                FH_INVALID_ARGUMENT,
                format!(
                    "flags {:#x} has bits outside fh_config_flag (known: {KNOWN_FLAGS:#x})",
                    config.flags
                ),
            ));
        }
        let strategy = Strategy::from_config(config.strategy)?;
        let events = (config.flags & KNOWN_FLAGS != 0).then(|| EventRing::new(RING_CAPACITY));
        Ok(Self {
            max_resource_bytes: config.max_resource_bytes,
            max_total_bytes: config.max_total_bytes,
            table: RwLock::new(Table::new(config.capacity)),
            acks: Mutex::default(),
            reclaimer: Reclaimer::new(strategy, events),
            #[cfg(feature = "mutants")]
            mutant: mutant::State::default(),
        })
    }

    /// Creates a zero-filled resource of `size` bytes (one owner reference);
    /// returns its handle.
    pub fn create(&self, size: u64) -> Result<u64> {
        self.create_as(Side::Owner, size)
    }

    /// `create` with the new reference held by `side`.
    pub fn create_as(&self, side: Side, size: u64) -> Result<u64> {
        self.check_room(&read(&self.table), &self.reclaimer.counters(), size)?;
        self.insert(Resource::zeroed(size)?, side)
    }

    /// Adds one owner reference.
    pub fn acquire(&self, handle: u64) -> Result<()> {
        self.acquire_as(Side::Owner, handle)
    }

    /// Adds one reference of `side`.
    pub fn acquire_as(&self, side: Side, handle: u64) -> Result<()> {
        #[cfg(feature = "mutants")]
        if side == Side::Owner {
            if let Some(result) = self.acquire_mutant(handle) {
                return result;
            }
        }
        write(&self.table).acquire(handle, side)
    }

    /// Drops one owner reference (`FH_NOT_HELD` if the owner holds none);
    /// the resource dies when no runtime holds one any more.
    pub fn release(&self, handle: u64) -> Result<()> {
        self.release_as(Side::Owner, handle, true)
    }

    /// Drops one reference of `side`. `ack` says whether the foreign runtime
    /// acknowledges this release now; when it does not and this was its last
    /// reference, one acknowledgement is owed ([`Session::foreign_ack`]) and
    /// the memory stays pending after death until it arrives. (Ignored for
    /// the owner, which needs no acknowledgement.)
    pub fn release_as(&self, side: Side, handle: u64, ack: bool) -> Result<()> {
        #[cfg(feature = "mutants")]
        if side == Side::Owner {
            if let Some(result) = self.release_mutant(handle) {
                return result;
            }
        }
        let retired = {
            let mut table = write(&self.table);
            let released = table.release(handle, side)?;
            if side == Side::Foreign && released.side_emptied && !ack {
                lock(&self.acks).expect(handle);
            }
            let Some(dead) = released.dead else {
                return Ok(());
            };
            self.reclaimer.counters().died(dead.value.size());
            let retired = Retired {
                handle,
                resource: dead.value,
                released_ns: self.reclaimer.death_stamp(),
            };
            #[cfg(feature = "mutants")]
            if dead.foreign_left > 0 {
                // FH_MUTANT_GUARD_ONE_SIDE killed it under the foreign runtime's feet.
                drop(table);
                self.free_under_one_sided_guard(retired);
                return Ok(());
            }
            if !dead.foreign_ever {
                retired
            } else if let Some(retired) = lock(&self.acks).park(handle, retired) {
                retired
            } else {
                // Parked until the foreign runtime acknowledges.
                return Ok(());
            }
        };
        #[cfg(feature = "mutants")]
        crate::mutants::perturb(crate::mutants::POINT_RELEASE_BEFORE_FREE);
        self.reclaimer.retire(retired);
        Ok(())
    }

    /// `foreign_ack`: one acknowledgement of `handle`'s last foreign release
    /// arrived; frees the memory if the resource is dead and nothing else is
    /// owed. `FH_INVALID_HANDLE` if no acknowledgement of `handle` is owed.
    pub fn foreign_ack(&self, handle: u64) -> Result<()> {
        let parked = lock(&self.acks).ack(handle)?;
        if let Some(retired) = parked {
            self.reclaimer.retire(retired);
        }
        Ok(())
    }

    /// Moves up to `max` recorded reclamation events out, oldest first, with
    /// the number dropped since the last drain (none without events).
    pub fn drain_events(&self, max: usize) -> (Vec<fh_reclaim_event>, u64) {
        self.reclaimer
            .events()
            .map_or((Vec::new(), 0), |events| events.drain(max))
    }

    /// Copies `data` into the resource at `offset`.
    // Without `mutants`, a `Target` is always `Live`.
    #[cfg_attr(
        not(feature = "mutants"),
        allow(clippy::infallible_destructuring_match)
    )]
    pub fn write<'a>(&self, handle: u64, offset: u64, data: impl Source<'a>) -> Result<()> {
        let _pin = self.reclaimer.pin();
        let resource = match self.target(handle)? {
            Target::Live(resource) => resource,
            #[cfg(feature = "mutants")]
            Target::Dangling(dangling) => {
                return mutant::write_dangling(handle, dangling, offset, data)
            }
        };
        if resource.read_only() {
            return Err(Error::new(
                FH_READ_ONLY,
                format!("handle {handle:#x} is a read-only snapshot"),
            ));
        }
        let range = byte_range(handle, resource.size(), offset, data.byte_len());
        #[cfg(feature = "mutants")]
        self.leak_on_error(handle, &resource, &range);
        let range = range?;
        let data = data.into_slice();
        #[cfg(feature = "mutants")]
        crate::mutants::on_write(data);
        #[cfg(feature = "mutants")]
        if crate::mutants::is_active(fuzzharness_adapter::testing::FH_MUTANT_UNSYNC_WRITER) {
            return resource.write_unsynced(handle, range.start, data);
        }
        resource.write(handle, range.start, data)
    }

    /// Copies `buf.byte_len()` bytes of the resource at `offset` into `buf`.
    // Without `mutants`, a `Target` is always `Live`.
    #[cfg_attr(
        not(feature = "mutants"),
        allow(clippy::infallible_destructuring_match)
    )]
    pub fn read<'a>(&self, handle: u64, offset: u64, buf: impl Sink<'a>) -> Result<()> {
        let _pin = self.reclaimer.pin();
        let resource = match self.target(handle)? {
            Target::Live(resource) => resource,
            #[cfg(feature = "mutants")]
            Target::Dangling(dangling) => {
                return mutant::read_dangling(handle, dangling, offset, buf)
            }
        };
        let range = byte_range(handle, resource.size(), offset, buf.byte_len())?;
        resource.read(handle, range.start, buf.into_prefix(range.len()))
    }

    /// Creates a read-only copy of the resource (one owner reference);
    /// returns the copy's handle.
    pub fn snapshot(&self, handle: u64) -> Result<u64> {
        self.snapshot_as(Side::Owner, handle)
    }

    /// `snapshot` with the new reference held by `side`.
    pub fn snapshot_as(&self, side: Side, handle: u64) -> Result<u64> {
        #[cfg(feature = "mutants")]
        if crate::mutants::is_active(fuzzharness_adapter::testing::FH_MUTANT_SNAPSHOT_PIN_RACE) {
            return self.snapshot_pin_race(side, handle);
        }
        let _pin = self.reclaimer.pin();
        let origin = self.lookup(handle)?;
        #[cfg(feature = "mutants")]
        crate::mutants::perturb(crate::mutants::POINT_SNAPSHOT_AFTER_LOOKUP);
        self.check_room(
            &read(&self.table),
            &self.reclaimer.counters(),
            origin.size(),
        )?;
        self.insert(origin.snapshot(handle)?, side)
    }

    /// Describes a live resource.
    pub fn info(&self, handle: u64) -> Result<fh_resource_info> {
        let table = read(&self.table);
        let entry = table.get(handle)?;
        Ok(fh_resource_info {
            size: entry.value().size(),
            refs: entry.refs(),
            read_only: u32::from(entry.value().read_only()),
        })
    }

    /// The counters.
    pub fn stats(&self) -> fh_stats {
        self.reclaimer.counters().to_ffi()
    }

    /// Waits (at most [`QUIESCE_TIMEOUT`] in all) until no dead resource is
    /// pending. While dead resources wait for the foreign runtime's
    /// acknowledgements, calls `collect` (the foreign collector, e.g. one Go
    /// GC, which acknowledges from its own threads) holding no lock, then
    /// sleeps briefly, and again; then drives the epoch.
    pub fn quiesce(&self, collect: &dyn Fn()) -> Result<()> {
        #[cfg(feature = "mutants")]
        let timeout = crate::mutants::quiesce_timeout(QUIESCE_TIMEOUT);
        #[cfg(not(feature = "mutants"))]
        let timeout = QUIESCE_TIMEOUT;
        self.quiesce_within(collect, timeout)
    }

    /// [`Session::quiesce`] with the bound `timeout`.
    fn quiesce_within(&self, collect: &dyn Fn(), timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut nap = COLLECT_INTERVAL / 10;
        loop {
            let waiting = lock(&self.acks).parked();
            if waiting == 0 {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    FH_TIMED_OUT,
                    format!(
                        "{waiting} dead resources still wait for the foreign runtime's \
                         acknowledgement after {timeout:?}"
                    ),
                ));
            }
            collect();
            thread::sleep(nap);
            nap = (nap * 2).min(COLLECT_INTERVAL);
        }
        self.reclaimer.quiesce_until(deadline, timeout)
    }

    /// Closes the session, freeing every pending resource (also those waiting
    /// for acknowledgements; the live ones go with the session); returns the
    /// counters as they were just before.
    pub fn close(&self) -> fh_stats {
        let report = self.stats();
        self.reclaimer.reclaim_all_pending();
        let parked = lock(&self.acks).take_parked();
        for retired in parked {
            self.reclaimer.free_at_shutdown(&retired.resource);
        }
        report
    }

    /// The live resource named by `handle` (the table lock is released on return).
    fn lookup(&self, handle: u64) -> Result<Arc<Resource>> {
        Ok(Arc::clone(read(&self.table).get(handle)?.value()))
    }

    /// What a read or write of `handle` copies from or to: the live resource,
    /// or (`mutants` builds) the dangling pointer a memory-error mutant left.
    fn target(&self, handle: u64) -> Result<Target> {
        match self.lookup(handle) {
            Ok(resource) => Ok(Target::Live(resource)),
            Err(error) => {
                #[cfg(feature = "mutants")]
                if let Some(dangling) = self.dangling(handle, &error) {
                    return Ok(Target::Dangling(dangling));
                }
                Err(error)
            }
        }
    }

    /// `FH_EXHAUSTED` unless a resource of `size` bytes may be added now.
    fn check_room(
        &self,
        table: &Table<Arc<Resource>>,
        counters: &Counters,
        size: u64,
    ) -> Result<()> {
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
        table.check_free_slot()
    }

    /// Adds an allocated resource in the lowest free slot with one reference
    /// of `side`, re-checking the limits under the write lock (another call
    /// may have taken the room).
    fn insert(&self, resource: Resource, side: Side) -> Result<u64> {
        let size = resource.size();
        let resource = Arc::new(resource);
        let mut table = write(&self.table);
        let mut counters = self.reclaimer.counters();
        self.check_room(&table, &counters, size)?;
        let handle = table.insert(resource, side)?;
        counters.born(size);
        Ok(handle)
    }
}

/// See [`Session::target`].
enum Target {
    Live(Arc<Resource>),
    #[cfg(feature = "mutants")]
    Dangling(mutant::Dangling),
}

/// The bytes `offset..offset + len` of a resource of `size` bytes, or
/// `FH_OVERFLOW`/`FH_BOUNDS`.
fn byte_range(handle: u64, size: u64, offset: u64, len: usize) -> Result<Range<usize>> {
    // usize is at most 64 bits on every supported target.
    let end = offset.checked_add(len as u64).ok_or_else(|| {
        Error::new(
            FH_OVERFLOW,
            format!("offset {offset} + length {len} overflows 64 bits"),
        )
    })?;
    #[cfg(feature = "mutants")]
    let limit = size + crate::mutants::bounds_slack(size);
    #[cfg(not(feature = "mutants"))]
    let limit = size;
    if end > limit {
        return Err(Error::new(
            FH_BOUNDS,
            format!("offset {offset} + length {len} exceeds size {size} of handle {handle:#x}"),
        ));
    }
    // `end <= size`, and a resource's size fits in usize (it was allocated).
    Ok(offset as usize..end as usize)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::thread;

    use super::*;
    use crate::table::handle;
    use fuzzharness_adapter::contract::{
        FH_INVALID_HANDLE, FH_NOT_HELD, FH_RECLAIM_EPOCH, FH_RECLAIM_GO_CLEANUP,
        FH_RECLAIM_GUARDED, FH_RECLAIM_IMMEDIATE, FH_STALE_HANDLE, FH_UNSUPPORTED,
    };

    const STRATEGIES: [u32; 2] = [FH_RECLAIM_IMMEDIATE, FH_RECLAIM_EPOCH];

    fn config(capacity: u32, strategy: u32) -> fh_config {
        fh_config {
            capacity,
            strategy,
            max_resource_bytes: 1 << 20,
            max_total_bytes: 1 << 24,
            flags: 0,
        }
    }

    fn session(capacity: u32, strategy: u32) -> Session {
        Session::new(&config(capacity, strategy)).unwrap()
    }

    fn status<T: std::fmt::Debug>(result: Result<T>) -> i32 {
        result.expect_err("expected an error").status()
    }

    fn read_all(session: &Session, handle: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0; session.info(handle)?.size as usize];
        session.read(handle, 0, buf.as_mut_slice())?;
        Ok(buf)
    }

    fn assert_invariants(stats: &fh_stats) {
        assert_eq!(
            stats.created,
            stats.live_resources + stats.pending_resources + stats.reclaimed,
            "{stats:?}"
        );
        assert!(
            stats.pending_resources > 0 || stats.pending_bytes == 0,
            "{stats:?}"
        );
    }

    #[test]
    fn config_is_validated_in_order() {
        let check = |config: fh_config| status(Session::new(&config));
        assert_eq!(check(config(0, FH_RECLAIM_GO_CLEANUP)), FH_INVALID_ARGUMENT);
        assert_eq!(
            check(config(MAX_CAPACITY + 1, FH_RECLAIM_IMMEDIATE)),
            FH_INVALID_ARGUMENT
        );
        assert_eq!(
            check(fh_config {
                flags: 2,
                ..config(1, 7)
            }),
            FH_INVALID_ARGUMENT
        );
        let error = Session::new(&fh_config {
            flags: 1 << 63 | 1,
            ..config(1, 0)
        })
        .unwrap_err();
        assert_eq!(
            error.message(),
            "flags 0x8000000000000001 has bits outside fh_config_flag (known: 0x1)"
        );
        assert_eq!(
            check(fh_config {
                flags: 1,
                ..config(1, 7)
            }),
            FH_UNSUPPORTED
        );
        assert_eq!(check(config(1, 4)), FH_UNSUPPORTED);
        for strategy in [FH_RECLAIM_GO_CLEANUP, FH_RECLAIM_GUARDED] {
            Session::new(&config(1, strategy)).unwrap();
        }
        Session::new(&fh_config {
            flags: u64::from(FH_FLAG_RECLAIM_EVENTS),
            ..config(MAX_CAPACITY, FH_RECLAIM_EPOCH)
        })
        .unwrap();
    }

    #[test]
    fn create_write_read_info() {
        let session = session(4, FH_RECLAIM_IMMEDIATE);
        let h = session.create(8).unwrap();
        assert_eq!(h, handle(0, 1));
        assert_eq!(read_all(&session, h).unwrap(), [0; 8]);
        session.write(h, 6, &[7u8, 8][..]).unwrap();
        session.write(h, 8, &[][..]).unwrap();
        let mut two = [0u8; 2];
        session.read(h, 6, &mut two[..]).unwrap();
        assert_eq!(two, [7, 8]);
        assert_eq!(
            session.info(h).unwrap(),
            fh_resource_info {
                size: 8,
                refs: 1,
                read_only: 0
            }
        );
        let empty = session.create(0).unwrap();
        assert_eq!(read_all(&session, empty).unwrap(), [0u8; 0]);
    }

    #[test]
    fn check_order_of_write_and_read() {
        let session = session(4, FH_RECLAIM_IMMEDIATE);
        let h = session.create(4).unwrap();
        let snap = session.snapshot(h).unwrap();
        // invalid handle beats everything after it
        assert_eq!(
            status(session.write(handle(3, 1), u64::MAX, &[1u8][..])),
            FH_INVALID_HANDLE
        );
        // read-only beats overflow and bounds
        assert_eq!(
            status(session.write(snap, u64::MAX, &[1u8][..])),
            FH_READ_ONLY
        );
        assert_eq!(status(session.write(snap, 0, &[1u8][..])), FH_READ_ONLY);
        // overflow beats bounds; bounds at size + 1
        assert_eq!(status(session.write(h, u64::MAX, &[1u8][..])), FH_OVERFLOW);
        assert_eq!(
            status(session.read(h, u64::MAX, &mut [0u8][..])),
            FH_OVERFLOW
        );
        assert_eq!(status(session.write(h, 5, &[][..])), FH_BOUNDS);
        assert_eq!(status(session.read(h, 3, &mut [0u8; 2][..])), FH_BOUNDS);
        session.read(h, 4, &mut [][..]).unwrap();
        // a failed write changes no byte, a failed read touches no byte
        assert_eq!(status(session.write(h, 2, &[9u8; 3][..])), FH_BOUNDS);
        let mut out = [0xAA; 4];
        assert_eq!(status(session.read(h, 1, &mut out[..])), FH_BOUNDS);
        assert_eq!(out, [0xAA; 4]);
        assert_eq!(read_all(&session, h).unwrap(), [0; 4]);
        let message = session
            .write(h, 2, &[9u8; 3][..])
            .unwrap_err()
            .message()
            .to_owned();
        assert_eq!(
            message,
            "offset 2 + length 3 exceeds size 4 of handle 0x100000000"
        );
    }

    #[test]
    fn snapshots_are_read_only_copies_that_outlive_their_origin() {
        for strategy in STRATEGIES {
            let session = session(8, strategy);
            let origin = session.create(4).unwrap();
            session.write(origin, 0, &[1u8, 2, 3, 4][..]).unwrap();
            let snap = session.snapshot(origin).unwrap();
            assert_eq!(
                session.info(snap).unwrap(),
                fh_resource_info {
                    size: 4,
                    refs: 1,
                    read_only: 1
                }
            );
            session.write(origin, 0, &[9u8; 4][..]).unwrap();
            assert_eq!(read_all(&session, snap).unwrap(), [1, 2, 3, 4]);
            let snap2 = session.snapshot(snap).unwrap();
            session.release(origin).unwrap();
            session.release(snap).unwrap();
            session.quiesce(&|| {}).unwrap();
            assert_eq!(status(session.snapshot(origin)), FH_STALE_HANDLE);
            assert_eq!(read_all(&session, snap2).unwrap(), [1, 2, 3, 4]);
            assert_eq!(status(session.write(snap2, 0, &[0u8][..])), FH_READ_ONLY);
            let stats = session.stats();
            assert_eq!(
                (
                    stats.created,
                    stats.live_resources,
                    stats.live_bytes,
                    stats.reclaimed
                ),
                (3, 1, 4, 2)
            );
        }
    }

    #[test]
    fn exhausted_on_slots_and_byte_limits() {
        let session = Session::new(&fh_config {
            max_resource_bytes: 10,
            max_total_bytes: 16,
            ..config(3, 0)
        })
        .unwrap();
        assert_eq!(status(session.create(11)), FH_EXHAUSTED);
        let a = session.create(10).unwrap();
        assert_eq!(status(session.create(7)), FH_EXHAUSTED);
        assert_eq!(status(session.snapshot(a)), FH_EXHAUSTED);
        let b = session.create(6).unwrap();
        let _c = session.create(0).unwrap();
        assert_eq!(status(session.create(0)), FH_EXHAUSTED);
        let message = session.create(0).unwrap_err().message().to_owned();
        assert!(message.contains("no free slot"), "{message}");
        session.release(b).unwrap();
        let s = session.snapshot(session.create(0).unwrap());
        assert_eq!(status(s), FH_EXHAUSTED, "all three slots live again");
        let stats = session.stats();
        assert_eq!(
            (stats.created, stats.live_resources, stats.live_bytes),
            (4, 3, 10)
        );
        assert_invariants(&stats);
    }

    #[test]
    fn immediate_has_nothing_pending_between_calls() {
        let session = session(4, FH_RECLAIM_IMMEDIATE);
        let h = session.create(100).unwrap();
        session.acquire(h).unwrap();
        session.release(h).unwrap();
        assert_eq!(session.stats().pending_resources, 0);
        session.release(h).unwrap();
        let stats = session.stats();
        assert_eq!(
            (
                stats.reclaimed,
                stats.pending_resources,
                stats.pending_bytes,
                stats.live_bytes
            ),
            (1, 0, 0, 0)
        );
        assert_eq!(status(session.release(h)), FH_STALE_HANDLE);
        session.quiesce(&|| {}).unwrap();
    }

    #[test]
    fn epoch_quiesce_reaches_zero_pending() {
        let session = session(64, FH_RECLAIM_EPOCH);
        let handles: Vec<u64> = (0..64).map(|i| session.create(i).unwrap()).collect();
        for &h in &handles {
            session.release(h).unwrap();
            assert_invariants(&session.stats());
        }
        // The slots are free at once, whatever the memory's state.
        assert_eq!(session.create(1).unwrap(), handle(0, 2));
        session.quiesce(&|| {}).unwrap();
        let stats = session.stats();
        assert_eq!(
            (
                stats.pending_resources,
                stats.pending_bytes,
                stats.reclaimed
            ),
            (0, 0, 64)
        );
        assert_eq!(
            (stats.created, stats.live_resources, stats.live_bytes),
            (65, 1, 1)
        );
    }

    #[test]
    fn close_reports_and_frees_everything() {
        let session = session(4, FH_RECLAIM_EPOCH);
        let pin = crossbeam_epoch::pin();
        let a = session.create(3).unwrap();
        session.create(5).unwrap();
        session.release(a).unwrap();
        let report = session.close();
        drop(pin);
        assert_eq!(
            (
                report.live_resources,
                report.live_bytes,
                report.pending_resources,
                report.pending_bytes
            ),
            (1, 5, 1, 3)
        );
        assert_invariants(&report);
    }

    /// Writers fill whole buffers with one byte value; readers must never see
    /// a mix. Reference churn and create/snapshot/release run alongside.
    #[test]
    fn concurrent_calls_never_tear() {
        const SIZE: usize = 4096;
        for strategy in STRATEGIES {
            let session = session(64, strategy);
            let shared: Vec<u64> = (0..4)
                .map(|_| session.create(SIZE as u64).unwrap())
                .collect();
            let published = AtomicU64::new(0);
            let stop = AtomicBool::new(false);
            let uniform = |buf: &[u8]| buf.iter().all(|&b| b == buf[0]);
            thread::scope(|scope| {
                for writer in 0..3u8 {
                    let (session, shared, stop) = (&session, &shared, &stop);
                    scope.spawn(move || {
                        let mut value = writer;
                        while !stop.load(Ordering::Relaxed) {
                            value = value.wrapping_add(3);
                            for &h in shared {
                                session.write(h, 0, &[value; SIZE][..]).unwrap();
                            }
                        }
                    });
                }
                for _ in 0..3 {
                    let (session, shared, stop) = (&session, &shared, &stop);
                    scope.spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            for &h in shared {
                                session.acquire(h).unwrap();
                                assert!(uniform(&read_all(session, h).unwrap()));
                                let snap = session.snapshot(h).unwrap();
                                assert!(uniform(&read_all(session, snap).unwrap()));
                                session.release(snap).unwrap();
                                session.release(h).unwrap();
                            }
                        }
                    });
                }
                // A resource that keeps dying while others read it.
                {
                    let (session, published, stop) = (&session, &published, &stop);
                    scope.spawn(move || {
                        let mut value = 0u8;
                        while !stop.load(Ordering::Relaxed) {
                            value = value.wrapping_add(1);
                            let h = session.create(SIZE as u64).unwrap();
                            session.write(h, 0, &[value; SIZE][..]).unwrap();
                            published.store(h, Ordering::SeqCst);
                            thread::yield_now();
                            session.release(h).unwrap();
                        }
                    });
                }
                for _ in 0..2 {
                    let (session, published, stop) = (&session, &published, &stop);
                    scope.spawn(move || {
                        let mut buf = vec![0u8; SIZE];
                        while !stop.load(Ordering::Relaxed) {
                            let h = published.load(Ordering::SeqCst);
                            match session.read(h, 0, buf.as_mut_slice()) {
                                Ok(()) => assert!(uniform(&buf)),
                                Err(e) => assert!(
                                    [FH_STALE_HANDLE, FH_INVALID_HANDLE].contains(&e.status()),
                                    "{e}"
                                ),
                            }
                        }
                    });
                }
                thread::sleep(Duration::from_millis(300));
                stop.store(true, Ordering::Relaxed);
            });
            for &h in &shared {
                assert_eq!(session.info(h).unwrap().refs, 1);
                session.release(h).unwrap();
            }
            session.quiesce(&|| {}).unwrap();
            let stats = session.stats();
            assert_invariants(&stats);
            assert_eq!(
                (
                    stats.live_resources,
                    stats.live_bytes,
                    stats.pending_resources
                ),
                (0, 0, 0)
            );
            assert_eq!(stats.reclaimed, stats.created);
        }
    }

    fn guarded(strategy: u32, events: bool) -> Session {
        Session::new(&fh_config {
            flags: if events {
                u64::from(FH_FLAG_RECLAIM_EVENTS)
            } else {
                0
            },
            ..config(8, strategy)
        })
        .unwrap()
    }

    /// (live, pending, pending_bytes, reclaimed), after checking the invariants.
    fn counts(session: &Session) -> (u64, u64, u64, u64) {
        let stats = session.stats();
        assert_invariants(&stats);
        (
            stats.live_resources,
            stats.pending_resources,
            stats.pending_bytes,
            stats.reclaimed,
        )
    }

    #[test]
    fn per_runtime_references_and_not_held() {
        let session = guarded(FH_RECLAIM_GUARDED, false);
        let h = session.create(4).unwrap();
        session.acquire_as(Side::Foreign, h).unwrap();
        assert_eq!(session.info(h).unwrap().refs, 2, "the sum of both counts");
        session.release(h).unwrap();
        // The owner holds none while the foreign runtime keeps it alive.
        let error = session.release(h).unwrap_err();
        assert_eq!(error.status(), FH_NOT_HELD);
        assert_eq!(session.info(h).unwrap().refs, 1, "no effect");
        session.write(h, 0, &[1u8, 2][..]).unwrap();
        // A foreign-created resource: the owner never held it.
        let f = session.create_as(Side::Foreign, 2).unwrap();
        assert_eq!(status(session.release(f)), FH_NOT_HELD);
        let snap = session.snapshot_as(Side::Foreign, h).unwrap();
        assert_eq!(status(session.release(snap)), FH_NOT_HELD);
        assert_eq!(read_all(&session, snap).unwrap(), [1, 2, 0, 0]);
        for handle in [h, f, snap] {
            session.release_as(Side::Foreign, handle, true).unwrap();
            assert_eq!(
                status(session.release_as(Side::Foreign, handle, true)),
                FH_STALE_HANDLE
            );
            assert_eq!(status(session.release(handle)), FH_STALE_HANDLE);
        }
        assert_eq!(
            counts(&session),
            (0, 0, 0, 3),
            "acknowledged: freed at once"
        );
        assert_eq!(status(session.foreign_ack(h)), FH_INVALID_HANDLE);
    }

    #[test]
    fn an_unacknowledged_release_keeps_the_memory_pending_until_foreign_ack() {
        let session = guarded(FH_RECLAIM_GO_CLEANUP, false);
        let h = session.create_as(Side::Foreign, 16).unwrap();
        session.release_as(Side::Foreign, h, false).unwrap();
        assert_eq!(status(session.info(h)), FH_STALE_HANDLE, "dead at once");
        assert_eq!(counts(&session), (0, 1, 16, 0), "dead but not freed");
        // The slot is free at once all the same.
        let next = session.create(1).unwrap();
        assert_eq!(next, h + (1 << 32));
        session.foreign_ack(h).unwrap();
        assert_eq!(counts(&session), (1, 0, 0, 1));
        let error = session.foreign_ack(h).unwrap_err();
        assert_eq!(error.status(), FH_INVALID_HANDLE);
        assert_eq!(
            error.message(),
            format!("handle {h:#x} has no outstanding acknowledgement")
        );
        // A resource the foreign runtime never referenced needs no acknowledgement.
        session.release(next).unwrap();
        assert_eq!(counts(&session), (0, 0, 0, 2));
    }

    #[test]
    fn acknowledgements_are_counted_per_resource() {
        let session = guarded(FH_RECLAIM_GO_CLEANUP, false);
        let h = session.create(8).unwrap();
        // Foreign count 1 -> 0 without an acknowledgement, twice, while the
        // owner keeps the resource alive: two acknowledgements owed.
        for _ in 0..2 {
            session.acquire_as(Side::Foreign, h).unwrap();
            session.release_as(Side::Foreign, h, false).unwrap();
        }
        assert_eq!(
            status(session.release_as(Side::Foreign, h, false)),
            FH_NOT_HELD
        );
        session.release(h).unwrap();
        assert_eq!(counts(&session), (0, 1, 8, 0));
        session.foreign_ack(h).unwrap();
        assert_eq!(counts(&session), (0, 1, 8, 0), "one still owed");
        session.foreign_ack(h).unwrap();
        assert_eq!(counts(&session), (0, 0, 0, 1));
        // Acknowledged before the death: freed at the death.
        let h = session.create(8).unwrap();
        session.acquire_as(Side::Foreign, h).unwrap();
        session.release_as(Side::Foreign, h, false).unwrap();
        session.foreign_ack(h).unwrap();
        session.release(h).unwrap();
        assert_eq!(counts(&session), (0, 0, 0, 2));
        // A non-last foreign release owes nothing, whatever its ack.
        let h = session.create_as(Side::Foreign, 8).unwrap();
        session.acquire_as(Side::Foreign, h).unwrap();
        session.release_as(Side::Foreign, h, false).unwrap();
        assert_eq!(status(session.foreign_ack(h)), FH_INVALID_HANDLE);
        session.release_as(Side::Foreign, h, true).unwrap();
        assert_eq!(counts(&session), (0, 0, 0, 3));
    }

    #[test]
    fn close_frees_what_waits_for_acknowledgements() {
        let session = guarded(FH_RECLAIM_GO_CLEANUP, true);
        let h = session.create_as(Side::Foreign, 5).unwrap();
        session.release_as(Side::Foreign, h, false).unwrap();
        let report = session.close();
        assert_eq!((report.pending_resources, report.pending_bytes), (1, 5));
        assert_eq!(counts(&session), (0, 0, 0, 1));
        assert_eq!(
            session.drain_events(10),
            (vec![], 0),
            "no event for shutdown"
        );
    }

    #[test]
    fn quiesce_calls_the_collector_without_holding_a_lock() {
        let session = guarded(FH_RECLAIM_GO_CLEANUP, false);
        let handles: Vec<u64> = (0..3)
            .map(|_| {
                let h = session.create_as(Side::Foreign, 4).unwrap();
                session.release_as(Side::Foreign, h, false).unwrap();
                h
            })
            .collect();
        let calls = AtomicU64::new(0);
        // The collector acknowledges one resource per call from another
        // thread and waits for it, as a Go GC running cleanups would: any
        // lock held by quiesce would deadlock here.
        let collect = || {
            let call = calls.fetch_add(1, Ordering::SeqCst) as usize;
            if let Some(&h) = handles.get(call) {
                thread::scope(|scope| {
                    scope.spawn(|| {
                        session.foreign_ack(h).unwrap();
                        session
                            .create(1)
                            .map(|h| session.release(h))
                            .unwrap()
                            .unwrap();
                        session.stats();
                    });
                });
            }
        };
        session.quiesce(&collect).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(counts(&session).1, 0);
        // Nothing owed: the collector is not called.
        session
            .quiesce(&|| panic!("called with nothing owed"))
            .unwrap();
    }

    #[test]
    fn events_match_the_frees() {
        for strategy in [
            FH_RECLAIM_IMMEDIATE,
            FH_RECLAIM_EPOCH,
            FH_RECLAIM_GUARDED,
            FH_RECLAIM_GO_CLEANUP,
        ] {
            let session = guarded(strategy, true);
            let before = crate::clock::monotonic_ns();
            let a = session.create(3).unwrap();
            let b = session.create_as(Side::Foreign, 5).unwrap();
            let c = session.create(7).unwrap();
            let _live = session.create(1).unwrap();
            session.acquire_as(Side::Foreign, c).unwrap();
            session.release(a).unwrap();
            session.release_as(Side::Foreign, b, true).unwrap();
            session.release_as(Side::Foreign, c, false).unwrap();
            session.release(c).unwrap();
            let error = session
                .quiesce_within(&|| {}, Duration::from_millis(20))
                .unwrap_err();
            assert_eq!(error.status(), FH_TIMED_OUT);
            assert_eq!(
                error.message(),
                "1 dead resources still wait for the foreign runtime's acknowledgement after 20ms"
            );
            let acked = crate::clock::monotonic_ns();
            session.foreign_ack(c).unwrap();
            session.quiesce(&|| {}).unwrap();
            let after = crate::clock::monotonic_ns();
            let (mut events, dropped) = session.drain_events(100);
            assert_eq!(dropped, 0);
            events.sort_by_key(|e| e.bytes);
            assert_eq!(
                events.len() as u64,
                session.stats().reclaimed,
                "one event per free"
            );
            assert_eq!(
                events
                    .iter()
                    .map(|e| (e.handle, e.bytes))
                    .collect::<Vec<_>>(),
                [(a, 3), (b, 5), (c, 7)]
            );
            for event in &events {
                assert_eq!((event.strategy, event.reserved), (strategy, 0));
                assert!(
                    before <= event.released_ns
                        && event.released_ns <= event.freed_ns
                        && event.freed_ns <= after,
                    "{event:?}"
                );
            }
            assert!(events[2].freed_ns >= acked, "freed at the acknowledgement");
            assert!(
                events[2].released_ns < acked,
                "released at the owner's release"
            );
            assert_eq!(session.drain_events(100), (vec![], 0));
        }
        // Without the flag nothing is recorded.
        let session = guarded(FH_RECLAIM_IMMEDIATE, false);
        session.release(session.create(1).unwrap()).unwrap();
        assert_eq!(session.drain_events(100), (vec![], 0));
    }

    /// Both runtimes' references churn on shared resources, foreign resources
    /// die unacknowledged and are acknowledged from another thread, events
    /// are drained meanwhile: at the end every resource was freed once, with
    /// one event each.
    #[test]
    fn concurrent_cross_runtime_churn_frees_everything_once() {
        let session = guarded(FH_RECLAIM_GO_CLEANUP, true);
        let shared: Vec<u64> = (0..4).map(|_| session.create(64).unwrap()).collect();
        let stop = AtomicBool::new(false);
        let drained = AtomicU64::new(0);
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        thread::scope(|scope| {
            for t in 0..4 {
                let (session, shared, stop) = (&session, &shared, &stop);
                let side = if t % 2 == 0 {
                    Side::Owner
                } else {
                    Side::Foreign
                };
                scope.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        for &h in shared {
                            session.acquire_as(side, h).unwrap();
                            session.read(h, 0, &mut [0u8; 64][..]).unwrap();
                            session.release_as(side, h, true).unwrap();
                        }
                    }
                });
            }
            {
                let (session, stop) = (&session, &stop);
                scope.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let h = session.create_as(Side::Foreign, 16).unwrap();
                        session.acquire(h).unwrap();
                        session.release_as(Side::Foreign, h, false).unwrap();
                        session.release(h).unwrap();
                        tx.send(h).unwrap();
                    }
                });
            }
            {
                let session = &session;
                scope.spawn(move || {
                    for h in rx {
                        session.foreign_ack(h).unwrap();
                    }
                });
            }
            {
                let (session, stop, drained) = (&session, &stop, &drained);
                scope.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let (events, dropped) = session.drain_events(1000);
                        assert_eq!(dropped, 0);
                        assert!(events.iter().all(|e| e.released_ns <= e.freed_ns));
                        drained.fetch_add(events.len() as u64, Ordering::Relaxed);
                        thread::yield_now();
                    }
                });
            }
            thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Relaxed);
        });
        for &h in &shared {
            assert_eq!(session.info(h).unwrap().refs, 1);
            session.release(h).unwrap();
        }
        session.quiesce(&|| {}).unwrap();
        let stats = session.stats();
        assert_invariants(&stats);
        assert_eq!((stats.live_resources, stats.pending_resources), (0, 0));
        assert_eq!(stats.reclaimed, stats.created);
        let (rest, dropped) = session.drain_events(usize::MAX);
        assert_eq!(dropped, 0);
        assert_eq!(
            drained.load(Ordering::Relaxed) + rest.len() as u64,
            stats.reclaimed
        );
        assert!(stats.created > 100, "{stats:?}");
    }
}
