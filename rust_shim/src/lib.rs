//! Rust target of the fuzzharness ownership contract (ABI 1.1), and the
//! OWNER side of a cross-runtime pair (see the header's "CROSS-RUNTIME
//! TARGETS": per-runtime references, guarded release, `fh_backend`).
//!
//! The C contract is `targets/include/fuzzharness_decls.h`; this crate builds
//! it as `libfuzzharness_rust.so`.
//!
//! # Layers
//!
//! Each module uses only modules of lower layers (or, without a cycle, of its
//! own layer); `tests/unit/test_rust_layers.py` keeps it so and holds the
//! same list. From the bottom up:
//!
//! 1. [`clock`]: the contract's `CLOCK_MONOTONIC` reading; `sync`: lock
//!    helpers that ignore poisoning.
//! 2. `mutants` (cargo feature `mutants` only): the test-only mutant
//!    injection of `fuzzharness_testing_decls.h`; without the feature no
//!    mutant code is compiled.
//! 3. [`last_error`]: the last-error message (the kit's per-thread one, which
//!    a mutant redirects).
//! 4. [`events`], [`guard`], [`table`], [`resource`]: the reclamation-event
//!    ring, the foreign runtime's outstanding acknowledgements (guarded
//!    release), the slot table with generations and per-runtime reference
//!    counts, and resource memory.
//! 5. [`reclaim`]: the reclamation strategies (immediate, epoch-based,
//!    guarded).
//! 6. [`session`]: one open session: limits, the handle table, the
//!    resources' bytes and the reclamation strategy.
//! 7. [`api`]: one safe function per export, applying the header's check
//!    order against the process-wide session.
//! 8. [`ffi`]: the `extern "C"` exports, the only module allowed to use
//!    `unsafe`. It turns raw pointers into `Option`s, runs every call inside
//!    the kit's panic boundary and turns errors into status codes and
//!    last-error messages. What lower layers need from `unsafe` code is
//!    handed down to them as values (the backend table to [`api`], the
//!    mutants' memory errors to `mutants`), never reached by naming this
//!    module.
//!
//! Below all of them, the adapter kit `fuzzharness-adapter` (`kits/rust`),
//! which every Rust implementation of the contract shares: the header's
//! constants and `#[repr(C)]` types (generated from the header), the error
//! type, caller buffers, the `fh_stats` counters, the panic boundary and the
//! per-thread last error.

#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod api;
pub mod clock;
pub mod events;
#[allow(unsafe_code)]
pub mod ffi;
pub mod guard;
pub mod last_error;
#[cfg(feature = "mutants")]
pub mod mutants;
pub mod reclaim;
pub mod resource;
pub mod session;
mod sync;
pub mod table;
