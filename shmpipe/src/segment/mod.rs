//! Segments: the operating-system objects a ring lives in, and how they are created, opened,
//! mapped and named.
//!
//! Every backend ends in a [`Mapping`]: one read-write `MAP_SHARED` mapping of the whole
//! segment, which unmaps itself on drop and knows how to remove the segment's name.
//!
//! - `posix`: `shm_open` names (`demo` or `/demo`).
//! - `sysv`: System V `shmget` keys, given directly or through `ftok`.
//! - `file`: a file mapped `MAP_SHARED` (on `/dev/shm`, a tmpfs, hugetlbfs, ...).
//! - `anon`: an anonymous `MAP_SHARED` mapping inherited across `fork`.
//! - `memfd`: a sealed `memfd_create` file passed over a Unix socket.
//! - `fd`: what the fd-based backends (POSIX, file, memfd) share: sizing, reserving, mapping.
//!
//! Creation is exclusive and leaves nothing behind when it fails; opening checks the size
//! before mapping, so a short segment is an error rather than a `SIGBUS`.

// Goes when the ring module uses these functions (nothing in the crate calls them yet).
#![allow(dead_code)]

mod anon;
mod fd;
mod file;
pub(crate) mod locks;
mod memfd;
mod name;
mod posix;
mod replace;
mod sysv;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::ptr::NonNull;

use crate::error::{CreateError, OpenError};
use crate::layout::{Backend, HEADER_SIZE};

// The `allow` goes with the one above.
#[allow(unused_imports)]
pub(crate) use anon::create_anonymous;
#[allow(unused_imports)]
pub(crate) use memfd::{create_memfd, open_memfd, recv_fd, send_fd};
pub(crate) use replace::{judge_stale, Stale, Verdict};

/// Where a named ring lives: the name other processes use to find it.
///
/// Build one with [`Segment::posix`], [`Segment::sysv_key`], [`Segment::sysv_ftok`] or
/// [`Segment::file`]. Its `Display` is the text used in error messages.
///
/// ```
/// use shmpipe::{Backend, Segment};
///
/// let seg = Segment::posix("demo");
/// // "demo" and "/demo" name the same POSIX shared memory object.
/// assert_eq!(seg, Segment::posix("/demo"));
/// assert_eq!(seg.backend(), Backend::Posix);
/// assert_eq!(seg.to_string(), r#"POSIX shared memory "/demo""#);
///
/// let key = Segment::sysv_key(0x1234);
/// assert_eq!(key.to_string(), "System V segment with key 0x00001234");
///
/// let file = Segment::file("/dev/shm/x");
/// assert_eq!(file.to_string(), r#"file "/dev/shm/x""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A POSIX shared memory object (`shm_open`), named `/name`. [`Segment::posix`] adds the
    /// leading `/` when it is missing.
    Posix(String),
    /// A System V shared memory segment (`shmget`).
    SysV(SysvKey),
    /// A file mapped `MAP_SHARED`, for example on `/dev/shm` or another tmpfs.
    File(PathBuf),
}

/// How a System V segment is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysvKey {
    /// A key given directly. 0 (`IPC_PRIVATE`) is refused: nobody else could find it.
    Key(i32),
    /// The key `ftok(path, id)`: the path must exist, and `id` must not be 0.
    Ftok {
        /// An existing file or directory.
        path: PathBuf,
        /// The project id (the low 8 bits of `ftok`'s `proj_id`).
        id: u8,
    },
}

impl Segment {
    /// A POSIX shared memory object. `"demo"` and `"/demo"` name the same object; the name
    /// is stored with its leading `/`.
    ///
    /// ```
    /// let a = shmpipe::Segment::posix("jobs");
    /// assert_eq!(a, shmpipe::Segment::posix("/jobs"));
    /// ```
    pub fn posix(name: impl Into<String>) -> Self {
        let name = name.into();
        if name.starts_with('/') {
            Segment::Posix(name)
        } else {
            Segment::Posix(format!("/{name}"))
        }
    }

    /// A System V segment with the key `key` (not 0, which is `IPC_PRIVATE`).
    ///
    /// ```
    /// let seg = shmpipe::Segment::sysv_key(0x4d2);
    /// assert_eq!(seg.backend(), shmpipe::Backend::SysV);
    /// ```
    pub fn sysv_key(key: i32) -> Self {
        Segment::SysV(SysvKey::Key(key))
    }

