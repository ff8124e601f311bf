//! Unit tests of the segment backends. They expect Linux, `/dev/shm` and System V shared
//! memory, and run as root (one test drops privileges in a thread of its own). Every name is
//! unique to this process and test, and is removed even when a test fails.

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::*;

/// How long any wait in these tests may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);
/// A segment size with room past the header.
const SIZE: usize = 2 * HEADER_SIZE;

/// The named backends, each tested the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Posix,
    SysvKey,
    SysvFtok,
    File,
}

const KINDS: [Kind; 4] = [Kind::Posix, Kind::SysvKey, Kind::SysvFtok, Kind::File];

/// A number not used before in this process.
fn unique() -> u32 {
    static NEXT: Mutex<u32> = Mutex::new(0);
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    *next += 1;
    *next
}

/// A segment name nobody uses, removed (with its ftok file) when dropped.
struct Scratch {
    seg: Segment,
    ftok_file: Option<PathBuf>,
}

impl Scratch {
    fn new(kind: Kind) -> Self {
        let pid = std::process::id();
        let n = unique();
        let tmp = std::env::temp_dir();
        let mut ftok_file = None;
        let seg = match kind {
            Kind::Posix => Segment::posix(format!("shmpipe-test-{pid}-{n}")),
            Kind::SysvKey => {
                Segment::sysv_key((0x5a << 24) | ((pid as i32 & 0xfff) << 12) | (n as i32 & 0xfff))
            }
            Kind::SysvFtok => {
                let path = tmp.join(format!("shmpipe-test-ftok-{pid}-{n}"));
                fs::write(&path, b"ftok").expect("create the ftok file");
                ftok_file = Some(path.clone());
                Segment::sysv_ftok(path, 0x53)
            }
            Kind::File => Segment::file(tmp.join(format!("shmpipe-test-file-{pid}-{n}"))),
        };
        let scratch = Scratch { seg, ftok_file };
        // A leftover of an earlier run with the same pid would make the test fail for no
        // reason of its own.
        let _ = remove(&scratch.seg);
        scratch
    }

    /// A file segment at `path`, removed when dropped.
    fn file_at(path: PathBuf) -> Self {
        let _ = fs::remove_file(&path);
        Scratch {
            seg: Segment::file(path),
            ftok_file: None,
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = remove(&self.seg);
        if let Some(path) = &self.ftok_file {
            let _ = fs::remove_file(path);
        }
    }
}

/// Writes `bytes` at `offset` through the mapping.
fn poke(m: &Mapping, offset: usize, bytes: &[u8]) {
    assert!(offset + bytes.len() <= m.len(), "poke out of bounds");
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: in bounds (checked above) of a live read-write mapping; volatile because
        // another mapping of the same memory reads it.
        unsafe { m.ptr().add(offset + i).write_volatile(b) };
    }
}

/// Reads `len` bytes at `offset` through the mapping.
fn peek(m: &Mapping, offset: usize, len: usize) -> Vec<u8> {
    assert!(offset + len <= m.len(), "peek out of bounds");
    (0..len)
        // SAFETY: in bounds (checked above) of a live mapping; volatile because another
        // mapping of the same memory writes it.
        .map(|i| unsafe { m.ptr().add(offset + i).read_volatile() })
        .collect()
}

/// The permission bits of a named segment, as the system reports them.
fn mode_of(seg: &Segment) -> u32 {
    match seg {
        Segment::Posix(name) => {
            let path = format!("/dev/shm{}", name);
            fs::metadata(path)
                .expect("stat the object")
                .permissions()
                .mode()
                & 0o777
        }
        Segment::File(path) => {
            fs::metadata(path)
                .expect("stat the file")
                .permissions()
                .mode()
                & 0o777
        }
        Segment::SysV(key) => {
            let key = sysv::key(key).expect("key");
            let shmid = sysv::shmget(key, 0, 0).expect("shmget");
            u32::from(sysv::stat(shmid).expect("IPC_STAT").shm_perm.mode) & 0o777
        }
    }
}

