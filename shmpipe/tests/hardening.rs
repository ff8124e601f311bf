//! What a hostile peer or a hostile environment can do to a segment from outside the ring
//! protocol, through the public API: truncate it (memfd: sealed, refused; POSIX and file: a
//! SIGBUS that cannot be prevented under a live mapping, demonstrated in a child), open it as
//! another user (0600 by default; an explicit mode opens it up), pass a bad name, or ask for
//! more than a system limit allows (`kernel.shmmax`, the size of `/dev/shm`).
//!
//! Children are this test binary re-executed (`peer_main`), never a `fork` of the
//! multi-threaded test harness.
#![cfg(not(loom))]

mod support;
use support::peers::{self, reap};
use support::segments::{self, backing_file, describe, parse, unique, Cleanup};

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use shmpipe::{CreateError, OpenError, Ring, RingOptions, Segment};

const DEADLINE: Duration = Duration::from_secs(20);

fn posix(tag: &str) -> Segment {
    segments::posix(&format!("shmpipe-hard-{tag}"))
}

fn sysv(tag: &str) -> Segment {
    segments::sysv(&format!("shmpipe-hard-{tag}"))
}

fn file(tag: &str) -> Segment {
    segments::file(&format!("shmpipe-hard-{tag}"))
}

/// Runs this test binary as a peer playing `role` with `args`; returns its exit status and
/// the last line it printed.
fn run_child(role: &str, args: &[&str]) -> (ExitStatus, String) {
    let mut child = peers::spawn(role, args);
    let status = reap(&mut child, DEADLINE);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    // The child's test harness prints its own lines first: keep what the role printed last.
    let last = out.lines().last().unwrap_or_default().to_owned();
    (status, last)
}

/// Exit status of a child that found its test impossible here (not root, no namespace).
const SKIP: i32 = 77;

/// The children's side (see `support/peers.rs`); a test that does nothing otherwise.
#[test]
fn peer_main() {
    peers::dispatch(&[
        ("truncate-under-mapping", truncate_under_mapping),
        ("open-as-nobody", open_as_nobody),
        ("shmmax", shmmax),
    ]);
}

/// A ring of 64 KiB keeping its name, created on `segment`, with both handles attached.
fn attached(segment: &Segment) -> (Ring, shmpipe::Writer, shmpipe::Reader) {
    let ring = RingOptions::new()
        .capacity(1 << 16)
        .keep_name(true)
        .create(segment)
        .unwrap();
    let writer = ring.writer().unwrap();
    let reader = ring.reader().unwrap();
    (ring, writer, reader)
}

/// Creates a ring that keeps its name, attaches both sides, truncates the backing file under
/// the live mapping, then sends: the kernel answers with SIGBUS.
fn truncate_under_mapping(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let segment = parse(spec);
    let (_ring, mut writer, mut reader) = attached(&segment);
    writer.send(b"before").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(reader.recv(&mut buf).unwrap(), Some(6));
    // What a hostile peer with the name can do: shrink the file to nothing.
    let path = backing_file(&segment);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let _ = std::fs::remove_file(&path);
    println!("truncated");
    // The next touch of the data region faults.
    let _ = writer.try_send(&[1; 100]);
    let _ = reader.try_recv(&mut buf);
    // Not reached: SIGBUS.
}

/// Drops to uid/gid 65534 (nobody), then opens the ring: prints what happened.
fn open_as_nobody(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    // SAFETY: plain system calls on this thread's own credentials; setgroups and
    // setgid before setuid, as dropping privileges requires. Raw system calls, not
    // glibc's wrappers: those signal every other thread (SIGSETXID) to change its
    // credentials too, and a handler still finishing on the main thread's alternate
    // signal stack when this thread exits the process (which unmaps that stack) was
    // a SIGSEGV in about one run in ten. The kernel checks the calling thread's
    // credentials on open, shm_open and shmget, which is all this child does as nobody.
    let dropped = unsafe {
        libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) == 0
            && libc::syscall(libc::SYS_setgid, 65534) == 0
            && libc::syscall(libc::SYS_setuid, 65534) == 0
    };
    if !dropped {
        std::process::exit(SKIP);
    }
    match Ring::open(&parse(spec)) {
        Ok(ring) => match ring.reader() {
            Ok(_) => println!("opened"),
            Err(e) => println!("attach failed: {e}"),
        },
        Err(OpenError::PermissionDenied { .. }) => println!("denied"),
        Err(e) => println!("other: {e:?}"),
    }
}

