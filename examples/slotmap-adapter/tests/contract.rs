//! The correct adapter (no `weak-*` feature) against the contract's rules, as
//! relaxed by `handles = "opaque"`, `reuse = "never"` and
//! `stale_status = "invalid-or-stale"`, through the kit's [`Exports`] (the
//! header's checks in front of the adapter). Each test opens its own (the C
//! exports share one; `tests/ffi.rs` covers them).

#![cfg(not(any(
    feature = "weak-aba",
    feature = "weak-stale-panic",
    feature = "weak-alias",
    feature = "weak-race"
)))]

use std::collections::HashSet;
use std::sync::Arc;
use std::thread;

use fuzzharness_adapter::contract::*;
use fuzzharness_adapter::{Exports, Input, Output, Result, MAX_CAPACITY};
use fuzzharness_slotmap::SlotmapAdapter;

type Adapter = Exports<SlotmapAdapter>;

const NONE_IN: Option<Input<'static>> = None;

fn bytes(data: &[u8]) -> Option<Input<'_>> {
    Some(Input::from(data))
}

fn config(capacity: u32) -> fh_config {
    fh_config {
        capacity,
        strategy: FH_RECLAIM_IMMEDIATE,
        max_resource_bytes: 1 << 16,
        max_total_bytes: 1 << 20,
        flags: 0,
    }
}

fn open(capacity: u32) -> Adapter {
    let adapter = Adapter::new();
    adapter.init(Some(&config(capacity))).unwrap();
    adapter
}

fn status<T>(result: Result<T>) -> fh_status {
    match result {
        Ok(_) => FH_OK,
        Err(error) => error.status(),
    }
}

fn create(adapter: &Adapter, size: u64) -> u64 {
    let mut handle = 0;
    adapter.create(size, Some(&mut handle)).unwrap();
    handle
}

fn snapshot(adapter: &Adapter, origin: u64) -> u64 {
    let mut handle = 0;
    adapter.snapshot(origin, Some(&mut handle)).unwrap();
    handle
}

fn info(adapter: &Adapter, handle: u64) -> Result<fh_resource_info> {
    let mut out = fh_resource_info::default();
    adapter.info(handle, Some(&mut out)).map(|()| out)
}

fn read(adapter: &Adapter, handle: u64, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0xAA; len];
    adapter
        .read(handle, offset, Some(Output::from(&mut buf[..])))
        .map(|()| buf)
}

fn stats(adapter: &Adapter) -> fh_stats {
    let mut out = fh_stats::default();
    adapter.get_stats(Some(&mut out)).unwrap();
    out
}

#[test]
fn init_validates_its_config_in_the_headers_order() {
    let adapter = Adapter::new();
    assert_eq!(status(adapter.init(None)), FH_NULL_ARGUMENT);
    assert_eq!(status(adapter.init(Some(&config(0)))), FH_INVALID_ARGUMENT);
    assert_eq!(
        status(adapter.init(Some(&config(MAX_CAPACITY + 1)))),
        FH_INVALID_ARGUMENT
    );
    let flagged = fh_config {
        flags: 1,
        strategy: 1,
        ..config(4)
    };
    assert_eq!(
        status(adapter.init(Some(&flagged))),
        FH_INVALID_ARGUMENT,
        "1.0 rejects any flag"
    );
    let epoch = fh_config {
        strategy: 1,
        ..config(4)
    };
    assert_eq!(status(adapter.init(Some(&epoch))), FH_UNSUPPORTED);
    adapter.init(Some(&config(MAX_CAPACITY))).unwrap();
    assert_eq!(
        status(adapter.init(Some(&config(4)))),
        FH_ALREADY_INITIALIZED
    );
}

#[test]
fn every_call_needs_a_session_first() {
    let adapter = Adapter::new();
    assert_eq!(status(adapter.create(1, None)), FH_NOT_INITIALIZED);
    assert_eq!(status(adapter.acquire(0x1_0000_0000)), FH_NOT_INITIALIZED);
    assert_eq!(status(adapter.release(0x1_0000_0000)), FH_NOT_INITIALIZED);
    assert_eq!(status(adapter.write(0, 0, NONE_IN)), FH_NOT_INITIALIZED);
    assert_eq!(status(adapter.get_stats(None)), FH_NOT_INITIALIZED);
    assert_eq!(status(adapter.quiesce()), FH_NOT_INITIALIZED);
    assert_eq!(status(adapter.shutdown(None)), FH_NOT_INITIALIZED);
}

