//! The test-only mutants (`--features mutants`), through the exports.
//!
//! The mutant and the session are process-wide, so every test holds
//! [`exclusive`], which also resets the mutant. The crashing mutants run in a
//! child process: this test binary re-executed on the ignored test
//! `crash_child`.

#![cfg(feature = "mutants")]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use fuzzharness_adapter::contract::*;
use fuzzharness_adapter::testing::*;
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
    init_with(FH_RECLAIM_IMMEDIATE);
}

fn init_with(strategy: u32) {
    let mut config = fh_config {
        capacity: 4,
        strategy,
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

fn read_at(handle: u64, offset: u64, len: usize) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; len];
    match unsafe { fh_read(handle, offset, buf.as_mut_ptr(), len) } {
        FH_OK => Ok(buf),
        status => Err(status),
    }
}

fn info(handle: u64) -> Result<fh_resource_info, i32> {
    let mut info = fh_resource_info::default();
    match unsafe { fh_info(handle, &mut info) } {
        FH_OK => Ok(info),
        status => Err(status),
    }
}

fn stats() -> fh_stats {
    let mut stats = fh_stats::default();
    assert_eq!(unsafe { fh_get_stats(&mut stats) }, FH_OK);
    stats
}

fn backend() -> fh_backend {
    let mut table = fh_backend::default();
    assert_eq!(unsafe { fh_backend_table(&mut table) }, FH_OK);
    table
}

fn shutdown() -> fh_stats {
    let mut report = fh_stats::default();
    assert_eq!(unsafe { fh_shutdown(&mut report) }, FH_OK);
    report
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
        fh_test_set_mutant(FH_MUTANT_SNAPSHOT_PIN_RACE + 1),
        FH_INVALID_ARGUMENT
    );
    assert_eq!(
        last_error(),
        format!(
            "fh_test_set_mutant: unknown mutant {}",
            FH_MUTANT_SNAPSHOT_PIN_RACE + 1
        )
    );
    assert_eq!(fh_test_set_mutant(u32::MAX), FH_INVALID_ARGUMENT);
    for mutant in FH_MUTANT_NONE..=FH_MUTANT_SNAPSHOT_PIN_RACE {
        if mutant != FH_MUTANT_GO_CACHE_USE_AFTER_FREE && mutant != FH_MUTANT_CLEANUP_UNREACHABLE {
            assert_eq!(fh_test_set_mutant(mutant), FH_OK, "mutant {mutant}");
        }
    }
    assert_eq!(fh_test_set_mutant(FH_MUTANT_HANG), FH_OK);
}

#[test]
fn go_cache_use_after_free_is_unsupported_in_rust() {
    let _guard = exclusive();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_SKIP_GENERATION), FH_OK);
    assert_eq!(
        fh_test_set_mutant(FH_MUTANT_GO_CACHE_USE_AFTER_FREE),
        FH_UNSUPPORTED
    );
    assert!(
        last_error()
            .starts_with("fh_test_set_mutant: mutant 15 (FH_MUTANT_GO_CACHE_USE_AFTER_FREE)"),
        "{}",
        last_error()
    );
    assert_eq!(
        fh_test_set_mutant(FH_MUTANT_CLEANUP_UNREACHABLE),
        FH_UNSUPPORTED
    );
    assert!(
        last_error().starts_with("fh_test_set_mutant: mutant 21 (FH_MUTANT_CLEANUP_UNREACHABLE)"),
        "{}",
        last_error()
    );
    init();
    let old = create(4);
    assert_eq!(fh_release(old), FH_OK);
    let _new = create(4);
    assert_eq!(
        read(old, 4),
        Ok(vec![0; 4]),
        "the previous mutant is still active"
    );
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
    let magic = child(FH_MUTANT_MAGIC_CRASH).wait().unwrap();
    assert_eq!(magic.signal(), Some(11), "{magic:?}");
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
    if mutant == FH_MUTANT_MAGIC_CRASH {
        assert_eq!(write(h, 0, b"FUZ"), FH_OK, "3 bytes: not the magic");
        assert_eq!(write(h, 0, b"FUZz"), FH_OK, "not the magic");
        assert_eq!(
            write(h, 0, &[0xFD, 0xFE, 0xFF]),
            FH_OK,
            "not the trigger here"
        );
        assert_eq!(write(h, 6, b"FUZZ"), FH_BOUNDS, "a failed write: no crash");
        write(h, 2, b"FUZZ!!");
        unreachable!("the magic write returned");
    }
    assert_eq!(write(h, 0, &[0xFD, 0, 0, 0]), FH_OK, "not the trigger");
    write(h, 5, &[0xFD, 0xFE, 0xFF]);
    unreachable!("the trigger returned");
}