/// In a new IPC namespace (root only), lowers kernel.shmmax to 1 MiB and creates a System V
/// ring of 2 MiB: prints the error's message.
fn shmmax(args: &[&str]) {
    let [key] = args.try_into().unwrap();
    // SAFETY: a plain system call; it moves only this thread of this child into a new
    // IPC namespace, and the sysctl and the ring below are made from this thread.
    if unsafe { libc::unshare(libc::CLONE_NEWIPC) } != 0 {
        std::process::exit(SKIP);
    }
    if std::fs::write("/proc/sys/kernel/shmmax", "1048576").is_err() {
        std::process::exit(SKIP);
    }
    let segment = Segment::sysv_key(key.parse().unwrap());
    match RingOptions::new().capacity(2 << 20).create(&segment) {
        Err(e @ CreateError::ResourceLimit { .. }) => println!("limit: {e}"),
        other => println!("other: {other:?}"),
    }
    // A ring under the limit still works in the same namespace.
    let small = RingOptions::new().capacity(1 << 16).create(&segment);
    let _ = shmpipe::remove(&segment);
    if small.is_err() {
        println!("small: {small:?}");
    }
}

/// Every memfd this process holds (`/proc/self/fd` links to `/memfd:NAME`).
fn memfds() -> Vec<File> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if target.to_string_lossy().starts_with("/memfd:shmpipe") {
            // Reopening through /proc gives a new open file of the same memfd, as a peer that
            // received the fd would hold it.
            if let Ok(f) = OpenOptions::new().read(true).write(true).open(entry.path()) {
                files.push(f);
            }
        }
    }
    files
}

/// A memfd ring is sealed: whoever holds its fd (the peer it was passed to) can neither
/// shrink nor grow it, nor remove the seals, so its mapping can never fault.
#[test]
fn a_memfd_ring_cannot_be_shrunk_or_grown_by_its_peer() {
    let ring = RingOptions::new().capacity(1 << 16).create_memfd().unwrap();
    let files = memfds();
    assert!(!files.is_empty(), "the memfd ring's fd was not found");
    for f in &files {
        // SAFETY: a plain fcntl on an fd we own.
        let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
        let wanted = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        assert_eq!(seals & wanted, wanted, "seals {seals:#x}");
        let len = f.metadata().unwrap().len();
        for bad in [0, len / 2, len * 2] {
            let err = f.set_len(bad).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EPERM), "ftruncate to {bad}");
        }
        // SAFETY: a plain fcntl on an fd we own.
        let unseal = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_ADD_SEALS, 0) };
        assert_eq!(unseal, -1, "F_SEAL_SEAL must forbid changing the seals");
        assert_eq!(f.metadata().unwrap().len(), len);
    }
    let mut writer = ring.writer().unwrap();
    let mut reader = ring.reader().unwrap();
    writer.send(b"still fine").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(reader.recv(&mut buf).unwrap(), Some(10));
}

