//! Caller-owned byte buffers, materialized only when a call will use them.
//!
//! A caller may pass any length with a buffer, including one that no buffer
//! can have (`fh_read(h, 1, buf, SIZE_MAX)` must give `FH_OVERFLOW`, not a
//! crash). The safe layer therefore receives a [`Source`] or [`Sink`] that
//! only reports its length, checks the length against the resource first, and
//! asks for the slice (or a prefix of it) only once the copy is known to be in
//! bounds. Plain slices implement both traits, so the safe layer is tested
//! without raw pointers; [`crate::ffi`] implements them for C pointers.

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

/// Items to copy into (the `buf` of `fh_drain_reclaim_events`), counted in
/// items of `T`; like [`Sink`], materialized only for the items written.
pub trait ItemSink<'a, T> {
    /// Number of items the caller has room for.
    fn item_capacity(&self) -> usize;
    /// The first `n` items (`n <= item_capacity()`).
    fn into_items(self, n: usize) -> &'a mut [T];
}

impl<'a, T> ItemSink<'a, T> for &'a mut [T] {
    fn item_capacity(&self) -> usize {
        self.len()
    }

    fn into_items(self, n: usize) -> &'a mut [T] {
        &mut self[..n]
    }
}
