//! `shmpipe ls`: every ring this user can see, one line each. Without operands it looks at
//! the POSIX shared memory objects in `/dev/shm` and at the System V segments listed in
//! `/proc/sysvipc/shm`; with operands, at those rings, files and directories of files only.
//!
//! Nothing is changed: each candidate is first opened (or attached) read-only to look for the
//! shmpipe magic number, so objects of other programs are never opened for writing; only
//! segments that start with the magic go on to [`shmpipe::inspect`], which maps them
//! read-write (the library has no read-only inspection) but reads the header and writes
//! nothing. No role is claimed and no name is removed.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use shmpipe::{Backend, Inspection, OpenError, Segment, LAYOUT_VERSION, MAGIC, MAGIC_V1};

use super::args::LsArgs;
use super::liveness::{self, Peer, Peers};
use super::show::{self, quote};
use super::{names, say, Failure, Outcome};

/// Where Linux keeps POSIX shared memory objects.
const SHM_DIR: &str = "/dev/shm";
/// The kernel's table of System V shared memory segments.
const SYSV_TABLE: &str = "/proc/sysvipc/shm";

/// One line of the listing.
#[derive(Debug)]
struct Entry {
    /// The name to give the other commands (`demo`, `/dev/shm/x.ring`, `0x00005eed`).
    name: String,
    /// `posix`, `sysv` or `file`.
    backend: &'static str,
    /// How long ago the object was created (or last had its size or mode changed), if known.
    age: Option<Duration>,
    /// What the object is.
    what: What,
}

/// What an object in the listing is.
#[derive(Debug)]
enum What {
    /// A segment that starts with the shmpipe magic, as [`shmpipe::inspect`] found it.
    Ring(Box<Inspection>),
    /// Anything else (listed with `--all`, or when named as an operand): a one-word status
    /// and why.
    Other {
        /// `not a ring`, `blank`, `unreadable` or `nameless`.
        status: &'static str,
        /// One sentence.
        reason: String,
    },
}

/// What the first bytes of a candidate say.
enum Peek {
    /// It starts with the shmpipe magic.
    Ring,
    /// It does not: the status and reason to show with `--all`.
    Other(&'static str, String),
    /// It went away while we looked: leave it out.
    Gone,
}

/// Runs `shmpipe ls`.
pub(crate) fn run(args: LsArgs) -> Outcome {
    let mut entries = Vec::new();
    let mut errors: Vec<(String, String)> = Vec::new();
    if args.names.is_empty() {
        if let Err(message) = scan_posix(args.all, &mut entries) {
            errors.push((SHM_DIR.to_owned(), message));
        }
        if let Err(message) = scan_sysv(args.all, &mut entries) {
            errors.push((SYSV_TABLE.to_owned(), message));
        }
    } else {
        for name in &args.names {
            let segment = match names::segment(name, None) {
                Ok(segment) => segment,
                Err(failure) => {
                    if args.json {
                        show::json_error(failure.text(), Some(name));
                    }
                    return Err(failure);
                }
            };
            if let Err(message) = operand(name, &segment, args.all, &mut entries) {
                errors.push((name.clone(), message));
            }
        }
    }
    let text = if args.json {
        json(&entries, &errors)
    } else {
        for (_, message) in &errors {
            say(message);
        }
        text(&entries)
    };
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != ErrorKind::BrokenPipe {
            return Err(Failure::runtime(format!("writing stdout failed: {e}")));
        }
    }
    let stale = entries.iter().filter(|e| e.stale()).count();
    if stale > 0 && !args.json {
        say(&format!(
            "{stale} stale ring{} (no process of {} alive): remove with `shmpipe rm NAME` (System V: `shmpipe rm KEY --backend sysv`)",
            if stale == 1 { "" } else { "s" },
            if stale == 1 { "it is" } else { "theirs is" },
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::quiet(1))
    }
}

impl Entry {
    /// The peers, for a ring with a header.
    fn peers(&self) -> Option<Peers> {
        match &self.what {
            What::Ring(found) => found.header.as_ref().map(liveness::peers),
            What::Other { .. } => None,
        }
    }