#[test]
fn handles_are_the_slot_maps_own_keys_and_the_freed_slot_comes_back_first() {
    let adapter = open(8);
    let a = create(&adapter, 4);
    let b = create(&adapter, 4);
    // slotmap keeps its slot 0 as a sentinel: the first key is slot 1, version 1.
    assert_eq!(a, 0x0000_0001_0000_0001, "slot 1, version 1");
    assert_eq!(b, 0x0000_0001_0000_0002, "slot 2, version 1");
    adapter.release(a).unwrap();
    let c = create(&adapter, 4);
    assert_eq!(
        c, 0x0000_0003_0000_0001,
        "slot 1 again, version 3: not the contract's layout"
    );
}

#[test]
fn a_slot_reused_100k_times_never_issues_a_value_twice() {
    let adapter = open(2);
    let keep = create(&adapter, 1);
    let mut seen = HashSet::from([keep]);
    for _ in 0..100_000 {
        let handle = create(&adapter, 1);
        assert!(seen.insert(handle), "value {handle:#x} issued twice");
        adapter.release(handle).unwrap();
        assert_eq!(status(info(&adapter, handle)), FH_STALE_HANDLE);
    }
}

#[test]
fn forged_values_never_name_a_live_resource() {
    let adapter = open(8);
    let live = create(&adapter, 4);
    adapter.write(live, 0, bytes(b"live")).unwrap();
    // from_ffi would force the version odd and accept these two as `live`.
    assert_eq!(status(info(&adapter, live ^ (1 << 32))), FH_INVALID_HANDLE);
    assert_eq!(status(info(&adapter, 0)), FH_INVALID_HANDLE);
    for forged in [live + (2 << 32), live + 1, live | 0xFFFF_FFFF, u64::MAX] {
        let got = status(info(&adapter, forged));
        assert!(
            got == FH_INVALID_HANDLE || got == FH_STALE_HANDLE,
            "forged {forged:#x} gave status {got}"
        );
    }
    assert_eq!(read(&adapter, live, 0, 4).unwrap(), b"live");
}

#[test]
fn references_count_up_and_down_and_the_last_release_kills() {
    let adapter = open(8);
    let h = create(&adapter, 8);
    adapter.acquire(h).unwrap();
    assert_eq!(info(&adapter, h).unwrap().refs, 2);
    adapter.release(h).unwrap();
    assert_eq!(
        info(&adapter, h).unwrap(),
        fh_resource_info {
            size: 8,
            refs: 1,
            read_only: 0
        }
    );
    adapter.release(h).unwrap();
    assert_eq!(
        status(adapter.release(h)),
        FH_STALE_HANDLE,
        "released more often than acquired"
    );
    assert_eq!(status(adapter.acquire(h)), FH_STALE_HANDLE);
    assert_eq!(status(read(&adapter, h, 0, 1)), FH_STALE_HANDLE);
    let s = stats(&adapter);
    assert_eq!(
        (s.live_resources, s.live_bytes, s.created, s.reclaimed),
        (0, 0, 1, 1)
    );
}

#[test]
fn bytes_start_zeroed_and_checks_come_in_the_headers_order() {
    let adapter = open(8);
    let h = create(&adapter, 8);
    assert_eq!(read(&adapter, h, 0, 8).unwrap(), [0; 8]);
    adapter.write(h, 2, bytes(b"abc")).unwrap();
    assert_eq!(read(&adapter, h, 0, 8).unwrap(), b"\0\0abc\0\0\0");
    assert_eq!(status(adapter.write(h, 6, bytes(b"abc"))), FH_BOUNDS);
    assert_eq!(status(adapter.write(h, u64::MAX, bytes(b"a"))), FH_OVERFLOW);
    assert_eq!(
        read(&adapter, h, 0, 8).unwrap(),
        b"\0\0abc\0\0\0",
        "a failed write changes nothing"
    );
    assert_eq!(status(adapter.write(h, 0, NONE_IN)), FH_NULL_ARGUMENT);
    assert_eq!(
        status(adapter.write(h ^ (1 << 32), u64::MAX, NONE_IN)),
        FH_NULL_ARGUMENT,
        "NULL before handle"
    );
    assert_eq!(
        status(adapter.write(h ^ (1 << 32), u64::MAX, bytes(b"a"))),
        FH_INVALID_HANDLE
    );
    assert_eq!(status(read(&adapter, h, 8, 1)), FH_BOUNDS);
    assert_eq!(read(&adapter, h, 8, 0).unwrap(), b"");
    assert_eq!(status(adapter.info(h, None)), FH_NULL_ARGUMENT);
    assert_eq!(status(adapter.create(1, None)), FH_NULL_ARGUMENT);
}

