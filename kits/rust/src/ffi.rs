//! Raw C pointers, and the export macro: the only module of the kit with
//! `unsafe` (the crate root denies it everywhere else).
//!
//! [`Input`], [`Output`] and [`Items`] are a caller's buffers as the C call
//! passed them (pointer and length). Each is built from a pointer with an
//! `unsafe` constructor that gives `None` for NULL with a non-zero length
//! (`FH_NULL_ARGUMENT`), or safely from a slice (in tests). They create a
//! slice only once the operation has checked the length against the resource
//! (see [`crate::buffer`]), so a bogus length is reported, never
//! dereferenced.
//!
//! [`export_contract!`](crate::export_contract) emits the `extern "C"`
//! functions of the contract's ABI 1.0 surface in the adapter's crate: each
//! turns its pointers into `Option`s here and calls the safe layer
//! ([`crate::Exports`]) inside the panic boundary ([`crate::guard`]).
//!
//! # Safety (every export and constructor)
//!
//! The caller passes pointers that are NULL or valid, aligned and exclusively
//! usable for the call, as C would require: structs of the declared type and
//! buffers of at least the declared length.

use std::marker::PhantomData;
use std::slice;

use crate::buffer::{span, ItemSink, Sink, Source};
use crate::error::Result;

/// A caller's input bytes (`data`, `len` of `fh_write`).
#[derive(Debug)]
pub struct Input<'a> {
    ptr: *const u8,
    len: usize,
    _caller: PhantomData<&'a [u8]>,
}

impl<'a> Input<'a> {
    /// The buffer at `ptr` of `len` bytes; `None` when `ptr` is NULL with a
    /// non-zero `len` (`FH_NULL_ARGUMENT`).
    ///
    /// # Safety
    /// A non-NULL `ptr` must be valid for reads of `len` bytes during `'a`.
    pub unsafe fn from_raw(ptr: *const u8, len: usize) -> Option<Self> {
        (!ptr.is_null() || len == 0).then_some(Self {
            ptr,
            len,
            _caller: PhantomData,
        })
    }

    /// Number of bytes the caller declared.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for 0 bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes, once they fit `offset..` of a resource of `size` bytes:
    /// `FH_OVERFLOW` or `FH_BOUNDS` otherwise ([`span`]).
    pub fn bytes_within(self, offset: u64, size: u64) -> Result<&'a [u8]> {
        span(offset, self.len, size)?;
        Ok(self.into_slice())
    }

    /// Copies the bytes into `resource` at `offset` (`FH_OVERFLOW`,
    /// `FH_BOUNDS`: nothing copied).
    pub fn copy_to(self, resource: &mut [u8], offset: u64) -> Result<()> {
        crate::buffer::write_into(self, resource, offset)
    }
}

impl<'a> From<&'a [u8]> for Input<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
            _caller: PhantomData,
        }
    }
}

impl<'a> Source<'a> for Input<'a> {
    fn byte_len(&self) -> usize {
        self.len
    }

    fn into_slice(self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: non-NULL (checked in `from_raw`; a slice's pointer never is),
        // valid for `len` bytes during 'a (the contract of `from_raw`, or a
        // slice). Callers ask only once the length fits a resource, so it is
        // at most isize::MAX.
        unsafe { slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A caller's output bytes (`buf`, `len` of `fh_read`; `buf`, `cap` of
/// `fh_last_error`).
#[derive(Debug)]
pub struct Output<'a> {
    ptr: *mut u8,
    len: usize,
    _caller: PhantomData<&'a mut [u8]>,
}

impl<'a> Output<'a> {
    /// The buffer at `ptr` of `len` bytes; `None` when `ptr` is NULL with a
    /// non-zero `len` (`FH_NULL_ARGUMENT`).
    ///
    /// # Safety
    /// A non-NULL `ptr` must be valid for writes of `len` bytes during `'a`,
    /// and not otherwise accessed during it.
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> Option<Self> {
        (!ptr.is_null() || len == 0).then_some(Self {
            ptr,
            len,
            _caller: PhantomData,
        })
    }

    /// Number of bytes the caller declared.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for 0 bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole buffer, once it fits `offset..` of a resource of `size`
    /// bytes: `FH_OVERFLOW` or `FH_BOUNDS` otherwise ([`span`]).
    pub fn within(self, offset: u64, size: u64) -> Result<&'a mut [u8]> {
        span(offset, self.len, size)?;
        let len = self.len;
        Ok(self.into_prefix(len))
    }

    /// Fills the buffer from `resource` at `offset` (`FH_OVERFLOW`,
    /// `FH_BOUNDS`: the buffer untouched).
    pub fn copy_from(self, resource: &[u8], offset: u64) -> Result<()> {
        crate::buffer::read_from(self, resource, offset)
    }
}

impl<'a> From<&'a mut [u8]> for Output<'a> {
    fn from(bytes: &'a mut [u8]) -> Self {
        Self {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            _caller: PhantomData,
        }
    }
}

