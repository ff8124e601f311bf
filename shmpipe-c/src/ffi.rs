//! The `extern "C"` functions of `include/shmpipe.h`.
//!
//! Every function catches panics ([`guard`]) so none unwinds into C, checks its pointers for
//! NULL, and reports failures as a code plus a thread-local message ([`shmpipe_last_error`]).
//! A handle must be used by one thread at a time (it may move between threads); a closed
//! handle must not be used again, as with `free`.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use shmpipe::{RecvError, Ring, RingOptions, Segment};

use crate::code::{self, Error};
use crate::held::{HeldReader, HeldWriter, Wait};

/// An open ring: `shmpipe_ring` in C. Its writer and reader stay valid after it is closed.
#[derive(Debug)]
pub struct ShmpipeRing {
    ring: Ring,
}

/// A ring's writer: `shmpipe_writer` in C.
#[derive(Debug)]
pub struct ShmpipeWriter {
    held: HeldWriter,
}

/// A ring's reader: `shmpipe_reader` in C.
#[derive(Debug)]
pub struct ShmpipeReader {
    held: HeldReader,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let text = CString::new(message.replace('\0', "\u{fffd}")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
}

/// Runs `body`, turning its error into a code (and the thread's last-error message) and a
/// panic into `SHMPIPE_INTERNAL`: nothing unwinds across the C boundary.
fn guard(body: impl FnOnce() -> Result<c_int, Error>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.code
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            set_last_error(&format!("internal error in shmpipe: {what}"));
            code::INTERNAL
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(code::INVALID_ARGUMENT, message)
}

/// The handle behind `ptr`, or `INVALID_ARGUMENT` if it is NULL.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that nothing else uses for `'a`.
unsafe fn handle<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Error> {
    // SAFETY: the caller's promise: NULL or a live, unaliased `T`.
    unsafe { ptr.as_mut() }.ok_or_else(|| invalid(format!("{what} is NULL")))
}

/// The output slot `out`, cleared to NULL, or `INVALID_ARGUMENT` if `out` itself is NULL.
///
/// # Safety
/// `out` is NULL or points to a writable pointer.
unsafe fn out_slot<'a, T>(out: *mut *mut T) -> Result<&'a mut *mut T, Error> {
    // SAFETY: the caller's promise: NULL or a writable `*mut T`.
    let slot = unsafe { out.as_mut() }.ok_or_else(|| invalid("the output pointer is NULL"))?;
    *slot = std::ptr::null_mut();
    Ok(slot)
}

/// `name` as a segment name.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
unsafe fn name_arg<'a>(name: *const c_char) -> Result<&'a str, Error> {
    if name.is_null() {
        return Err(invalid("the ring name is NULL"));
    }
    // SAFETY: not NULL, and the caller promises a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(name) };
    name.to_str().map_err(|_| {
        Error::new(
            code::INVALID_NAME,
            format!("the ring name {name:?} is not UTF-8"),
        )
    })
}

/// `len` bytes at `data` (none if `len` is 0, whatever `data` is).
///
/// # Safety
/// If `len > 0`, `data` is NULL or points to `len` readable bytes.
unsafe fn bytes_arg<'a>(data: *const c_void, len: usize) -> Result<&'a [u8], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(invalid(format!(
            "the message pointer is NULL but its length is {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(invalid(format!("a length of {len} bytes is impossible")));
    }
    // SAFETY: not NULL, at most isize::MAX bytes, and the caller promises they are readable.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// `cap` writable bytes at `buf`.
///
/// # Safety
/// If `cap > 0`, `buf` is NULL or points to `cap` writable bytes that nothing else uses.
unsafe fn buffer_arg<'a>(buf: *mut c_void, cap: usize) -> Result<&'a mut [u8], Error> {
    if cap == 0 {
        return Ok(&mut []);
    }
    if buf.is_null() {
        return Err(invalid(format!(
            "the buffer is NULL but its capacity is {cap}"
        )));
    }
    if cap > isize::MAX as usize {
        return Err(invalid(format!("a capacity of {cap} bytes is impossible")));
    }
    // SAFETY: not NULL, at most isize::MAX bytes, and the caller promises they are writable
    // and unaliased for the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) })
}

fn timeout_arg(timeout_ms: i64) -> Result<Option<Duration>, Error> {
    match timeout_ms {
        -1 => Ok(None),
        ms if ms < 0 => Err(invalid(format!(
            "a timeout of {ms} ms is impossible; use -1 to wait forever"
        ))),
        ms => Ok(Some(Duration::from_millis(ms.unsigned_abs()))),
    }
}

/// The text of a status code (a static string; unknown codes get a fixed text).
#[no_mangle]
pub extern "C" fn shmpipe_strerror(code: c_int) -> *const c_char {
    // Every text is a literal: make static NUL-terminated copies once.
    static TEXTS: std::sync::OnceLock<Vec<CString>> = std::sync::OnceLock::new();
    static UNKNOWN: &CStr = c"unknown shmpipe status code";
    let texts = TEXTS.get_or_init(|| {
        code::CODES
            .iter()
            .map(|(_, _, text)| CString::new(*text).unwrap_or_default())
            .collect()
    });
    usize::try_from(code)
        .ok()
        .and_then(|i| texts.get(i))
        .map_or(UNKNOWN.as_ptr(), |text| text.as_ptr())
}

/// The message of the last failure on this thread ("" if none yet), valid until the next
/// failing call on this thread.
#[no_mangle]
pub extern "C" fn shmpipe_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

/// The version of this library, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn shmpipe_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// Creates the ring `name` in POSIX shared memory (`/dev/shm/NAME`), exclusively.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_create(
    name: *const c_char,
    capacity: u64,
    out: *mut *mut ShmpipeRing,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name) = unsafe { (out_slot(out)?, name_arg(name)?) };
        let ring = RingOptions::new()
            .capacity(capacity)
            .create(&Segment::posix(name))?;
        *slot = Box::into_raw(Box::new(ShmpipeRing { ring }));
        Ok(code::OK)
    })
}