/// POSIX and file segments cannot be sealed: a peer that truncates one under a live mapping
/// makes the next access fault with SIGBUS. This cannot be prevented (only detected at open,
/// which checks the size with fstat: see `truncated_segment_is_refused_before_mapping_past_its_end`
/// in `cross_process.rs`); the memfd backend is the remedy. Shown in a child, which the
/// kernel kills with SIGBUS.
#[test]
fn truncating_a_posix_or_file_segment_under_a_live_mapping_is_a_sigbus() {
    for segment in [posix("trunc"), file("trunc")] {
        let _cleanup = Cleanup(segment.clone());
        let (status, out) = run_child("truncate-under-mapping", &[&describe(&segment)]);
        assert!(out.contains("truncated"), "{segment}: {out}");
        assert_eq!(
            status.signal(),
            Some(libc::SIGBUS),
            "{segment}: expected SIGBUS, got {status:?}"
        );
    }
}

/// A System V segment cannot change size once created, and a peer's `IPC_RMID` only removes
/// the key: the mapping stays valid until the last process detaches.
#[test]
fn a_sysv_segment_cannot_be_resized_and_survives_removal() {
    let segment = sysv("rmid");
    let _cleanup = Cleanup(segment.clone());
    let (_ring, mut writer, mut reader) = attached(&segment);
    shmpipe::remove(&segment).unwrap(); // what a hostile peer could do
    assert!(matches!(
        Ring::open(&segment),
        Err(OpenError::NotFound { .. })
    ));
    writer.send(&[9; 60_000]).unwrap();
    let mut buf = vec![0u8; 65_536];
    assert_eq!(reader.recv(&mut buf).unwrap(), Some(60_000));
    assert!(buf[..60_000].iter().all(|&b| b == 9));
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The permission bits of a segment as created.
fn mode_of(segment: &Segment) -> u32 {
    match segment {
        Segment::SysV(shmpipe::SysvKey::Key(k)) => {
            // SAFETY: plain system calls; `ds` is writable memory for one shmid_ds.
            unsafe {
                let id = libc::shmget(*k, 0, 0);
                assert!(id >= 0);
                let mut ds: libc::shmid_ds = std::mem::zeroed();
                assert_eq!(libc::shmctl(id, libc::IPC_STAT, &mut ds), 0);
                u32::from(ds.shm_perm.mode) & 0o777
            }
        }
        other => {
            std::fs::metadata(backing_file(other))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        }
    }
}

/// Segments are 0600 by default: another user (`nobody`, from a child that drops root) is
/// refused with `PermissionDenied`; created with an explicit mode 0666, the same child opens
/// the ring and attaches. Skipped (with a note) when not running as root.
#[test]
fn another_user_cannot_open_a_default_segment_but_can_with_an_explicit_mode() {
    if !is_root() {
        eprintln!("not root: cannot switch to another user; skipping the permission test");
        return;
    }
    for (tag, make) in [
        ("perm-posix", posix as fn(&str) -> Segment),
        ("perm-sysv", sysv),
        ("perm-file", file),
    ] {
        for (mode, expect) in [(None, "denied"), (Some(0o666), "opened")] {
            let segment = make(&format!("{tag}-{}", mode.unwrap_or(0)));
            let _cleanup = Cleanup(segment.clone());
            let mut options = RingOptions::new().keep_name(true);
            if let Some(mode) = mode {
                options = options.mode(mode);
            }
            let _ring = options.create(&segment).unwrap();
            assert_eq!(mode_of(&segment), mode.unwrap_or(0o600), "{segment}");
            let (status, out) = run_child("open-as-nobody", &[&describe(&segment)]);
            if status.code() == Some(SKIP) {
                eprintln!("cannot drop to uid 65534 here; skipping the permission test");
                return;
            }
            assert!(status.success(), "{segment}: child {status:?}");
            assert_eq!(out.trim(), expect, "{segment} with mode {mode:?}");
        }
    }
}

/// Names that could escape `/dev/shm`, hold a NUL, or exceed the limit are refused before any
/// system call, with a sentence saying what is wrong, by create, open and remove alike.
#[test]
fn bad_names_are_rejected_clearly() {
    let long = "x".repeat(256);
    let cases: [(Segment, &str); 7] = [
        (Segment::posix("a/b"), "'/'"),
        (Segment::posix("/../etc/passwd"), "'/'"),
        (Segment::posix(".."), "not a valid"),
        (Segment::posix("nul\0byte"), "NUL"),
        (Segment::posix(long.as_str()), "at most 255"),
        (Segment::posix(""), "at least one character"),
        (Segment::file("/tmp/nul\0byte"), "NUL"),
    ];
    for (segment, words) in cases {
        match Ring::create(&segment, 4096) {
            Err(e @ CreateError::InvalidName { .. }) => {
                assert!(e.to_string().contains(words), "{segment}: {e}")
            }
            other => panic!("{segment}: create gave {other:?}"),
        }
        match Ring::open(&segment) {
            Err(e @ OpenError::InvalidName { .. }) => {
                assert!(e.to_string().contains(words), "{segment}: {e}")
            }
            other => panic!("{segment}: open gave {other:?}"),
        }
        let err = shmpipe::remove(&segment).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{segment}");
    }
    let sysv_private = Segment::sysv_key(0);
    assert!(matches!(
        Ring::create(&sysv_private, 4096),
        Err(CreateError::InvalidName { .. })
    ));
}

/// A System V ring larger than `kernel.shmmax` fails with a `ResourceLimit` naming the limit
/// and how to raise it. Run in a child in its own IPC namespace (root only), where lowering
/// the limit touches nothing else on the machine; skipped elsewhere.
#[test]
fn a_sysv_ring_above_shmmax_names_the_limit() {
    let key = match sysv("shmmax") {
        Segment::SysV(shmpipe::SysvKey::Key(k)) => k,
        _ => unreachable!(),
    };
    let (status, out) = run_child("shmmax", &[&key.to_string()]);
    if status.code() == Some(SKIP) {
        eprintln!("cannot make an IPC namespace here (not root?); skipping the shmmax test");
        return;
    }
    assert!(status.success(), "child {status:?}: {out}");
    let out = out.trim();
    assert!(out.starts_with("limit: "), "{out}");
    assert!(
        out.contains("kernel.shmmax") && out.contains("sysctl kernel.shmmax="),
        "the message must name the limit and how to raise it: {out}"
    );
}

/// Free and total bytes of the filesystem at `path`.
fn statvfs(path: &str) -> Option<(u64, u64)> {
    let c = CString::new(path).unwrap();
    // SAFETY: `st` is writable memory for one statvfs; `c` is NUL-terminated.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        let f = st.f_frsize;
        Some((st.f_bavail * f, st.f_blocks * f))
    }
}

