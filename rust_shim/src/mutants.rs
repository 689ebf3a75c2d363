//! Test-only mutant injection (`mutants` feature, `fuzzharness_testing_decls.h`).
//!
//! One mutant is active at a time, process-wide, across sessions. Each mutant
//! turns into one kind of bug the harness must report:
//! * `FH_MUTANT_SNAPSHOT_SHARES`: a snapshot shares its origin's bytes
//!   ([`crate::resource::Resource::snapshot`]), still reported read-only;
//!   once the origin's memory is reclaimed the shared bytes are gone and the
//!   snapshot's reads give `FH_STALE_HANDLE` (the safe analogue of the
//!   use-after-free a C implementation would have);
//! * `FH_MUTANT_SKIP_GENERATION`: a handle of an older generation reaches its
//!   slot's live resource ([`crate::table`]); free slots still classify;
//! * the trigger mutants act in [`on_write`], called by `fh_write` on a live,
//!   writable handle, in bounds, once the bytes are known: with exactly 3
//!   bytes whose first one is 0xFD, `SEGFAULT` writes through a null pointer,
//!   `HANG` sleeps forever, `ABORT` panics inside an `extern "C"` function
//!   that cannot unwind (the process aborts) and `CAUGHT_PANIC` panics inside
//!   the boundary (`FH_PANIC`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use crate::contract::testing::{
    FH_MUTANT_ABORT, FH_MUTANT_CAUGHT_PANIC, FH_MUTANT_HANG, FH_MUTANT_NONE, FH_MUTANT_SEGFAULT,
    FH_MUTANT_SKIP_GENERATION, FH_MUTANT_SNAPSHOT_SHARES,
};
use crate::contract::FH_INVALID_ARGUMENT;
use crate::error::{Error, Result};

static ACTIVE: AtomicU32 = AtomicU32::new(FH_MUTANT_NONE);

/// Makes `mutant` the active mutant; `FH_INVALID_ARGUMENT` if it is unknown.
pub fn set(mutant: u32) -> Result<()> {
    match mutant {
        FH_MUTANT_NONE
        | FH_MUTANT_SNAPSHOT_SHARES
        | FH_MUTANT_SEGFAULT
        | FH_MUTANT_HANG
        | FH_MUTANT_ABORT
        | FH_MUTANT_CAUGHT_PANIC
        | FH_MUTANT_SKIP_GENERATION => {
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
    ACTIVE.load(Ordering::SeqCst) == mutant
}

/// Fires the active trigger mutant if `data` is the trigger (see the module).
pub fn on_write(data: &[u8]) {
    if !matches!(data, [0xFD, _, _]) {
        return;
    }
    match ACTIVE.load(Ordering::SeqCst) {
        FH_MUTANT_SEGFAULT => crate::ffi::write_through_null(),
        FH_MUTANT_HANG => loop {
            thread::sleep(Duration::from_secs(3600));
        },
        FH_MUTANT_ABORT => crate::ffi::uncaught_panic(),
        FH_MUTANT_CAUGHT_PANIC => panic!("FH_MUTANT_CAUGHT_PANIC: the trigger write panicked"),
        _ => {}
    }
}