/// Opens the ring `name`, waiting up to `timeout_ms` for it to appear and be initialised;
/// -1 waits forever, 0 not at all.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_open(
    name: *const c_char,
    timeout_ms: i64,
    out: *mut *mut ShmpipeRing,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, name) = unsafe { (out_slot(out)?, name_arg(name)?) };
        let ring = RingOptions::new()
            .wait_for_creation(true)
            .timeout(timeout_arg(timeout_ms)?)
            .open(&Segment::posix(name))
            .map_err(|e| match e {
                // Waiting for a ring that never came is a timeout when the caller waited.
                shmpipe::OpenError::NotFound { segment } if timeout_ms != 0 => Error::new(
                    code::TIMED_OUT,
                    format!("{segment} did not appear within {timeout_ms} ms"),
                ),
                e => Error::from(e),
            })?;
        *slot = Box::into_raw(Box::new(ShmpipeRing { ring }));
        Ok(code::OK)
    })
}

/// Removes the ring name `name` (what `shmpipe rm NAME` does); mappings stay valid.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_remove(name: *const c_char) -> c_int {
    guard(|| {
        // SAFETY: the caller's promise, passed on.
        let name = unsafe { name_arg(name)? };
        let segment = Segment::posix(name);
        shmpipe::remove(&segment).map_err(|e| {
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => code::NOT_FOUND,
                std::io::ErrorKind::PermissionDenied => code::PERMISSION_DENIED,
                std::io::ErrorKind::InvalidInput => code::INVALID_NAME,
                _ => code::OS,
            };
            Error::new(code, format!("cannot remove {segment}: {e}"))
        })?;
        Ok(code::OK)
    })
}

/// The ring's data capacity in bytes (0 for NULL).
///
/// # Safety
/// `ring` is NULL or a live ring.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_ring_capacity(ring: *const ShmpipeRing) -> u64 {
    // SAFETY: the caller's promise: NULL or a live ring.
    unsafe { ring.as_ref() }.map_or(0, |r| r.ring.capacity())
}