    /// A System V segment with the key `ftok(path, id)`.
    ///
    /// ```
    /// let seg = shmpipe::Segment::sysv_ftok("/tmp", 7);
    /// assert_eq!(seg.to_string(), "System V segment with key ftok(\"/tmp\", 7)");
    /// ```
    pub fn sysv_ftok(path: impl Into<PathBuf>, id: u8) -> Self {
        Segment::SysV(SysvKey::Ftok {
            path: path.into(),
            id,
        })
    }

    /// A file mapped `MAP_SHARED`.
    ///
    /// ```
    /// let seg = shmpipe::Segment::file("/dev/shm/ring");
    /// assert_eq!(seg.backend(), shmpipe::Backend::File);
    /// ```
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Segment::File(path.into())
    }

    /// The backend this segment uses.
    ///
    /// ```
    /// assert_eq!(shmpipe::Segment::posix("x").backend(), shmpipe::Backend::Posix);
    /// ```
    pub fn backend(&self) -> Backend {
        match self {
            Segment::Posix(_) => Backend::Posix,
            Segment::SysV(_) => Backend::SysV,
            Segment::File(_) => Backend::File,
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Posix(name) => {
                if name.starts_with('/') {
                    write!(f, "POSIX shared memory {name:?}")
                } else {
                    write!(f, "POSIX shared memory {:?}", format!("/{name}"))
                }
            }
            Segment::SysV(SysvKey::Key(key)) => {
                write!(f, "System V segment with key {:#010x}", *key as u32)
            }
            Segment::SysV(SysvKey::Ftok { path, id }) => {
                write!(f, "System V segment with key ftok({path:?}, {id})")
            }
            Segment::File(path) => write!(f, "file {path:?}"),
        }
    }
}

/// How a [`Mapping`] is given back to the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unmap {
    /// `munmap(ptr, len)`: everything mapped with `mmap`.
    Munmap,
    /// `shmdt(ptr)`: System V segments attached with `shmat`.
    Shmdt,
}

/// The name a [`Mapping`] can remove, and how to recognise that it is still ours.
#[derive(Debug)]
enum Named {
    /// Nothing to remove (anonymous and memfd mappings).
    None,
    /// A POSIX shared memory object and the identity of the object we mapped.
    Posix {
        name: std::ffi::CString,
        id: fd::FileId,
    },
    /// A file and the identity of the file we mapped.
    File { path: PathBuf, id: fd::FileId },
    /// A System V segment: its id names exactly our segment, never a later one with the key.
    SysV { shmid: libc::c_int },
}

impl Named {
    /// Removes the name if it still refers to our object; see [`Mapping::remove_name`].
    fn remove(&self) -> io::Result<()> {
        match self {
            Named::None => Ok(()),
            Named::Posix { name, id } => posix::unlink_if_ours(name, *id),
            Named::File { path, id } => file::unlink_if_ours(path, *id),
            Named::SysV { shmid } => sysv::remove_id(*shmid),
        }
    }
}

/// One read-write, `MAP_SHARED` mapping of a whole segment. Unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    /// Page-aligned start, as returned by `mmap` or `shmat`.
    ptr: NonNull<u8>,
    /// Bytes mapped: the whole segment.
    len: usize,
    unmap: Unmap,
    name: Named,
    /// The segment's file, for the fd-based backends: the ring's presence description (it
    /// holds the presence lock when opened for use, see `ownership`), the probe the roles'
    /// liveness is tested through, and what a memfd ring passes to a peer.
    file: Option<OwnedFd>,
    /// Whether `file` is a memfd that may be passed to a peer.
    memfd: bool,
}