/// Makes a segment of exactly `size` bytes by hand, as a crashed or slow creator leaves it.
fn make_raw(seg: &Segment, size: usize) {
    match seg {
        Segment::Posix(name) => {
            let file = fs::File::create(format!("/dev/shm{}", name)).expect("create object");
            file.set_len(size as u64).expect("size object");
        }
        Segment::File(path) => {
            let file = fs::File::create(path).expect("create file");
            file.set_len(size as u64).expect("size file");
        }
        Segment::SysV(key) => {
            let key = sysv::key(key).expect("key");
            let flags = libc::IPC_CREAT | libc::IPC_EXCL | 0o600;
            sysv::shmget(key, size, flags).expect("shmget");
        }
    }
}

fn assert_not_found(seg: &Segment) {
    match open(seg, Purpose::Use) {
        Err(OpenError::NotFound { segment }) => assert_eq!(segment, seg.to_string()),
        other => panic!("{seg}: expected NotFound, got {other:?}"),
    }
}

#[test]
fn create_then_open_see_the_same_bytes() {
    for kind in KINDS {
        let s = Scratch::new(kind);
        let created = create(&s.seg, SIZE, 0o600).expect("create");
        assert_eq!(created.len(), SIZE, "{kind:?}");
        assert_eq!(
            created.ptr() as usize % 4096,
            0,
            "{kind:?}: not page aligned"
        );
        assert!(fresh(&created), "{kind:?}: not zeroed");
        assert!(created.memfd().is_none());

        poke(&created, 10, b"from the creator");
        let opened = open(&s.seg, Purpose::Use).expect("open");
        assert_eq!(opened.len(), SIZE, "{kind:?}");
        assert_eq!(peek(&opened, 10, 16), b"from the creator", "{kind:?}");
        poke(&opened, SIZE - 6, b"opener");
        assert_eq!(peek(&created, SIZE - 6, 6), b"opener", "{kind:?}");
    }
}

#[test]
fn posix_names_with_and_without_slash_are_the_same_object() {
    let s = Scratch::new(Kind::Posix);
    let Segment::Posix(slashed) = &s.seg else {
        unreachable!()
    };
    assert!(slashed.starts_with('/'));
    let bare = Segment::Posix(slashed[1..].to_owned());
    assert_eq!(Segment::posix(&slashed[1..]), s.seg);
    assert_eq!(bare.to_string(), s.seg.to_string());

    let created = create(&bare, SIZE, 0o600).expect("create without slash");
    poke(&created, 0, b"same");
    let opened = open(&s.seg, Purpose::Use).expect("open with slash");
    assert_eq!(peek(&opened, 0, 4), b"same");
}

#[test]
fn create_is_exclusive() {
    for kind in KINDS {
        let s = Scratch::new(kind);
        let _first = create(&s.seg, SIZE, 0o600).expect("create");
        match create(&s.seg, SIZE, 0o600) {
            Err(CreateError::AlreadyExists { segment }) => assert_eq!(segment, s.seg.to_string()),
            other => panic!("{kind:?}: expected AlreadyExists, got {other:?}"),
        }
        // The failed second create must not have removed the first one's name.
        open(&s.seg, Purpose::Use).expect("the first segment is still there");
    }
}

#[test]
fn created_mode_is_exactly_the_mode_asked_for() {
    // 0o666 would come out 0o644 under the usual umask 022 if the umask applied.
    for kind in KINDS {
        for mode in [0o600, 0o640, 0o666, 0o604] {
            let s = Scratch::new(kind);
            let _m = create(&s.seg, SIZE, mode).expect("create");
            assert_eq!(mode_of(&s.seg), mode, "{kind:?}");
        }
    }
}

#[test]
fn open_of_a_missing_name_is_not_found() {
    for kind in KINDS {
        let s = Scratch::new(kind);
        assert_not_found(&s.seg);
    }
}

#[test]
fn empty_segment_is_not_initialised() {
    for kind in [Kind::Posix, Kind::File] {
        let s = Scratch::new(kind);
        make_raw(&s.seg, 0);
        match open(&s.seg, Purpose::Use) {
            Err(OpenError::NotInitialised { waited, .. }) => assert_eq!(waited, Duration::ZERO),
            other => panic!("{kind:?}: expected NotInitialised, got {other:?}"),
        }
    }
}

#[test]
fn short_segment_is_truncated() {
    for kind in KINDS {
        let s = Scratch::new(kind);
        make_raw(&s.seg, 100);
        match open(&s.seg, Purpose::Use) {
            Err(OpenError::Truncated { needed, actual, .. }) => {
                assert_eq!((needed, actual), (HEADER_SIZE as u64, 100), "{kind:?}")
            }
            other => panic!("{kind:?}: expected Truncated, got {other:?}"),
        }
    }
}