impl<'a> Sink<'a> for Output<'a> {
    fn byte_len(&self) -> usize {
        self.len
    }

    fn into_prefix(self, n: usize) -> &'a mut [u8] {
        assert!(n <= self.len, "prefix {n} of a {}-byte buffer", self.len);
        if n == 0 {
            return &mut [];
        }
        // SAFETY: non-NULL (n > 0; checked in `from_raw`), valid and exclusive
        // for `len >= n` bytes during 'a (the contract of `from_raw`, or a
        // slice); callers ask only for a length that fits a resource or a
        // message.
        unsafe { slice::from_raw_parts_mut(self.ptr, n) }
    }
}

/// A caller's array of `cap` items of `T` to fill
/// (`fh_drain_reclaim_events`).
#[derive(Debug)]
pub struct Items<'a, T> {
    ptr: *mut T,
    cap: usize,
    _caller: PhantomData<&'a mut [T]>,
}

impl<'a, T> Items<'a, T> {
    /// The array at `ptr` of `cap` items; `None` when `ptr` is NULL with a
    /// non-zero `cap` (`FH_NULL_ARGUMENT`).
    ///
    /// # Safety
    /// A non-NULL `ptr` must be valid and aligned for writes of `cap` items
    /// during `'a`, and not otherwise accessed during it.
    pub unsafe fn from_raw(ptr: *mut T, cap: usize) -> Option<Self> {
        (!ptr.is_null() || cap == 0).then_some(Self {
            ptr,
            cap,
            _caller: PhantomData,
        })
    }
}

impl<'a, T> From<&'a mut [T]> for Items<'a, T> {
    fn from(items: &'a mut [T]) -> Self {
        Self {
            ptr: items.as_mut_ptr(),
            cap: items.len(),
            _caller: PhantomData,
        }
    }
}

impl<'a, T> ItemSink<'a, T> for Items<'a, T> {
    fn item_capacity(&self) -> usize {
        self.cap
    }

    fn into_items(self, n: usize) -> &'a mut [T] {
        assert!(n <= self.cap, "prefix {n} of a {}-item buffer", self.cap);
        if n == 0 {
            return &mut [];
        }
        // SAFETY: non-NULL (n > 0; checked in `from_raw`), valid, aligned and
        // exclusive for `cap >= n` items during 'a (the contract of
        // `from_raw`, or a slice); `n` is a number of items the library
        // holds, so the slice fits in memory.
        unsafe { slice::from_raw_parts_mut(self.ptr, n) }
    }
}

