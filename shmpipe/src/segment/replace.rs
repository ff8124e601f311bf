//! Recognising a stale ring, and replacing it atomically (`RingOptions::replace_stale`).
//!
//! A segment is replaced only when it is provably a stale ring of ours: a regular file (or a
//! System V segment) holding a header with our magic and layout version, that no process has
//! open. "No process has it open" is the kernel's answer, never a guess from time: for POSIX
//! and file segments, a write lock on the presence byte can be taken (every process with the
//! ring open holds a read lock there, from the moment it creates or opens it); for System V,
//! `shm_nattch` is 0. Anything else (a live ring, a file or segment that is not a ring, a ring
//! of layout version 1, a symbolic link, a ring being replaced by another process right now)
//! is refused with a sentence that names what is there.
//!
//! The replacement is atomic against a racing second replacer: the write lock on the stale
//! file is held from the verdict until the new ring, fully initialised under a temporary name,
//! is renamed over the name, so exactly one replacer wins and the other is refused (and an
//! opener arriving meanwhile waits for the new ring instead of using the stale one). System V
//! has no rename: the stale segment is removed by its id (never a later segment with the same
//! key) and the key created again exclusively, so again one creator wins.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::fd::FileId;
use super::{posix, sysv, Mapping, Named, Segment};
use crate::error::CreateError;
use crate::layout::holder_pid;
use crate::layout::Role;
use crate::layout::{owner_offset, HEADER_SIZE, LAYOUT_VERSION, MAGIC, MAGIC_V1};
use crate::lock_table::PRESENCE_BYTE;
use crate::segment::locks;

/// Where POSIX shared memory objects live as files (glibc's `shm_open` directory on Linux).
const SHM_DIR: &str = "/dev/shm";

/// A stale ring, held so that nobody else replaces or opens it until [`Stale::install`].
#[derive(Debug)]
pub(crate) struct Stale {
    kind: Kind,
    /// What the stale ring was, for a notice.
    pub(crate) description: String,
}

#[derive(Debug)]
enum Kind {
    /// POSIX or file: the stale file, write-locked on the presence byte, its identity, and
    /// the path of its name.
    File {
        _file: File,
        id: FileId,
        path: PathBuf,
    },
    /// System V: the stale segment was removed by its id; the key is free for a new one.
    SysV,
}

/// The judgement on a name that exists.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// A stale ring of ours: replace it.
    Stale(Stale),
    /// The name no longer exists: create it again.
    Gone,
}

/// Judges what holds `seg`'s name: a stale ring (held until installed over), gone, or a
/// refusal naming what is there.
pub(crate) fn judge_stale(seg: &Segment) -> Result<Verdict, CreateError> {
    let what = seg.to_string();
    let occupied = |reason: String| CreateError::Occupied {
        segment: what.clone(),
        reason,
    };
    match seg {
        Segment::Posix(name) => {
            let name = posix::name(name)?;
            let bare = name.to_string_lossy().trim_start_matches('/').to_owned();
            judge_file(&Path::new(SHM_DIR).join(bare), &occupied)
        }
        Segment::File(path) => judge_file(path, &occupied),
        Segment::SysV(key) => judge_sysv(sysv::key(key)?, &occupied),
    }
}