#[test]
fn remove_name_hides_the_segment_but_keeps_mappings() {
    for kind in KINDS {
        let s = Scratch::new(kind);
        let created = create(&s.seg, SIZE, 0o600).expect("create");
        let opened = open(&s.seg, Purpose::Use).expect("open");
        opened.remove_name().expect("remove_name");
        assert_not_found(&s.seg);
        // Both mappings still share the memory.
        poke(&created, 100, b"still here");
        assert_eq!(peek(&opened, 100, 10), b"still here", "{kind:?}");
        // Idempotent, from either mapping.
        opened.remove_name().expect("second remove_name");
        created.remove_name().expect("remove_name from the creator");
        assert_not_found(&s.seg);
    }
}

#[test]
fn remove_name_spares_a_segment_recreated_under_the_same_name() {
    for kind in KINDS {
        let s = Scratch::new(kind);
        let old = create(&s.seg, SIZE, 0o600).expect("create the old segment");
        remove(&s.seg).expect("remove the old name");
        let new = create(&s.seg, SIZE, 0o600).expect("create the new segment");
        poke(&new, 0, b"new");
        old.remove_name().expect("remove_name of the old segment");
        let opened = open(&s.seg, Purpose::Use).expect("the new segment must still be there");
        assert_eq!(peek(&opened, 0, 3), b"new", "{kind:?}");
        new.remove_name().expect("remove_name of the new segment");
        assert_not_found(&s.seg);
    }
}

#[test]
fn remove_removes_and_a_missing_name_is_not_found() {
    for kind in KINDS {
        let s = Scratch::new(kind);
        let m = create(&s.seg, SIZE, 0o600).expect("create");
        remove(&s.seg).expect("remove");
        assert_not_found(&s.seg);
        let err = remove(&s.seg).expect_err("a second remove must fail");
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{kind:?}: {err}");
        // The mapping outlives the name.
        poke(&m, 0, b"x");
        assert_eq!(peek(&m, 0, 1), b"x");
    }
}

/// Every name that must be refused, before any system call.
fn bad_names() -> Vec<Segment> {
    let missing = std::env::temp_dir().join(format!(
        "shmpipe-test-missing-{}-{}",
        std::process::id(),
        unique()
    ));
    let mut bad: Vec<Segment> = [
        "", "/", "a/b", "/a/b", "//a", "a/", ".", "..", "/.", "/..", "a\0b",
    ]
    .into_iter()
    .map(Segment::posix)
    .collect();
    bad.push(Segment::posix("x".repeat(256)));
    bad.push(Segment::Posix(format!("/{}", "y".repeat(256))));
    bad.push(Segment::file(""));
    bad.push(Segment::file("/tmp/a\0b"));
    bad.push(Segment::sysv_key(0));
    bad.push(Segment::sysv_ftok(&missing, 1));
    bad.push(Segment::sysv_ftok(std::env::temp_dir(), 0));
    bad.push(Segment::sysv_ftok("/tmp/a\0b", 1));
    bad
}

#[test]
fn bad_names_are_refused() {
    for seg in bad_names() {
        match create(&seg, SIZE, 0o600) {
            Err(CreateError::InvalidName { reason, .. }) => assert!(!reason.is_empty()),
            other => panic!("{seg:?}: create: expected InvalidName, got {other:?}"),
        }
        match open(&seg, Purpose::Use) {
            Err(OpenError::InvalidName { reason, .. }) => assert!(!reason.is_empty()),
            other => panic!("{seg:?}: open: expected InvalidName, got {other:?}"),
        }
        let err = remove(&seg).expect_err("remove of a bad name");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{seg:?}: {err}");
    }
}

#[test]
fn bad_name_messages_say_what_is_wrong() {
    let err = create(&Segment::posix("a/b"), SIZE, 0o600).expect_err("a/b");
    assert_eq!(
        err.to_string(),
        "invalid segment name \"/a/b\": a POSIX shared memory name may contain '/' only as its first character"
    );
    let err = open(&Segment::sysv_key(0), Purpose::Use).expect_err("key 0");
    assert!(err.to_string().contains("IPC_PRIVATE"), "{err}");
    let missing = Path::new("/nonexistent/shmpipe-test");
    let err = open(&Segment::sysv_ftok(missing, 7), Purpose::Use).expect_err("ftok");
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/shmpipe-test") && text.contains("No such file"),
        "{text}"
    );
}