/// Runs this test binary's ignored test `memory_child` for `mutant`; returns
/// its exit status and its `MUTANT:` lines.
fn run_memory_child(mutant: u32) -> (std::process::ExitStatus, Vec<String>) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "memory_child",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env("FH_MEMORY_MUTANT", mutant.to_string())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        // libtest may print "test memory_child ... " in front of the first one.
        .filter_map(|line| line.split_once("MUTANT: ").map(|(_, rest)| rest.to_owned()))
        .collect();
    (output.status, lines)
}

/// The memory-error mutants, each in a child process: what a caller sees
/// without a sanitizer (under AddressSanitizer each access is reported).
#[test]
fn memory_error_mutants_return_ok_from_freed_or_foreign_memory() {
    let _guard = exclusive();
    let (status, lines) = run_memory_child(FH_MUTANT_STALE_USE_AFTER_FREE);
    assert!(status.success(), "{status:?} {lines:?}");
    assert_eq!(
        lines,
        ["read 0", "write 0"],
        "a stale handle reads and writes freed memory"
    );

    let (status, lines) = run_memory_child(FH_MUTANT_DOUBLE_RELEASE);
    // glibc detects the second free() of a small chunk and aborts.
    assert!(
        status.signal() == Some(6) || lines.last().map(String::as_str) == Some("release 0"),
        "{status:?} {lines:?}"
    );
    assert_eq!(lines[0], "first release 0");

    let (status, lines) = run_memory_child(FH_MUTANT_GUARD_ONE_SIDE);
    assert!(status.success(), "{status:?} {lines:?}");
    assert_eq!(
        lines,
        ["foreign read 0", "foreign write 0"],
        "the foreign runtime reads and writes freed memory"
    );

    let (status, lines) = run_memory_child(FH_MUTANT_BOUNDS_OFF_BY_ONE);
    assert!(status.success(), "{status:?} {lines:?}");
    assert_eq!(
        lines,
        ["write 0", "read 0 [7, 8, 9]"],
        "one byte past the end is written and read back"
    );
}

/// Run by `memory_error_mutants_return_ok_from_freed_or_foreign_memory` in a
/// child process: real memory errors, so never in the test process itself.
#[test]
#[ignore = "touches freed or out-of-bounds memory on purpose; run as a child process"]
fn memory_child() {
    let mutant: u32 = std::env::var("FH_MEMORY_MUTANT")
        .expect("FH_MEMORY_MUTANT")
        .parse()
        .unwrap();
    init();
    assert_eq!(fh_test_set_mutant(mutant), FH_OK);
    let report = |line: String| println!("MUTANT: {line}");
    match mutant {
        FH_MUTANT_STALE_USE_AFTER_FREE => {
            let h = create(32);
            assert_eq!(write(h, 0, &[1; 32]), FH_OK);
            assert_eq!(fh_release(h), FH_OK);
            assert_eq!(fh_acquire(h), FH_STALE_HANDLE, "only reads and writes");
            report(format!("read {}", read_at(h, 16, 8).err().unwrap_or(FH_OK)));
            report(format!("write {}", write(h, 24, &[2; 8])));
        }
        FH_MUTANT_GUARD_ONE_SIDE => {
            // A cross-runtime session: the foreign runtime holds a reference
            // when the owner drops its last one.
            shutdown();
            init_with(FH_RECLAIM_GUARDED);
            let foreign = backend();
            let h = create(32);
            assert_eq!(write(h, 0, &[1; 32]), FH_OK);
            assert_eq!(unsafe { foreign.foreign_acquire.unwrap()(h) }, FH_OK);
            assert_eq!(fh_release(h), FH_OK);
            let mut buf = [0u8; 8];
            let read = unsafe { foreign.read.unwrap()(h, 16, buf.as_mut_ptr(), 8) };
            report(format!("foreign read {read}"));
            let mut data = [2u8; 8];
            let write = unsafe { foreign.write.unwrap()(h, 24, data.as_mut_ptr(), 8) };
            report(format!("foreign write {write}"));
        }
        FH_MUTANT_DOUBLE_RELEASE => {
            let h = create(32);
            report(format!("first release {}", fh_release(h)));
            report(format!("release {}", fh_release(h)));
        }
        FH_MUTANT_BOUNDS_OFF_BY_ONE => {
            let h = create(8);
            report(format!("write {}", write(h, 6, &[7, 8, 9])));
            match read_at(h, 6, 3) {
                Ok(bytes) => report(format!("read 0 {bytes:?}")),
                Err(status) => report(format!("read {status}")),
            }
        }
        other => panic!("no memory scenario for mutant {other}"),
    }
    // Leave before anything else touches the damaged heap.
    std::process::exit(0);
}

