//! In-call perturbation hook (cargo feature `perturb`: test builds only; a release
//! build of an adapter contains none of it).
//!
//! `fh_test_set_perturb` (`targets/include/fuzzharness_testing_decls.h`) installs a
//! hook, process-wide; an adapter calls [`point`] at places of its own choosing inside
//! a call -- between a lookup and the update of a count, before a free -- with a
//! number of its own for the place. The harness's hook (its native runner) then
//! yields or spins there according to the run's seeded schedule, so calls of other
//! threads get in between exactly where a race would hide. Without a hook installed
//! a point is one atomic load.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The hook's C type: `typedef void (*fh_perturb_hook)(uint32_t point)`; `None` is NULL.
#[allow(non_camel_case_types)]
pub type fh_perturb_hook = Option<unsafe extern "C" fn(point: u32)>;

/// The installed hook's address (0: none).
static HOOK: AtomicUsize = AtomicUsize::new(0);

/// Installs `hook` (`None` uninstalls): the body of an adapter's `fh_test_set_perturb`.
pub fn install(hook: fh_perturb_hook) {
    HOOK.store(hook.map_or(0, |f| f as usize), Ordering::Release);
}

/// A perturbation point: calls the installed hook, if any, with `point`.
#[inline]
pub fn point(point: u32) {
    let raw = HOOK.load(Ordering::Acquire);
    if raw != 0 {
        crate::ffi::call_perturb_hook(raw, point);
    }
}
