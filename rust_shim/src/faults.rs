//! Test-only fault injection (`faults` feature, `fuzzharness_testing_decls.h`).
//!
//! One fault is active at a time, process-wide, across sessions. Each fault
//! turns into one kind of bug the harness must report:
//! * `FH_FAULT_SNAPSHOT_SHARES`: a snapshot shares its origin's bytes
//!   ([`crate::resource::Resource::snapshot`]), still reported read-only;
//!   once the origin's memory is reclaimed the shared bytes are gone and the
//!   snapshot's reads give `FH_STALE_HANDLE` (the safe analogue of the
//!   use-after-free a C implementation would have);
//! * `FH_FAULT_SKIP_GENERATION`: a handle of an older generation reaches its
//!   slot's live resource ([`crate::table`]); free slots still classify;
//! * the trigger faults act in [`on_write`], called by `fh_write` on a live,
//!   writable handle, in bounds, once the bytes are known: with exactly 3
//!   bytes whose first one is 0xFD, `SEGFAULT` writes through a null pointer,
//!   `HANG` sleeps forever, `ABORT` panics inside an `extern "C"` function
//!   that cannot unwind (the process aborts) and `CAUGHT_PANIC` panics inside
//!   the boundary (`FH_PANIC`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use crate::contract::testing::{
    FH_FAULT_ABORT, FH_FAULT_CAUGHT_PANIC, FH_FAULT_HANG, FH_FAULT_NONE, FH_FAULT_SEGFAULT,
    FH_FAULT_SKIP_GENERATION, FH_FAULT_SNAPSHOT_SHARES,
};
use crate::contract::FH_INVALID_ARGUMENT;
use crate::error::{Error, Result};

static ACTIVE: AtomicU32 = AtomicU32::new(FH_FAULT_NONE);

/// Makes `fault` the active fault; `FH_INVALID_ARGUMENT` if it is unknown.
pub fn set(fault: u32) -> Result<()> {
    match fault {
        FH_FAULT_NONE
        | FH_FAULT_SNAPSHOT_SHARES
        | FH_FAULT_SEGFAULT
        | FH_FAULT_HANG
        | FH_FAULT_ABORT
        | FH_FAULT_CAUGHT_PANIC
        | FH_FAULT_SKIP_GENERATION => {
            ACTIVE.store(fault, Ordering::SeqCst);
            Ok(())
        }
        unknown => Err(Error::new(
            FH_INVALID_ARGUMENT,
            format!("unknown fault {unknown}"),
        )),
    }
}

/// Whether `fault` is the active fault.
pub fn is_active(fault: u32) -> bool {
    ACTIVE.load(Ordering::SeqCst) == fault
}

/// Fires the active trigger fault if `data` is the trigger (see the module).
pub fn on_write(data: &[u8]) {
    if !matches!(data, [0xFD, _, _]) {
        return;
    }
    match ACTIVE.load(Ordering::SeqCst) {
        FH_FAULT_SEGFAULT => crate::ffi::write_through_null(),
        FH_FAULT_HANG => loop {
            thread::sleep(Duration::from_secs(3600));
        },
        FH_FAULT_ABORT => crate::ffi::uncaught_panic(),
        FH_FAULT_CAUGHT_PANIC => panic!("FH_FAULT_CAUGHT_PANIC: the trigger write panicked"),
        _ => {}
    }
}