/// Exports the contract's ABI 1.0 functions for an adapter type that
/// implements [`Contract`](crate::Contract): `fh_abi_version` (1.0),
/// `fh_init`, `fh_shutdown`, `fh_create`, `fh_acquire`, `fh_release`,
/// `fh_write`, `fh_read`, `fh_snapshot`, `fh_info`, `fh_get_stats`,
/// `fh_quiesce` and `fh_last_error`, with the header's names, parameters and
/// types, and a process-wide session behind them ([`Exports`](crate::Exports)).
///
/// Invoke it once, at the top level of a `cdylib` crate:
/// `fuzzharness_adapter::export_contract!(MyAdapter);`. Each export runs its
/// whole body inside the panic boundary ([`guard`](crate::guard)), turns NULL
/// pointers into `None` in the header's check order, and on failure records
/// `"fh_xxx: <reason>"` (naming the handle in hex) as the calling thread's
/// last error. The emitted functions carry `#[allow(unsafe_code)]`, so the
/// adapter crate may `#![deny(unsafe_code)]`.
#[macro_export]
macro_rules! export_contract {
    ($adapter:ty) => {
        /// The process-wide session behind the exports of
        /// `fuzzharness_adapter::export_contract!`.
        static FUZZHARNESS_EXPORTS: $crate::Exports<$adapter> = $crate::Exports::new();

        /// The ABI version of this library (1.0). Callable at any time.
        ///
        /// # Safety
        /// `major` and `minor` are NULL or valid for writes.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub unsafe extern "C" fn fh_abi_version(major: *mut u32, minor: *mut u32) -> i32 {
            $crate::guard("fh_abi_version", || {
                // SAFETY: NULL or valid (the caller's duty).
                let (major, minor) = unsafe { (major.as_mut(), minor.as_mut()) };
                $crate::Exports::<$adapter>::abi_version(major, minor)
            })
        }

        /// Opens a session; `*config` is copied. Not thread-safe.
        ///
        /// # Safety
        /// `config` is NULL or valid for reads.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub unsafe extern "C" fn fh_init(config: *mut $crate::contract::fh_config) -> i32 {
            // SAFETY: NULL or valid (the caller's duty); only read.
            $crate::guard("fh_init", || {
                FUZZHARNESS_EXPORTS.init(unsafe { config.as_ref() })
            })
        }

        /// Closes the session; `*report` receives the stats from just before.
        /// Not thread-safe.
        ///
        /// # Safety
        /// `report` is NULL or valid for writes.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub unsafe extern "C" fn fh_shutdown(report: *mut $crate::contract::fh_stats) -> i32 {
            // SAFETY: NULL or valid (the caller's duty).
            $crate::guard("fh_shutdown", || {
                FUZZHARNESS_EXPORTS.shutdown(unsafe { report.as_mut() })
            })
        }

        /// Creates a zero-filled resource of `size` bytes; its handle goes to `*out`.
        ///
        /// # Safety
        /// `out` is NULL or valid for writes.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub unsafe extern "C" fn fh_create(size: u64, out: *mut u64) -> i32 {
            // SAFETY: NULL or valid (the caller's duty).
            $crate::guard("fh_create", || {
                FUZZHARNESS_EXPORTS.create(size, unsafe { out.as_mut() })
            })
        }

        /// Adds one reference to a live resource.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn fh_acquire(handle: u64) -> i32 {
            $crate::guard("fh_acquire", || FUZZHARNESS_EXPORTS.acquire(handle))
        }

        /// Drops one reference; the last one kills the resource.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn fh_release(handle: u64) -> i32 {
            $crate::guard("fh_release", || FUZZHARNESS_EXPORTS.release(handle))
        }

        /// Copies `len` bytes from `data` into the resource at `offset`.
        ///
        /// # Safety
        /// `data` is NULL or valid for reads of `len` bytes.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub unsafe extern "C" fn fh_write(
            handle: u64,
            offset: u64,
            data: *mut u8,
            len: usize,
        ) -> i32 {
            $crate::guard("fh_write", || {
                // SAFETY: NULL or valid for `len` bytes (the caller's duty); only read.
                let data = unsafe { $crate::ffi::Input::from_raw(data, len) };
                FUZZHARNESS_EXPORTS.write(handle, offset, data)
            })
        }

        /// Copies `len` bytes of the resource at `offset` into `buf`.
        ///
        /// # Safety
        /// `buf` is NULL or valid for writes of `len` bytes.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub unsafe extern "C" fn fh_read(
            handle: u64,
            offset: u64,
            buf: *mut u8,
            len: usize,
        ) -> i32 {
            $crate::guard("fh_read", || {
                // SAFETY: NULL or valid for `len` bytes (the caller's duty).
                let buf = unsafe { $crate::ffi::Output::from_raw(buf, len) };
                FUZZHARNESS_EXPORTS.read(handle, offset, buf)
            })
        }

        /// Creates a read-only snapshot of the resource; its handle goes to `*out`.
        ///
        /// # Safety
        /// `out` is NULL or valid for writes.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub unsafe extern "C" fn fh_snapshot(handle: u64, out: *mut u64) -> i32 {
            // SAFETY: NULL or valid (the caller's duty).
            $crate::guard("fh_snapshot", || {
                FUZZHARNESS_EXPORTS.snapshot(handle, unsafe { out.as_mut() })
            })
        }

        /// Describes a live resource into `*out`.
        ///
        /// # Safety
        /// `out` is NULL or valid for writes.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub unsafe extern "C" fn fh_info(
            handle: u64,
            out: *mut $crate::contract::fh_resource_info,
        ) -> i32 {
            // SAFETY: NULL or valid (the caller's duty).
            $crate::guard("fh_info", || {
                FUZZHARNESS_EXPORTS.info(handle, unsafe { out.as_mut() })
            })
        }

        /// Session counters into `*out`.
        ///
        /// # Safety
        /// `out` is NULL or valid for writes.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub unsafe extern "C" fn fh_get_stats(out: *mut $crate::contract::fh_stats) -> i32 {
            // SAFETY: NULL or valid (the caller's duty).
            $crate::guard("fh_get_stats", || {
                FUZZHARNESS_EXPORTS.get_stats(unsafe { out.as_mut() })
            })
        }

        /// Finishes all deferred reclamation.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn fh_quiesce() -> i32 {
            $crate::guard("fh_quiesce", || FUZZHARNESS_EXPORTS.quiesce())
        }

        /// Copies the calling thread's last error message into `buf` (`cap`
        /// bytes, NUL-terminated, truncated) and its full length to `*out_len`.
        ///
        /// # Safety
        /// `buf` is NULL or valid for writes of `cap` bytes, `out_len` NULL or
        /// valid for writes.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub unsafe extern "C" fn fh_last_error(
            buf: *mut ::std::ffi::c_char,
            cap: usize,
            out_len: *mut usize,
        ) -> i32 {
            $crate::guard("fh_last_error", || {
                // SAFETY: NULL or valid for `cap` bytes, NULL or valid (the caller's duty).
                let (buf, out_len) = unsafe {
                    (
                        $crate::ffi::Output::from_raw(buf.cast::<u8>(), cap),
                        out_len.as_mut(),
                    )
                };
                $crate::last_error::fetch(buf, out_len)
            })
        }
    };
}

/// Calls the perturbation hook whose address `raw` was stored by
/// [`crate::perturb::install`] (feature `perturb`).
#[cfg(feature = "perturb")]
pub(crate) fn call_perturb_hook(raw: usize, point: u32) {
    // SAFETY: `raw` is non-zero and was stored from an `unsafe extern "C" fn(u32)`
    // by `perturb::install`; the hook's installer (fh_test_set_perturb's caller)
    // promises a function callable from any thread at any time.
    let hook: unsafe extern "C" fn(u32) = unsafe { std::mem::transmute(raw) };
    unsafe { hook(point) }
}