#[test]
fn longest_posix_name_is_accepted() {
    let n = unique();
    let name = format!(
        "{:x<255}",
        format!("shmpipe-test-{}-{n}-", std::process::id())
    );
    assert_eq!(name.len(), 255);
    let s = Scratch {
        seg: Segment::posix(name),
        ftok_file: None,
    };
    let _m = create(&s.seg, SIZE, 0o600).expect("a 255-byte name");
    open(&s.seg, Purpose::Use).expect("open a 255-byte name");
}

#[test]
fn bad_sizes_are_refused() {
    for kind in KINDS {
        let s = Scratch::new(kind);
        for size in [0, 100, HEADER_SIZE - 1, usize::MAX] {
            match create(&s.seg, size, 0o600) {
                Err(CreateError::InvalidCapacity { .. }) => {}
                other => panic!("{kind:?} size {size}: expected InvalidCapacity, got {other:?}"),
            }
        }
        assert_not_found(&s.seg);
    }
    assert!(matches!(
        create_anonymous(HEADER_SIZE - 1),
        Err(CreateError::InvalidCapacity { .. })
    ));
    assert!(matches!(
        create_memfd(0),
        Err(CreateError::InvalidCapacity { .. })
    ));
    create(&Scratch::new(Kind::Posix).seg, HEADER_SIZE, 0o600).expect("exactly a header");
}

#[test]
fn failed_create_leaves_nothing_behind() {
    // Far more than /dev/shm holds: ftruncate succeeds (tmpfs files may be sparse), then
    // posix_fallocate finds no room.
    let huge = 1usize << 62;
    let in_dev_shm = Scratch::file_at(PathBuf::from(format!(
        "/dev/shm/shmpipe-test-full-{}-{}",
        std::process::id(),
        unique()
    )));
    for s in [Scratch::new(Kind::Posix), in_dev_shm] {
        match create(&s.seg, huge, 0o600) {
            Err(CreateError::ResourceLimit { limit, source, .. }) => {
                assert!(
                    limit.contains("free of") && limit.contains("mount -o remount,size="),
                    "{limit}"
                );
                assert!(limit.contains("/dev/shm"), "{limit}");
                assert_eq!(source.and_then(|e| e.raw_os_error()), Some(libc::ENOSPC));
            }
            other => panic!("{}: expected ResourceLimit, got {other:?}", s.seg),
        }
        assert_not_found(&s.seg);
    }
    // Elsewhere (System V: no memory for it; a file on disk: too large or no room) the error
    // may differ, but nothing is left either.
    for kind in [Kind::SysvKey, Kind::File] {
        let s = Scratch::new(kind);
        let err = create(&s.seg, huge, 0o600).expect_err("a huge segment");
        assert!(
            matches!(
                err,
                CreateError::ResourceLimit { .. } | CreateError::Os { .. }
            ),
            "{kind:?}: {err:?}"
        );
        assert_not_found(&s.seg);
    }
}

#[test]
fn segments_display_as_users_name_them() {
    assert_eq!(
        Segment::posix("demo").to_string(),
        "POSIX shared memory \"/demo\""
    );
    assert_eq!(
        Segment::Posix("demo".into()).to_string(),
        "POSIX shared memory \"/demo\""
    );
    assert_eq!(
        Segment::sysv_key(0x1234).to_string(),
        "System V segment with key 0x00001234"
    );
    assert_eq!(
        Segment::sysv_key(-1).to_string(),
        "System V segment with key 0xffffffff"
    );
    assert_eq!(
        Segment::sysv_ftok("/tmp/x", 65).to_string(),
        "System V segment with key ftok(\"/tmp/x\", 65)"
    );
    assert_eq!(
        Segment::file("/dev/shm/x").to_string(),
        "file \"/dev/shm/x\""
    );
    assert_eq!(Segment::posix("a").backend(), Backend::Posix);
    assert_eq!(Segment::sysv_key(1).backend(), Backend::SysV);
    assert_eq!(Segment::sysv_ftok("/", 1).backend(), Backend::SysV);
    assert_eq!(Segment::file("/x").backend(), Backend::File);
}

