//! One open session: limits, the handle table and the reclamation strategy.
//!
//! A [`Session`] is thread-safe (`Sync`). Each operation takes the table lock
//! only to classify the handle and clone the resource's `Arc` (read lock), or
//! to change slots and reference counts (write lock, never held while
//! allocating or copying bytes); bytes are copied under the resource's own
//! lock. Operations check in the header's order: invalid/stale handle, then
//! read-only, then overflow, then bounds (the session and NULL checks come
//! before, in [`crate::api`]). A failed operation changes nothing.
//!
//! The process-wide session used by the exports lives in [`crate::api`];
//! tests create independent sessions with [`Session::new`].

use std::ops::Range;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::buffer::{Sink, Source};
use crate::contract::{
    FH_BOUNDS, FH_EXHAUSTED, FH_INVALID_ARGUMENT, FH_OVERFLOW, FH_READ_ONLY, MAX_CAPACITY,
};
use crate::error::{Error, Result};
use crate::ffi::{fh_config, fh_resource_info, fh_stats};
use crate::reclaim::{Reclaimer, Strategy};
use crate::resource::Resource;
use crate::stats::Counters;
use crate::sync::{read, write};
use crate::table::Table;

#[cfg(feature = "mutants")]
mod mutant;

/// How long `fh_quiesce` waits for deferred reclamation. (In `mutants`
/// builds, while `FH_MUTANT_RECLAIM_NEVER` is active, the bound is
/// [`crate::mutants::MUTANT_QUIESCE_TIMEOUT`] instead.)
pub const QUIESCE_TIMEOUT: Duration = Duration::from_secs(5);

/// An open session.
#[derive(Debug)]
pub struct Session {
    max_resource_bytes: u64,
    max_total_bytes: u64,
    table: RwLock<Table<Arc<Resource>>>,
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
        if config.flags != 0 {
            return Err(Error::new(
                FH_INVALID_ARGUMENT,
                format!("flags {:#x} must be 0", config.flags),
            ));
        }
        let strategy = Strategy::from_config(config.strategy)?;
        Ok(Self {
            max_resource_bytes: config.max_resource_bytes,
            max_total_bytes: config.max_total_bytes,
            table: RwLock::new(Table::new(config.capacity)),
            reclaimer: Reclaimer::new(strategy),
            #[cfg(feature = "mutants")]
            mutant: mutant::State::default(),
        })
    }

    /// Creates a zero-filled resource of `size` bytes; returns its handle.
    pub fn create(&self, size: u64) -> Result<u64> {
        self.check_room(&read(&self.table), &self.reclaimer.counters(), size)?;
        self.insert(Resource::zeroed(size)?)
    }

    /// Adds one reference.
    pub fn acquire(&self, handle: u64) -> Result<()> {
        #[cfg(feature = "mutants")]
        if let Some(result) = self.acquire_mutant(handle) {
            return result;
        }
        write(&self.table).acquire(handle)
    }

    /// Drops one reference; the last one kills the resource.
    pub fn release(&self, handle: u64) -> Result<()> {
        #[cfg(feature = "mutants")]
        if let Some(result) = self.release_mutant(handle) {
            return result;
        }
        let dead = {
            let mut table = write(&self.table);
            let dead = table.release(handle)?;
            if let Some(resource) = &dead {
                self.reclaimer.counters().died(resource.size());
            }
            dead
        };
        if let Some(resource) = dead {
            self.reclaimer.retire(resource);
        }
        Ok(())
    }

    /// Copies `data` into the resource at `offset`.
    pub fn write<'a>(&self, handle: u64, offset: u64, data: impl Source<'a>) -> Result<()> {
        let _pin = self.reclaimer.pin();
        let resource = match self.lookup(handle) {
            Ok(resource) => resource,
            Err(error) => {
                #[cfg(feature = "mutants")]
                if let Some(dangling) = self.dangling(handle, &error) {
                    return mutant::write_dangling(handle, dangling, offset, data);
                }
                return Err(error);
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
        if crate::mutants::is_active(crate::contract::testing::FH_MUTANT_UNSYNC_WRITER) {
            return resource.write_unsynced(handle, range.start, data);
        }
        resource.write(handle, range.start, data)
    }

    /// Copies `buf.byte_len()` bytes of the resource at `offset` into `buf`.
    pub fn read<'a>(&self, handle: u64, offset: u64, buf: impl Sink<'a>) -> Result<()> {
        let _pin = self.reclaimer.pin();
        let resource = match self.lookup(handle) {
            Ok(resource) => resource,
            Err(error) => {
                #[cfg(feature = "mutants")]
                if let Some(dangling) = self.dangling(handle, &error) {
                    return mutant::read_dangling(handle, dangling, offset, buf);
                }
                return Err(error);
            }
        };
        let range = byte_range(handle, resource.size(), offset, buf.byte_len())?;
        resource.read(handle, range.start, buf.into_prefix(range.len()))
    }

    /// Creates a read-only copy of the resource; returns the copy's handle.
    pub fn snapshot(&self, handle: u64) -> Result<u64> {
        let _pin = self.reclaimer.pin();
        let origin = self.lookup(handle)?;
        self.check_room(
            &read(&self.table),
            &self.reclaimer.counters(),
            origin.size(),
        )?;
        self.insert(origin.snapshot(handle)?)
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

    /// Waits (at most [`QUIESCE_TIMEOUT`]) until no dead resource is pending.
    pub fn quiesce(&self) -> Result<()> {
        #[cfg(feature = "mutants")]
        let timeout = crate::mutants::quiesce_timeout(QUIESCE_TIMEOUT);
        #[cfg(not(feature = "mutants"))]
        let timeout = QUIESCE_TIMEOUT;
        self.reclaimer.quiesce(timeout)
    }

    /// Closes the session, freeing every live and pending resource; returns
    /// the counters as they were just before.
    pub fn close(self) -> fh_stats {
        let report = self.stats();
        self.reclaimer.reclaim_all_pending();
        report
    }

    /// The live resource named by `handle` (the table lock is released on return).
    fn lookup(&self, handle: u64) -> Result<Arc<Resource>> {
        Ok(Arc::clone(read(&self.table).get(handle)?.value()))
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

    /// Adds an allocated resource in the lowest free slot, re-checking the
    /// limits under the write lock (another call may have taken the room).
    fn insert(&self, resource: Resource) -> Result<u64> {
        let size = resource.size();
        let resource = Arc::new(resource);
        let mut table = write(&self.table);
        let mut counters = self.reclaimer.counters();
        self.check_room(&table, &counters, size)?;
        let handle = table.insert(resource)?;
        counters.born(size);
        Ok(handle)
    }
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
    use crate::contract::{
        FH_INVALID_HANDLE, FH_RECLAIM_EPOCH, FH_RECLAIM_GO_CLEANUP, FH_RECLAIM_IMMEDIATE,
        FH_STALE_HANDLE, FH_UNSUPPORTED,
    };
    use crate::table::handle;

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
                flags: 1,
                ..config(1, 7)
            }),
            FH_INVALID_ARGUMENT
        );
        assert_eq!(check(config(1, FH_RECLAIM_GO_CLEANUP)), FH_UNSUPPORTED);
        assert_eq!(check(config(1, 3)), FH_UNSUPPORTED);
        Session::new(&config(MAX_CAPACITY, FH_RECLAIM_EPOCH)).unwrap();
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
            session.quiesce().unwrap();
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
        session.quiesce().unwrap();
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
        session.quiesce().unwrap();
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
            session.quiesce().unwrap();
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
}
