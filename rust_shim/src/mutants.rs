//! Test-only mutant injection (`mutants` feature, `fuzzharness_testing_decls.h`).
//!
//! One mutant is active at a time, process-wide, across sessions. Each mutant
//! turns into one kind of bug the harness must report. Where each one acts:
//!
//! * `SNAPSHOT_SHARES`: a snapshot shares its origin's bytes
//!   ([`crate::resource::Resource::snapshot`]), still reported read-only;
//!   once the origin's memory is reclaimed the shared bytes are gone and the
//!   snapshot's reads give `FH_STALE_HANDLE` (the safe analogue of the
//!   use-after-free a C implementation would have);
//! * `SKIP_GENERATION`: a handle of an older generation reaches its slot's
//!   live resource ([`crate::table`]); free slots still classify;
//! * the trigger mutants act in [`on_write`], called by `fh_write` on a live,
//!   writable handle, in bounds, once the bytes are known: with exactly 3
//!   bytes whose first one is 0xFD, `SEGFAULT` writes through a null pointer,
//!   `HANG` sleeps forever, `ABORT` panics inside an `extern "C"` function
//!   that cannot unwind (the process aborts) and `CAUGHT_PANIC` panics inside
//!   the boundary (`FH_PANIC`);
//! * `STALE_USE_AFTER_FREE`, `DOUBLE_RELEASE` (immediate strategy only): the
//!   release that kills a resource frees its bytes but the session keeps a raw
//!   pointer to them by slot ([`RawBytes`]); while the slot is
//!   not reused, a read/write through a stale handle of it copies through the
//!   dangling pointer, a release through it frees the memory again
//!   (`crate::session::mutant`);
//! * `GENERATION_WRAP`, `EARLY_FREE`: generations cycle 1, 2, 3, 1, ... and a
//!   release kills at a count of 1 ([`crate::table`]);
//! * `LEAK_ON_ERROR`: an `FH_BOUNDS` write takes a reference and leaks the
//!   resource's `Arc`, so neither a release nor `fh_shutdown` frees it;
//! * `BOUNDS_OFF_BY_ONE`: [`bounds_slack`] lets the range check accept
//!   `offset + len == size + 1` (resources of at least one byte) and the copy
//!   goes one byte past the heap allocation through [`read_past_end`] /
//!   [`write_past_end`];
//! * `RACY_ACQUIRE`, `RACY_REFCOUNT`, `UNSYNC_WRITER`: racy variants of
//!   acquire/release/write with a [`race_window`] (or a yield per byte) where
//!   another thread can interleave;
//! * `RECLAIM_NEVER` (epoch strategy only): the dead resource stays pending
//!   ([`crate::reclaim`]) and `fh_quiesce` times out after
//!   [`MUTANT_QUIESCE_TIMEOUT`] instead of the session's 5 s;
//! * `SHARED_LAST_ERROR`: the last-error message lives in one process-wide
//!   string ([`set_shared_last_error`], [`shared_last_error`]);
//! * `MAGIC_CRASH`: [`on_write`] also writes through a null pointer when the
//!   data of a successful write starts with the 4-byte value "FUZZ", compared
//!   as one 32-bit value in [`starts_with_magic`] (comparison coverage shows a
//!   fuzzer the constant; a random one must guess 32 bits);
//! * `GUARD_ONE_SIDE` (cross-runtime owner): the table kills a resource when
//!   the OWNER's count reaches zero whatever the foreign count
//!   ([`crate::table`]); the session frees its memory at once, ignoring owed
//!   acknowledgements, and keeps a dangling pointer to it by slot as for
//!   `STALE_USE_AFTER_FREE`, so the foreign runtime's later reads and writes
//!   of its handle (while the slot is not reused) return `FH_OK` from freed
//!   memory (heap-use-after-free under ASan), and its acquires and releases
//!   give `FH_STALE_HANDLE`;
//! * `SNAPSHOT_PIN_RACE`: `fh_snapshot` pins its origin only after letting go
//!   of the table lock and a [`race_window`] (`crate::session::mutant`); an
//!   origin killed in the window is copied from its freed bytes (zeros);
//! * `GO_CACHE_USE_AFTER_FREE` and `CLEANUP_UNREACHABLE` are Go-only bugs:
//!   `FH_UNSUPPORTED` here.
//!
//! The real memory errors (the write through NULL, the byte past the end, the
//! use after free and the double free) need `unsafe`, so their code is in
//! [`crate::ffi`], the crate's only unsafe module, which sits above every
//! module that fires them. It hands them over as a [`MemoryBugs`] table with
//! every `fh_test_set_mutant` ([`set`]); the modules below reach them through
//! [`write_through_null`], [`read_past_end`], [`write_past_end`] and
//! [`RawBytes`], all safe to call and unsound on purpose.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::sync::lock;
use fuzzharness_adapter::contract::{FH_INVALID_ARGUMENT, FH_UNSUPPORTED};
use fuzzharness_adapter::error::{Error, Result};
use fuzzharness_adapter::testing::*;