    /// Is this a ring nobody alive uses, that `shmpipe rm` may remove?
    fn stale(&self) -> bool {
        self.peers().is_some_and(|p| p.stale())
    }

    /// One word for the object.
    fn status(&self) -> &'static str {
        match &self.what {
            What::Other { status, .. } => status,
            What::Ring(found) => {
                let Some(h) = found.header.as_ref() else {
                    return "corrupted";
                };
                let stale = self.stale();
                if found.is_valid() {
                    if stale {
                        "stale"
                    } else {
                        "live"
                    }
                } else if h.init != 1 {
                    // Its creator is still writing the header, or died while it did.
                    if stale {
                        "uninitialised"
                    } else {
                        "initialising"
                    }
                } else if h.version != LAYOUT_VERSION {
                    "other layout version"
                } else {
                    "corrupted"
                }
            }
        }
    }
}

/// Candidates in `/dev/shm`: every regular file, as a POSIX name (or, when its header says
/// it was created as a file ring, as a path).
fn scan_posix(all: bool, entries: &mut Vec<Entry>) -> Result<(), String> {
    let dir = match fs::read_dir(SHM_DIR) {
        Ok(dir) => dir,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot list {SHM_DIR}: {e}")),
    };
    let mut found = Vec::new();
    for item in dir {
        let item = item.map_err(|e| format!("cannot list {SHM_DIR}: {e}"))?;
        if !item.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let file_name = item.file_name();
        let Some(name) = file_name.to_str() else {
            // Not a name any command here can take (not UTF-8).
            continue;
        };
        if let Some(entry) = candidate(
            &item.path(),
            Segment::posix(name),
            name.to_owned(),
            "posix",
            all,
        ) {
            found.push(entry);
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    entries.extend(found);
    Ok(())
}

/// Looks at one file: peeks at its magic read-only, then inspects it as `segment` if it is
/// a ring. `None` when it is not shown.
fn candidate(
    path: &Path,
    segment: Segment,
    name: String,
    backend: &'static str,
    all: bool,
) -> Option<Entry> {
    let age = fs::metadata(path).ok().and_then(|m| age_of(&m));
    let what = match peek_file(path) {
        Peek::Gone => return None,
        Peek::Other(..) if !all => return None,
        Peek::Other(status, reason) => What::Other { status, reason },
        Peek::Ring => match inspect_as_recorded(path, segment) {
            Ok((found, as_file)) => {
                if as_file {
                    return Some(Entry {
                        name: path.display().to_string(),
                        backend: "file",
                        age,
                        what: What::Ring(Box::new(found)),
                    });
                }
                What::Ring(Box::new(found))
            }
            Err(OpenError::NotFound { .. }) => return None,
            Err(e) => What::Other {
                status: "unreadable",
                reason: e.to_string(),
            },
        },
    };
    Some(Entry {
        name,
        backend,
        age,
        what,
    })
}

/// Inspects a ring found in `/dev/shm`; when its header says the file backend created it,
/// inspects it again as that file (so its description names the path). The flag says so.
fn inspect_as_recorded(path: &Path, segment: Segment) -> Result<(Inspection, bool), OpenError> {
    let found = shmpipe::inspect(&segment)?;
    let recorded = found.header.as_ref().and_then(|h| h.backend);
    if recorded == Some(Backend::File) && segment.backend() != Backend::File {
        return Ok((shmpipe::inspect(&Segment::file(path))?, true));
    }
    Ok((found, false))
}

/// Reads the first eight bytes of a file, opened read-only.
fn peek_file(path: &Path) -> Peek {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Peek::Gone,
        Err(e) => return Peek::Other("unreadable", format!("cannot open it: {e}")),
    };
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Peek::Other("unreadable", format!("cannot read it: {e}")),
        }
    }
    judge(&head[..got])
}