/// A ring larger than `/dev/shm` can hold fails at create time with a `ResourceLimit` that
/// names the filesystem, its free space and how to enlarge it, and leaves no name behind;
/// never a SIGBUS on first touch. The capacity asked for is above the filesystem's total
/// size, which tmpfs refuses before reserving anything, so the test allocates no memory.
#[test]
fn a_ring_larger_than_dev_shm_names_the_limit() {
    let Some((_, total)) = statvfs("/dev/shm") else {
        eprintln!("no /dev/shm here; skipping");
        return;
    };
    let capacity = (total + 1).next_power_of_two();
    if total == 0 || capacity > shmpipe::MAX_CAPACITY {
        eprintln!("/dev/shm is {total} bytes: no valid ring capacity exceeds it; skipping");
        return;
    }
    for segment in [
        posix("full"),
        Segment::file(PathBuf::from("/dev/shm").join(unique("shmpipe-hard-full-file"))),
    ] {
        let _cleanup = Cleanup(segment.clone());
        match RingOptions::new().capacity(capacity).create(&segment) {
            Err(e @ CreateError::ResourceLimit { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("/dev/shm")
                        && text.contains("free of")
                        && text.contains("mount -o remount,size="),
                    "{segment}: {text}"
                );
            }
            other => panic!("{segment}: a {capacity}-byte ring: {other:?}"),
        }
        assert!(
            !backing_file(&segment).exists(),
            "{segment}: a failed create left its name"
        );
    }
}