// SAFETY: a `Mapping` is a plain shared memory mapping owned by this value: the pointer is
// not tied to the thread that made it, `munmap`/`shmdt` may be called from any thread, and
// the other fields (a name, an fd) are `Send` themselves.
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` only hands out the raw pointer and length (every access through them is
// the caller's unsafe code, which must synchronise as for any shared memory) and removes the
// name with system calls that are safe to make from several threads at once.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// The page-aligned start of the mapping.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The number of bytes mapped: the whole segment.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Removes the segment's name so nobody new can open it; this mapping and every other
    /// one stay valid.
    ///
    /// POSIX and file segments: the name is unlinked only if it still refers to the object we
    /// mapped (same device and inode); a name that is gone or now refers to another object is
    /// left alone. (Between that check and the unlink another process could replace the name;
    /// the system offers no atomic "unlink if it is this inode".) System V: `IPC_RMID` on our
    /// segment id, which never names a later segment with the same key. Anonymous and memfd
    /// mappings have no name. Idempotent: a name already removed is `Ok(())`.
    pub(crate) fn remove_name(&self) -> io::Result<()> {
        self.name.remove()
    }

    /// The memfd behind this mapping, for [`send_fd`]; `None` unless it is a memfd mapping.
    pub(crate) fn memfd(&self) -> Option<BorrowedFd<'_>> {
        self.file
            .as_ref()
            .filter(|_| self.memfd)
            .map(|fd| fd.as_fd())
    }

    /// Reserves the backing of the first `len` bytes of the segment (fd-based backends; a
    /// no-op for System V, whose pages the kernel backs at creation), so that touching them
    /// can never raise `SIGBUS` for want of memory: an unbacked page of a sparse segment on a
    /// full filesystem is an error here.
    pub(crate) fn reserve(&self, len: u64, what: &str) -> Result<(), OpenError> {
        match &self.file {
            Some(fd) => fd::reserve(fd.as_fd(), len).map_err(|e| fd::unbacked(what, len, e)),
            None => Ok(()),
        }
    }

    /// A new open file description of this segment, opened by its name (for a role lock
    /// where `/proc/self/fd` cannot be opened); refused if the name is gone or now names
    /// another object.
    pub(crate) fn reopen_by_name(&self) -> io::Result<OwnedFd> {
        let (file, ours) = match &self.name {
            Named::Posix { name, id } => (posix::open_rw(name)?, *id),
            Named::File { path, id } => (
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY)
                    .open(path)?,
                *id,
            ),
            _ => return Err(io::Error::from(io::ErrorKind::Unsupported)),
        };
        if fd::FileId::of(&file.metadata()?) != ours {
            return Err(io::Error::other("the name now refers to another object"));
        }
        Ok(OwnedFd::from(file))
    }

    /// How many attachments a System V segment has (`shm_nattch`); `None` for the others.
    pub(crate) fn sysv_attachments(&self) -> Option<u64> {
        match &self.name {
            Named::SysV { shmid } => sysv::stat(*shmid).ok().map(|ds| ds.shm_nattch),
            _ => None,
        }
    }

    /// The segment's file (its presence description), for the fd-based backends.
    pub(crate) fn file(&self) -> Option<BorrowedFd<'_>> {
        self.file.as_ref().map(|fd| fd.as_fd())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Errors are ignored: there is nothing useful to do with them here, and `Drop`
        // never panics.
        match self.unmap {
            Unmap::Munmap => {
                // SAFETY: `ptr` and `len` are exactly the region `mmap` returned, owned by this
                // value and unmapped only here. Users of `ptr()` dereference it in their own
                // unsafe code, which must not outlive the `Mapping`.
                unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
            }
            Unmap::Shmdt => {
                // SAFETY: `ptr` is the address `shmat` returned, owned by this value and
                // detached only here; same duty on users of `ptr()` as above.
                unsafe { libc::shmdt(self.ptr.as_ptr().cast()) };
            }
        }
    }
}

/// Creates `seg` exclusively, with permission bits exactly `mode & 0o777` (the umask does not
/// apply), `size` bytes long and reserved up front, and maps it zero-filled.
///
/// `size` must be at least [`HEADER_SIZE`] and fit in `off_t`. If a step after the name was
/// created fails, the name is removed again: a failed create leaves nothing behind.
pub(crate) fn create(seg: &Segment, size: usize, mode: u32) -> Result<Mapping, CreateError> {
    let what = seg.to_string();
    let mode = mode & 0o777;
    match seg {
        Segment::Posix(name) => {
            let name = posix::name(name)?;
            check_size(size)?;
            posix::create(name, &what, size, mode)
        }
        Segment::SysV(key) => {
            let key = sysv::key(key)?;
            check_size(size)?;
            sysv::create(key, &what, size, mode)
        }
        Segment::File(path) => {
            file::check_path(path)?;
            check_size(size)?;
            file::create(path, &what, size, mode)
        }
    }
}

/// Why a segment is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// To use the ring: take the presence lock (so nobody replaces it as stale while it is
    /// open) and reserve its backing (so an unbacked page is an error now, not a `SIGBUS`).
    Use,
    /// To look at it (`inspect`): change nothing, hold nothing.
    Inspect,
}

/// Opens an existing segment read-write, without creating it, and maps all of it.
///
/// A segment of size 0 gives [`OpenError::NotInitialised`] (its creator has not sized it yet:
/// retry), one shorter than [`HEADER_SIZE`] gives [`OpenError::Truncated`]; one being
/// replaced by another process right now gives `NotInitialised` too (retry: the name will
/// refer to the new ring).
pub(crate) fn open(seg: &Segment, purpose: Purpose) -> Result<Mapping, OpenError> {
    let what = seg.to_string();
    match seg {
        Segment::Posix(name) => posix::open(posix::name(name)?, &what, purpose),
        Segment::SysV(key) => sysv::open(sysv::key(key)?, &what),
        Segment::File(path) => {
            file::check_path(path)?;
            file::open(path, &what, purpose)
        }
    }
}

/// Removes a segment's name without opening it as a ring (`shmpipe rm`). A missing segment is
/// an error of kind [`io::ErrorKind::NotFound`]; an invalid name one of kind
/// [`io::ErrorKind::InvalidInput`].
pub(crate) fn remove(seg: &Segment) -> io::Result<()> {
    match seg {
        Segment::Posix(name) => posix::remove(&posix::name(name).map_err(NameError::into_io)?),
        Segment::SysV(key) => sysv::remove(sysv::key(key).map_err(NameError::into_io)?),
        Segment::File(path) => {
            file::check_path(path).map_err(NameError::into_io)?;
            std::fs::remove_file(path)
        }
    }
}

/// A name that cannot name a segment, and why: what [`Segment::parse_as`] (and `str::parse`)
/// return, and what creating or opening a ring reports as `InvalidName`.
///
/// ```
/// use shmpipe::{Backend, Segment};
/// let err = Segment::parse_as("a/b", Backend::Posix).unwrap_err();
/// assert_eq!(err.name(), "a/b");
/// assert!(err.reason().contains("'/'"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    name: String,
    reason: String,
}