/// Judges the first bytes of a candidate.
fn judge(head: &[u8]) -> Peek {
    // A ring of layout version 1 (shmring) is listed too, as "other layout version".
    if head == MAGIC || head == MAGIC_V1 {
        Peek::Ring
    } else if head.len() < MAGIC.len() {
        Peek::Other(
            "not a ring",
            format!("it is {} bytes, too short for a header", head.len()),
        )
    } else if head.iter().all(|&b| b == 0) {
        Peek::Other(
            "blank",
            "it starts with zeros: a ring whose creator has not written its header yet (or crashed before it did), or another program's object".to_owned(),
        )
    } else {
        Peek::Other(
            "not a ring",
            "it does not start with the shmpipe magic number".to_owned(),
        )
    }
}

/// How long ago a file was created (its birth time where the file system records one, else
/// its last change).
fn age_of(meta: &fs::Metadata) -> Option<Duration> {
    let born = meta.created().or_else(|_| meta.modified()).ok()?;
    SystemTime::now().duration_since(born).ok()
}

/// One row of `/proc/sysvipc/shm`.
#[derive(Debug, PartialEq, Eq)]
struct SysvRow {
    key: i32,
    shmid: i32,
    size: u64,
    attached: u64,
    /// The last change (creation, or `IPC_SET`), in seconds since the epoch.
    ctime: u64,
}

/// Parses `/proc/sysvipc/shm`: a header line, then `key shmid perms size cpid lpid nattch
/// uid gid cuid cgid atime dtime ctime ...` per segment. Lines that do not parse are skipped.
fn sysv_rows(table: &str) -> Vec<SysvRow> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(SysvRow {
                key: f.first()?.parse().ok()?,
                shmid: f.get(1)?.parse().ok()?,
                size: f.get(3)?.parse().ok()?,
                attached: f.get(6)?.parse().ok()?,
                ctime: f.get(13)?.parse().ok()?,
            })
        })
        .collect()
}

/// Candidates among the System V segments: each is attached read-only to look at its magic.
fn scan_sysv(all: bool, entries: &mut Vec<Entry>) -> Result<(), String> {
    let table = match fs::read_to_string(SYSV_TABLE) {
        Ok(table) => table,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {SYSV_TABLE}: {e}")),
    };
    let mut found = Vec::new();
    for row in sysv_rows(&table) {
        // A key to give the other commands with `--backend sysv`; a segment without one
        // (IPC_PRIVATE, or removed while still attached) is named by its id instead.
        let name = if row.key == 0 {
            format!("shmid:{}", row.shmid)
        } else {
            format!("{:#010x}", row.key as u32)
        };
        let age = SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(row.ctime))
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        let what = match peek_sysv(row.shmid, row.size) {
            Peek::Gone => continue,
            Peek::Ring if row.key == 0 => {
                if !all {
                    continue;
                }
                What::Other {
                    status: "nameless",
                    reason: format!(
                        "a ring whose key was removed (System V id {}): nobody can open it any more, and it goes when its {} attached process{} detach",
                        row.shmid,
                        row.attached,
                        if row.attached == 1 { "" } else { "es" }
                    ),
                }
            }
            Peek::Ring => match shmpipe::inspect(&Segment::sysv_key(row.key)) {
                Ok(inspection) => What::Ring(Box::new(inspection)),
                Err(OpenError::NotFound { .. }) => continue,
                Err(e) => What::Other {
                    status: "unreadable",
                    reason: e.to_string(),
                },
            },
            Peek::Other(..) if !all => continue,
            Peek::Other(status, reason) => What::Other { status, reason },
        };
        found.push(Entry {
            name,
            backend: "sysv",
            age,
            what,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    entries.extend(found);
    Ok(())
}

/// Attaches a System V segment read-only and reads its first eight bytes.
fn peek_sysv(shmid: i32, size: u64) -> Peek {
    if size < MAGIC.len() as u64 {
        return judge(&[]);
    }
    // SAFETY: a null address lets the kernel choose where to attach; SHM_RDONLY attaches the
    // segment read-only, so nothing can be written through it.
    let addr = unsafe { libc::shmat(shmid, std::ptr::null(), libc::SHM_RDONLY) };
    if addr as isize == -1 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EINVAL | libc::EIDRM) => Peek::Gone,
            _ => Peek::Other("unreadable", format!("cannot attach it read-only: {e}")),
        };
    }
    // SAFETY: the segment is attached readable at `addr` (page-aligned) until the `shmdt`
    // below, and is at least 8 bytes long; a volatile read, as another process may be
    // writing the header.
    let head = unsafe { std::ptr::read_volatile(addr.cast::<[u8; 8]>()) };
    // SAFETY: `addr` came from the `shmat` above and is detached once.
    unsafe { libc::shmdt(addr) };
    judge(&head)
}

