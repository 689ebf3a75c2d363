//! The exports `export_contract!` emits, called as C calls them: raw
//! pointers, NULLs, bogus lengths, panics. One process-wide session, so the
//! tests take turns (`TURN`).

use std::collections::HashMap;
use std::ffi::c_char;
use std::ptr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use fuzzharness_adapter::contract::*;
use fuzzharness_adapter::{Contract, Error, Input, Ledger, Output, Result};

/// The last handle issued, and each live handle's bytes and read-only flag.
type Table = (u64, HashMap<u64, (Vec<u8>, bool)>);

/// A minimal adapter: a map from handle to bytes, one reference each.
/// Handles are odd numbers counted from 0x1001; size 0xDEAD panics.
struct Map {
    ledger: Ledger,
    table: Mutex<Table>,
}

impl Map {
    fn lookup<R>(
        &self,
        handle: u64,
        f: impl FnOnce(&mut (Vec<u8>, bool)) -> Result<R>,
    ) -> Result<R> {
        let mut table = self.table.lock().unwrap();
        let issued = handle % 2 == 1 && (0x1001..=table.0).contains(&handle);
        match table.1.get_mut(&handle) {
            Some(entry) => f(entry),
            None if issued => Err(Error::stale_handle(handle)),
            // no handle in the message: the kit must name it
            None => Err(Error::new(FH_INVALID_HANDLE, "unknown")),
        }
    }

    fn insert(&self, bytes: Vec<u8>, read_only: bool) -> Result<u64> {
        let admission = self.ledger.admit(bytes.len() as u64)?;
        let mut table = self.table.lock().unwrap();
        table.0 = if table.0 == 0 { 0x1001 } else { table.0 + 2 };
        let handle = table.0;
        table.1.insert(handle, (bytes, read_only));
        admission.commit();
        Ok(handle)
    }
}

impl Contract for Map {
    fn open(config: &fh_config) -> Result<Self> {
        Ok(Self {
            ledger: Ledger::new(config),
            table: Mutex::default(),
        })
    }

    fn create(&self, size: u64) -> Result<u64> {
        assert!(size != 0xDEAD, "size {size:#x} is cursed");
        self.insert(vec![0; size as usize], false)
    }

    fn acquire(&self, handle: u64) -> Result<()> {
        self.lookup(handle, |_| Err(Error::too_many_references(handle)))
    }

    fn release(&self, handle: u64) -> Result<()> {
        self.lookup(handle, |_| Ok(()))?;
        let (bytes, _) = self.table.lock().unwrap().1.remove(&handle).unwrap();
        self.ledger.freed(bytes.len() as u64);
        Ok(())
    }

    fn write(&self, handle: u64, offset: u64, data: Input<'_>) -> Result<()> {
        self.lookup(handle, |(bytes, read_only)| {
            if *read_only {
                return Err(Error::read_only(handle));
            }
            data.copy_to(bytes, offset)
        })
    }

    fn read(&self, handle: u64, offset: u64, buf: Output<'_>) -> Result<()> {
        self.lookup(handle, |(bytes, _)| buf.copy_from(bytes, offset))
    }

    fn snapshot(&self, handle: u64) -> Result<u64> {
        let bytes = self.lookup(handle, |(bytes, _)| Ok(bytes.clone()))?;
        self.insert(bytes, true)
    }

    fn info(&self, handle: u64) -> Result<fh_resource_info> {
        self.lookup(handle, |(bytes, read_only)| {
            Ok(fh_resource_info {
                size: bytes.len() as u64,
                refs: 1,
                read_only: u32::from(*read_only),
            })
        })
    }

    fn stats(&self) -> fh_stats {
        self.ledger.stats()
    }
}

fuzzharness_adapter::export_contract!(Map);

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

fn config() -> fh_config {
    fh_config {
        capacity: 3,
        strategy: FH_RECLAIM_IMMEDIATE,
        max_resource_bytes: 64,
        max_total_bytes: 100,
        flags: 0,
    }
}

fn last_error() -> String {
    let mut len = 0;
    let mut buf = [0 as c_char; 256];
    assert_eq!(
        unsafe { fh_last_error(buf.as_mut_ptr(), buf.len(), &mut len) },
        FH_OK
    );
    let bytes: Vec<u8> = buf[..len].iter().map(|&c| c as u8).collect();
    String::from_utf8(bytes).unwrap()
}

/// Runs `f` in a fresh session of `config()`, closed afterwards.
fn in_session(f: impl FnOnce()) {
    let _turn = turn();
    let mut config = config();
    assert_eq!(unsafe { fh_init(&mut config) }, FH_OK);
    f();
    let mut report = fh_stats::default();
    assert_eq!(unsafe { fh_shutdown(&mut report) }, FH_OK);
}

fn create(size: u64) -> u64 {
    let mut handle = 0;
    assert_eq!(
        unsafe { fh_create(size, &mut handle) },
        FH_OK,
        "{}",
        last_error()
    );
    handle
}

