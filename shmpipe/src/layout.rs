//! The shared-memory layout, version 4: a `#[repr(C)]` header at offset 0 and the data region
//! at `HEADER_SIZE`. This is a public contract, specified byte by byte in `docs/LAYOUT.md`;
//! changing it bumps [`LAYOUT_VERSION`].
//!
//! Every field is an atomic, even the ones written once before the init word is published:
//! the other process may be buggy or hostile and store to them at any time, and an atomic
//! load makes that a wrong value (which we validate) rather than undefined behaviour.

use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Which end of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The one handle that sends.
    Writer,
    /// The one handle that receives.
    Reader,
}

impl core::fmt::Display for Role {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Role::Writer => "writer",
            Role::Reader => "reader",
        })
    }
}

/// The magic bytes at offset 0: `b"SHMPIPE\0"`.
pub const MAGIC: [u8; 8] = *b"SHMPIPE\0";
/// The magic of layout version 1 (`shmring`), recognised only to name it in errors and
/// listings.
pub const MAGIC_V1: [u8; 8] = *b"SHMRING\0";
/// The layout version this crate reads and writes. Version 2 (shmpipe) replaced version 1
/// (shmring): roles are held by file locks instead of pids, and the holder and creator words
/// record a pid and a PID namespace instead of a pid and a start time. Version 3 (the same
/// bytes) changed the sleep/wake handshake: a publish looks at the peer's wake word after a
/// compiler barrier only, and a sleeper issues `membarrier(2)` after its announcement (see
/// `fence`), so a version 2 sleeper could miss a version 3 publish. Version 4 (the same
/// header) added run records to the data region (`FLAG_RUN`: one header for many values sent
/// together), which a version 3 reader would take for corruption.
pub const LAYOUT_VERSION: u32 = 4;
/// Bytes before the data region (one page).
pub const HEADER_SIZE: usize = 4096;
/// The smallest capacity a ring may have, in bytes.
pub const MIN_CAPACITY: u64 = 16;
/// The largest capacity a ring may have, in bytes (1 TiB).
pub const MAX_CAPACITY: u64 = 1 << 40;
/// Written in native byte order; a peer of the other endianness reads it byte-swapped.
pub(crate) const ENDIAN_MARK: u32 = 0x0102_0304;

/// Header flag: do not unlink the segment's name once both sides have attached.
pub(crate) const FLAG_KEEP_NAME: u32 = 1;
/// Every flag this version understands.
pub(crate) const KNOWN_FLAGS: u32 = FLAG_KEEP_NAME;

/// Init word values.
pub(crate) const INIT_READY: u32 = 1;

/// The largest valid position: 2^64 - 2^42. A position above it is corruption. It keeps the
/// writer's free-space arithmetic (a position plus up to twice the capacity, at most 2^41)
/// from overflowing, whatever a hostile peer stores; an honest ring reaches it after moving
/// 16 EiB.
pub(crate) const MAX_POSITION: u64 = 0u64.wrapping_sub(1 << 42);

/// Role state values (`WriterLine::state`, `ReaderLine::state`).
pub(crate) const STATE_VACANT: u32 = 0;
pub(crate) const STATE_ATTACHED: u32 = 1;
pub(crate) const STATE_CLOSED: u32 = 2;

/// Wake word values: the side that owns the word is (about to be) asleep on it.
pub(crate) const WAKE_IDLE: u32 = 0;
pub(crate) const WAKE_SLEEPING: u32 = 1;

/// The backend that created a segment, recorded in the header for `shmpipe stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// A heap allocation in this process ([`crate::channel`]).
    Heap,
    /// POSIX `shm_open`.
    Posix,
    /// System V `shmget`.
    SysV,
    /// A file mapped `MAP_SHARED`.
    File,
    /// An anonymous `MAP_SHARED` mapping inherited across `fork`.
    Anonymous,
    /// A sealed `memfd_create` file passed over a Unix socket.
    Memfd,
}

impl Backend {
    pub(crate) fn code(self) -> u32 {
        match self {
            Backend::Heap => 0,
            Backend::Posix => 1,
            Backend::SysV => 2,
            Backend::File => 3,
            Backend::Anonymous => 4,
            Backend::Memfd => 5,
        }
    }