/// An operand of `ls`: a directory (its files are candidates) or one ring, shown whatever it
/// is since it was asked for. `Err` when it cannot be looked at.
fn operand(
    name: &str,
    segment: &Segment,
    all: bool,
    entries: &mut Vec<Entry>,
) -> Result<(), String> {
    if let Segment::File(path) = segment {
        if path.is_dir() {
            return scan_dir(path, all, entries);
        }
    }
    let found = shmpipe::inspect(segment).map_err(|e| match e {
        OpenError::NotFound { .. } => format!("{segment} does not exist"),
        e => e.to_string(),
    })?;
    let (backend, name, age) = match segment {
        Segment::Posix(posix) => (
            "posix",
            posix.trim_start_matches('/').to_owned(),
            fs::metadata(Path::new(SHM_DIR).join(posix.trim_start_matches('/')))
                .ok()
                .and_then(|m| age_of(&m)),
        ),
        Segment::File(path) => (
            "file",
            name.to_owned(),
            fs::metadata(path).ok().and_then(|m| age_of(&m)),
        ),
        Segment::SysV(_) => ("sysv", name.to_owned(), None),
    };
    let what = if found.is_shmpipe() {
        What::Ring(Box::new(found))
    } else if found.header.is_some() && found.is_blank() {
        What::Other {
            status: "blank",
            reason: sentences(&found.problems),
        }
    } else {
        What::Other {
            status: "not a ring",
            reason: sentences(&found.problems),
        }
    };
    entries.push(Entry {
        name,
        backend,
        age,
        what,
    });
    Ok(())
}

