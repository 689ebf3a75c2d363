//! The C ABI: the `extern "C"` exports of `fuzzharness_decls.h`, and the
//! only module of the crate with `unsafe`. The top layer: nothing in the
//! crate uses it (the `#[repr(C)]` structs it passes are the adapter kit's,
//! [`fuzzharness_adapter::contract`]).
//!
//! Every export has the header's name, parameter names and types, returns an
//! `fh_status` (`i32`) and runs its whole body inside `ffi_boundary!`
//! (as do the backend table's `foreign_*` entries, which are NOT exported:
//! they are reached only through `fh_backend_table`'s function pointers, so
//! the library's exported symbols stay exactly the header's functions):
//! the kit's panic boundary ([`fuzzharness_adapter::boundary`]): a panic is
//! caught there and becomes `FH_PANIC` with the message
//! `"fh_xxx: panic: <payload>"`, and an error becomes its status with the
//! message `"fh_xxx: <reason>"` as the calling thread's last error. Pointers
//! become `Option`s here and are checked by [`crate::api`] in the header's
//! order (session first, NULL second). Byte buffers become the kit's
//! [`Input`], [`Output`] and [`Items`], which create a slice only once the
//! safe layer has checked the length, so a bogus length is reported, never
//! dereferenced.
//!
//! Also here: the call of the foreign runtime's collector registered through
//! the backend table, and (`mutants` builds) the real memory errors of the
//! test mutants, handed down to `crate::mutants` by `fh_test_set_mutant`.
//!
//! # Safety (all exports)
//!
//! The caller passes pointers that are NULL or valid, aligned and
//! exclusively usable for the call, as C would require: structs of the
//! declared type, and byte buffers of at least the declared length.

use std::ffi::c_char;
use std::sync::Mutex;

use fuzzharness_adapter::boundary;
use fuzzharness_adapter::ffi::{Input, Items, Output};

use crate::api;
use crate::clock::monotonic_ns;
use crate::last_error;
#[cfg(feature = "mutants")]
use crate::mutants::{MemoryBugs, RawBytes};
use crate::sync::lock;
use crate::table::Side;
use fuzzharness_adapter::contract::{
    fh_backend, fh_config, fh_reclaim_event, fh_resource_info, fh_stats,
};
use fuzzharness_adapter::contract::{FH_ABI_MAJOR, FH_ABI_MINOR};
use fuzzharness_adapter::error::Result;

/// Runs the body of the export `$function` (a `Result<()>` expression)
/// inside the kit's panic boundary and returns its `fh_status`; records the
/// last error through [`last_error::set`] (which the `SHARED_LAST_ERROR`
/// mutant redirects).
macro_rules! ffi_boundary {
    ($function:literal, $body:expr) => {
        boundary::status(
            $function,
            boundary::catch(|| -> Result<()> { $body }),
            last_error::set,
        )
    };
}

/// The foreign runtime's collector, registered through `set_collector`
/// (process-wide: a foreign front registers it once, at attach time).
static COLLECTOR: Mutex<Option<unsafe extern "C" fn()>> = Mutex::new(None);

/// This library's backend table (see [`fh_backend`]).
const BACKEND: fh_backend = fh_backend {
    abi_major: FH_ABI_MAJOR,
    abi_minor: FH_ABI_MINOR,
    init: Some(fh_init),
    shutdown: Some(fh_shutdown),
    foreign_create: Some(foreign_create),
    foreign_snapshot: Some(foreign_snapshot),
    foreign_acquire: Some(foreign_acquire),
    foreign_release: Some(foreign_release),
    foreign_ack: Some(foreign_ack),
    write: Some(fh_write),
    read: Some(fh_read),
    info: Some(fh_info),
    get_stats: Some(fh_get_stats),
    quiesce: Some(fh_quiesce),
    last_error: Some(fh_last_error),
    set_collector: Some(set_collector),
};

/// The ABI version of this library. Callable at any time.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_abi_version(major: *mut u32, minor: *mut u32) -> i32 {
    ffi_boundary!("fh_abi_version", {
        // SAFETY: NULL or valid (module contract).
        let (major, minor) = unsafe { (major.as_mut(), minor.as_mut()) };
        api::abi_version(major, minor)
    })
}

