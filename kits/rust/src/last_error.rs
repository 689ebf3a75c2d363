//! The per-thread last-error message, and `fh_last_error`'s copy of it.
//!
//! Each thread has its own message (thread-local): the boundary
//! ([`crate::boundary::guard`]) replaces it with `"fh_xxx: <reason>"` after
//! every failed call of the thread, and a successful call never clears it.
//! [`copy_message`] implements the header's `fh_last_error` for any message
//! (a library that keeps its message elsewhere, as the bundled shim's test
//! mutant does, passes its own), [`fetch`] for this thread's.

use crate::buffer::Sink;
use crate::error::{required, Result};

use std::cell::RefCell;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Replaces the calling thread's last-error message.
///
/// Does nothing while the thread's locals are being destroyed (a call from a
/// thread-local destructor still returns its status).
pub fn set(message: String) {
    // Ignoring the AccessError: during thread teardown there is nobody left to read it.
    let _ = LAST_ERROR.try_with(|last| *last.borrow_mut() = message);
}

/// The calling thread's last-error message ("" if it has had no error).
pub fn get() -> String {
    LAST_ERROR
        .try_with(|last| last.borrow().clone())
        .unwrap_or_default()
}

/// `fh_last_error` for `message`: `FH_NULL_ARGUMENT` when `out_len` is NULL,
/// then when `buf` is (a `None` `buf` stands for NULL with a non-zero
/// capacity); else `buf` receives the message NUL-terminated, truncated to
/// its capacity - 1 bytes (nothing with capacity 0: the length query), and
/// `out_len` the message's full length without the NUL.
pub fn copy_message<'a>(
    message: &str,
    buf: Option<impl Sink<'a>>,
    out_len: Option<&mut usize>,
) -> Result<()> {
    let out_len = required(out_len, "out_len")?;
    let buf = required(buf, "buf")?;
    if let Some(room) = buf.byte_len().checked_sub(1) {
        let n = message.len().min(room);
        let dst = buf.into_prefix(n + 1);
        dst[..n].copy_from_slice(&message.as_bytes()[..n]);
        dst[n] = 0;
    }
    *out_len = message.len();
    Ok(())
}

/// `fh_last_error` for the calling thread's message (see [`copy_message`]).
pub fn fetch<'a>(buf: Option<impl Sink<'a>>, out_len: Option<&mut usize>) -> Result<()> {
    copy_message(&get(), buf, out_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::FH_NULL_ARGUMENT;

    #[test]
    fn messages_are_per_thread() {
        set("fh_x: here".to_owned());
        std::thread::spawn(|| {
            assert_eq!(get(), "");
            set("fh_y: there".to_owned());
        })
        .join()
        .unwrap();
        assert_eq!(get(), "fh_x: here");
    }

    #[test]
    fn copy_truncates_terminates_and_reports_the_full_length() {
        let mut len = 0;
        let mut buf = [0xAAu8; 4];
        copy_message("fh_x: y", Some(&mut buf[..]), Some(&mut len)).unwrap();
        assert_eq!((&buf, len), (b"fh_\0", 7));
        let mut len = 0;
        copy_message("abc", Some(&mut [][..]), Some(&mut len)).unwrap();
        assert_eq!(len, 3, "capacity 0 is the length query");
        let mut buf = [0xAAu8; 8];
        copy_message("abc", Some(&mut buf[..]), Some(&mut len)).unwrap();
        assert_eq!(&buf[..5], b"abc\0\xAA");
        let status = |r: Result<()>| r.unwrap_err().status();
        assert_eq!(
            status(copy_message("a", None::<&mut [u8]>, None)),
            FH_NULL_ARGUMENT
        );
        let mut untouched = [0xAAu8; 2];
        let e = copy_message("a", Some(&mut untouched[..]), None).unwrap_err();
        assert_eq!((e.message(), untouched), ("out_len is NULL", [0xAA; 2]));
        let e = copy_message("a", None::<&mut [u8]>, Some(&mut len)).unwrap_err();
        assert_eq!((e.message(), len), ("buf is NULL", 3));
    }
}
