//! The contract's clock: `CLOCK_MONOTONIC` in nanoseconds.
//!
//! One reading for the whole crate: the time stamps of reclamation events
//! (`released_ns`, `freed_ns`, see [`crate::events`]) and `fh_clock_ns` both
//! come from [`monotonic_ns`], so they compare with each other and with C's
//! `clock_gettime(CLOCK_MONOTONIC)` in the caller's process. Read through
//! rustix's safe `clock_gettime` (the same system call, or its vDSO entry),
//! so the crate's own `unsafe` code stays in [`crate::ffi`].

use rustix::time::{clock_gettime, ClockId};

/// `CLOCK_MONOTONIC` now, in nanoseconds: the clock of C's
/// `clock_gettime(CLOCK_MONOTONIC)`.
pub fn monotonic_ns() -> u64 {
    let now = clock_gettime(ClockId::Monotonic);
    // Both fields are non-negative for CLOCK_MONOTONIC.
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_ns_never_goes_back_and_follows_std_instant() {
        // std's Instant reads CLOCK_MONOTONIC on Linux too: the elapsed times agree.
        let start = std::time::Instant::now();
        let first = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = monotonic_ns();
        let elapsed = start.elapsed().as_nanos() as u64;
        assert!(second >= first + 5_000_000, "{first} -> {second}");
        assert!(second - first <= elapsed, "{} > {elapsed}", second - first);
    }
}
