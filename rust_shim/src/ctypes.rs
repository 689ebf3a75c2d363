//! The C types of the contract: the `#[repr(C)]` structs of
//! `fuzzharness_decls.h`, field by field (same names, types and order).
//!
//! Data only, at the bottom of the crate: every layer may use these types
//! (the session fills `fh_stats`, the event ring holds `fh_reclaim_event`),
//! and this module uses nothing of the crate. The exports that pass them
//! across the boundary are in [`crate::ffi`]. The Python ABI drift check
//! reads the structs from this file and compares them with the header's; the
//! `const` assertions below pin their sizes as the C compiler lays them out.
//!
//! `fh_backend` holds C function pointers (`unsafe extern "C" fn` types):
//! declaring such a type is not unsafe code; only calling through one is,
//! and that happens in [`crate::ffi`] alone.

use std::ffi::c_char;

/// Session configuration, read by `fh_init` (the callee copies it).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct fh_config {
    /// Number of slots, 1..1048576 (2^20).
    pub capacity: u32,
    /// An `fh_reclaim_strategy`.
    pub strategy: u32,
    /// `fh_create(size)` with `size >` this gives `FH_EXHAUSTED`.
    pub max_resource_bytes: u64,
    /// `live_bytes` may never exceed this.
    pub max_total_bytes: u64,
    /// `fh_config_flag` bits (`FH_FLAG_RECLAIM_EVENTS`); others must be 0.
    pub flags: u64,
}

/// Counters of the open session.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct fh_stats {
    /// Resources alive by reference count.
    pub live_resources: u64,
    /// Sum of the sizes of live resources.
    pub live_bytes: u64,
    /// Resources ever created, snapshots included.
    pub created: u64,
    /// Resources whose memory has been freed.
    pub reclaimed: u64,
    /// Dead resources whose memory is not reclaimed yet.
    pub pending_resources: u64,
    /// Sum of the sizes of pending resources.
    pub pending_bytes: u64,
}

/// What `fh_info` reports about one live resource.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct fh_resource_info {
    /// Bytes, fixed at creation.
    pub size: u64,
    /// Current reference count, >= 1.
    pub refs: u32,
    /// 1 for a snapshot, 0 otherwise.
    pub read_only: u32,
}

/// One freed resource, recorded with `FH_FLAG_RECLAIM_EVENTS`.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct fh_reclaim_event {
    /// The dead resource's handle.
    pub handle: u64,
    /// Its size.
    pub bytes: u64,
    /// `CLOCK_MONOTONIC` ns when it died (both runtimes' counts zero).
    pub released_ns: u64,
    /// `CLOCK_MONOTONIC` ns when its memory was really freed.
    pub freed_ns: u64,
    /// The session's `fh_reclaim_strategy`.
    pub strategy: u32,
    /// 0.
    pub reserved: u32,
}

/// A cross-runtime owner's function table (`fh_backend_table`): the foreign
/// entries act as the FOREIGN runtime on this library's session, the others
/// are this library's own exports.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Default, Clone, Copy)]
pub struct fh_backend {
    /// `FH_ABI_MAJOR` of this library.
    pub abi_major: u32,
    /// `FH_ABI_MINOR` of this library.
    pub abi_minor: u32,
    /// [`fh_init`](crate::ffi::fh_init).
    pub init: Option<unsafe extern "C" fn(config: *mut fh_config) -> i32>,
    /// [`fh_shutdown`](crate::ffi::fh_shutdown).
    pub shutdown: Option<unsafe extern "C" fn(report: *mut fh_stats) -> i32>,
    /// `fh_create`, the new reference is foreign.
    pub foreign_create: Option<unsafe extern "C" fn(size: u64, out: *mut u64) -> i32>,
    /// `fh_snapshot`, the new reference is foreign.
    pub foreign_snapshot: Option<unsafe extern "C" fn(handle: u64, out: *mut u64) -> i32>,
    /// `fh_acquire` of a foreign reference.
    pub foreign_acquire: Option<unsafe extern "C" fn(handle: u64) -> i32>,
    /// `fh_release` of a foreign reference, acknowledged now (`ack` = 1) or
    /// later by `foreign_ack` (`ack` = 0).
    pub foreign_release: Option<unsafe extern "C" fn(handle: u64, ack: u32) -> i32>,
    /// Acknowledges an `ack` = 0 last foreign release of `handle`.
    pub foreign_ack: Option<unsafe extern "C" fn(handle: u64) -> i32>,
    /// [`fh_write`](crate::ffi::fh_write).
    pub write:
        Option<unsafe extern "C" fn(handle: u64, offset: u64, data: *mut u8, len: usize) -> i32>,
    /// [`fh_read`](crate::ffi::fh_read).
    pub read:
        Option<unsafe extern "C" fn(handle: u64, offset: u64, buf: *mut u8, len: usize) -> i32>,
    /// [`fh_info`](crate::ffi::fh_info).
    pub info: Option<unsafe extern "C" fn(handle: u64, out: *mut fh_resource_info) -> i32>,
    /// [`fh_get_stats`](crate::ffi::fh_get_stats).
    pub get_stats: Option<unsafe extern "C" fn(out: *mut fh_stats) -> i32>,
    /// [`fh_quiesce`](crate::ffi::fh_quiesce).
    pub quiesce: Option<unsafe extern "C" fn() -> i32>,
    /// [`fh_last_error`](crate::ffi::fh_last_error).
    pub last_error:
        Option<unsafe extern "C" fn(buf: *mut c_char, cap: usize, out_len: *mut usize) -> i32>,
    /// Registers (NULL: unregisters) the foreign runtime's collector.
    pub set_collector: Option<unsafe extern "C" fn(collect: Option<unsafe extern "C" fn()>) -> i32>,
}

const _: () =
    assert!(std::mem::size_of::<fh_config>() == 32 && std::mem::align_of::<fh_config>() == 8);
const _: () = assert!(
    std::mem::size_of::<fh_reclaim_event>() == 40 && std::mem::align_of::<fh_reclaim_event>() == 8
);
const _: () = assert!(std::mem::size_of::<fh_backend>() == 8 + 14 * 8);
const _: () =
    assert!(std::mem::size_of::<fh_stats>() == 48 && std::mem::align_of::<fh_stats>() == 8);
const _: () = assert!(std::mem::size_of::<fh_resource_info>() == 16);