#[test]
fn abi_version_is_1_0_and_needs_both_pointers() {
    let (mut major, mut minor) = (7, 7);
    assert_eq!(unsafe { fh_abi_version(&mut major, &mut minor) }, FH_OK);
    assert_eq!((major, minor), (1, 0));
    let mut untouched = 9;
    assert_eq!(
        unsafe { fh_abi_version(&mut untouched, ptr::null_mut()) },
        FH_NULL_ARGUMENT
    );
    assert_eq!(untouched, 9, "outputs are written only on success");
    assert_eq!(last_error(), "fh_abi_version: minor is NULL");
}

#[test]
fn init_checks_in_the_headers_order() {
    let _turn = turn();
    assert_eq!(unsafe { fh_init(ptr::null_mut()) }, FH_NULL_ARGUMENT);
    for (change, status) in [
        (
            fh_config {
                capacity: 0,
                ..config()
            },
            FH_INVALID_ARGUMENT,
        ),
        (
            fh_config {
                capacity: (1 << 20) + 1,
                ..config()
            },
            FH_INVALID_ARGUMENT,
        ),
        (
            fh_config {
                flags: FH_FLAG_RECLAIM_EVENTS.into(),
                ..config()
            },
            FH_INVALID_ARGUMENT,
        ),
        (
            fh_config {
                strategy: FH_RECLAIM_EPOCH,
                ..config()
            },
            FH_UNSUPPORTED,
        ),
        (
            fh_config {
                strategy: 99,
                capacity: 0,
                ..config()
            },
            FH_INVALID_ARGUMENT,
        ),
    ] {
        let mut config = change;
        assert_eq!(unsafe { fh_init(&mut config) }, status, "{config:?}");
        assert!(last_error().starts_with("fh_init: "), "{}", last_error());
    }
    let mut report = fh_stats {
        created: 5,
        ..Default::default()
    };
    assert_eq!(unsafe { fh_shutdown(&mut report) }, FH_NOT_INITIALIZED);
    assert_eq!(report.created, 5);
    let mut config = config();
    assert_eq!(unsafe { fh_init(&mut config) }, FH_OK);
    assert_eq!(unsafe { fh_init(&mut config) }, FH_ALREADY_INITIALIZED);
    assert_eq!(
        unsafe { fh_init(ptr::null_mut()) },
        FH_NULL_ARGUMENT,
        "NULL comes first"
    );
    assert_eq!(unsafe { fh_shutdown(ptr::null_mut()) }, FH_NULL_ARGUMENT);
    assert_eq!(
        unsafe { fh_shutdown(&mut report) },
        FH_OK,
        "the session stayed open"
    );
    assert_eq!(report, fh_stats::default());
}

#[test]
fn no_session_comes_before_null() {
    let _turn = turn();
    assert_eq!(unsafe { fh_create(1, ptr::null_mut()) }, FH_NOT_INITIALIZED);
    assert_eq!(
        last_error(),
        "fh_create: no session is open (before fh_init or after fh_shutdown)"
    );
    assert_eq!(fh_acquire(1), FH_NOT_INITIALIZED);
    assert_eq!(
        unsafe { fh_write(1, 0, ptr::null_mut(), 4) },
        FH_NOT_INITIALIZED
    );
    assert_eq!(unsafe { fh_get_stats(ptr::null_mut()) }, FH_NOT_INITIALIZED);
    assert_eq!(fh_quiesce(), FH_NOT_INITIALIZED);
}

#[test]
fn null_comes_before_the_handle_and_names_the_parameter() {
    in_session(|| {
        assert_eq!(
            unsafe { fh_read(12, 0, ptr::null_mut(), 1) },
            FH_NULL_ARGUMENT
        );
        assert_eq!(last_error(), "fh_read: buf is NULL");
        assert_eq!(unsafe { fh_info(12, ptr::null_mut()) }, FH_NULL_ARGUMENT);
        assert_eq!(
            unsafe { fh_snapshot(12, ptr::null_mut()) },
            FH_NULL_ARGUMENT
        );
        assert_eq!(last_error(), "fh_snapshot: out is NULL");
        // NULL with length 0 is allowed: the handle is looked at
        assert_eq!(
            unsafe { fh_write(12, 0, ptr::null_mut(), 0) },
            FH_INVALID_HANDLE
        );
        assert_eq!(last_error(), "fh_write: handle 0xc: unknown");
    });
}