static ACTIVE: AtomicU32 = AtomicU32::new(FH_MUTANT_NONE);

/// The memory bugs installed by the first [`set`].
static MEMORY_BUGS: OnceLock<MemoryBugs> = OnceLock::new();

/// The memory errors of the mutants that corrupt memory for real, written
/// with `unsafe` in [`crate::ffi`] and handed to [`set`]. Every entry is
/// unsound on purpose: it performs the bug it is named after.
#[derive(Debug, Clone, Copy)]
pub struct MemoryBugs {
    /// `SEGFAULT`, `MAGIC_CRASH`: a real write through a null pointer
    /// (SIGSEGV).
    pub write_through_null: fn() -> !,
    /// `BOUNDS_OFF_BY_ONE`: copies `dst.len()` bytes of `bytes` from
    /// `offset`, where `offset + dst.len()` may be `bytes.len() + 1`
    /// (a heap-buffer-overflow read).
    pub read_past_end: fn(bytes: &[u8], offset: usize, dst: &mut [u8]),
    /// `BOUNDS_OFF_BY_ONE`: copies `src` into `bytes` at `offset`, where
    /// `offset + src.len()` may be `bytes.len() + 1` (a heap-buffer-overflow
    /// write).
    pub write_past_end: fn(bytes: &mut [u8], offset: usize, src: &[u8]),
    /// `STALE_USE_AFTER_FREE`, `GUARD_ONE_SIDE`: copies `dst.len()` bytes
    /// from `offset` of the (freed) bytes at the address of `bytes`.
    pub read_freed: fn(bytes: RawBytes, offset: usize, dst: &mut [u8]),
    /// `STALE_USE_AFTER_FREE`, `GUARD_ONE_SIDE`: copies `src` to `offset` of
    /// the (freed) bytes at the address of `bytes`.
    pub write_freed: fn(bytes: RawBytes, offset: usize, src: &[u8]),
    /// `DOUBLE_RELEASE`: frees the bytes at the address of `bytes` (a
    /// `Box<[u8]>` freed already) again.
    pub free_again: fn(bytes: RawBytes),
}

/// The installed memory bugs. Only a mutant made active by [`set`], which
/// installs them first, fires one.
fn memory_bugs() -> &'static MemoryBugs {
    MEMORY_BUGS
        .get()
        .expect("a mutant is active only after set(), which installs the memory bugs")
}

/// `fh_quiesce`'s bound while `RECLAIM_NEVER` is active: the mutant makes it
/// time out for sure, so waiting the contract's 5 s only slows detection.
pub const MUTANT_QUIESCE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long [`race_window`] keeps a racy operation between its check and its
/// update after yielding.
const RACE_WINDOW: Duration = Duration::from_micros(20);

/// Makes `mutant` the active mutant; `FH_UNSUPPORTED` for the Go-only ones,
/// `FH_INVALID_ARGUMENT` if it is unknown. The first call installs `bugs`
/// (the boundary always passes the same table).
pub fn set(mutant: u32, bugs: MemoryBugs) -> Result<()> {
    MEMORY_BUGS.get_or_init(|| bugs);
    match mutant {
        FH_MUTANT_GO_CACHE_USE_AFTER_FREE => Err(Error::new(
            FH_UNSUPPORTED,
            format!(
                "mutant {mutant} (FH_MUTANT_GO_CACHE_USE_AFTER_FREE) is a bug of a Go-side cache; \
                 this is the Rust target"
            ),
        )),
        FH_MUTANT_CLEANUP_UNREACHABLE => Err(Error::new(
            FH_UNSUPPORTED,
            format!(
                "mutant {mutant} (FH_MUTANT_CLEANUP_UNREACHABLE) is a bug of the Go foreign \
                 front's cleanups; this is the Rust target"
            ),
        )),
        FH_MUTANT_NONE..=FH_MUTANT_GUARD_ONE_SIDE | FH_MUTANT_SNAPSHOT_PIN_RACE => {
            ACTIVE.store(mutant, Ordering::SeqCst);
            Ok(())
        }
        unknown => Err(Error::new(
            FH_INVALID_ARGUMENT,
            format!("unknown mutant {unknown}"),
        )),
    }
}