/// Opens a session; `*config` is copied. Not thread-safe.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_init(config: *mut fh_config) -> i32 {
    ffi_boundary!("fh_init", {
        // SAFETY: NULL or valid (module contract); only read.
        api::init(unsafe { config.as_ref() })
    })
}

/// Closes the session; `*report` receives the stats from just before. Not
/// thread-safe.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_shutdown(report: *mut fh_stats) -> i32 {
    ffi_boundary!("fh_shutdown", {
        // SAFETY: NULL or valid (module contract).
        api::shutdown(unsafe { report.as_mut() })
    })
}

/// Creates a zero-filled resource of `size` bytes; its handle goes to `*out`.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_create(size: u64, out: *mut u64) -> i32 {
    ffi_boundary!("fh_create", {
        // SAFETY: NULL or valid (module contract).
        api::create(size, unsafe { out.as_mut() })
    })
}

/// Adds one reference to a live resource.
#[no_mangle]
pub extern "C" fn fh_acquire(handle: u64) -> i32 {
    ffi_boundary!("fh_acquire", api::acquire(handle))
}

/// Drops one reference; the last one kills the resource.
#[no_mangle]
pub extern "C" fn fh_release(handle: u64) -> i32 {
    ffi_boundary!("fh_release", api::release(handle))
}

/// Copies `len` bytes from `data` into the resource at `offset`.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_write(handle: u64, offset: u64, data: *mut u8, len: usize) -> i32 {
    ffi_boundary!("fh_write", {
        // SAFETY: NULL or valid for `len` bytes (module contract); only read.
        api::write(handle, offset, unsafe { Input::from_raw(data, len) })
    })
}

/// Copies `len` bytes of the resource at `offset` into `buf`.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_read(handle: u64, offset: u64, buf: *mut u8, len: usize) -> i32 {
    ffi_boundary!("fh_read", {
        // SAFETY: NULL or valid for `len` bytes (module contract).
        api::read(handle, offset, unsafe { Output::from_raw(buf, len) })
    })
}

/// Creates a read-only snapshot of the resource; its handle goes to `*out`.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_snapshot(handle: u64, out: *mut u64) -> i32 {
    ffi_boundary!("fh_snapshot", {
        // SAFETY: NULL or valid (module contract).
        api::snapshot(handle, unsafe { out.as_mut() })
    })
}

/// Describes a live resource into `*out`.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_info(handle: u64, out: *mut fh_resource_info) -> i32 {
    ffi_boundary!("fh_info", {
        // SAFETY: NULL or valid (module contract).
        api::info(handle, unsafe { out.as_mut() })
    })
}

/// Session counters into `*out`.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_get_stats(out: *mut fh_stats) -> i32 {
    ffi_boundary!("fh_get_stats", {
        // SAFETY: NULL or valid (module contract).
        api::get_stats(unsafe { out.as_mut() })
    })
}

/// Finishes all deferred reclamation (at most a few seconds), calling the
/// foreign runtime's collector while acknowledgements are outstanding.
#[no_mangle]
pub extern "C" fn fh_quiesce() -> i32 {
    ffi_boundary!("fh_quiesce", {
        // Copied out: the lock is not held while the collector runs.
        let collector = *lock(&COLLECTOR);
        api::quiesce(&|| {
            if let Some(collect) = collector {
                // SAFETY: a function pointer the foreign runtime registered
                // through set_collector and keeps valid while registered.
                unsafe { collect() }
            }
        })
    })
}

/// Copies the calling thread's last error message into `buf` (`cap` bytes,
/// NUL-terminated, truncated) and its full length to `*out_len`.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_last_error(buf: *mut c_char, cap: usize, out_len: *mut usize) -> i32 {
    ffi_boundary!("fh_last_error", {
        // SAFETY: NULL or valid for `cap` bytes, and NULL or valid (module contract).
        let (buf, out_len) = unsafe { (Output::from_raw(buf.cast::<u8>(), cap), out_len.as_mut()) };
        api::last_error(buf, out_len)
    })
}

/// Moves up to `cap` recorded reclamation events into `buf`, their number to
/// `*out_n` and the number dropped since the last drain to `*dropped`.
///
/// # Safety
/// See the module documentation; `buf` holds at least `cap` events.
#[no_mangle]
pub unsafe extern "C" fn fh_drain_reclaim_events(
    buf: *mut fh_reclaim_event,
    cap: usize,
    out_n: *mut usize,
    dropped: *mut u64,
) -> i32 {
    ffi_boundary!("fh_drain_reclaim_events", {
        // SAFETY: NULL or valid for `cap` events, NULL or valid (module contract).
        let (buf, out_n, dropped) =
            unsafe { (Items::from_raw(buf, cap), out_n.as_mut(), dropped.as_mut()) };
        api::drain_reclaim_events(buf, out_n, dropped)
    })
}