#[test]
fn stale_use_after_free_only_touches_freed_memory_of_unreused_slots() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_STALE_USE_AFTER_FREE), FH_OK);
    let old = create(8);
    assert_eq!(fh_release(old), FH_OK);
    // What is observable without touching the freed memory: the checks of
    // the dead resource still apply, other operations still classify.
    assert_eq!(read_at(old, 9, 0), Err(FH_BOUNDS));
    assert_eq!(read_at(old, u64::MAX, 1), Err(FH_OVERFLOW));
    assert_eq!(read_at(old, 8, 0), Ok(vec![]), "a stale handle reads OK");
    assert_eq!(write(old, 8, &[]), FH_OK, "a stale handle writes OK");
    assert_eq!(fh_acquire(old), FH_STALE_HANDLE);
    assert_eq!(fh_release(old), FH_STALE_HANDLE);
    assert_eq!(info(old), Err(FH_STALE_HANDLE));
    // Once the slot is reused, the old handle is stale again.
    let new = create(8);
    assert_eq!(new, old + (1 << 32));
    assert_eq!(read_at(old, 8, 0), Err(FH_STALE_HANDLE));
    assert_eq!(fh_release(new), FH_OK);
    assert_eq!(
        fh_release(new),
        FH_STALE_HANDLE,
        "only DOUBLE_RELEASE frees again"
    );
    // Deferred reclamation keeps no dangling pointer.
    shutdown();
    init_with(FH_RECLAIM_EPOCH);
    let h = create(8);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(read_at(h, 8, 0), Err(FH_STALE_HANDLE));
}

#[test]
fn double_release_of_a_reused_slot_stays_stale() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_DOUBLE_RELEASE), FH_OK);
    let empty = create(0);
    assert_eq!(fh_release(empty), FH_OK);
    // Nothing was allocated for 0 bytes, so this "double free" frees nothing:
    // only the status diverges.
    assert_eq!(fh_release(empty), FH_OK, "a stale handle releases OK");
    assert_eq!(fh_release(empty), FH_STALE_HANDLE, "once");
    let h = create(8);
    assert_eq!(fh_release(h), FH_OK);
    let reused = create(8);
    assert_eq!(reused, h + (1 << 32));
    assert_eq!(fh_release(h), FH_STALE_HANDLE);
    assert_eq!(read_at(h, 0, 0), Err(FH_STALE_HANDLE), "reads stay stale");
    let stats = stats();
    assert_eq!((stats.created, stats.reclaimed), (3, 2));
}