    pub(crate) fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Backend::Heap,
            1 => Backend::Posix,
            2 => Backend::SysV,
            3 => Backend::File,
            4 => Backend::Anonymous,
            5 => Backend::Memfd,
            _ => return None,
        })
    }

    /// A short lower-case name (`posix`, `sysv`, `file`, ...).
    ///
    /// ```
    /// assert_eq!(shmpipe::Backend::Posix.name(), "posix");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Backend::Heap => "heap",
            Backend::Posix => "posix",
            Backend::SysV => "sysv",
            Backend::File => "file",
            Backend::Anonymous => "anonymous",
            Backend::Memfd => "memfd",
        }
    }
}

impl core::fmt::Display for Backend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Offset 0: what the segment is. Written by the creator, then `init` is stored last.
#[repr(C)]
pub(crate) struct IdentityLine {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub header_size: AtomicU32,
    pub capacity: AtomicU64,
    pub flags: AtomicU32,
    pub endian: AtomicU32,
    /// 0 while the creator initialises, [`INIT_READY`] once every other field is written.
    pub init: AtomicU32,
    /// The creator's pid, as its own PID namespace numbers it (informative).
    pub creator_pid: AtomicU32,
    /// The low 32 bits of the inode of the creator's PID namespace (0 if unknown), so a pid
    /// from another namespace is shown as such; System V rings: the creator's start time
    /// (the low 32 bits of its clock ticks since boot), their liveness being by pid.
    pub creator_ns: AtomicU64,
    pub pointer_bits: AtomicU32,
    pub backend: AtomicU32,
    pub _reserved: [u8; 72],
}

/// One side's line (writer at 128, reader at 256). The hot position word sits alone in the
/// first 64 bytes; the rarely written words sit in the second 64, so polling them for a
/// close or a sleeper never pulls in the cache line the peer is hammering.
#[repr(C)]
pub(crate) struct SideLine {
    /// Bytes ever committed (writer) or released (reader); monotonic, a multiple of 8.
    pub position: AtomicU64,
    pub _hot_pad: [u8; 56],
    /// [`STATE_VACANT`], [`STATE_ATTACHED`] or [`STATE_CLOSED`].
    pub state: AtomicU32,
    /// This side's futex word: [`WAKE_SLEEPING`] while it sleeps, the peer resets and wakes.
    pub wake: AtomicU32,
    /// Who holds (or last held) the role, informative: `pid | namespace << 32` (the low 32
    /// bits of the holder's PID-namespace inode); System V rings: `pid | start_ticks << 32`.
    /// 0 when nobody ever attached. Liveness never reads it (see `ownership`).
    pub owner: AtomicU64,
    pub _cold_pad: [u8; 48],
}

/// The header at offset 0 of every segment.
#[repr(C)]
pub(crate) struct Header {
    pub identity: IdentityLine,
    pub writer: SideLine,
    pub reader: SideLine,
}

// The layout contract, checked at compile time wherever the atomics are the bare words (every
// real build; loom's modelled atomics are larger, and a loom header is never shared).
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    let bare = size_of::<AtomicU64>() == 8 && size_of::<AtomicU32>() == 4;
    assert!(!bare || size_of::<IdentityLine>() == 128);
    assert!(!bare || size_of::<SideLine>() == 128);
    assert!(!bare || size_of::<Header>() == 384);
    assert!(!bare || size_of::<Header>() <= HEADER_SIZE);
    assert!(!bare || align_of::<Header>() == 8);
    assert!(!bare || offset_of!(Header, identity) == 0);
    assert!(!bare || offset_of!(Header, writer) == 128);
    assert!(!bare || offset_of!(Header, reader) == 256);
    assert!(!bare || offset_of!(IdentityLine, magic) == 0);
    assert!(!bare || offset_of!(IdentityLine, version) == 8);
    assert!(!bare || offset_of!(IdentityLine, header_size) == 12);
    assert!(!bare || offset_of!(IdentityLine, capacity) == 16);
    assert!(!bare || offset_of!(IdentityLine, flags) == 24);
    assert!(!bare || offset_of!(IdentityLine, endian) == 28);
    assert!(!bare || offset_of!(IdentityLine, init) == 32);
    assert!(!bare || offset_of!(IdentityLine, creator_pid) == 36);
    assert!(!bare || offset_of!(IdentityLine, creator_ns) == 40);
    assert!(!bare || offset_of!(IdentityLine, pointer_bits) == 48);
    assert!(!bare || offset_of!(IdentityLine, backend) == 52);
    assert!(!bare || offset_of!(SideLine, position) == 0);
    assert!(!bare || offset_of!(SideLine, state) == 64);
    assert!(!bare || offset_of!(SideLine, wake) == 68);
    assert!(!bare || offset_of!(SideLine, owner) == 72);
};

