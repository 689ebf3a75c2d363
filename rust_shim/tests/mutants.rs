//! The test-only mutants (`--features mutants`), through the exports.
//!
//! The mutant and the session are process-wide, so every test holds
//! [`exclusive`], which also resets the mutant. The crashing mutants run in a
//! child process: this test binary re-executed on the ignored test
//! `crash_child`.

#![cfg(feature = "mutants")]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use fuzzharness_rust::contract::testing::*;
use fuzzharness_rust::contract::*;
use fuzzharness_rust::ffi::*;

static GLOBAL: Mutex<()> = Mutex::new(());

/// Serializes the tests; no session and no mutant when it returns.
fn exclusive() -> MutexGuard<'static, ()> {
    let guard = GLOBAL.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(fh_test_set_mutant(FH_MUTANT_NONE), FH_OK);
    let mut report = fh_stats::default();
    let status = unsafe { fh_shutdown(&mut report) };
    assert!(status == FH_OK || status == FH_NOT_INITIALIZED);
    guard
}

fn init() {
    let mut config = fh_config {
        capacity: 4,
        strategy: FH_RECLAIM_IMMEDIATE,
        max_resource_bytes: 64,
        max_total_bytes: 256,
        flags: 0,
    };
    assert_eq!(unsafe { fh_init(&mut config) }, FH_OK);
}

fn create(size: u64) -> u64 {
    let mut handle = 0;
    assert_eq!(unsafe { fh_create(size, &mut handle) }, FH_OK);
    handle
}

fn write(handle: u64, offset: u64, data: &[u8]) -> i32 {
    let mut data = data.to_vec();
    unsafe { fh_write(handle, offset, data.as_mut_ptr(), data.len()) }
}

fn read(handle: u64, len: usize) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; len];
    match unsafe { fh_read(handle, 0, buf.as_mut_ptr(), len) } {
        FH_OK => Ok(buf),
        status => Err(status),
    }
}

fn last_error() -> String {
    let mut buf = [0u8; 256];
    let mut len = 0;
    assert_eq!(
        unsafe { fh_last_error(buf.as_mut_ptr().cast(), buf.len(), &mut len) },
        FH_OK
    );
    String::from_utf8(buf[..len].to_vec()).unwrap()
}

#[test]
fn unknown_mutants_are_invalid_arguments_without_a_session() {
    let _guard = exclusive();
    assert_eq!(
        fh_test_set_mutant(FH_MUTANT_SKIP_GENERATION + 1),
        FH_INVALID_ARGUMENT
    );
    assert_eq!(
        last_error(),
        format!(
            "fh_test_set_mutant: unknown mutant {}",
            FH_MUTANT_SKIP_GENERATION + 1
        )
    );
    assert_eq!(fh_test_set_mutant(u32::MAX), FH_INVALID_ARGUMENT);
    assert_eq!(fh_test_set_mutant(FH_MUTANT_HANG), FH_OK);
}

#[test]
fn snapshot_shares_shows_later_writes_through_the_snapshot() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_SNAPSHOT_SHARES), FH_OK);
    let origin = create(4);
    assert_eq!(write(origin, 0, &[1, 2, 3, 4]), FH_OK);
    let mut snap = 0;
    assert_eq!(unsafe { fh_snapshot(origin, &mut snap) }, FH_OK);
    assert_eq!(write(origin, 0, &[9, 9]), FH_OK);
    assert_eq!(
        read(snap, 4).unwrap(),
        [9, 9, 3, 4],
        "the divergence this mutant exists for"
    );
    let mut info = fh_resource_info::default();
    assert_eq!(unsafe { fh_info(snap, &mut info) }, FH_OK);
    assert_eq!(
        info,
        fh_resource_info {
            size: 4,
            refs: 1,
            read_only: 1
        }
    );
    assert_eq!(write(snap, 0, &[0]), FH_READ_ONLY);
}