/// Whether `mutant` is the active mutant.
pub fn is_active(mutant: u32) -> bool {
    active() == mutant
}

/// The active mutant.
pub fn active() -> u32 {
    ACTIVE.load(Ordering::SeqCst)
}

/// Fires the active trigger mutant if `data` is the trigger, and
/// `MAGIC_CRASH` if `data` starts with its magic (see the module).
pub fn on_write(data: &[u8]) {
    if is_active(FH_MUTANT_MAGIC_CRASH) && starts_with_magic(data) {
        write_through_null();
    }
    if !matches!(data, [0xFD, _, _]) {
        return;
    }
    match active() {
        FH_MUTANT_SEGFAULT => write_through_null(),
        FH_MUTANT_HANG => loop {
            thread::sleep(Duration::from_secs(3600));
        },
        FH_MUTANT_ABORT => uncaught_panic(),
        FH_MUTANT_CAUGHT_PANIC => panic!("FH_MUTANT_CAUGHT_PANIC: the trigger write panicked"),
        _ => {}
    }
}

/// `SEGFAULT`, `MAGIC_CRASH`: a real write through a null pointer (SIGSEGV).
pub fn write_through_null() -> ! {
    (memory_bugs().write_through_null)()
}

/// `FH_MUTANT_ABORT`: a panic in an `extern "C"` function, which cannot
/// unwind: the runtime aborts the process before the boundary sees it.
extern "C" fn uncaught_panic() -> ! {
    panic!("FH_MUTANT_ABORT: the trigger write panicked across extern \"C\"");
}

/// Whether `data` starts with the magic of `MAGIC_CRASH`: the 4-byte value
/// "FUZZ" (46 55 5A 5A), read as one little-endian `u32` and compared with one
/// 32-bit comparison, which `-trace-compares` reports to a coverage-guided
/// fuzzer (`__sanitizer_cov_trace_const_cmp4`); a random fuzzer must guess all
/// 32 bits at once.
pub fn starts_with_magic(data: &[u8]) -> bool {
    const MAGIC: u32 = u32::from_le_bytes(*b"FUZZ");
    match data.first_chunk::<4>() {
        Some(head) => std::hint::black_box(u32::from_le_bytes(*head)) == MAGIC,
        None => false,
    }
}

/// The window of a racy mutant between its check and its update: yields the
/// CPU, then spins briefly, so that concurrent calls from other threads land
/// in it often.
pub fn race_window() {
    perturb(POINT_RACE_WINDOW);
    thread::yield_now();
    let start = Instant::now();
    while start.elapsed() < RACE_WINDOW {
        std::hint::spin_loop();
    }
}

/// In-call perturbation points of this shim (the numbers its hook is called with,
/// `fh_test_set_perturb`): the window of a racy mutant, between a snapshot's lookup
/// of its origin and its copy, before a dead resource's memory is freed.
pub const POINT_RACE_WINDOW: u32 = 1;
/// See [`POINT_RACE_WINDOW`].
pub const POINT_SNAPSHOT_AFTER_LOOKUP: u32 = 2;
/// See [`POINT_RACE_WINDOW`].
pub const POINT_RELEASE_BEFORE_FREE: u32 = 3;

/// A perturbation point: the installed hook, if any, yields or spins here.
#[inline]
pub fn perturb(point: u32) {
    fuzzharness_adapter::perturb::point(point);
}

/// Bytes past the end that the bounds check accepts for a resource of `size`
/// bytes: 1 under `BOUNDS_OFF_BY_ONE` when the resource has memory, else 0.
pub fn bounds_slack(size: u64) -> u64 {
    u64::from(size > 0 && is_active(FH_MUTANT_BOUNDS_OFF_BY_ONE))
}

/// The reference count at or below which a release kills: 1 under
/// `EARLY_FREE` (off by one), else 0.
pub fn death_threshold() -> u32 {
    u32::from(is_active(FH_MUTANT_EARLY_FREE))
}