#[test]
fn generation_wrap_gives_the_fourth_resource_the_first_handle() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_GENERATION_WRAP), FH_OK);
    let mut handles = Vec::new();
    for _ in 0..4 {
        let h = create(4);
        handles.push(h);
        assert_eq!(fh_release(h), FH_OK);
    }
    assert_eq!(
        handles.iter().map(|h| h >> 32).collect::<Vec<_>>(),
        [1, 2, 3, 1]
    );
    assert_eq!(handles[3], handles[0], "the ABA this mutant exists for");
    let fifth = create(4);
    assert_eq!(fifth >> 32, 2);
    assert_eq!(write(fifth, 0, &[3; 4]), FH_OK);
    assert_eq!(
        read(handles[1], 4).unwrap(),
        [3; 4],
        "an old handle reaches it"
    );
    assert_eq!(
        fh_acquire(handles[2]),
        FH_INVALID_HANDLE,
        "generation 3 is now ahead of the slot"
    );
}

#[test]
fn leak_on_error_keeps_the_resource_alive_through_shutdown() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_LEAK_ON_ERROR), FH_OK);
    let h = create(4);
    let other = create(4);
    assert_eq!(write(h, 2, &[1, 2, 3]), FH_BOUNDS);
    assert_eq!(
        last_error(),
        "fh_write: offset 2 + length 3 exceeds size 4 of handle 0x100000000"
    );
    assert_eq!(
        info(h).unwrap().refs,
        2,
        "the failed write took a reference"
    );
    assert_eq!(
        write(other, 0, &[1, 2]),
        FH_OK,
        "successful writes take none"
    );
    assert_eq!(info(other).unwrap().refs, 1);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(
        info(h).unwrap().refs,
        1,
        "the holder's only release did not kill it"
    );
    assert_eq!(fh_release(other), FH_OK);
    let report = shutdown();
    assert_eq!(
        (
            report.live_resources,
            report.live_bytes,
            report.created,
            report.reclaimed
        ),
        (1, 4, 2, 1),
        "the report is truthful"
    );
    // fh_shutdown did not free it: its Arc (and bytes) are leaked for good.
}

#[test]
fn early_free_kills_at_one_reference() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_EARLY_FREE), FH_OK);
    let h = create(4);
    assert_eq!(fh_acquire(h), FH_OK);
    assert_eq!(fh_acquire(h), FH_OK);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(info(h).unwrap().refs, 2);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(
        info(h),
        Err(FH_STALE_HANDLE),
        "dead with one reference left"
    );
    assert_eq!(read(h, 4), Err(FH_STALE_HANDLE));
    assert_eq!(fh_release(h), FH_STALE_HANDLE);
    let stats = stats();
    assert_eq!((stats.live_resources, stats.reclaimed), (0, 1));
}

#[test]
fn bounds_off_by_one_accepts_one_byte_past_the_end() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_BOUNDS_OFF_BY_ONE), FH_OK);
    let h = create(4);
    // Observable without touching the byte past the end: empty accesses.
    assert_eq!(write(h, 5, &[]), FH_OK);
    assert_eq!(read_at(h, 5, 0), Ok(vec![]));
    assert_eq!(write(h, 6, &[]), FH_BOUNDS, "only one byte too far");
    assert_eq!(read_at(h, 4, 2), Err(FH_BOUNDS));
    let empty = create(0);
    assert_eq!(
        read_at(empty, 1, 0),
        Err(FH_BOUNDS),
        "no memory, no overflow"
    );
    assert_eq!(fh_test_set_mutant(FH_MUTANT_NONE), FH_OK);
    assert_eq!(write(h, 5, &[]), FH_BOUNDS);
}

#[test]
fn reclaim_never_makes_quiesce_time_out_after_one_second() {
    let _guard = exclusive();
    init_with(FH_RECLAIM_EPOCH);
    assert_eq!(fh_test_set_mutant(FH_MUTANT_RECLAIM_NEVER), FH_OK);
    let h = create(8);
    assert_eq!(fh_release(h), FH_OK);
    let start = Instant::now();
    assert_eq!(fh_quiesce(), FH_TIMED_OUT);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(last_error().starts_with("fh_quiesce: 1 dead resources still pending after 1s"));
    let report = shutdown();
    assert_eq!(
        (report.pending_resources, report.pending_bytes),
        (1, 8),
        "still pending at shutdown"
    );
    // Immediate reclamation is not deferred: nothing to hold back.
    init();
    let h = create(8);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(fh_quiesce(), FH_OK);
}

