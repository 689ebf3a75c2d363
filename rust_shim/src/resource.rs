//! One resource: a fixed-size byte buffer, writable or read-only (snapshot).
//!
//! Guarantees:
//! * the bytes sit behind their own `RwLock`: writes are serialized and a read
//!   copies while no write runs, so it sees each write entirely or not at all;
//! * allocation is fallible: a size the allocator refuses is `FH_EXHAUSTED`,
//!   never an abort;
//! * [`Resource::free`] releases the bytes at once, waiting for the copies in
//!   progress; a call that reaches the resource afterwards (it looked the
//!   handle up just before the resource died) gets `FH_STALE_HANDLE`.
//!
//! The bytes are reference-counted (`Arc`) only so that the test mutant
//! `FH_MUTANT_SNAPSHOT_SHARES` can make a snapshot share its origin's bytes;
//! in every other case each resource owns its bytes alone.

use std::sync::{Arc, RwLock};

use crate::sync::{read, write};
use fuzzharness_adapter::contract::{FH_EXHAUSTED, FH_STALE_HANDLE};
use fuzzharness_adapter::error::{Error, Result};

type Bytes = Arc<RwLock<Option<Box<[u8]>>>>;

/// A resource's size, mode and bytes.
#[derive(Debug)]
pub struct Resource {
    size: u64,
    read_only: bool,
    bytes: Bytes,
}

impl Resource {
    /// A writable, zero-filled resource of `size` bytes.
    pub fn zeroed(size: u64) -> Result<Self> {
        let exhausted = || Error::new(FH_EXHAUSTED, format!("cannot allocate {size} bytes"));
        let len = usize::try_from(size).map_err(|_| exhausted())?;
        // alloc_zeroed (calloc), through bytemuck: a large buffer comes from
        // fresh pages the kernel zero-fills on first touch, so creating a
        // 4 GiB resource costs microseconds instead of the seconds writing
        // every page takes (a create of limit tier 7 used to look like a hang).
        let buffer = bytemuck::allocation::try_zeroed_slice_box(len).map_err(|()| exhausted())?;
        Ok(Self::new(size, false, buffer))
    }

    /// A read-only copy of this resource's current bytes (`handle` names
    /// this resource in errors).
    pub fn snapshot(&self, handle: u64) -> Result<Self> {
        #[cfg(feature = "mutants")]
        if crate::mutants::is_active(fuzzharness_adapter::testing::FH_MUTANT_SNAPSHOT_SHARES) {
            return Ok(Self {
                size: self.size,
                read_only: true,
                bytes: Arc::clone(&self.bytes),
            });
        }
        let mut copy = allocate(self.size)?;
        copy.extend_from_slice(read(&self.bytes).as_deref().ok_or_else(|| freed(handle))?);
        Ok(Self::new(self.size, true, copy.into_boxed_slice()))
    }

    /// `SNAPSHOT_PIN_RACE` (`mutants` builds): a read-only copy of the bytes,
    /// or of zeros when they were freed already (what the mutant's late pin
    /// copies from reused memory), never an error for freed bytes.
    #[cfg(feature = "mutants")]
    pub fn snapshot_after_free(&self) -> Result<Self> {
        let mut copy = allocate(self.size)?;
        match read(&self.bytes).as_deref() {
            Some(bytes) => copy.extend_from_slice(bytes),
            None => copy.resize(usize::try_from(self.size).unwrap_or(0), 0),
        }
        Ok(Self::new(self.size, true, copy.into_boxed_slice()))
    }

    fn new(size: u64, read_only: bool, buffer: Box<[u8]>) -> Self {
        Self {
            size,
            read_only,
            bytes: Arc::new(RwLock::new(Some(buffer))),
        }
    }

    /// Size in bytes, fixed at creation.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether this is a snapshot.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Copies `dst.len()` bytes from `offset` (in bounds, checked by the caller).
    pub fn read(&self, handle: u64, offset: usize, dst: &mut [u8]) -> Result<()> {
        let bytes = read(&self.bytes);
        let bytes = bytes.as_deref().ok_or_else(|| freed(handle))?;
        #[cfg(feature = "mutants")]
        if offset + dst.len() > bytes.len() {
            // FH_MUTANT_BOUNDS_OFF_BY_ONE let one byte past the end through.
            crate::mutants::read_past_end(bytes, offset, dst);
            return Ok(());
        }
        dst.copy_from_slice(&bytes[offset..offset + dst.len()]);
        Ok(())
    }

