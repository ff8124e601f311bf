//! Segments for the tests: a unique one of each named backend, how a peer finds one
//! (`posix:NAME`, `sysv:KEY`, `file:PATH`), the file behind it, and its removal when a test
//! ends, passed or not.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use shmpipe::{Ring, RingOptions, Segment};

/// A name no other test (or test process) uses: `PREFIX-PID-N`.
pub fn unique(prefix: &str) -> String {
    // The atomics ban (clippy.toml) is for ring code; this counter only makes names unique.
    #[allow(clippy::disallowed_types)]
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A POSIX segment of a unique name.
pub fn posix(prefix: &str) -> Segment {
    Segment::posix(unique(prefix))
}

/// A System V segment of a unique key (a hash of a unique name, in 0x4000_0000..=0x7fff_ffff).
pub fn sysv(prefix: &str) -> Segment {
    let hash = unique(prefix).bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    Segment::sysv_key((hash & 0x3fff_ffff) as i32 | 0x4000_0000)
}

/// A file segment of a unique name in the temporary directory.
pub fn file(prefix: &str) -> Segment {
    Segment::file(std::env::temp_dir().join(unique(prefix)))
}

/// How a peer finds `segment`: `posix:NAME`, `sysv:KEY` or `file:PATH`.
pub fn describe(segment: &Segment) -> String {
    match segment {
        Segment::Posix(name) => format!("posix:{name}"),
        Segment::SysV(shmpipe::SysvKey::Key(k)) => format!("sysv:{k}"),
        Segment::File(path) => format!("file:{}", path.display()),
        other => panic!("unsupported in tests: {other:?}"),
    }
}

/// The segment a `describe` string names.
pub fn parse(spec: &str) -> Segment {
    let (kind, rest) = spec.split_once(':').expect("kind:rest");
    match kind {
        "posix" => Segment::posix(rest),
        "sysv" => Segment::sysv_key(rest.parse().unwrap()),
        "file" => Segment::file(rest),
        other => panic!("unknown segment kind {other}"),
    }
}

/// The file behind a POSIX segment (on Linux) or a file segment.
pub fn backing_file(segment: &Segment) -> PathBuf {
    match segment {
        Segment::Posix(name) => PathBuf::from("/dev/shm").join(name.trim_start_matches('/')),
        Segment::File(path) => path.clone(),
        other => panic!("no backing file: {other}"),
    }
}

/// Removes a test's segment when dropped, even if the test failed half-way.
pub struct Cleanup(pub Segment);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shmpipe::remove(&self.0);
    }
}

/// A ring of `capacity` bytes created on `segment` (POSIX or file) keeping its name, and its
/// backing file opened for reading and writing: for forging what a hostile peer would write.
pub fn kept_ring(segment: &Segment, capacity: u64) -> (Ring, File) {
    let ring = RingOptions::new()
        .capacity(capacity)
        .keep_name(true)
        .create(segment)
        .unwrap();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(backing_file(segment))
        .unwrap();
    (ring, file)
}