/// The POSIX and file half of [`judge_stale`].
fn judge_file(
    path: &Path,
    occupied: &dyn Fn(String) -> CreateError,
) -> Result<Verdict, CreateError> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Verdict::Gone),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            let target = std::fs::read_link(path)
                .map(|t| format!(" to {}", t.display()))
                .unwrap_or_default();
            let dangling = if std::fs::metadata(path).is_err() {
                " (which does not exist)"
            } else {
                ""
            };
            return Err(occupied(format!(
                "it is a symbolic link{target}{dangling}, and shmpipe creates and replaces only rings themselves; remove the link or pick another name"
            )));
        }
        Err(e) => return Err(occupied(format!("it cannot be opened to check it ({e})"))),
    };
    let meta = file
        .metadata()
        .map_err(|e| occupied(format!("it cannot be checked ({e})")))?;
    if !meta.file_type().is_file() {
        return Err(occupied(
            "it is not a regular file, so not a shmpipe segment".into(),
        ));
    }
    let mut header = [0u8; 16];
    if meta.len() < HEADER_SIZE as u64 {
        return Err(occupied(format!(
            "it is {} bytes long, too short to be a shmpipe segment; remove it (`shmpipe rm --force`) if it is yours",
            meta.len()
        )));
    }
    file.read_exact_at(&mut header, 0)
        .map_err(|e| occupied(format!("its header cannot be read ({e})")))?;
    not_ours(&header).map_or(Ok(()), |reason| Err(occupied(reason)))?;
    // Ours. Is anyone using it? The role locks first, for the better sentence.
    for role in [Role::Writer, Role::Reader] {
        if crate::lock_table::role_held(
            &crate::segment::locks::FdLocks(file.as_fd(), None),
            None,
            role,
        ) {
            let word = u64::from_ne_bytes(read_word(&file, owner_offset(role)));
            return Err(occupied(format!(
                "it is in use: its {role} (pid {}) is attached",
                holder_pid(word)
            )));
        }
    }
    if !locks::try_lock(file.as_fd(), libc::F_WRLCK, PRESENCE_BYTE)
        .map_err(|e| occupied(format!("it cannot be locked to check it ({e})")))?
    {
        return Err(occupied(match locks::holder(file.as_fd(), PRESENCE_BYTE) {
            Some(libc::F_WRLCK) => {
                "another process is replacing this stale ring right now".to_owned()
            }
            _ => "it is in use: a process has it open (its creator, or a peer about to attach)"
                .to_owned(),
        }));
    }
    Ok(Verdict::Stale(Stale {
        description: stale_description(
            u64::from_ne_bytes(read_word(&file, owner_offset(Role::Writer))),
            u64::from_ne_bytes(read_word(&file, owner_offset(Role::Reader))),
        ),
        kind: Kind::File {
            _file: file,
            id: FileId::of(&meta),
            path: path.to_owned(),
        },
    }))
}

/// What a stale ring was, from its holder words (informative pids).
fn stale_description(writer: u64, reader: u64) -> String {
    let who = |role: &str, word: u64| match holder_pid(word) {
        0 => format!("no {role} ever attached"),
        pid => format!("its {role}, pid {pid}, is gone"),
    };
    format!(
        "no process has it open any more ({}; {}), as a crash leaves it",
        who("writer", writer),
        who("reader", reader)
    )
}

/// Eight bytes of the file at `offset` (zeros if they cannot be read).
fn read_word(file: &File, offset: u64) -> [u8; 8] {
    let mut word = [0u8; 8];
    let _ = file.read_exact_at(&mut word, offset);
    word
}

/// Why a header's first 16 bytes are not a ring of this layout, or `None` if they are.
fn not_ours(header: &[u8; 16]) -> Option<String> {
    let magic: [u8; 8] = header[..8].try_into().unwrap_or_default();
    let version = u32::from_ne_bytes(header[8..12].try_into().unwrap_or_default());
    if magic == MAGIC && version == LAYOUT_VERSION {
        None
    } else if magic == MAGIC_V1 || magic == MAGIC {
        let which = if magic == MAGIC_V1 || version < LAYOUT_VERSION {
            "an older"
        } else {
            "a newer"
        };
        Some(format!(
            "it is a ring of layout version {version} ({which} shmring/shmpipe), whose holders this version cannot check; remove it with `shmpipe rm --force` if nothing uses it"
        ))
    } else if magic == [0; 8] {
        Some("it holds no ring header (its first bytes are zero): not a shmpipe segment, or a ring whose creator crashed before writing its header; remove it (`shmpipe rm --force`) if it is yours".to_owned())
    } else {
        Some(format!(
            "it is not a shmpipe segment (it starts with {:?})",
            String::from_utf8_lossy(&magic)
        ))
    }
}