/// The largest message one send can carry (0 for NULL).
///
/// # Safety
/// `ring` is NULL or a live ring.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_ring_max_message(ring: *const ShmpipeRing) -> usize {
    // SAFETY: the caller's promise: NULL or a live ring.
    unsafe { ring.as_ref() }.map_or(0, |r| r.ring.max_message())
}

/// Attaches the ring's one writer.
///
/// # Safety
/// `ring` is NULL or a live ring; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_ring_writer(
    ring: *const ShmpipeRing,
    out: *mut *mut ShmpipeWriter,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, ring) = unsafe { (out_slot(out)?, ring.as_ref()) };
        let ring = ring.ok_or_else(|| invalid("the ring is NULL"))?;
        let held = HeldWriter::new(ring.ring.writer()?);
        *slot = Box::into_raw(Box::new(ShmpipeWriter { held }));
        Ok(code::OK)
    })
}

/// Attaches the ring's one reader.
///
/// # Safety
/// `ring` is NULL or a live ring; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_ring_reader(
    ring: *const ShmpipeRing,
    out: *mut *mut ShmpipeReader,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, ring) = unsafe { (out_slot(out)?, ring.as_ref()) };
        let ring = ring.ok_or_else(|| invalid("the ring is NULL"))?;
        let held = HeldReader::new(ring.ring.reader()?);
        *slot = Box::into_raw(Box::new(ShmpipeReader { held }));
        Ok(code::OK)
    })
}

/// Frees the ring handle (not its writer or reader). NULL is a no-op.
///
/// # Safety
/// `ring` is NULL or a live ring, not used again.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_ring_close(ring: *mut ShmpipeRing) -> c_int {
    guard(|| {
        if !ring.is_null() {
            // SAFETY: a live ring from `Box::into_raw`, given up by the caller.
            drop(unsafe { Box::from_raw(ring) });
        }
        Ok(code::OK)
    })
}

fn send_with(w: &mut ShmpipeWriter, msg: &[u8], wait: Wait) -> Result<c_int, Error> {
    let writer = w.held.writer()?;
    match wait {
        Wait::Forever => writer.send(msg),
        Wait::Never => writer.try_send(msg),
        Wait::For(t) => writer.send_timeout(msg, t),
    }?;
    Ok(code::OK)
}

/// Sends `len` bytes as one message, waiting for room as long as needed.
///
/// # Safety
/// `w` is NULL or a live writer; `data` is NULL or `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_send(
    w: *mut ShmpipeWriter,
    data: *const c_void,
    len: usize,
) -> c_int {
    // SAFETY: the caller's promises, passed on.
    guard(|| unsafe {
        send_with(
            handle(w, "the writer")?,
            bytes_arg(data, len)?,
            Wait::Forever,
        )
    })
}

/// Sends if there is room now; `SHMPIPE_FULL` otherwise.
///
/// # Safety
/// As `shmpipe_send`.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_try_send(
    w: *mut ShmpipeWriter,
    data: *const c_void,
    len: usize,
) -> c_int {
    // SAFETY: the caller's promises, passed on.
    guard(|| unsafe { send_with(handle(w, "the writer")?, bytes_arg(data, len)?, Wait::Never) })
}

/// Sends, waiting at most `timeout_ms` for room; `SHMPIPE_TIMED_OUT` after that.
///
/// # Safety
/// As `shmpipe_send`.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_send_timeout(
    w: *mut ShmpipeWriter,
    data: *const c_void,
    len: usize,
    timeout_ms: u64,
) -> c_int {
    let wait = Wait::For(Duration::from_millis(timeout_ms));
    // SAFETY: the caller's promises, passed on.
    guard(|| unsafe { send_with(handle(w, "the writer")?, bytes_arg(data, len)?, wait) })
}

/// # Safety
/// `w` is NULL or a live writer; `buf` is NULL or writable.
unsafe fn reserve_with(
    w: *mut ShmpipeWriter,
    len: usize,
    buf: *mut *mut c_void,
    wait: Wait,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's promises, passed on.
        let (slot, w) = unsafe { (out_slot(buf)?, handle(w, "the writer")?) };
        let room = w.held.reserve(len, wait)?;
        *slot = room.as_mut_ptr().cast();
        Ok(code::OK)
    })
}