/// Runs `f` in a thread whose effective user is `nobody` (65534), or returns `None` where
/// this process cannot switch. The raw system call changes only that thread's credentials
/// (glibc's `setresuid` would change every thread's), and the thread ends with `f`.
fn as_nobody<T: Send>(f: impl FnOnce() -> T + Send) -> Option<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let keep: libc::c_long = -1;
                // SAFETY: a plain system call that changes this thread's effective uid only.
                let r = unsafe {
                    libc::syscall(libc::SYS_setresuid, keep, 65534 as libc::c_long, keep)
                };
                (r == 0).then(f)
            })
            .join()
            .expect("the unprivileged thread panicked")
    })
}

#[test]
fn another_user_is_denied_a_0600_segment() {
    for kind in KINDS {
        let s = Scratch::new(kind);
        let _m = create(&s.seg, SIZE, 0o600).expect("create");
        let Some(result) = as_nobody(|| open(&s.seg, Purpose::Use).map(|_| ())) else {
            eprintln!("cannot switch to uid 65534 here; skipping the permission test");
            return;
        };
        match result {
            Err(OpenError::PermissionDenied { .. }) => {}
            other => panic!("{kind:?}: expected PermissionDenied, got {other:?}"),
        }
    }
}

/// A memfd made by hand, with `flags` and size `size`.
fn raw_memfd(flags: libc::c_uint, size: u64) -> fs::File {
    // SAFETY: the name is a NUL-terminated string that outlives the call.
    let fd = unsafe { libc::memfd_create(c"shmpipe-test".as_ptr(), flags) };
    assert!(fd >= 0, "memfd_create: {}", io::Error::last_os_error());
    // SAFETY: memfd_create just returned this fd, and nothing else owns it.
    let file = fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.set_len(size).expect("size the memfd");
    file
}

fn add_seals(file: &fs::File, seals: libc::c_int) {
    // SAFETY: a plain fcntl on a valid fd.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) };
    assert_eq!(r, 0, "F_ADD_SEALS: {}", io::Error::last_os_error());
}

fn seals_of(fd: BorrowedFd<'_>) -> libc::c_int {
    // SAFETY: a plain fcntl on a valid fd.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) }
}

/// A new segment: zero-filled, but for the magic and layout version the fd-based backends
/// write first (so a creator that dies early leaves a segment recognisably ours).
fn fresh(m: &Mapping) -> bool {
    let bytes = peek(m, 0, m.len());
    let mut prefix = [0u8; 12];
    prefix[..8].copy_from_slice(&crate::layout::MAGIC);
    prefix[8..].copy_from_slice(&crate::layout::LAYOUT_VERSION.to_ne_bytes());
    let head_ok = bytes[..12] == prefix || bytes[..12].iter().all(|&b| b == 0);
    head_ok && bytes[12..].iter().all(|&b| b == 0)
}

#[test]
fn created_memfd_is_sealed_and_zeroed() {
    let m = create_memfd(SIZE).expect("create_memfd");
    assert_eq!(m.len(), SIZE);
    assert!(fresh(&m));
    let fd = m.memfd().expect("a memfd mapping has its fd");
    assert_eq!(
        seals_of(fd),
        libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW
    );
    let file = fs::File::from(fd.try_clone_to_owned().expect("dup"));
    let err = file.set_len(0).expect_err("a sealed memfd cannot shrink");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    // Nothing to remove.
    m.remove_name().expect("remove_name of a memfd");
}

#[test]
fn memfd_passes_over_a_socket() {
    let m = create_memfd(SIZE).expect("create_memfd");
    poke(&m, 5000, b"hello");
    let (a, b) = UnixStream::pair().expect("socketpair");
    b.set_read_timeout(Some(DEADLINE)).expect("timeout");
    send_fd(&a, m.memfd().expect("fd")).expect("send_fd");
    let fd = recv_fd(&b).expect("recv_fd");
    // SAFETY: a plain fcntl on a valid fd.
    let fd_flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    assert_ne!(
        fd_flags & libc::FD_CLOEXEC,
        0,
        "received fd is not close-on-exec"
    );
    let opened = open_memfd(fd).expect("open_memfd");
    assert_eq!(opened.len(), SIZE);
    assert!(opened.memfd().is_some());
    assert_eq!(peek(&opened, 5000, 5), b"hello");
    poke(&opened, 7, b"back");
    assert_eq!(peek(&m, 7, 4), b"back");
}

