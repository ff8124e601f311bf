//! The `shmpipe` Python module: rings in shared memory shared with Rust, C and C++ programs
//! (and the `shmpipe` command). See `python/README.md` for the Python API; this file is the
//! PyO3 glue around the Rust library and the C API's error codes and held-record handles.
//!
//! Blocking calls release the GIL and wait in slices of [`SLICE`], checking for signals in
//! between, so Ctrl-C interrupts a `recv()` that waits forever.

use std::ffi::c_int;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use pyo3::create_exception;
use pyo3::exceptions::{PyBufferError, PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};

use ring::{OpenError, RingOptions, Segment};
use shmpipe_c::code;
use shmpipe_c::held::{HeldReader, HeldWriter, Wait};

/// How long one blocking step waits before the module checks for signals (Ctrl-C).
const SLICE: Duration = Duration::from_millis(100);
/// How long `open` waits for a ring whose creator has not finished initialising it.
const INIT_GRACE: Duration = Duration::from_secs(2);

create_exception!(
    shmpipe,
    Error,
    PyException,
    "Base class of shmpipe's errors."
);
create_exception!(
    shmpipe,
    Closed,
    Error,
    "The other side closed the ring (a send after the reader closed), or this role was closed before."
);
create_exception!(
    shmpipe,
    PeerDied,
    Error,
    "The peer's process died (a reader sees it after every message the writer committed)."
);
create_exception!(shmpipe, Timeout, Error, "The timeout passed first.");
create_exception!(shmpipe, Empty, Error, "Nothing to receive now (timeout=0).");
create_exception!(shmpipe, Full, Error, "No room to send now (timeout=0).");
create_exception!(
    shmpipe,
    TooLarge,
    Error,
    "The message can never fit in this ring."
);
create_exception!(
    shmpipe,
    Corrupted,
    Error,
    "The ring's shared memory is impossible."
);
create_exception!(shmpipe, NotFound, Error, "No ring of that name.");
create_exception!(
    shmpipe,
    AlreadyExists,
    Error,
    "A ring of that name already exists."
);
create_exception!(
    shmpipe,
    AlreadyAttached,
    Error,
    "Another live process holds this role of the ring."
);

/// The Python exception for an error of the C API's table.
fn py_err(e: code::Error) -> PyErr {
    let m = e.message;
    match e.code {
        code::CLOSED => Closed::new_err(m),
        code::PEER_DIED => PeerDied::new_err(m),
        code::TIMED_OUT => Timeout::new_err(m),
        code::EMPTY => Empty::new_err(m),
        code::FULL => Full::new_err(m),
        code::TOO_LARGE => TooLarge::new_err(m),
        code::CORRUPTED => Corrupted::new_err(m),
        code::NOT_FOUND => NotFound::new_err(m),
        code::ALREADY_EXISTS => AlreadyExists::new_err(m),
        code::ALREADY_ATTACHED => AlreadyAttached::new_err(m),
        code::INVALID_ARGUMENT | code::INVALID_CAPACITY | code::INVALID_NAME => {
            PyValueError::new_err(m)
        }
        code::BUSY => PyBufferError::new_err(m),
        _ => Error::new_err(m),
    }
}

/// A timeout in seconds (`None`: forever) as a deadline.
fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => {
            let t = Duration::try_from_secs_f64(t)
                .map_err(|e| PyValueError::new_err(format!("timeout {t}: {e}")))?;
            Ok(Some(Instant::now() + t))
        }
        Some(t) => Err(PyValueError::new_err(format!(
            "timeout must be None or a number of seconds >= 0, not {t}"
        ))),
    }
}

/// Runs `attempt` with the GIL released, in slices of [`SLICE`] until `timeout` (seconds;
/// `None` forever, 0 not at all), checking for signals between slices.
fn blocking<T: Send>(
    py: Python<'_>,
    timeout: Option<f64>,
    mut attempt: impl FnMut(Wait) -> Result<T, code::Error> + Send,
) -> PyResult<T> {
    if timeout == Some(0.0) {
        return attempt(Wait::Never).map_err(py_err);
    }
    let deadline = deadline(timeout)?;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let slice = left.map_or(SLICE, |left| left.min(SLICE));
        match py.allow_threads(|| attempt(Wait::For(slice))) {
            Err(e) if e.code == code::TIMED_OUT => {
                if left.is_some_and(|left| left <= slice) {
                    return Err(py_err(e));
                }
                py.check_signals()?;
            }
            done => return done.map_err(py_err),
        }
    }
}

/// Locks a handle's state; a second thread using the same handle at once is an error, not a
/// wait (it would wait holding the GIL).
fn lock<'a, T>(m: &'a Mutex<T>, what: &str) -> PyResult<MutexGuard<'a, T>> {
    match m.try_lock() {
        Ok(guard) => Ok(guard),
        Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        Err(TryLockError::WouldBlock) => Err(PyRuntimeError::new_err(format!(
            "this {what} is in use by another thread; use one {what} from one thread at a time"
        ))),
    }
}