/// The byte offset of a role's holder word in the segment (for a reader of the raw file).
pub(crate) fn owner_offset(role: Role) -> u64 {
    use core::mem::offset_of;
    let line = match role {
        Role::Writer => offset_of!(Header, writer),
        Role::Reader => offset_of!(Header, reader),
    };
    (line + offset_of!(SideLine, owner)) as u64
}

/// The pid part of a holder word.
pub(crate) fn holder_pid(word: u64) -> u32 {
    word as u32
}

/// The PID-namespace part of a holder word (0 if the holder could not tell).
pub(crate) fn holder_namespace(word: u64) -> u32 {
    (word >> 32) as u32
}

/// What a creator writes into a fresh header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub capacity: u64,
    pub flags: u32,
    pub backend: Backend,
}

/// The owner word of a role: a pid and the low 32 bits of its start time, so a recycled pid
/// does not look like the process that claimed the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner(pub u64);

impl Owner {
    pub(crate) fn new(pid: u32, start_ticks: u64) -> Self {
        Owner(u64::from(pid) | ((start_ticks & 0xffff_ffff) << 32))
    }
    pub(crate) fn pid(self) -> u32 {
        self.0 as u32
    }
    pub(crate) fn start_low(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

impl Header {
    /// Fills in a zeroed header and publishes it: every identity field first, then the init
    /// word with `Release`.
    pub(crate) fn initialise(&self, geometry: Geometry, creator: u64) {
        let id = &self.identity;
        id.magic.store(u64::from_ne_bytes(MAGIC), Ordering::Relaxed);
        id.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        id.header_size.store(HEADER_SIZE as u32, Ordering::Relaxed);
        id.capacity.store(geometry.capacity, Ordering::Relaxed);
        id.flags.store(geometry.flags, Ordering::Relaxed);
        id.endian.store(ENDIAN_MARK, Ordering::Relaxed);
        id.creator_pid.store(creator as u32, Ordering::Relaxed);
        id.creator_ns.store(creator >> 32, Ordering::Relaxed);
        id.pointer_bits.store(usize::BITS, Ordering::Relaxed);
        id.backend.store(geometry.backend.code(), Ordering::Relaxed);
        // SYNC POINT (init): publishes every identity field above to an opener's Acquire load
        // of `init` in `Header::is_ready`, after which `Header::validate` reads them. Checked by
        // loom model `opener_waits_for_initialised_header` (which opens a `LoomSegment` through
        // `is_ready` and `validate`, as `RingOptions::open` does; it refuses a half-written
        // header otherwise).
        id.init.store(INIT_READY, Ordering::Release);
    }

    /// Is the init word set? `Acquire`: pairs with the `Release` store in `initialise`.
    pub(crate) fn is_ready(&self) -> bool {
        // SYNC POINT (init): see `initialise`. Checked by loom model
        // `opener_waits_for_initialised_header`.
        self.identity.init.load(Ordering::Acquire) == INIT_READY
    }

    /// The creator's word as recorded in the header: `pid | namespace << 32` (System V:
    /// `pid | start << 32`).
    pub(crate) fn creator(&self) -> u64 {
        let pid = self.identity.creator_pid.load(Ordering::Relaxed);
        let ns = self.identity.creator_ns.load(Ordering::Relaxed);
        u64::from(pid) | ((ns & 0xffff_ffff) << 32)
    }

    /// One role's line.
    pub(crate) fn side(&self, role: Role) -> &SideLine {
        match role {
            Role::Writer => &self.writer,
            Role::Reader => &self.reader,
        }
    }
}

/// Is `capacity` a valid ring capacity?
pub(crate) fn check_capacity(capacity: u64) -> Result<(), String> {
    if !capacity.is_power_of_two() {
        return Err(format!("{capacity} is not a power of two"));
    }
    if capacity < MIN_CAPACITY {
        return Err(format!(
            "{capacity} is below the minimum of {MIN_CAPACITY} bytes"
        ));
    }
    if capacity > MAX_CAPACITY {
        return Err(format!(
            "{capacity} is above the maximum of {MAX_CAPACITY} bytes"
        ));
    }
    Ok(())
}