#[test]
fn open_memfd_refuses_what_is_not_sealed() {
    let cases: [(fs::File, &str); 3] = [
        // Sealing not allowed: the kernel reports F_SEAL_SEAL alone.
        (raw_memfd(libc::MFD_CLOEXEC, SIZE as u64), "F_SEAL_SEAL"),
        (
            {
                let f = raw_memfd(libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING, SIZE as u64);
                add_seals(&f, libc::F_SEAL_SHRINK);
                f
            },
            "F_SEAL_SHRINK",
        ),
        (
            {
                let path = std::env::temp_dir().join(format!(
                    "shmpipe-test-plain-{}-{}",
                    std::process::id(),
                    unique()
                ));
                let f = fs::File::options()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .expect("plain file");
                let _ = fs::remove_file(&path);
                f.set_len(SIZE as u64).expect("size");
                f
            },
            "none",
        ),
    ];
    for (file, expected) in cases {
        match open_memfd(OwnedFd::from(file)) {
            Err(OpenError::NotSealed { seals }) => {
                assert!(seals.starts_with(expected), "{seals:?}");
                assert!(!seals.contains("F_SEAL_GROW"), "{seals:?}");
            }
            other => panic!("expected NotSealed ({expected}), got {other:?}"),
        }
    }
}

#[test]
fn open_memfd_refuses_a_short_memfd() {
    for size in [0, 100] {
        let f = raw_memfd(libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING, size);
        add_seals(&f, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW);
        match open_memfd(OwnedFd::from(f)) {
            Err(OpenError::Truncated { actual, needed, .. }) => {
                assert_eq!((actual, needed), (size, HEADER_SIZE as u64))
            }
            other => panic!("size {size}: expected Truncated, got {other:?}"),
        }
    }
}

#[test]
fn recv_fd_without_an_fd_is_an_error() {
    let (mut a, b) = UnixStream::pair().expect("socketpair");
    b.set_read_timeout(Some(DEADLINE)).expect("timeout");
    a.write_all(b"x").expect("write");
    let err = recv_fd(&b).expect_err("a byte without an fd");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    drop(a);
    let err = recv_fd(&b).expect_err("end of stream");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
}

#[test]
fn send_fd_to_a_closed_peer_is_an_error_not_a_signal() {
    let (a, b) = UnixStream::pair().expect("socketpair");
    drop(b);
    let m = create_memfd(SIZE).expect("create_memfd");
    let err = send_fd(&a, m.memfd().expect("fd")).expect_err("peer gone");
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
}

/// Waits for the child `pid` up to [`DEADLINE`] and returns its wait status; kills it and
/// fails the test past the deadline.
fn wait_child(pid: libc::pid_t) -> libc::c_int {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut status = 0;
        // SAFETY: `status` is writable; WNOHANG never blocks.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return status;
        }
        assert_eq!(r, 0, "waitpid: {}", io::Error::last_os_error());
        if Instant::now() > deadline {
            // SAFETY: `pid` is our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the child did not exit within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn anonymous_mapping_is_shared_across_fork() {
    let m = create_anonymous(SIZE).expect("create_anonymous");
    assert_eq!(m.len(), SIZE);
    assert!(fresh(&m));
    assert!(m.memfd().is_none());
    m.remove_name().expect("nothing to remove");
    let target = m.ptr().wrapping_add(4321);
    // SAFETY: the child only stores one byte and calls `_exit`: no allocation, no lock, no
    // unwinding, so forking a multi-threaded test process is fine.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: the child inherited the mapping, and offset 4321 is inside it; `_exit`
        // never returns.
        unsafe {
            target.write_volatile(0xa5);
            libc::_exit(0);
        }
    }
    let status = wait_child(pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert_eq!(peek(&m, 4321, 1), [0xa5]);
}

#[test]
fn mappings_can_move_between_threads() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Mapping>();
    let m = create_anonymous(SIZE).expect("create_anonymous");
    let m = std::thread::spawn(move || {
        poke(&m, 1, b"t");
        m
    })
    .join()
    .expect("thread");
    assert_eq!(peek(&m, 1, 1), b"t");
}