/// Tries `attempt` up to `tries` times; true as soon as one shows the bug.
fn within(tries: usize, mut attempt: impl FnMut() -> bool) -> bool {
    (0..tries).any(|_| attempt())
}

#[test]
fn racy_acquire_resurrects_a_resource_released_in_its_window() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_RACY_ACQUIRE), FH_OK);
    let h = create(4);
    assert_eq!(fh_acquire(h), FH_OK, "alone it acquires");
    assert_eq!(info(h).unwrap().refs, 2);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(
        fh_acquire(h),
        FH_STALE_HANDLE,
        "a dead resource is still checked"
    );
    // The release lands 0..40 µs after the acquire starts, swept by busy-waiting
    // (a sleep this short overshoots by tens of µs on a loaded machine).
    let mut attempt = 0u64;
    let raced = within(4000, || {
        attempt += 1;
        let delay = Duration::from_micros(attempt % 41);
        let h = create(4);
        let barrier = Barrier::new(2);
        let acquired = thread::scope(|scope| {
            let acquirer = scope.spawn(|| {
                barrier.wait();
                fh_acquire(h)
            });
            barrier.wait();
            let start = Instant::now();
            while start.elapsed() < delay {
                std::hint::spin_loop();
            }
            assert_eq!(fh_release(h), FH_OK);
            acquirer.join().unwrap()
        });
        // Both succeeded, so the resource must be alive with one reference
        // in either order; under the mutant it can be dead.
        let dead = info(h) == Err(FH_STALE_HANDLE);
        if !dead {
            assert_eq!(fh_release(h), FH_OK);
        }
        acquired == FH_OK && dead
    });
    assert!(raced, "no acquire raced the last release");
}

#[test]
fn racy_refcount_loses_concurrent_acquires() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_RACY_REFCOUNT), FH_OK);
    let h = create(4);
    assert_eq!(fh_acquire(h), FH_OK);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(info(h).unwrap().refs, 1, "alone it counts right");
    const THREADS: u32 = 4;
    const ACQUIRES: u32 = 200;
    let barrier = Barrier::new(THREADS as usize);
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                barrier.wait();
                for _ in 0..ACQUIRES {
                    assert_eq!(fh_acquire(h), FH_OK);
                }
            });
        }
    });
    let refs = info(h).unwrap().refs;
    assert!(refs < 1 + THREADS * ACQUIRES, "no update lost: {refs}");
    // A single release at 1 kills.
    assert_eq!(fh_test_set_mutant(FH_MUTANT_NONE), FH_OK);
    let h2 = create(4);
    assert_eq!(fh_test_set_mutant(FH_MUTANT_RACY_REFCOUNT), FH_OK);
    assert_eq!(fh_release(h2), FH_OK);
    assert_eq!(info(h2), Err(FH_STALE_HANDLE));
}

#[test]
fn shared_last_error_shows_another_threads_message() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_SHARED_LAST_ERROR), FH_OK);
    // Each thread fails with its own (never issued) handle, then reads its
    // message back.
    let foreign = |mutant: u32| {
        assert_eq!(fh_test_set_mutant(mutant), FH_OK);
        let barrier = Barrier::new(2);
        thread::scope(|scope| {
            let threads: Vec<_> = (0..2u64)
                .map(|i| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let mine = (1u64 << 32) | (100 + i);
                        barrier.wait();
                        (0..500)
                            .filter(|_| {
                                assert_eq!(fh_acquire(mine), FH_INVALID_HANDLE);
                                !last_error().contains(&format!("{mine:#x}"))
                            })
                            .count()
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .sum::<usize>()
        })
    };
    assert!(
        foreign(FH_MUTANT_SHARED_LAST_ERROR) > 0,
        "never saw another thread's message"
    );
    assert_eq!(foreign(FH_MUTANT_NONE), 0);
}