impl NameError {
    /// The name as given.
    ///
    /// ```
    /// let err = "".parse::<shmpipe::Segment>().unwrap_err();
    /// assert_eq!(err.name(), "");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What is wrong with it, as a sentence fragment.
    ///
    /// ```
    /// let err = shmpipe::Segment::try_sysv_key(0).unwrap_err();
    /// assert!(err.reason().contains("IPC_PRIVATE"));
    /// ```
    pub fn reason(&self) -> &str {
        &self.reason
    }

    fn new(name: impl Into<String>, reason: impl Into<String>) -> Self {
        NameError {
            name: name.into(),
            reason: reason.into(),
        }
    }

    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, OpenError::from(self))
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid segment name {:?}: {}", self.name, self.reason)
    }
}

impl std::error::Error for NameError {}

impl From<NameError> for CreateError {
    fn from(b: NameError) -> Self {
        CreateError::InvalidName {
            name: b.name,
            reason: b.reason,
        }
    }
}

impl From<NameError> for OpenError {
    fn from(b: NameError) -> Self {
        OpenError::InvalidName {
            name: b.name,
            reason: b.reason,
        }
    }
}

/// Checks a segment size: at least a header, and representable as an `off_t`.
fn check_size(size: usize) -> Result<(), CreateError> {
    if size < HEADER_SIZE {
        return Err(CreateError::InvalidCapacity {
            capacity: 0,
            reason: format!(
                "a segment of {size} bytes is smaller than its {HEADER_SIZE}-byte header"
            ),
        });
    }
    if libc::off_t::try_from(size).is_err() {
        return Err(CreateError::InvalidCapacity {
            capacity: (size - HEADER_SIZE) as u64,
            reason: format!("a segment of {size} bytes is larger than a file offset can be"),
        });
    }
    Ok(())
}

/// Maps an OS error from a step of creating `segment`.
fn create_os(op: &'static str, segment: &str, source: io::Error) -> CreateError {
    let segment = segment.to_owned();
    match source.raw_os_error() {
        Some(libc::EEXIST) => CreateError::AlreadyExists { segment },
        Some(libc::EACCES | libc::EPERM) => CreateError::PermissionDenied { segment, source },
        _ => CreateError::Os {
            op,
            segment,
            source,
        },
    }
}

/// Maps an OS error from a step of opening `segment`.
fn open_os(op: &'static str, segment: &str, source: io::Error) -> OpenError {
    let segment = segment.to_owned();
    match source.raw_os_error() {
        Some(libc::ENOENT) => OpenError::NotFound { segment },
        Some(libc::EACCES | libc::EPERM) => OpenError::PermissionDenied { segment, source },
        _ => OpenError::Os {
            op,
            segment,
            source,
        },
    }
}

/// `n` bytes, with a binary unit for people when it is large: `268435456 bytes (256.0 MiB)`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{n} bytes ({value:.1} {})", UNITS[unit])
}

/// The last OS error if `ret` is -1, else `ret`.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