fn closed(what: &str) -> PyErr {
    PyValueError::new_err(format!("I/O operation on a closed {what}"))
}

/// Creates the ring `name` in POSIX shared memory (`/dev/shm/NAME`), exclusively, with
/// `capacity` bytes (a power of two; the largest message is `capacity - 8`).
#[pyfunction]
#[pyo3(signature = (name, capacity = 65536))]
fn create(name: &str, capacity: u64) -> PyResult<Ring> {
    let ring = RingOptions::new()
        .capacity(capacity)
        .create(&Segment::posix(name))
        .map_err(|e| py_err(e.into()))?;
    Ok(Ring {
        ring: Mutex::new(Some(ring)),
    })
}

/// Opens the ring `name`, waiting up to `timeout` seconds for it to be created (`None`:
/// forever, like opening a FIFO; `0`: not at all). Raises `Timeout` (or `NotFound` for 0).
#[pyfunction]
#[pyo3(signature = (name, timeout = None))]
fn open(py: Python<'_>, name: &str, timeout: Option<f64>) -> PyResult<Ring> {
    let segment = Segment::posix(name);
    let deadline = deadline(timeout)?;
    let mut uninitialised_since: Option<Instant> = None;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let slice = left.map_or(SLICE, |left| left.min(SLICE));
        let options = RingOptions::new()
            .wait_for_creation(true)
            .timeout(Some(slice));
        match py.allow_threads(|| options.open(&segment)) {
            Ok(ring) => {
                return Ok(Ring {
                    ring: Mutex::new(Some(ring)),
                })
            }
            Err(OpenError::NotFound { .. }) => uninitialised_since = None,
            Err(e @ OpenError::NotInitialised { .. }) => {
                let since = *uninitialised_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= INIT_GRACE {
                    return Err(py_err(e.into()));
                }
            }
            Err(e) => return Err(py_err(e.into())),
        }
        if left.is_some_and(|left| left <= slice) {
            return Err(if timeout == Some(0.0) {
                NotFound::new_err(format!("{segment} does not exist"))
            } else {
                Timeout::new_err(format!(
                    "{segment} did not appear within {} seconds",
                    timeout.unwrap_or_default()
                ))
            });
        }
        py.check_signals()?;
    }
}

/// Removes the ring name `name` (what `shmpipe rm NAME` does).
#[pyfunction]
fn remove(name: &str) -> PyResult<()> {
    let segment = Segment::posix(name);
    ring::remove(&segment).map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => code::NOT_FOUND,
            std::io::ErrorKind::InvalidInput => code::INVALID_NAME,
            _ => code::OS,
        };
        py_err(code::Error::new(
            code,
            format!("cannot remove {segment}: {e}"),
        ))
    })
}

/// An open ring, from `create` or `open`. Closing it does not close its writer or reader.
#[pyclass(module = "shmpipe")]
struct Ring {
    ring: Mutex<Option<ring::Ring>>,
}

impl Ring {
    fn with<T>(&self, f: impl FnOnce(&ring::Ring) -> T) -> PyResult<T> {
        let guard = lock(&self.ring, "ring")?;
        guard.as_ref().map(f).ok_or_else(|| closed("ring"))
    }
}

#[pymethods]
impl Ring {
    /// The data capacity in bytes.
    #[getter]
    fn capacity(&self) -> PyResult<u64> {
        self.with(|r| r.capacity())
    }

    /// The largest message one send can carry.
    #[getter]
    fn max_message(&self) -> PyResult<usize> {
        self.with(|r| r.max_message())
    }

    /// Attaches the ring's one writer.
    fn writer(&self) -> PyResult<Writer> {
        let writer = self.with(|r| r.writer())?.map_err(|e| py_err(e.into()))?;
        Ok(Writer {
            held: Mutex::new(Some(HeldWriter::new(writer))),
        })
    }

    /// Attaches the ring's one reader.
    fn reader(&self) -> PyResult<Reader> {
        let reader = self.with(|r| r.reader())?.map_err(|e| py_err(e.into()))?;
        Ok(Reader {
            state: Arc::new(Mutex::new(ReaderState {
                held: Some(HeldReader::new(reader)),
                view: None,
            })),
        })
    }

    /// Frees the ring handle (its writer and reader stay open).
    fn close(&self) -> PyResult<()> {
        lock(&self.ring, "ring")?.take();
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.close()
    }
}

/// The sending end of a ring.
#[pyclass(module = "shmpipe")]
struct Writer {
    held: Mutex<Option<HeldWriter>>,
}