/// The generation a slot at `generation` gets for its next resource: the
/// next one, or under `GENERATION_WRAP` the next one of 1, 2, 3, 1, ...
pub fn next_generation(generation: u32) -> u32 {
    if is_active(FH_MUTANT_GENERATION_WRAP) {
        if generation >= 3 {
            1
        } else {
            generation + 1
        }
    } else {
        generation + 1
    }
}

/// `fh_quiesce`'s bound: [`MUTANT_QUIESCE_TIMEOUT`] under `RECLAIM_NEVER`,
/// else `normal`.
pub fn quiesce_timeout(normal: Duration) -> Duration {
    if is_active(FH_MUTANT_RECLAIM_NEVER) {
        MUTANT_QUIESCE_TIMEOUT
    } else {
        normal
    }
}

/// The process-wide last-error message of `SHARED_LAST_ERROR`.
static SHARED_LAST_ERROR: Mutex<String> = Mutex::new(String::new());

/// Under `SHARED_LAST_ERROR`: makes `message` the process-wide last error,
/// then yields (the window in which another thread's error replaces it before
/// this thread asks for it), and returns true. Otherwise false.
pub fn set_shared_last_error(message: &str) -> bool {
    if !is_active(FH_MUTANT_SHARED_LAST_ERROR) {
        return false;
    }
    message.clone_into(&mut lock(&SHARED_LAST_ERROR));
    race_window();
    true
}

/// Under `SHARED_LAST_ERROR`, the process-wide last error.
pub fn shared_last_error() -> Option<String> {
    is_active(FH_MUTANT_SHARED_LAST_ERROR).then(|| lock(&SHARED_LAST_ERROR).clone())
}

/// `BOUNDS_OFF_BY_ONE`: copies `dst.len()` bytes of `bytes` from `offset`
/// where `offset + dst.len()` may be `bytes.len() + 1`: the copy reads one
/// byte past the end of the heap allocation (heap-buffer-overflow).
pub fn read_past_end(bytes: &[u8], offset: usize, dst: &mut [u8]) {
    (memory_bugs().read_past_end)(bytes, offset, dst)
}

/// `BOUNDS_OFF_BY_ONE`: copies `src` into `bytes` at `offset` where
/// `offset + src.len()` may be `bytes.len() + 1`: the copy writes one byte
/// past the end of the heap allocation (heap-buffer-overflow).
pub fn write_past_end(bytes: &mut [u8], offset: usize, src: &[u8]) {
    (memory_bugs().write_past_end)(bytes, offset, src)
}

/// The address and length of a resource's heap bytes, kept by the mutants
/// `STALE_USE_AFTER_FREE`, `DOUBLE_RELEASE` and `GUARD_ONE_SIDE` after the
/// bytes are freed.
///
/// Only an address (a plain integer, so it may be kept anywhere); its methods
/// are safe to call but unsound on purpose: once the bytes are freed,
/// [`RawBytes::read`] and [`RawBytes::write`] touch freed heap memory
/// (heap-use-after-free under AddressSanitizer) and [`RawBytes::free`] frees
/// it again (double-free). Only those mutants create one.
#[derive(Debug, Clone, Copy)]
pub struct RawBytes {
    address: usize,
    len: usize,
}

impl RawBytes {
    /// The address of `bytes`, a `Box<[u8]>`'s contents about to be freed.
    pub fn of(bytes: &mut [u8]) -> Self {
        Self {
            address: bytes.as_mut_ptr().expose_provenance(),
            len: bytes.len(),
        }
    }

    /// The address of the allocation (exposed provenance).
    pub fn address(&self) -> usize {
        self.address
    }

    /// Length of the allocation in bytes.
    pub fn byte_len(&self) -> usize {
        self.len
    }

    /// Copies `dst.len()` bytes from `offset` (checked against
    /// [`RawBytes::byte_len`] by the caller) out of the memory, freed or not.
    pub fn read(self, offset: usize, dst: &mut [u8]) {
        (memory_bugs().read_freed)(self, offset, dst)
    }

    /// Copies `src` to `offset` (checked against [`RawBytes::byte_len`] by
    /// the caller) into the memory, freed or not.
    pub fn write(self, offset: usize, src: &[u8]) {
        (memory_bugs().write_freed)(self, offset, src)
    }

    /// Frees the memory as the `Box<[u8]>` it was (nothing for 0 bytes,
    /// which were never allocated).
    pub fn free(self) {
        if self.len > 0 {
            (memory_bugs().free_again)(self)
        }
    }
}