/// `CLOCK_MONOTONIC` now, in nanoseconds, into `*out`. No session needed.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_clock_ns(out: *mut u64) -> i32 {
    ffi_boundary!("fh_clock_ns", {
        // SAFETY: NULL or valid (module contract).
        api::clock_ns(unsafe { out.as_mut() }, monotonic_ns)
    })
}

/// This library's backend table into `*out`. No session needed.
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_backend_table(out: *mut fh_backend) -> i32 {
    ffi_boundary!("fh_backend_table", {
        // SAFETY: NULL or valid (module contract).
        api::backend_table(unsafe { out.as_mut() }, BACKEND)
    })
}

/// Foreign fronts only: `FH_UNSUPPORTED` here (after `FH_NULL_ARGUMENT`).
///
/// # Safety
/// See the module documentation.
#[no_mangle]
pub unsafe extern "C" fn fh_attach_backend(backend: *mut fh_backend) -> i32 {
    ffi_boundary!("fh_attach_backend", {
        // SAFETY: NULL or valid (module contract); only read.
        api::attach_backend(unsafe { backend.as_ref() })
    })
}

/// `foreign_create`: `fh_create` for the foreign runtime.
///
/// # Safety
/// See the module documentation.
unsafe extern "C" fn foreign_create(size: u64, out: *mut u64) -> i32 {
    ffi_boundary!("fh_create", {
        // SAFETY: NULL or valid (module contract).
        api::create_as(Side::Foreign, size, unsafe { out.as_mut() })
    })
}

/// `foreign_snapshot`: `fh_snapshot` for the foreign runtime.
///
/// # Safety
/// See the module documentation.
unsafe extern "C" fn foreign_snapshot(handle: u64, out: *mut u64) -> i32 {
    ffi_boundary!("fh_snapshot", {
        // SAFETY: NULL or valid (module contract).
        api::snapshot_as(Side::Foreign, handle, unsafe { out.as_mut() })
    })
}

/// `foreign_acquire`: `fh_acquire` of a foreign reference.
extern "C" fn foreign_acquire(handle: u64) -> i32 {
    ffi_boundary!("fh_acquire", api::acquire_as(Side::Foreign, handle))
}

/// `foreign_release`: `fh_release` of a foreign reference.
extern "C" fn foreign_release(handle: u64, ack: u32) -> i32 {
    ffi_boundary!("fh_release", api::foreign_release(handle, ack))
}

/// `foreign_ack`: acknowledges an `ack = 0` last foreign release.
extern "C" fn foreign_ack(handle: u64) -> i32 {
    ffi_boundary!("foreign_ack", api::foreign_ack(handle))
}

/// `set_collector`: registers the foreign runtime's collector (NULL:
/// unregisters). Always `FH_OK`.
extern "C" fn set_collector(collect: Option<unsafe extern "C" fn()>) -> i32 {
    ffi_boundary!("set_collector", {
        *lock(&COLLECTOR) = collect;
        Ok(())
    })
}

/// Switches the process-wide test mutant (`mutants` builds only).
#[cfg(feature = "mutants")]
#[no_mangle]
pub extern "C" fn fh_test_set_mutant(mutant: u32) -> i32 {
    ffi_boundary!("fh_test_set_mutant", api::set_mutant(mutant, MEMORY_BUGS))
}

#[cfg(feature = "mutants")]
use fuzzharness_adapter::perturb::fh_perturb_hook;

/// Installs the in-call perturbation hook (`mutants` builds only; NULL uninstalls).
#[cfg(feature = "mutants")]
#[no_mangle]
pub extern "C" fn fh_test_set_perturb(hook: fh_perturb_hook) -> i32 {
    ffi_boundary!("fh_test_set_perturb", {
        fuzzharness_adapter::perturb::install(hook);
        Ok(())
    })
}