#[test]
fn skip_generation_lets_a_stale_handle_reach_the_new_resource() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_SKIP_GENERATION), FH_OK);
    let old = create(4);
    assert_eq!(fh_release(old), FH_OK);
    assert_eq!(
        fh_acquire(old),
        FH_STALE_HANDLE,
        "a free slot is still stale"
    );
    let new = create(4);
    assert_eq!(new, old + (1 << 32));
    assert_eq!(write(new, 0, &[5; 4]), FH_OK);
    assert_eq!(
        read(old, 4).unwrap(),
        [5; 4],
        "the ABA this mutant exists for"
    );
    assert_eq!(
        fh_acquire(new + (1 << 32)),
        FH_INVALID_HANDLE,
        "a future generation stays invalid"
    );
    assert_eq!(
        fh_acquire(new & 0xFFFF_FFFF),
        FH_INVALID_HANDLE,
        "generation 0 stays invalid"
    );
    assert_eq!(fh_test_set_mutant(FH_MUTANT_NONE), FH_OK);
    assert_eq!(read(old, 4), Err(FH_STALE_HANDLE));
}

#[test]
fn caught_panic_becomes_fh_panic_only_on_the_trigger() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_CAUGHT_PANIC), FH_OK);
    let h = create(4);
    assert_eq!(
        write(h, 0, &[0xFD, 0, 0, 0]),
        FH_OK,
        "4 bytes are not the trigger"
    );
    assert_eq!(
        write(h, 0, &[0xFC, 0, 0]),
        FH_OK,
        "another first byte is not the trigger"
    );
    assert_eq!(
        write(h, 2, &[0xFD, 1, 2]),
        FH_BOUNDS,
        "out of bounds is not the trigger"
    );
    let mut snap = 0;
    assert_eq!(unsafe { fh_snapshot(h, &mut snap) }, FH_OK);
    assert_eq!(
        write(snap, 0, &[0xFD, 1, 2]),
        FH_READ_ONLY,
        "read-only is not the trigger"
    );
    assert_eq!(write(h, 1, &[0xFD, 1, 2]), FH_PANIC);
    assert_eq!(
        last_error(),
        "fh_write: panic: FH_MUTANT_CAUGHT_PANIC: the trigger write panicked"
    );
    assert_eq!(
        read(h, 4).unwrap(),
        [0xFC, 0, 0, 0],
        "the panicking write changed nothing"
    );
    assert_eq!(fh_quiesce(), FH_OK, "the session still works");
}

/// The crashing mutants, each in a child process.
#[test]
fn crashing_mutants_kill_or_hang_the_process() {
    let _guard = exclusive();
    let child = |mutant: u32| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--ignored", "--test-threads=1"])
            .env("FH_CRASH_MUTANT", mutant.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let segfault = child(FH_MUTANT_SEGFAULT).wait().unwrap();
    assert_eq!(segfault.signal(), Some(11), "{segfault:?}");
    let abort = child(FH_MUTANT_ABORT).wait().unwrap();
    assert_eq!(abort.signal(), Some(6), "{abort:?}");
    let mut hang = child(FH_MUTANT_HANG);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        assert!(
            hang.try_wait().unwrap().is_none(),
            "the hanging child exited"
        );
        thread::sleep(Duration::from_millis(50));
    }
    hang.kill().unwrap();
    hang.wait().unwrap();
}

/// Run by `crashing_mutants_kill_or_hang_the_process` in a child process.
#[test]
#[ignore = "crashes on purpose; run as a child process"]
fn crash_child() {
    let mutant: u32 = std::env::var("FH_CRASH_MUTANT")
        .expect("FH_CRASH_MUTANT")
        .parse()
        .unwrap();
    init();
    let h = create(8);
    assert_eq!(fh_test_set_mutant(mutant), FH_OK);
    assert_eq!(write(h, 0, &[0xFD, 0, 0, 0]), FH_OK, "not the trigger");
    write(h, 5, &[0xFD, 0xFE, 0xFF]);
    unreachable!("the trigger returned");
}