#[test]
fn handle_errors_name_the_handle_then_read_only_overflow_bounds() {
    in_session(|| {
        let h = create(4);
        assert_eq!(h, 0x1001, "the adapter's own values");
        let mut data = [1u8, 2, 3, 4];
        assert_eq!(unsafe { fh_write(h, 0, data.as_mut_ptr(), 4) }, FH_OK);
        let mut snap = 0;
        assert_eq!(unsafe { fh_snapshot(h, &mut snap) }, FH_OK);
        assert_eq!(
            unsafe { fh_write(snap, u64::MAX, data.as_mut_ptr(), 1) },
            FH_READ_ONLY
        );
        assert_eq!(
            last_error(),
            format!("fh_write: handle {snap:#x} is a read-only snapshot")
        );
        assert_eq!(
            unsafe { fh_write(h, u64::MAX, data.as_mut_ptr(), 1) },
            FH_OVERFLOW
        );
        assert_eq!(
            last_error(),
            format!(
                "fh_write: handle {h:#x}: offset {} + length 1 overflows 64 bits",
                u64::MAX
            )
        );
        // a bogus length is checked, never dereferenced
        assert_eq!(
            unsafe { fh_read(h, 1, data.as_mut_ptr(), usize::MAX) },
            FH_OVERFLOW
        );
        assert_eq!(
            unsafe { fh_read(h, 0, data.as_mut_ptr(), usize::MAX / 2) },
            FH_BOUNDS
        );
        assert_eq!(unsafe { fh_write(h, 2, data.as_mut_ptr(), 3) }, FH_BOUNDS);
        let mut out = [0xAAu8; 4];
        assert_eq!(unsafe { fh_read(h, 1, out.as_mut_ptr(), 4) }, FH_BOUNDS);
        assert_eq!(out, [0xAA; 4], "a failed read touches no byte");
        assert_eq!(unsafe { fh_read(snap, 0, out.as_mut_ptr(), 4) }, FH_OK);
        assert_eq!(out, [1, 2, 3, 4]);
        assert_eq!(fh_acquire(h), FH_OVERFLOW);
        assert_eq!(
            last_error(),
            format!("fh_acquire: handle {h:#x} already has 4294967295 references")
        );
        assert_eq!(fh_release(h), FH_OK);
        assert_eq!(fh_release(h), FH_STALE_HANDLE);
        assert_eq!(
            last_error(),
            format!("fh_release: handle {h:#x} is stale: its resource died")
        );
        let mut info = fh_resource_info {
            size: 77,
            ..Default::default()
        };
        assert_eq!(unsafe { fh_info(h, &mut info) }, FH_STALE_HANDLE);
        assert_eq!(info.size, 77, "outputs are written only on success");
        assert_eq!(unsafe { fh_info(snap, &mut info) }, FH_OK);
        assert_eq!((info.size, info.refs, info.read_only), (4, 1, 1));
    });
}

#[test]
fn limits_and_stats_come_from_the_ledger() {
    in_session(|| {
        let mut out = 5;
        assert_eq!(unsafe { fh_create(65, &mut out) }, FH_EXHAUSTED);
        assert_eq!(out, 5);
        let a = create(64);
        create(30);
        assert_eq!(unsafe { fh_create(7, &mut out) }, FH_EXHAUSTED);
        create(0);
        assert_eq!(unsafe { fh_create(0, &mut out) }, FH_EXHAUSTED);
        assert!(last_error().contains("no free slot"), "{}", last_error());
        assert_eq!(fh_release(a), FH_OK);
        let mut stats = fh_stats::default();
        assert_eq!(unsafe { fh_get_stats(&mut stats) }, FH_OK);
        assert_eq!(
            (
                stats.created,
                stats.live_resources,
                stats.live_bytes,
                stats.reclaimed
            ),
            (3, 2, 30, 1)
        );
        assert_eq!(fh_quiesce(), FH_OK);
    });
}

#[test]
fn a_panic_becomes_fh_panic_and_the_session_goes_on() {
    in_session(|| {
        let mut out = 0;
        assert_eq!(unsafe { fh_create(0xDEAD, &mut out) }, FH_PANIC);
        assert_eq!(last_error(), "fh_create: panic: size 0xdead is cursed");
        assert_eq!(out, 0);
        create(1);
    });
}

#[test]
fn last_error_length_query_truncation_and_nulls() {
    in_session(|| {
        assert_eq!(fh_release(0), FH_INVALID_HANDLE);
        let message = "fh_release: handle 0x0: unknown";
        let mut len = 0;
        assert_eq!(
            unsafe { fh_last_error(ptr::null_mut(), 0, &mut len) },
            FH_OK
        );
        assert_eq!(len, message.len());
        let mut buf = [0x55 as c_char; 6];
        assert_eq!(
            unsafe { fh_last_error(buf.as_mut_ptr(), 6, &mut len) },
            FH_OK
        );
        let got: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
        assert_eq!((&got[..], len), (&b"fh_re\0"[..], message.len()));
        assert_eq!(
            unsafe { fh_last_error(buf.as_mut_ptr(), 6, ptr::null_mut()) },
            FH_NULL_ARGUMENT
        );
        assert_eq!(
            unsafe { fh_last_error(ptr::null_mut(), 1, &mut len) },
            FH_NULL_ARGUMENT
        );
        assert_eq!(last_error(), "fh_last_error: buf is NULL");
        // each thread has its own message
        std::thread::spawn(|| assert_eq!(last_error(), ""))
            .join()
            .unwrap();
    });
}