/// The files of a directory given as an operand (not its subdirectories).
fn scan_dir(dir: &Path, all: bool, entries: &mut Vec<Entry>) -> Result<(), String> {
    let items = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut found = Vec::new();
    for item in items {
        let item = item.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        if !item.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path: PathBuf = item.path();
        let name = path.display().to_string();
        if let Some(entry) = candidate(&path, Segment::file(&path), name, "file", all) {
            found.push(entry);
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    entries.extend(found);
    Ok(())
}

/// The text listing: a header line, then one line per object (nothing when there is none).
fn text(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let mut rows = vec![[
        "NAME", "BACKEND", "CAPACITY", "USED", "WRITER", "READER", "AGE", "STATUS",
    ]
    .map(str::to_owned)
    .to_vec()];
    for e in entries {
        let age = e.age.map_or("-".to_owned(), show::age);
        let mut status = e.status().to_owned();
        if e.stale() && status != "stale" {
            // A corrupted ring nobody uses any more: `rm` may remove it too.
            status.push_str(", stale");
        }
        let (capacity, used, writer, reader) = match (&e.what, e.peers()) {
            (What::Ring(found), Some(peers)) => {
                let capacity = found.header.map_or(0, |h| h.capacity);
                let used = match found.used() {
                    Some(used) if capacity > 0 && used <= capacity => format!(
                        "{} ({:.0}%)",
                        show::size(used),
                        used as f64 * 100.0 / capacity as f64
                    ),
                    _ => "?".to_owned(),
                };
                (
                    show::size(capacity),
                    used,
                    peers.writer.text(),
                    peers.reader.text(),
                )
            }
            _ => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        rows.push(vec![
            e.name.clone(),
            e.backend.to_owned(),
            capacity,
            used,
            writer,
            reader,
            age,
            status,
        ]);
    }
    show::table(&rows)
}

/// The JSON listing: one array of objects, the operands that failed included as
/// `{"name": ..., "error": ...}`.
fn json(entries: &[Entry], errors: &[(String, String)]) -> String {
    let mut items = Vec::new();
    for e in entries {
        let age = e
            .age
            .map_or("null".to_owned(), |a| show::number(a.as_secs_f64()));
        let (ring, capacity, used, peers, segment, reason) = match &e.what {
            What::Ring(found) => (
                true,
                found
                    .header
                    .map_or("null".to_owned(), |h| h.capacity.to_string()),
                found.used().map_or("null".to_owned(), |u| u.to_string()),
                e.peers(),
                quote(&found.segment),
                format!(
                    "[{}]",
                    found
                        .problems
                        .iter()
                        .map(|p| quote(&p.to_string()))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ),
            What::Other { reason, .. } => (
                false,
                "null".to_owned(),
                "null".to_owned(),
                None,
                "null".to_owned(),
                format!("[{}]", quote(reason)),
            ),
        };
        let side = |p: Option<Peer>| p.as_ref().map_or("null".to_owned(), Peer::json);
        items.push(format!(
            concat!(
                r#"{{"name":{},"backend":{},"segment":{},"ring":{},"status":{},"stale":{},"#,
                r#""capacity":{},"used":{},"writer":{},"reader":{},"creator":{},"age_secs":{},"#,
                r#""problems":{}}}"#
            ),
            quote(&e.name),
            quote(e.backend),
            segment,
            ring,
            quote(e.status()),
            e.stale(),
            capacity,
            used,
            side(peers.map(|p| p.writer)),
            side(peers.map(|p| p.reader)),
            side(peers.map(|p| p.creator)),
            age,
            reason,
        ));
    }
    for (name, message) in errors {
        items.push(format!(
            r#"{{"name":{},"error":{}}}"#,
            quote(name),
            quote(message)
        ));
    }
    format!("[{}]\n", items.join(",\n"))
}

/// A list of header problems as one line.
fn sentences(problems: &[shmpipe::HeaderProblem]) -> String {
    let sentences: Vec<String> = problems.iter().map(ToString::to_string).collect();
    sentences.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sysv_table_parses() {
        let table = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
                     24301      32769  1600                 8192    10    11      2  1000  1000  1000  1000 1700000000 1700000001 1700000002                 8192                     0\n\
                     garbage line\n\
                     -1 5 600 4096 1 1 0 0 0 0 0 0 0 99 0 0\n";
        assert_eq!(
            sysv_rows(table),
            vec![
                SysvRow {
                    key: 24301,
                    shmid: 32769,
                    size: 8192,
                    attached: 2,
                    ctime: 1_700_000_002
                },
                SysvRow {
                    key: -1,
                    shmid: 5,
                    size: 4096,
                    attached: 0,
                    ctime: 99
                }
            ]
        );
    }

    #[test]
    fn only_the_magic_makes_a_ring() {
        assert!(matches!(judge(b"SHMPIPE\0"), Peek::Ring));
        assert!(matches!(judge(b"SHMRING\0"), Peek::Ring));
        assert!(matches!(judge(b"SHMPIPE"), Peek::Other("not a ring", _)));
        assert!(matches!(judge(&[0; 8]), Peek::Other("blank", _)));
        assert!(matches!(judge(b"PULSEAUD"), Peek::Other("not a ring", _)));
    }
}