    /// Copies `src` to `offset` (in bounds, checked by the caller).
    pub fn write(&self, handle: u64, offset: usize, src: &[u8]) -> Result<()> {
        let mut bytes = write(&self.bytes);
        let bytes = bytes.as_deref_mut().ok_or_else(|| freed(handle))?;
        #[cfg(feature = "mutants")]
        if offset + src.len() > bytes.len() {
            // FH_MUTANT_BOUNDS_OFF_BY_ONE let one byte past the end through.
            crate::mutants::write_past_end(bytes, offset, src);
            return Ok(());
        }
        bytes[offset..offset + src.len()].copy_from_slice(src);
        Ok(())
    }

    /// Frees the bytes now, after the reads and writes in progress.
    pub fn free(&self) {
        let bytes = write(&self.bytes).take();
        drop(bytes);
    }

    /// `FH_MUTANT_UNSYNC_WRITER`: copies `src` to `offset` one byte at a time,
    /// taking the lock for each byte only and yielding between bytes, so that
    /// concurrent writers interleave and readers see part of the write. Each
    /// byte store is still locked: the bug is the torn write, not a data race.
    #[cfg(feature = "mutants")]
    pub fn write_unsynced(&self, handle: u64, offset: usize, src: &[u8]) -> Result<()> {
        for (i, &byte) in src.iter().enumerate() {
            write(&self.bytes)
                .as_deref_mut()
                .ok_or_else(|| freed(handle))?[offset + i] = byte;
            std::thread::yield_now();
        }
        Ok(())
    }

    /// Frees the bytes now, like [`Resource::free`], and returns their
    /// (dangling) address for `FH_MUTANT_STALE_USE_AFTER_FREE` and
    /// `FH_MUTANT_DOUBLE_RELEASE`; `None` if they were freed already.
    #[cfg(feature = "mutants")]
    pub(crate) fn free_keeping_address(&self) -> Option<crate::mutants::RawBytes> {
        let mut bytes = write(&self.bytes).take()?;
        let address = crate::mutants::RawBytes::of(&mut bytes);
        // The allocation really goes back to the allocator here.
        drop(bytes);
        Some(address)
    }
}

/// `FH_STALE_HANDLE`: the resource died between the lookup and the copy.
fn freed(handle: u64) -> Error {
    Error::new(
        FH_STALE_HANDLE,
        format!("handle {handle:#x} is stale (its resource died during the call)"),
    )
}

/// An empty buffer with room for exactly `size` bytes, or `FH_EXHAUSTED`.
fn allocate(size: u64) -> Result<Vec<u8>> {
    let exhausted = || Error::new(FH_EXHAUSTED, format!("cannot allocate {size} bytes"));
    let len = usize::try_from(size).map_err(|_| exhausted())?;
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(len).map_err(|_| exhausted())?;
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_4_gib_resource_is_zero_filled_without_touching_its_pages() {
        // Limit tier 7 of the programs: 4 GiB. calloc'd pages read as zero.
        let size = 1u64 << 32;
        let resource = Resource::zeroed(size).unwrap();
        let mut out = [0xAA; 4];
        resource.read(1, (size - 4) as usize, &mut out).unwrap();
        assert_eq!(out, [0; 4]);
        resource.write(1, 0, &[7]).unwrap();
        resource.free();
    }

    #[test]
    fn zeroed_read_write_snapshot_free() {
        let resource = Resource::zeroed(8).unwrap();
        assert_eq!((resource.size(), resource.read_only()), (8, false));
        resource.write(1, 2, &[1, 2, 3]).unwrap();
        let snapshot = resource.snapshot(1).unwrap();
        assert!(snapshot.read_only());
        resource.write(1, 0, &[9; 8]).unwrap();
        let mut out = [0xAA; 8];
        snapshot.read(2, 0, &mut out).unwrap();
        assert_eq!(out, [0, 0, 1, 2, 3, 0, 0, 0]);
        resource.free();
        let stale = resource.read(0x1_0000_0000, 0, &mut out).unwrap_err();
        assert_eq!(stale.status(), FH_STALE_HANDLE);
        assert_eq!(
            stale.message(),
            "handle 0x100000000 is stale (its resource died during the call)"
        );
        assert_eq!(
            resource.write(1, 0, &[1]).unwrap_err().status(),
            FH_STALE_HANDLE
        );
        assert_eq!(resource.snapshot(1).unwrap_err().status(), FH_STALE_HANDLE);
        snapshot.read(2, 0, &mut out).unwrap();
        assert_eq!(out, [0, 0, 1, 2, 3, 0, 0, 0]);
    }

    #[test]
    fn impossible_sizes_are_exhausted_not_aborts() {
        let error = Resource::zeroed(u64::MAX).unwrap_err();
        assert_eq!(error.status(), FH_EXHAUSTED);
        assert_eq!(
            Resource::zeroed(1 << 62).unwrap_err().status(),
            FH_EXHAUSTED
        );
    }
}
