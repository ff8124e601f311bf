//! `memfd_create` segments, sealed against shrinking and growing, and passing their fd to a
//! peer over a Unix socket (`SCM_RIGHTS`).

use std::fs::File;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::ptr;

use super::fd::{self, Room};
use super::{check_size, cvt, Mapping, Purpose};
use crate::error::{CreateError, OpenError};
use crate::layout::HEADER_SIZE;

/// What error messages call a memfd we create.
const CREATED: &str = "memfd segment";
/// What error messages call a memfd received from a peer.
const RECEIVED: &str = "memfd segment received from the peer";

/// The seals a segment must carry: nobody can change its size, so nobody can make a mapping
/// of it fault with `SIGBUS`.
const SIZE_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;

/// Control-message space, aligned for `cmsghdr`: room for a few fds, so a peer that sends
/// more than one gets a clean error rather than a truncation we cannot see.
type CmsgBuf = [u64; 8];

/// Creates a memfd of `size` zero-filled bytes, reserves and maps it, then seals its size
/// (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`). The mapping keeps the fd for [`send_fd`].
pub(crate) fn create_memfd(size: usize) -> Result<Mapping, CreateError> {
    check_size(size)?;
    let name = b"shmpipe\0";
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let raw = unsafe {
        libc::memfd_create(
            name.as_ptr().cast(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    let raw = cvt(raw).map_err(|e| create_os_error("memfd_create", e))?;
    // SAFETY: memfd_create just returned this fd, and nothing else owns it.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(raw) });
    let mut mapping = fd::size_and_map(file, size, None, CREATED, Room::Memory)?;
    let seals = SIZE_SEALS | libc::F_SEAL_SEAL;
    let fd = mapping.file().map(|fd| fd.as_raw_fd()).unwrap_or(-1);
    // SAFETY: a plain fcntl on the mapping's valid fd; it touches no memory of ours.
    cvt(unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) })
        .map_err(|e| create_os_error("fcntl(F_ADD_SEALS)", e))?;
    mapping.memfd = true;
    Ok(mapping)
}

/// Maps a memfd received from a peer, after checking that it is sealed against shrinking
/// and growing and that it holds at least a header. The mapping keeps the fd.
pub(crate) fn open_memfd(fd: OwnedFd) -> Result<Mapping, OpenError> {
    // SAFETY: a plain fcntl on a valid fd; it touches no memory of ours.
    let seals = match cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) }) {
        Ok(seals) => seals,
        Err(e) => {
            return Err(OpenError::NotSealed {
                seals: format!("none: F_GET_SEALS failed ({e}), so it is not a sealable memfd"),
            })
        }
    };
    if seals & SIZE_SEALS != SIZE_SEALS {
        return Err(OpenError::NotSealed {
            seals: describe_seals(seals),
        });
    }
    let file = File::from(fd);
    let (mut mapping, _) = fd::map_existing(file, RECEIVED, Purpose::Use).map_err(|e| match e {
        // Sealed against growing, an empty memfd stays empty: waiting would not help.
        OpenError::NotInitialised { segment, .. } => OpenError::Truncated {
            segment,
            needed: HEADER_SIZE as u64,
            actual: 0,
        },
        e => e,
    })?;
    mapping.memfd = true;
    Ok(mapping)
}

/// Sends `fd` over `sock` with `SCM_RIGHTS`, along with one data byte.
pub(crate) fn send_fd(sock: &UnixStream, fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: byte.len(),
    };
    let mut buf: CmsgBuf = [0; 8];
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(mem::size_of::<libc::c_int>() as libc::c_uint) };
    let mut msg = msghdr(&mut iov, &mut buf);
    msg.msg_controllen = space as _;
    // SAFETY: `msg_control` points to `space` bytes of `buf`, aligned for `cmsghdr` and room
    // for one header and one int, so CMSG_FIRSTHDR returns a non-null pointer into `buf` and
    // CMSG_DATA one with room for the fd.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(mem::size_of::<libc::c_int>() as libc::c_uint) as _;
        ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    loop {
        // SAFETY: `msg` points to `iov` (one byte of `byte`) and to `buf`, all alive for the
        // call; MSG_NOSIGNAL makes a closed peer EPIPE instead of SIGPIPE.
        let sent = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        match sent {
            1 => return Ok(()),
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "sendmsg sent no data byte with the file descriptor",
                ))
            }
        }
    }
}