#[test]
fn unsync_writer_lets_readers_see_torn_writes() {
    let _guard = exclusive();
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_UNSYNC_WRITER), FH_OK);
    let h = create(64);
    assert_eq!(write(h, 0, &[5; 64]), FH_OK);
    assert_eq!(read(h, 64).unwrap(), [5; 64], "alone it writes");
    // A writer writes whole resources of one value; a reader must see each
    // write entirely or not at all, but sees torn ones.
    let stop = AtomicBool::new(false);
    let torn = thread::scope(|scope| {
        scope.spawn(|| {
            for value in (0..=255u8).cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                assert_eq!(write(h, 0, &[value; 64]), FH_OK);
            }
        });
        let torn = within(10_000, || {
            let bytes = read(h, 64).unwrap();
            bytes.iter().any(|&b| b != bytes[0])
        });
        stop.store(true, Ordering::Relaxed);
        torn
    });
    assert!(torn, "no read saw part of a write");
}

#[test]
fn guard_one_side_frees_under_the_foreign_runtimes_feet() {
    let _guard = exclusive();
    let foreign = backend();
    let foreign_acquire = |h| unsafe { foreign.foreign_acquire.unwrap()(h) };
    let foreign_release = |h, ack| unsafe { foreign.foreign_release.unwrap()(h, ack) };
    for mutant in [FH_MUTANT_NONE, FH_MUTANT_GUARD_ONE_SIDE] {
        init_with(FH_RECLAIM_GUARDED);
        assert_eq!(fh_test_set_mutant(mutant), FH_OK);
        let h = create(8);
        assert_eq!(foreign_acquire(h), FH_OK);
        assert_eq!(fh_release(h), FH_OK);
        let stats = stats();
        if mutant == FH_MUTANT_NONE {
            assert_eq!(
                info(h).unwrap().refs,
                1,
                "the foreign reference keeps it alive"
            );
            assert_eq!(foreign_release(h, 1), FH_OK);
            assert_eq!((stats.live_resources, stats.reclaimed), (1, 0));
        } else {
            // Dead and freed although the foreign runtime holds a reference.
            assert_eq!(info(h), Err(FH_STALE_HANDLE));
            assert_eq!((stats.live_resources, stats.reclaimed), (0, 1));
            // What is observable without touching the freed memory: empty
            // accesses through the dangling pointer return OK, with the dead
            // resource's bounds; reference calls see a stale handle.
            assert_eq!(read_at(h, 8, 0), Ok(vec![]));
            assert_eq!(write(h, 8, &[]), FH_OK);
            assert_eq!(read_at(h, 9, 0), Err(FH_BOUNDS));
            assert_eq!(foreign_release(h, 1), FH_STALE_HANDLE);
            assert_eq!(foreign_acquire(h), FH_STALE_HANDLE);
            // Once the slot is reused, the old handle is stale again.
            let new = create(8);
            assert_eq!(new, h + (1 << 32));
            assert_eq!(read_at(h, 8, 0), Err(FH_STALE_HANDLE));
            // The guard still holds for a release by the foreign runtime and
            // for the owner's non-last releases.
            assert_eq!(foreign_acquire(new), FH_OK);
            assert_eq!(fh_acquire(new), FH_OK);
            assert_eq!(fh_release(new), FH_OK);
            assert_eq!(foreign_release(new, 1), FH_OK);
            assert_eq!(info(new).unwrap().refs, 1);
        }
        assert_eq!(fh_test_set_mutant(FH_MUTANT_NONE), FH_OK);
        shutdown();
    }
    // Single-runtime programs cannot tell: nothing foreign to ignore.
    init();
    assert_eq!(fh_test_set_mutant(FH_MUTANT_GUARD_ONE_SIDE), FH_OK);
    let h = create(4);
    assert_eq!(fh_acquire(h), FH_OK);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(info(h).unwrap().refs, 1);
    assert_eq!(fh_release(h), FH_OK);
    assert_eq!(read_at(h, 4, 0), Err(FH_STALE_HANDLE));
}