/// Reserves room for a `len`-byte message in the ring and puts its address in `*buf`
/// (zero-copy), waiting for room as long as needed. Write the message there, then
/// `shmpipe_commit` (or `shmpipe_abandon`); other sends fail with `SHMPIPE_BUSY` meanwhile.
///
/// # Safety
/// `w` is NULL or a live writer; `buf` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_reserve(
    w: *mut ShmpipeWriter,
    len: usize,
    buf: *mut *mut c_void,
) -> c_int {
    // SAFETY: the caller's promises, passed on.
    unsafe { reserve_with(w, len, buf, Wait::Forever) }
}

/// Like `shmpipe_reserve`, but `SHMPIPE_FULL` if there is no room now.
///
/// # Safety
/// As `shmpipe_reserve`.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_try_reserve(
    w: *mut ShmpipeWriter,
    len: usize,
    buf: *mut *mut c_void,
) -> c_int {
    // SAFETY: the caller's promises, passed on.
    unsafe { reserve_with(w, len, buf, Wait::Never) }
}

/// Like `shmpipe_reserve`, but `SHMPIPE_TIMED_OUT` after `timeout_ms`.
///
/// # Safety
/// As `shmpipe_reserve`.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_reserve_timeout(
    w: *mut ShmpipeWriter,
    len: usize,
    buf: *mut *mut c_void,
    timeout_ms: u64,
) -> c_int {
    let wait = Wait::For(Duration::from_millis(timeout_ms));
    // SAFETY: the caller's promises, passed on.
    unsafe { reserve_with(w, len, buf, wait) }
}

/// Sends the first `len` bytes of the reservation as one message. A `len` larger than the
/// reservation is `SHMPIPE_INVALID_ARGUMENT` and keeps it; no reservation is
/// `SHMPIPE_NOTHING_HELD`.
///
/// # Safety
/// `w` is NULL or a live writer.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_commit(w: *mut ShmpipeWriter, len: usize) -> c_int {
    guard(|| {
        // SAFETY: the caller's promise, passed on.
        let w = unsafe { handle(w, "the writer")? };
        w.held.commit(len)?;
        Ok(code::OK)
    })
}

/// Drops the reservation without sending anything; `SHMPIPE_NOTHING_HELD` if none.
///
/// # Safety
/// `w` is NULL or a live writer.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_abandon(w: *mut ShmpipeWriter) -> c_int {
    guard(|| {
        // SAFETY: the caller's promise, passed on.
        let w = unsafe { handle(w, "the writer")? };
        if w.held.abandon() {
            Ok(code::OK)
        } else {
            Err(Error::new(code::NOTHING_HELD, "no reservation to abandon"))
        }
    })
}

/// Closes the ring from the writer's side and frees the handle: the reader receives every
/// message sent, then end-of-stream. A held reservation is abandoned. NULL is a no-op.
///
/// # Safety
/// `w` is NULL or a live writer, not used again.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_writer_close(w: *mut ShmpipeWriter) -> c_int {
    guard(|| {
        if !w.is_null() {
            // SAFETY: a live writer from `Box::into_raw`, given up by the caller.
            drop(unsafe { Box::from_raw(w) });
        }
        Ok(code::OK)
    })
}

/// Closes like `shmpipe_writer_close`, then waits up to `timeout_ms` (-1: forever) until the
/// reader has received everything. The handle is freed whatever the result: `SHMPIPE_OK`, or
/// `SHMPIPE_CLOSED` / `SHMPIPE_PEER_DIED` if the reader went first with messages unread,
/// `SHMPIPE_TIMED_OUT`, `SHMPIPE_CORRUPTED`.
///
/// # Safety
/// `w` is NULL or a live writer, not used again.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_writer_close_wait(
    w: *mut ShmpipeWriter,
    timeout_ms: i64,
) -> c_int {
    guard(|| {
        if w.is_null() {
            return Err(invalid("the writer is NULL"));
        }
        // SAFETY: a live writer from `Box::into_raw`, given up by the caller.
        let w = unsafe { Box::from_raw(w) };
        let writer = w.held.into_writer();
        match timeout_arg(timeout_ms) {
            Ok(timeout) => writer.close_and_wait(timeout)?,
            Err(e) => {
                writer.close();
                return Err(e);
            }
        }
        Ok(code::OK)
    })
}

