//! Each planted weakness is really there (run with its feature: `cargo test
//! --features weak-aba`, ...). `weak-stale-panic` is shown through the C
//! boundary in `tests/ffi.rs`.

#![allow(dead_code)]

use fuzzharness_adapter::contract::*;
use fuzzharness_adapter::{Exports, Result};
use fuzzharness_slotmap::SlotmapAdapter;

type Adapter = Exports<SlotmapAdapter>;

fn open(capacity: u32) -> Adapter {
    let adapter = Adapter::new();
    let config = fh_config {
        capacity,
        strategy: 0,
        max_resource_bytes: 64,
        max_total_bytes: 4096,
        flags: 0,
    };
    adapter.init(Some(&config)).unwrap();
    adapter
}

fn create(adapter: &Adapter, size: u64) -> u64 {
    let mut handle = 0;
    adapter.create(size, Some(&mut handle)).unwrap();
    handle
}

fn info(adapter: &Adapter, handle: u64) -> Result<fh_resource_info> {
    let mut out = fh_resource_info::default();
    adapter.info(handle, Some(&mut out)).map(|()| out)
}

#[cfg(feature = "weak-aba")]
#[test]
fn weak_aba_a_dead_value_comes_back_after_2_pow_15_reuses_of_its_slot() {
    let adapter = open(4);
    let first = create(&adapter, 1);
    adapter.release(first).unwrap();
    assert_eq!(info(&adapter, first).unwrap_err().status(), FH_STALE_HANDLE);
    let mut reuses = 0u32;
    let again = loop {
        reuses += 1;
        let handle = create(&adapter, 2);
        if handle == first {
            break handle;
        }
        adapter.release(handle).unwrap();
        assert!(reuses < 1 << 16, "no repeat within 2^16 reuses");
    };
    assert_eq!(reuses, 1 << 15);
    assert_eq!(
        info(&adapter, again).unwrap().size,
        2,
        "the dead value names a new resource"
    );
}

#[cfg(feature = "weak-alias")]
#[test]
fn weak_alias_a_forged_version_names_the_live_resource_of_its_slot() {
    let adapter = open(4);
    let live = create(&adapter, 7);
    let forged = live + (6 << 32);
    assert_eq!(info(&adapter, forged).unwrap().size, 7);
    adapter.release(forged).unwrap();
    assert_eq!(
        info(&adapter, live).unwrap_err().status(),
        FH_STALE_HANDLE,
        "the forged value killed it"
    );
}

#[cfg(feature = "weak-race")]
#[test]
fn weak_race_concurrent_releases_lose_one() {
    use std::sync::{Arc, Barrier};
    let adapter = Arc::new(open(4));
    for attempt in 0..200 {
        let handle = create(&adapter, 1);
        adapter.acquire(handle).unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (adapter, barrier) = (Arc::clone(&adapter), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    adapter.release(handle)
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(results.iter().all(Result::is_ok));
        match info(&adapter, handle) {
            Ok(leaked) => {
                assert_eq!(leaked.refs, 1, "two OK releases of 2 references left one");
                eprintln!("lost a release at attempt {attempt}");
                return;
            }
            Err(error) => assert_eq!(error.status(), FH_STALE_HANDLE),
        }
    }
    panic!("200 pairs of concurrent releases never lost one");
}