#[pymethods]
impl Writer {
    /// Sends `data` (bytes or any bytes-like object) as one message, waiting up to `timeout`
    /// seconds for room (`None`: as long as needed; `0`: raise `Full` if there is none now).
    #[pyo3(signature = (data, timeout = None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let copy;
        let msg: &[u8] = match data.downcast::<PyBytes>() {
            Ok(bytes) => bytes.as_bytes(),
            Err(_) => {
                let buffer = pyo3::buffer::PyBuffer::<u8>::get(data)?;
                copy = buffer.to_vec(py)?;
                &copy
            }
        };
        let mut guard = lock(&self.held, "writer")?;
        let held = guard.as_mut().ok_or_else(|| closed("writer"))?;
        blocking(py, timeout, |wait| {
            let writer = held.writer()?;
            match wait {
                Wait::Never => writer.try_send(msg),
                Wait::For(t) => writer.send_timeout(msg, t),
                Wait::Forever => writer.send(msg),
            }
            .map_err(code::Error::from)
        })
    }

    /// The largest message one send can carry.
    #[getter]
    fn max_message(&self) -> PyResult<usize> {
        let mut guard = lock(&self.held, "writer")?;
        let held = guard.as_mut().ok_or_else(|| closed("writer"))?;
        Ok(held.writer().map_err(py_err)?.max_message())
    }

    /// Closes the ring from the writer's side: the reader receives every message, then
    /// end-of-stream. With `wait=True`, then waits up to `timeout` seconds (`None`: forever)
    /// until the reader has received everything. Closing twice does nothing.
    #[pyo3(signature = (wait = false, timeout = None))]
    fn close(&self, py: Python<'_>, wait: bool, timeout: Option<f64>) -> PyResult<()> {
        let Some(held) = lock(&self.held, "writer")?.take() else {
            return Ok(());
        };
        let writer = held.into_writer();
        if !wait {
            writer.close();
            return Ok(());
        }
        let timeout = deadline(timeout)?.map(|d| d.saturating_duration_since(Instant::now()));
        py.allow_threads(|| writer.close_and_wait(timeout))
            .map_err(|e| py_err(e.into()))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.close(py, false, None)
    }
}

/// Whether a lent record still has views, and whether it was given back.
#[derive(Default)]
struct ViewState {
    exports: usize,
    released: bool,
}

/// A reader's state: the handle (None once closed) and the view of the record it lends.
struct ReaderState {
    held: Option<HeldReader>,
    view: Option<Arc<Mutex<ViewState>>>,
}

impl ReaderState {
    /// Gives the lent record back, unless a view of it is still exported.
    fn release_view(&mut self) -> PyResult<()> {
        if let Some(view) = self.view.take() {
            let mut state = view.lock().unwrap_or_else(|p| p.into_inner());
            if state.exports > 0 {
                drop(state);
                self.view = Some(view);
                return Err(PyBufferError::new_err(
                    "a memoryview of the last record is still in use; release it (view.release(), \
                     or `with reader.recv_view() as view:`) before receiving again",
                ));
            }
            state.released = true;
            if let Some(held) = self.held.as_mut() {
                held.release();
            }
        }
        Ok(())
    }
}

/// The receiving end of a ring. Iterating over it yields each message (bytes) until
/// end-of-stream.
#[pyclass(module = "shmpipe")]
struct Reader {
    state: Arc<Mutex<ReaderState>>,
}

impl Reader {
    /// Waits for the next record and holds it; `false` at end-of-stream.
    fn next_record(
        state: &mut ReaderState,
        py: Python<'_>,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        state.release_view()?;
        let held = state.held.as_mut().ok_or_else(|| closed("reader"))?;
        blocking(py, timeout, |wait| Ok(held.recv_ref(wait)?.is_some()))
    }
}