/// # Safety
/// `r` is NULL or a live reader; `buf` NULL or `cap` writable bytes; `len` NULL or writable.
unsafe fn recv_with(
    r: *mut ShmpipeReader,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    wait: Wait,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's promise: NULL or writable.
        let len = unsafe { len.as_mut() }.ok_or_else(|| invalid("the length pointer is NULL"))?;
        *len = 0;
        // SAFETY: the caller's promises, passed on.
        let (r, buf) = unsafe { (handle(r, "the reader")?, buffer_arg(buf, cap)?) };
        let reader = r.held.reader()?;
        let got = match wait {
            Wait::Forever => reader.recv(buf),
            Wait::Never => reader.try_recv(buf),
            Wait::For(t) => reader.recv_timeout(buf, t),
        };
        match got {
            Ok(Some(n)) => {
                *len = n;
                Ok(code::OK)
            }
            Ok(None) => Ok(code::END_OF_STREAM),
            Err(e) => {
                if let RecvError::BufferTooSmall { needed, .. } = e {
                    *len = needed;
                }
                Err(e.into())
            }
        }
    })
}

/// Receives the next message into `buf` (`cap` bytes) and puts its length in `*len`, waiting
/// as long as needed. `SHMPIPE_END_OF_STREAM` once the writer closed and everything was
/// delivered; `SHMPIPE_BUFFER_TOO_SMALL` with the needed length in `*len` (the message stays in
/// the ring) if it does not fit.
///
/// # Safety
/// `r` is NULL or a live reader; `buf` is NULL or `cap` writable bytes; `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_recv(
    r: *mut ShmpipeReader,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    // SAFETY: the caller's promises, passed on.
    unsafe { recv_with(r, buf, cap, len, Wait::Forever) }
}

/// Like `shmpipe_recv`, but `SHMPIPE_EMPTY` if nothing is there now.
///
/// # Safety
/// As `shmpipe_recv`.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_try_recv(
    r: *mut ShmpipeReader,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    // SAFETY: the caller's promises, passed on.
    unsafe { recv_with(r, buf, cap, len, Wait::Never) }
}

/// Like `shmpipe_recv`, but `SHMPIPE_TIMED_OUT` after `timeout_ms`.
///
/// # Safety
/// As `shmpipe_recv`.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_recv_timeout(
    r: *mut ShmpipeReader,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ms: u64,
) -> c_int {
    let wait = Wait::For(Duration::from_millis(timeout_ms));
    // SAFETY: the caller's promises, passed on.
    unsafe { recv_with(r, buf, cap, len, wait) }
}

/// # Safety
/// `r` is NULL or a live reader; `data` and `len` NULL or writable.
unsafe fn recv_ref_with(
    r: *mut ShmpipeReader,
    data: *mut *const c_void,
    len: *mut usize,
    wait: Wait,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's promises: NULL or writable.
        let (data, len) = unsafe { (data.as_mut(), len.as_mut()) };
        let (data, len) = data
            .zip(len)
            .ok_or_else(|| invalid("the data or length pointer is NULL"))?;
        *data = std::ptr::null();
        *len = 0;
        // SAFETY: the caller's promise, passed on.
        let r = unsafe { handle(r, "the reader")? };
        match r.held.recv_ref(wait)? {
            Some(record) => {
                *data = record.as_ptr().cast();
                *len = record.len();
                Ok(code::OK)
            }
            None => Ok(code::END_OF_STREAM),
        }
    })
}

/// Receives the next message in place (zero-copy): `*data` and `*len` give its bytes in the
/// ring, readable until `shmpipe_release` (other receives fail with `SHMPIPE_BUSY` meanwhile).
/// Waits as long as needed; `SHMPIPE_END_OF_STREAM` as `shmpipe_recv`.
///
/// # Safety
/// `r` is NULL or a live reader; `data` and `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_recv_ref(
    r: *mut ShmpipeReader,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    // SAFETY: the caller's promises, passed on.
    unsafe { recv_ref_with(r, data, len, Wait::Forever) }
}