/// Receives one fd sent by [`send_fd`], close-on-exec. End of stream, a message without an fd,
/// or one with more than one fd is an error (every fd received is closed then).
pub(crate) fn recv_fd(sock: &UnixStream) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: byte.len(),
    };
    let mut buf: CmsgBuf = [0; 8];
    let mut msg = msghdr(&mut iov, &mut buf);
    let received = loop {
        // SAFETY: `msg` points to `iov` (one writable byte of `byte`) and to all of `buf`,
        // all alive for the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: recvmsg succeeded and filled `msg`'s control buffer; the fds in it were just
    // installed in this process and belong to nobody else.
    let mut fds = unsafe { take_fds(&msg) };
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the peer sent more file descriptors than expected",
        ));
    }
    match (received, fds.len()) {
        (_, 1) => Ok(fds.remove(0)),
        (0, 0) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the peer closed the socket before sending a file descriptor",
        )),
        (_, 0) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a message arrived without a file descriptor",
        )),
        (_, n) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a message arrived with {n} file descriptors instead of one"),
        )),
    }
}

/// A `msghdr` with one data buffer and a control buffer of the whole of `buf`.
fn msghdr(iov: &mut libc::iovec, buf: &mut CmsgBuf) -> libc::msghdr {
    // SAFETY: `msghdr` is a plain C struct (pointers, lengths, flags, maybe padding) for which
    // all zeroes is a valid value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(buf) as _;
    msg
}

/// Takes ownership of every fd in `msg`'s `SCM_RIGHTS` control messages.
///
/// # Safety
///
/// `msg` was filled by a successful `recvmsg`, its control buffer is still alive, and the fds
/// in it are owned by nobody else (they were installed by that call and not taken before).
unsafe fn take_fds(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut fds = Vec::new();
    // SAFETY: the caller guarantees `msg` and its control buffer are valid.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: a non-null pointer from CMSG_FIRSTHDR/CMSG_NXTHDR points to a header inside
        // the control buffer, within the length the kernel wrote.
        let header = unsafe { &*cmsg };
        let (level, kind, len) = (header.cmsg_level, header.cmsg_type, header.cmsg_len);
        if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN only computes a size.
            let header = unsafe { libc::CMSG_LEN(0) } as usize;
            // `as usize`: `cmsg_len` is a `size_t` here but a `u32` with musl.
            #[allow(clippy::unnecessary_cast)]
            let count = (len as usize).saturating_sub(header) / mem::size_of::<libc::c_int>();
            // SAFETY: the kernel wrote `count` ints after the header, inside the buffer.
            let data = unsafe { libc::CMSG_DATA(cmsg) }.cast::<libc::c_int>();
            for i in 0..count {
                // SAFETY: `i < count`, so the read is inside the data the kernel wrote; the
                // fd is owned by nobody else (the caller's guarantee).
                fds.push(unsafe { OwnedFd::from_raw_fd(ptr::read_unaligned(data.add(i))) });
            }
        }
        // SAFETY: `cmsg` points to a valid header in `msg`'s control buffer.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    fds
}

/// The seals set in `seals`, as text: `F_SEAL_SEAL | F_SEAL_SHRINK`, or `none`.
fn describe_seals(seals: libc::c_int) -> String {
    const NAMES: [(libc::c_int, &str); 5] = [
        (libc::F_SEAL_SEAL, "F_SEAL_SEAL"),
        (libc::F_SEAL_SHRINK, "F_SEAL_SHRINK"),
        (libc::F_SEAL_GROW, "F_SEAL_GROW"),
        (libc::F_SEAL_WRITE, "F_SEAL_WRITE"),
        (libc::F_SEAL_FUTURE_WRITE, "F_SEAL_FUTURE_WRITE"),
    ];
    let mut names: Vec<String> = NAMES
        .iter()
        .filter(|(bit, _)| seals & bit != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let known = NAMES.iter().fold(0, |all, (bit, _)| all | bit);
    if seals & !known != 0 {
        names.push(format!("{:#x}", seals & !known));
    }
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(" | ")
    }
}

/// Maps an OS error from a step of creating a memfd.
fn create_os_error(op: &'static str, e: io::Error) -> CreateError {
    super::create_os(op, CREATED, e)
}