#[pymethods]
impl Reader {
    /// Receives the next message as bytes, waiting up to `timeout` seconds (`None`: as long as
    /// needed; `0`: raise `Empty` if nothing is there now). Returns `None` at end-of-stream.
    #[pyo3(signature = (timeout = None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyBytes>>> {
        let mut state = lock(&self.state, "reader")?;
        if !Self::next_record(&mut state, py, timeout)? {
            return Ok(None);
        }
        let held = state.held.as_mut().ok_or_else(|| closed("reader"))?;
        let bytes = PyBytes::new(py, held.record().unwrap_or_default()).unbind();
        held.release();
        Ok(Some(bytes))
    }

    /// Receives the next message in place: a read-only memoryview of its bytes in shared
    /// memory (zero-copy), or `None` at end-of-stream. The record is held, and the writer
    /// cannot reuse its room, until the view and every view made from it are released
    /// (`view.release()`, the end of a `with` block, or garbage collection).
    #[pyo3(signature = (timeout = None))]
    fn recv_view<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyMemoryView>>> {
        let mut state = lock(&self.state, "reader")?;
        if !Self::next_record(&mut state, py, timeout)? {
            return Ok(None);
        }
        let held = state.held.as_mut().ok_or_else(|| closed("reader"))?;
        let bytes = held.record().unwrap_or_default();
        let view = Arc::new(Mutex::new(ViewState::default()));
        let record = Record {
            ptr: bytes.as_ptr() as usize,
            len: bytes.len(),
            view: view.clone(),
            reader: self.state.clone(),
        };
        state.view = Some(view);
        drop(state);
        PyMemoryView::from(&Bound::new(py, record)?.into_any()).map(Some)
    }

    /// Gives a record lent by `recv_view` back to the writer now (it is given back anyway when
    /// its last view is released). Raises `BufferError` if a view is still in use.
    fn release(&self) -> PyResult<()> {
        lock(&self.state, "reader")?.release_view()
    }

    /// The largest message the ring carries.
    #[getter]
    fn max_message(&self) -> PyResult<usize> {
        let mut state = lock(&self.state, "reader")?;
        let held = state.held.as_mut().ok_or_else(|| closed("reader"))?;
        Ok(held.reader().map_err(py_err)?.max_message())
    }

    /// Closes the ring from the reader's side: the writer's next send raises `Closed`.
    /// Raises `BufferError` (and stays open) while a view of a record is in use. Closing twice
    /// does nothing.
    fn close(&self) -> PyResult<()> {
        let mut state = lock(&self.state, "reader")?;
        state.release_view()?;
        state.held.take();
        Ok(())
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        self.recv(py, None)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.close()
    }
}

/// The exporter behind a `recv_view` memoryview: a record's bytes in shared memory.
#[pyclass(module = "shmpipe", frozen)]
struct Record {
    /// The record's first byte (an address: raw pointers are neither `Send` nor `Sync`).
    ptr: usize,
    len: usize,
    view: Arc<Mutex<ViewState>>,
    /// Keeps the reader, and so the mapping and the lent record, alive while views exist.
    reader: Arc<Mutex<ReaderState>>,
}

#[pymethods]
impl Record {
    /// # Safety
    /// Called by Python's buffer protocol with a valid `Py_buffer` to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        let mut state = this.view.lock().unwrap_or_else(|p| p.into_inner());
        if state.released {
            return Err(PyBufferError::new_err(
                "this record was given back to the writer; its bytes are gone",
            ));
        }
        let len = isize::try_from(this.len).map_err(|_| PyBufferError::new_err("too long"))?;
        // SAFETY: `view` is the buffer Python asks us to fill; `ptr..ptr+len` is the lent
        // record, which stays lent (and mapped: `reader` keeps the handle alive) until
        // `exports` is back to 0, because `release_view` refuses to give it back before. It is
        // exported read-only, and FillInfo takes a reference to `slf` for the view.
        let rc = unsafe {
            pyo3::ffi::PyBuffer_FillInfo(view, slf.as_ptr(), this.ptr as *mut _, len, 1, flags)
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        state.exports += 1;
        Ok(())
    }

    /// # Safety
    /// Called by Python's buffer protocol for a view `__getbuffer__` filled.
    unsafe fn __releasebuffer__(&self, _view: *mut pyo3::ffi::Py_buffer) {
        let last = {
            let mut state = self.view.lock().unwrap_or_else(|p| p.into_inner());
            state.exports = state.exports.saturating_sub(1);
            state.exports == 0
        };
        if !last {
            return;
        }
        // The last view is gone: give the record back now, unless another thread is using
        // the reader (its next receive gives it back then).
        if let Ok(mut reader) = self.reader.try_lock() {
            if reader
                .view
                .as_ref()
                .is_some_and(|v| Arc::ptr_eq(v, &self.view))
            {
                let _ = reader.release_view();
            }
        }
    }
}

/// shmpipe: a pipe in shared memory. `create`/`open` a ring, attach its `writer()` or
/// `reader()`, `send` bytes and `recv` them, across processes and languages.
#[pymodule]
fn shmpipe(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(create, m)?)?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(remove, m)?)?;
    m.add_class::<Ring>()?;
    m.add_class::<Writer>()?;
    m.add_class::<Reader>()?;
    m.add("Error", py.get_type::<Error>())?;
    m.add("Closed", py.get_type::<Closed>())?;
    m.add("PeerDied", py.get_type::<PeerDied>())?;
    m.add("Timeout", py.get_type::<Timeout>())?;
    m.add("Empty", py.get_type::<Empty>())?;
    m.add("Full", py.get_type::<Full>())?;
    m.add("TooLarge", py.get_type::<TooLarge>())?;
    m.add("Corrupted", py.get_type::<Corrupted>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("AlreadyExists", py.get_type::<AlreadyExists>())?;
    m.add("AlreadyAttached", py.get_type::<AlreadyAttached>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