/// Like `shmpipe_recv_ref`, but `SHMPIPE_EMPTY` if nothing is there now.
///
/// # Safety
/// As `shmpipe_recv_ref`.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_try_recv_ref(
    r: *mut ShmpipeReader,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    // SAFETY: the caller's promises, passed on.
    unsafe { recv_ref_with(r, data, len, Wait::Never) }
}

/// Like `shmpipe_recv_ref`, but `SHMPIPE_TIMED_OUT` after `timeout_ms`.
///
/// # Safety
/// As `shmpipe_recv_ref`.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_recv_ref_timeout(
    r: *mut ShmpipeReader,
    data: *mut *const c_void,
    len: *mut usize,
    timeout_ms: u64,
) -> c_int {
    let wait = Wait::For(Duration::from_millis(timeout_ms));
    // SAFETY: the caller's promises, passed on.
    unsafe { recv_ref_with(r, data, len, wait) }
}

/// Gives the message lent by `shmpipe_recv_ref` back to the writer; its bytes must not be read
/// after. `SHMPIPE_NOTHING_HELD` if none is lent.
///
/// # Safety
/// `r` is NULL or a live reader.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_release(r: *mut ShmpipeReader) -> c_int {
    guard(|| {
        // SAFETY: the caller's promise, passed on.
        let r = unsafe { handle(r, "the reader")? };
        if r.held.release() {
            Ok(code::OK)
        } else {
            Err(Error::new(code::NOTHING_HELD, "no lent message to release"))
        }
    })
}

/// Closes the ring from the reader's side and frees the handle: the writer's next send fails
/// with `SHMPIPE_CLOSED`. A lent message is released first. NULL is a no-op.
///
/// # Safety
/// `r` is NULL or a live reader, not used again.
#[no_mangle]
pub unsafe extern "C" fn shmpipe_reader_close(r: *mut ShmpipeReader) -> c_int {
    guard(|| {
        if !r.is_null() {
            // SAFETY: a live reader from `Box::into_raw`, given up by the caller.
            drop(unsafe { Box::from_raw(r) });
        }
        Ok(code::OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: `shmpipe_last_error` returns a NUL-terminated string owned by this thread's
        // slot, unchanged until the next failing call (none happens while it is read).
        unsafe { CStr::from_ptr(shmpipe_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_code_and_a_message() {
        assert_eq!(guard(|| panic!("boom")), code::INTERNAL);
        assert_eq!(last_error(), "internal error in shmpipe: boom");
        let owned = String::from("formatted");
        assert_eq!(guard(|| panic!("{owned}")), code::INTERNAL);
        assert_eq!(last_error(), "internal error in shmpipe: formatted");
    }

    #[test]
    fn errors_set_the_message_and_successes_keep_it() {
        assert_eq!(
            guard(|| Err(Error::new(code::FULL, "full\0up"))),
            code::FULL
        );
        assert_eq!(last_error(), "full\u{fffd}up");
        assert_eq!(guard(|| Ok(code::OK)), code::OK);
        assert_eq!(last_error(), "full\u{fffd}up");
    }

    #[test]
    fn strerror_covers_every_code() {
        for (c, _, text) in code::CODES {
            // SAFETY: `shmpipe_strerror` returns a static NUL-terminated string.
            let got = unsafe { CStr::from_ptr(shmpipe_strerror(*c)) };
            assert_eq!(got.to_str().unwrap(), *text);
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(shmpipe_strerror(c_int::MAX)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown shmpipe status code");
    }

    #[test]
    fn timeouts_take_minus_one_for_forever_only() {
        assert_eq!(timeout_arg(-1).unwrap(), None);
        assert_eq!(timeout_arg(0).unwrap(), Some(Duration::ZERO));
        assert_eq!(timeout_arg(-2).unwrap_err().code, code::INVALID_ARGUMENT);
    }
}
