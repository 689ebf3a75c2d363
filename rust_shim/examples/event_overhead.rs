//! Rough cost of reclamation-event recording (`FH_FLAG_RECLAIM_EVENTS`):
//! `fh_create` + `fh_release` cycles through the exports, with and without
//! the flag, per strategy (the events are drained every 4096 cycles, so
//! every event is really recorded, none dropped).
//!
//! `cargo run --release --example event_overhead [cycles]`; prints the best
//! of 7 rounds in ns per cycle. Figures are noisy on a shared machine.

use std::time::Instant;

use fuzzharness_adapter::contract::*;
use fuzzharness_rust::ffi::*;

/// ns per create + release cycle.
fn round(strategy: u32, flags: u64, cycles: u32) -> f64 {
    let mut config = fh_config {
        capacity: 1024,
        strategy,
        max_resource_bytes: 1 << 20,
        max_total_bytes: 1 << 30,
        flags,
    };
    assert_eq!(unsafe { fh_init(&mut config) }, FH_OK);
    let mut events = vec![fh_reclaim_event::default(); 4096];
    let (mut n, mut dropped) = (0usize, 0u64);
    let start = Instant::now();
    for i in 0..cycles {
        let mut handle = 0;
        assert_eq!(unsafe { fh_create(64, &mut handle) }, FH_OK);
        assert_eq!(fh_release(handle), FH_OK);
        if flags != 0 && i % 4096 == 4095 {
            let status = unsafe {
                fh_drain_reclaim_events(events.as_mut_ptr(), events.len(), &mut n, &mut dropped)
            };
            assert_eq!((status, dropped), (FH_OK, 0));
        }
    }
    let elapsed = start.elapsed();
    let mut report = fh_stats::default();
    assert_eq!(unsafe { fh_shutdown(&mut report) }, FH_OK);
    elapsed.as_nanos() as f64 / f64::from(cycles)
}

fn main() {
    let cycles = std::env::args()
        .nth(1)
        .map_or(1_000_000, |n| n.parse().expect("cycles"));
    for (name, strategy) in [
        ("IMMEDIATE", FH_RECLAIM_IMMEDIATE),
        ("GUARDED", FH_RECLAIM_GUARDED),
        ("EPOCH", FH_RECLAIM_EPOCH),
    ] {
        let (mut off, mut on) = (f64::MAX, f64::MAX);
        for _ in 0..7 {
            off = off.min(round(strategy, 0, cycles));
            on = on.min(round(strategy, u64::from(FH_FLAG_RECLAIM_EVENTS), cycles));
        }
        println!(
            "{name:9} without events {off:7.1} ns/cycle, with events {on:7.1} ns/cycle (+{:.1})",
            on - off
        );
    }
}
