//! Adapter kit for the fuzzharness ownership contract
//! (`targets/include/fuzzharness_decls.h`): what every Rust implementation of
//! the contract needs, so that an adapter over a handle system nobody here
//! wrote is a page of safe Rust.
//!
//! * [`contract`]: the header's constants and `#[repr(C)]` types, generated
//!   from the header (`python -m fuzzharness.contract.kitgen`; the drift
//!   check is `tests/unit/test_kits.py`); [`testing`]: the test-only mutant
//!   ids;
//! * [`error`]: the error type (a status and a message), NULL checks
//!   ([`required`]) and handle naming ([`naming`]);
//! * [`boundary`]: the panic boundary ([`guard`]: a panic becomes `FH_PANIC`
//!   with `"fh_xxx: panic: <payload>"`);
//! * [`last_error`]: the per-thread last error and `fh_last_error` with its
//!   length query;
//! * [`buffer`] and [`ffi`]: caller buffers checked before they are touched
//!   (`FH_OVERFLOW`, then `FH_BOUNDS`), outputs written only on success;
//! * [`ledger`]: the counters of `fh_stats` and the limits of `fh_config`
//!   (`FH_EXHAUSTED`);
//! * [`adapter`]: the trait [`Contract`] an adapter implements, and
//!   [`Exports`], the header's check order in front of it;
//!   [`export_contract!`] emits the `extern "C"` functions of the ABI 1.0
//!   surface for it.
//!
//! The kit never looks at handle values: they are the adapter's own (any
//! non-zero 64-bit values; register the target with `handles = "opaque"`).
//!
//! `unsafe` code is in [`ffi`] only (this crate denies it elsewhere).
//!
//! # Example
//!
//! A complete adapter: resources in a map, handles from a counter.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//!
//! use fuzzharness_adapter::contract::{fh_config, fh_resource_info, fh_stats};
//! use fuzzharness_adapter::{buffer, Admission, Contract, Error, Input, Ledger, Output, Result};
//!
//! struct Resource { bytes: Vec<u8>, refs: u32, read_only: bool }
//!
//! pub struct Counter {
//!     ledger: Ledger,
//!     table: Mutex<(u64, HashMap<u64, Resource>)>, // (last handle issued, live resources)
//! }
//!
//! impl Counter {
//!     fn with<R>(&self, handle: u64, f: impl FnOnce(&mut Resource) -> Result<R>) -> Result<R> {
//!         let mut table = self.table.lock().unwrap();
//!         let issued = (1..=table.0).contains(&handle);
//!         match table.1.get_mut(&handle) {
//!             Some(resource) => f(resource),
//!             None if issued => Err(Error::stale_handle(handle)),
//!             None => Err(Error::invalid_handle(handle)),
//!         }
//!     }
//!
//!     fn insert(&self, bytes: Vec<u8>, read_only: bool, admission: Admission<'_>) -> u64 {
//!         let mut table = self.table.lock().unwrap();
//!         table.0 += 1;
//!         let handle = table.0;
//!         table.1.insert(handle, Resource { bytes, refs: 1, read_only });
//!         admission.commit();
//!         handle
//!     }
//! }
//!
//! impl Contract for Counter {
//!     fn open(config: &fh_config) -> Result<Self> {
//!         Ok(Self { ledger: Ledger::new(config), table: Mutex::default() })
//!     }
//!     fn create(&self, size: u64) -> Result<u64> {
//!         let admission = self.ledger.admit(size)?; // FH_EXHAUSTED before allocating
//!         Ok(self.insert(buffer::zeroed(size)?, false, admission))
//!     }
//!     fn acquire(&self, handle: u64) -> Result<()> {
//!         self.with(handle, |r| {
//!             r.refs = r.refs.checked_add(1).ok_or(Error::too_many_references(handle))?;
//!             Ok(())
//!         })
//!     }
//!     fn release(&self, handle: u64) -> Result<()> {
//!         let mut table = self.table.lock().unwrap();
//!         let Some(resource) = table.1.get_mut(&handle) else {
//!             drop(table);
//!             return self.with(handle, |_| Ok(())); // the right error
//!         };
//!         resource.refs -= 1;
//!         if resource.refs == 0 {
//!             let size = table.1.remove(&handle).unwrap().bytes.len() as u64;
//!             self.ledger.freed(size);
//!         }
//!         Ok(())
//!     }
//!     fn write(&self, handle: u64, offset: u64, data: Input<'_>) -> Result<()> {
//!         self.with(handle, |r| {
//!             if r.read_only {
//!                 return Err(Error::read_only(handle));
//!             }
//!             data.copy_to(&mut r.bytes, offset)
//!         })
//!     }
//!     fn read(&self, handle: u64, offset: u64, buf: Output<'_>) -> Result<()> {
//!         self.with(handle, |r| buf.copy_from(&r.bytes, offset))
//!     }
//!     fn snapshot(&self, handle: u64) -> Result<u64> {
//!         let (admission, bytes) =
//!             self.with(handle, |r| Ok((self.ledger.admit(r.bytes.len() as u64)?, r.bytes.clone())))?;
//!         Ok(self.insert(bytes, true, admission))
//!     }
//!     fn info(&self, handle: u64) -> Result<fh_resource_info> {
//!         self.with(handle, |r| Ok(fh_resource_info {
//!             size: r.bytes.len() as u64, refs: r.refs, read_only: r.read_only.into(),
//!         }))
//!     }
//!     fn stats(&self) -> fh_stats {
//!         self.ledger.stats()
//!     }
//! }
//!
//! fuzzharness_adapter::export_contract!(Counter);
//! # fn main() {
//! #     let config = fh_config { capacity: 4, max_resource_bytes: 64, max_total_bytes: 256, ..Default::default() };
//! #     let mut handle = 0;
//! #     unsafe {
//! #         assert_eq!(fh_init(&config as *const _ as *mut _), 0);
//! #         assert_eq!(fh_create(8, &mut handle), 0);
//! #         assert_eq!(fh_release(handle), 0);
//! #         assert_eq!(fh_release(handle), fuzzharness_adapter::contract::FH_STALE_HANDLE);
//! #         let mut stats = fh_stats::default();
//! #         assert_eq!(fh_shutdown(&mut stats), 0);
//! #         assert_eq!((stats.created, stats.reclaimed), (1, 1));
//! #     }
//! # }
//! ```
//!
//! A snapshot's bytes are copied under the table lock and inserted after it:
//! a release between the two leaves the snapshot as it was when copied (the
//! snapshot happened first). Lock order: the table, then the ledger.

#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod adapter;
pub mod boundary;
pub mod buffer;
#[rustfmt::skip] // generated (kitgen.py): rustfmt would make it drift
pub mod contract;
pub mod error;
#[allow(unsafe_code)]
pub mod ffi;
pub mod last_error;
pub mod ledger;
#[cfg(feature = "perturb")]
pub mod perturb;
#[rustfmt::skip] // generated (kitgen.py)
pub mod testing;

pub use adapter::{Contract, Exports, KIT_ABI_MINOR};
pub use boundary::guard;
pub use error::{naming, required, Error, Result};
pub use ffi::{Input, Items, Output};
pub use ledger::{Admission, Counters, Ledger, Limits, MAX_CAPACITY};