/// The real memory errors of the test mutants (see [`MemoryBugs`]), below.
/// Their bodies are unsound on purpose: each performs the bug it is named
/// after, so that a sanitizer (or the kernel) reports it.
#[cfg(feature = "mutants")]
const MEMORY_BUGS: MemoryBugs = MemoryBugs {
    write_through_null,
    read_past_end,
    write_past_end,
    read_freed,
    write_freed,
    free_again,
};

/// `FH_MUTANT_SEGFAULT` and `FH_MUTANT_MAGIC_CRASH`: a real write through a
/// null pointer (SIGSEGV).
#[cfg(feature = "mutants")]
fn write_through_null() -> ! {
    let null: *mut u8 = std::hint::black_box(std::ptr::null_mut());
    // SAFETY: none, on purpose: this mutant must crash the process. The
    // store is volatile so that it is performed, not optimized out.
    unsafe { null.write_volatile(0xFD) };
    unreachable!("a write through NULL returned");
}

/// `FH_MUTANT_BOUNDS_OFF_BY_ONE`: copies `dst.len()` bytes of `bytes` from
/// `offset` where `offset + dst.len()` may be `bytes.len() + 1`: the copy
/// reads one byte past the end of the heap allocation (heap-buffer-overflow).
#[cfg(feature = "mutants")]
fn read_past_end(bytes: &[u8], offset: usize, dst: &mut [u8]) {
    let src = std::hint::black_box(bytes.as_ptr().wrapping_add(offset));
    // SAFETY: none, on purpose: the last byte is outside the allocation.
    unsafe { std::ptr::copy(src, dst.as_mut_ptr(), dst.len()) };
}

/// `FH_MUTANT_BOUNDS_OFF_BY_ONE`: copies `src` into `bytes` at `offset` where
/// `offset + src.len()` may be `bytes.len() + 1`: the copy writes one byte
/// past the end of the heap allocation (heap-buffer-overflow).
#[cfg(feature = "mutants")]
fn write_past_end(bytes: &mut [u8], offset: usize, src: &[u8]) {
    let dst = std::hint::black_box(bytes.as_mut_ptr().wrapping_add(offset));
    // SAFETY: none, on purpose: the last byte is outside the allocation.
    unsafe { std::ptr::copy(src.as_ptr(), dst, src.len()) };
}

/// The pointer back from a [`RawBytes`] address (its provenance was exposed).
#[cfg(feature = "mutants")]
fn pointer(bytes: RawBytes) -> *mut u8 {
    std::hint::black_box(std::ptr::with_exposed_provenance_mut(bytes.address()))
}

/// `FH_MUTANT_STALE_USE_AFTER_FREE`, `FH_MUTANT_GUARD_ONE_SIDE`: copies
/// `dst.len()` bytes from `offset` (checked against the length by the caller)
/// out of the memory, freed or not.
#[cfg(feature = "mutants")]
fn read_freed(bytes: RawBytes, offset: usize, dst: &mut [u8]) {
    let src = pointer(bytes).wrapping_add(offset);
    // SAFETY: none once the memory is freed: this is the mutant's
    // use-after-free (a real read of freed heap memory).
    unsafe { std::ptr::copy(src, dst.as_mut_ptr(), dst.len()) };
}

/// `FH_MUTANT_STALE_USE_AFTER_FREE`, `FH_MUTANT_GUARD_ONE_SIDE`: copies `src`
/// to `offset` (checked against the length by the caller) into the memory,
/// freed or not.
#[cfg(feature = "mutants")]
fn write_freed(bytes: RawBytes, offset: usize, src: &[u8]) {
    let dst = pointer(bytes).wrapping_add(offset);
    // SAFETY: none once the memory is freed: this is the mutant's
    // use-after-free (a real write to freed heap memory).
    unsafe { std::ptr::copy(src.as_ptr(), dst, src.len()) };
}

/// `FH_MUTANT_DOUBLE_RELEASE`: frees the memory as the `Box<[u8]>` it was
/// (nothing for 0 bytes, which were never allocated).
#[cfg(feature = "mutants")]
fn free_again(bytes: RawBytes) {
    if bytes.byte_len() == 0 {
        return;
    }
    let slice = std::ptr::slice_from_raw_parts_mut(pointer(bytes), bytes.byte_len());
    // SAFETY: none, on purpose: the Box was freed already, so this is the
    // mutant's double free (a real second free() of the allocation).
    drop(unsafe { Box::from_raw(slice) });
}