/// The System V half of [`judge_stale`].
fn judge_sysv(
    key: libc::key_t,
    occupied: &dyn Fn(String) -> CreateError,
) -> Result<Verdict, CreateError> {
    let shmid = match sysv::shmget(key, 0, 0) {
        Ok(id) => id,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Verdict::Gone),
        Err(e) => return Err(occupied(format!("it cannot be looked up ({e})"))),
    };
    let attached = |shmid| sysv::stat(shmid).map(|ds| ds.shm_nattch);
    match attached(shmid) {
        Ok(0) => {}
        Ok(n) => {
            return Err(occupied(format!(
                "it is attached by {n} process{}",
                if n == 1 { "" } else { "es" }
            )))
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIDRM)) => {
            return Ok(Verdict::Gone)
        }
        Err(e) => return Err(occupied(format!("it cannot be checked ({e})"))),
    }
    let header = sysv::read_header(shmid)
        .map_err(|e| occupied(format!("its header cannot be read ({e})")))?;
    let Some(header) = header else {
        return Err(occupied("it is too small to be a shmpipe ring".to_owned()));
    };
    not_ours(&header).map_or(Ok(()), |reason| Err(occupied(reason)))?;
    // Removed by its id, which never names a later segment with the same key. A racing
    // replacer that removed it first makes this fail with EINVAL/EIDRM: then the key is free
    // (or already taken by the winner's exclusive create, which our create will report).
    let _ = sysv::remove_id(shmid);
    Ok(Verdict::Stale(Stale {
        description: "no process has it attached any more: left by a crash".to_owned(),
        kind: Kind::SysV,
    }))
}

impl Stale {
    /// Where to build the new ring before moving it into place: a temporary name beside the
    /// stale one (POSIX and file), or the segment itself (System V, whose stale segment is
    /// already removed).
    pub(crate) fn temporary(&self, seg: &Segment) -> Segment {
        // Unique enough for a name created exclusively: the pid and the clock's nanoseconds.
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tag = format!(".shmpipe-new-{}-{n}", std::process::id());
        match (&self.kind, seg) {
            (Kind::File { .. }, Segment::Posix(_)) => Segment::Posix(format!("/{tag}")),
            (Kind::File { path, .. }, Segment::File(_)) => Segment::File(path.with_file_name(tag)),
            _ => seg.clone(),
        }
    }

    /// Moves the new ring (created and initialised under [`temporary`](Self::temporary))
    /// over the stale one's name, if the name still refers to the stale ring, and renames
    /// `mapping` accordingly. On failure the temporary name is removed.
    pub(crate) fn install(self, mapping: &mut Mapping, seg: &Segment) -> Result<(), CreateError> {
        let Kind::File { id, path, .. } = &self.kind else {
            return Ok(()); // System V: created under the key itself.
        };
        let temp = match &mapping.name {
            Named::Posix { name, .. } => {
                Path::new(SHM_DIR).join(name.to_string_lossy().trim_start_matches('/'))
            }
            Named::File { path, .. } => path.clone(),
            _ => return Ok(()),
        };
        let still_stale = std::fs::symlink_metadata(path)
            .map(|m| FileId::of(&m) == *id && m.file_type().is_file())
            .unwrap_or(false);
        let moved = if still_stale {
            std::fs::rename(&temp, path)
        } else {
            Err(io::Error::other(
                "another process replaced it (or removed it) first",
            ))
        };
        if let Err(e) = moved {
            let _ = mapping.remove_name();
            return Err(CreateError::Occupied {
                segment: seg.to_string(),
                reason: format!("the stale ring could not be replaced: {e}"),
            });
        }
        // The name is ours now: later removals must name it, with the new ring's identity.
        mapping.name = match std::mem::replace(&mut mapping.name, Named::None) {
            Named::Posix { id, .. } => match seg {
                Segment::Posix(name) => match posix::name(name) {
                    Ok(name) => Named::Posix { name, id },
                    Err(_) => Named::None,
                },
                _ => Named::None,
            },
            Named::File { id, .. } => Named::File {
                path: path.clone(),
                id,
            },
            other => other,
        };
        Ok(())
    }
}
