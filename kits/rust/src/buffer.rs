//! Caller-owned buffers, materialized only once a call knows it will use them.
//!
//! A caller may pass any length with a buffer, including one that no buffer
//! can have (`fh_read(h, 1, buf, SIZE_MAX)` must give `FH_OVERFLOW`, not a
//! crash). So an operation receives a [`Source`] or a [`Sink`] that first
//! reports only its length; the operation checks the length against the
//! resource ([`span`]) and asks for the slice (or a prefix of it) only once
//! the copy is known to be in bounds. Plain slices implement the traits, so
//! the logic behind them is tested without raw pointers;
//! [`crate::ffi::Input`], [`crate::ffi::Output`] and [`crate::ffi::Items`]
//! implement them for C pointers.

use std::ops::Range;

use crate::contract::{FH_BOUNDS, FH_EXHAUSTED, FH_OVERFLOW};
use crate::error::{Error, Result};

/// Bytes to copy from (the `data` of `fh_write`).
pub trait Source<'a> {
    /// Number of bytes the caller declared.
    fn byte_len(&self) -> usize;
    /// The bytes; only called once `byte_len` is known to fit a resource.
    fn into_slice(self) -> &'a [u8];
}

/// Bytes to copy into (the `buf` of `fh_read` and `fh_last_error`).
pub trait Sink<'a> {
    /// Number of bytes the caller declared.
    fn byte_len(&self) -> usize;
    /// The first `n` bytes (`n <= byte_len()`); only called once `n` is known
    /// to be the exact number of bytes the call writes.
    fn into_prefix(self, n: usize) -> &'a mut [u8];
}

/// Items to copy into (the `buf` of `fh_drain_reclaim_events`), counted in
/// items of `T`; like [`Sink`], materialized only for the items written.
pub trait ItemSink<'a, T> {
    /// Number of items the caller has room for.
    fn item_capacity(&self) -> usize;
    /// The first `n` items (`n <= item_capacity()`).
    fn into_items(self, n: usize) -> &'a mut [T];
}

impl<'a> Source<'a> for &'a [u8] {
    fn byte_len(&self) -> usize {
        self.len()
    }

    fn into_slice(self) -> &'a [u8] {
        self
    }
}

impl<'a> Sink<'a> for &'a mut [u8] {
    fn byte_len(&self) -> usize {
        self.len()
    }

    fn into_prefix(self, n: usize) -> &'a mut [u8] {
        &mut self[..n]
    }
}

impl<'a, T> ItemSink<'a, T> for &'a mut [T] {
    fn item_capacity(&self) -> usize {
        self.len()
    }

    fn into_items(self, n: usize) -> &'a mut [T] {
        &mut self[..n]
    }
}

/// The bytes `offset..offset + len` of a resource of `size` bytes, checked
/// in the header's order: `FH_OVERFLOW` when `offset + len` does not fit in
/// 64 bits, then `FH_BOUNDS` when it ends past `size`.
pub fn span(offset: u64, len: usize, size: u64) -> Result<Range<usize>> {
    // usize is at most 64 bits on every supported target.
    let end = offset.checked_add(len as u64).ok_or_else(|| {
        Error::new(
            FH_OVERFLOW,
            format!("offset {offset} + length {len} overflows 64 bits"),
        )
    })?;
    if end > size {
        return Err(Error::new(
            FH_BOUNDS,
            format!("offset {offset} + length {len} exceeds the size {size}"),
        ));
    }
    let start = usize::try_from(offset);
    let stop = usize::try_from(end);
    match (start, stop) {
        (Ok(start), Ok(stop)) => Ok(start..stop),
        _ => Err(Error::new(
            FH_BOUNDS,
            format!("offset {offset} + length {len} is beyond this machine's address space"),
        )),
    }
}

/// Copies `data` into `resource` at `offset` (`fh_write`): `FH_OVERFLOW` or
/// `FH_BOUNDS` (see [`span`]) and nothing copied, or every byte copied.
pub fn write_into<'a>(data: impl Source<'a>, resource: &mut [u8], offset: u64) -> Result<()> {
    let range = span(offset, data.byte_len(), resource.len() as u64)?;
    resource[range].copy_from_slice(data.into_slice());
    Ok(())
}

/// Fills `buf` from `resource` at `offset` (`fh_read`): `FH_OVERFLOW` or
/// `FH_BOUNDS` (see [`span`]) and `buf` untouched, or all of it filled.
pub fn read_from<'a>(buf: impl Sink<'a>, resource: &[u8], offset: u64) -> Result<()> {
    let len = buf.byte_len();
    let range = span(offset, len, resource.len() as u64)?;
    buf.into_prefix(len).copy_from_slice(&resource[range]);
    Ok(())
}

/// `size` zero bytes for a new resource, or `FH_EXHAUSTED` when they cannot
/// be allocated (never an abort: the size comes from the caller).
pub fn zeroed(size: u64) -> Result<Vec<u8>> {
    let exhausted = || Error::new(FH_EXHAUSTED, format!("cannot allocate {size} bytes"));
    let n = usize::try_from(size).map_err(|_| exhausted())?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(n).map_err(|_| exhausted())?;
    bytes.resize(n, 0);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_checks_overflow_before_bounds() {
        assert_eq!(span(u64::MAX, 1, 0).unwrap_err().status(), FH_OVERFLOW);
        assert_eq!(span(5, 0, 4).unwrap_err().status(), FH_BOUNDS);
        assert_eq!(span(3, 2, 4).unwrap_err().status(), FH_BOUNDS);
        assert_eq!(span(4, 0, 4).unwrap(), 4..4);
        assert_eq!(span(1, 3, 4).unwrap(), 1..4);
        assert_eq!(
            span(1, usize::MAX, 4).unwrap_err().message(),
            format!("offset 1 + length {} overflows 64 bits", usize::MAX)
        );
    }

    #[test]
    fn a_failed_copy_touches_nothing() {
        let mut resource = [1u8, 2, 3, 4];
        assert_eq!(
            write_into(&[9u8; 3][..], &mut resource, 2)
                .unwrap_err()
                .status(),
            FH_BOUNDS
        );
        assert_eq!(resource, [1, 2, 3, 4]);
        write_into(&[9u8; 2][..], &mut resource, 2).unwrap();
        assert_eq!(resource, [1, 2, 9, 9]);
        let mut out = [0xAAu8; 3];
        assert_eq!(
            read_from(&mut out[..], &resource, 2).unwrap_err().status(),
            FH_BOUNDS
        );
        assert_eq!(out, [0xAA; 3]);
        read_from(&mut out[..], &resource, 1).unwrap();
        assert_eq!(out, [2, 9, 9]);
    }

    #[test]
    fn zeroed_reports_what_cannot_be_allocated() {
        assert_eq!(zeroed(3).unwrap(), [0, 0, 0]);
        assert_eq!(zeroed(u64::MAX).unwrap_err().status(), FH_EXHAUSTED);
    }
}