#[test]
fn snapshots_are_read_only_copies_that_outlive_their_origin() {
    let adapter = open(8);
    let origin = create(&adapter, 4);
    adapter.write(origin, 0, bytes(b"one!")).unwrap();
    let snap = snapshot(&adapter, origin);
    adapter.write(origin, 0, bytes(b"two!")).unwrap();
    assert_eq!(read(&adapter, snap, 0, 4).unwrap(), b"one!");
    assert_eq!(
        info(&adapter, snap).unwrap(),
        fh_resource_info {
            size: 4,
            refs: 1,
            read_only: 1
        }
    );
    assert_eq!(
        status(adapter.write(snap, 9, bytes(b"x"))),
        FH_READ_ONLY,
        "READ_ONLY before BOUNDS"
    );
    adapter.release(origin).unwrap();
    let again = snapshot(&adapter, snap);
    assert_eq!(read(&adapter, again, 0, 4).unwrap(), b"one!");
    let s = stats(&adapter);
    assert_eq!(
        (s.live_resources, s.live_bytes, s.created, s.reclaimed),
        (2, 8, 3, 1)
    );
}

#[test]
fn limits_give_exhausted_and_a_release_makes_room() {
    let adapter = Adapter::new();
    let tight = fh_config {
        max_resource_bytes: 10,
        max_total_bytes: 16,
        ..config(2)
    };
    adapter.init(Some(&tight)).unwrap();
    let mut out = 0;
    assert_eq!(status(adapter.create(11, Some(&mut out))), FH_EXHAUSTED);
    let huge = adapter.create(1 << 40, Some(&mut out)).unwrap_err();
    assert_eq!(huge.status(), FH_EXHAUSTED);
    assert!(
        huge.message().contains("max_resource_bytes"),
        "checked before allocating: {huge:?}"
    );
    let a = create(&adapter, 10);
    assert_eq!(
        status(adapter.create(7, Some(&mut out))),
        FH_EXHAUSTED,
        "max_total_bytes"
    );
    assert_eq!(
        status(adapter.snapshot(a, Some(&mut out))),
        FH_EXHAUSTED,
        "a snapshot counts too"
    );
    let b = create(&adapter, 0);
    assert_eq!(
        status(adapter.create(0, Some(&mut out))),
        FH_EXHAUSTED,
        "capacity"
    );
    assert_eq!(out, 0, "outputs are written only on success");
    adapter.release(b).unwrap();
    create(&adapter, 6);
}

#[test]
fn shutdown_reports_what_was_still_alive_and_closes() {
    let adapter = open(4);
    let h = create(&adapter, 3);
    create(&adapter, 5);
    adapter.release(h).unwrap();
    assert_eq!(status(adapter.shutdown(None)), FH_NULL_ARGUMENT);
    let mut report = fh_stats::default();
    adapter.shutdown(Some(&mut report)).unwrap();
    let expected = fh_stats {
        live_resources: 1,
        live_bytes: 5,
        created: 2,
        reclaimed: 1,
        ..fh_stats::default()
    };
    assert_eq!(report, expected);
    assert_eq!(status(adapter.quiesce()), FH_NOT_INITIALIZED);
    adapter.init(Some(&config(4))).unwrap();
}

#[test]
fn concurrent_acquires_and_releases_balance() {
    let adapter = Arc::new(open(4));
    let h = create(&adapter, 64);
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let adapter = Arc::clone(&adapter);
            thread::spawn(move || {
                for _ in 0..5_000 {
                    adapter.acquire(h).unwrap();
                    adapter.write(h, 0, bytes(&[t; 64])).unwrap();
                    let bytes = read(&adapter, h, 0, 64).unwrap();
                    assert!(
                        bytes.iter().all(|&b| b == bytes[0]),
                        "a read saw part of a write"
                    );
                    adapter.release(h).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(info(&adapter, h).unwrap().refs, 1);
}
