//! The shared-memory layout, version 2: a `#[repr(C)]` header at offset 0 and the data region
//! at `HEADER_SIZE`. This is a public contract, specified byte by byte in `docs/LAYOUT.md`;
//! changing it bumps [`LAYOUT_VERSION`].
//!
//! Every field is an atomic, even the ones written once before the init word is published:
//! the other process may be buggy or hostile and store to them at any time, and an atomic
//! load makes that a wrong value (which we validate) rather than undefined behaviour.

use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// The magic bytes at offset 0: `b"SHMPIPE\0"`.
pub const MAGIC: [u8; 8] = *b"SHMPIPE\0";
/// The magic of layout version 1 (`shmring`), recognised only to name it in errors and
/// listings.
pub const MAGIC_V1: [u8; 8] = *b"SHMRING\0";
/// The layout version this crate reads and writes. Version 2 (shmpipe) replaced version 1
/// (shmring): roles are held by file locks instead of pids, and the holder and creator words
/// record a pid and a PID namespace instead of a pid and a start time.
pub const LAYOUT_VERSION: u32 = 2;
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
    #[cfg(not(loom))]
    _reserved: [u8; 72],
}

/// One side's line (writer at 128, reader at 256). The hot position word sits alone in the
/// first 64 bytes; the rarely written words sit in the second 64, so polling them for a
/// close or a sleeper never pulls in the cache line the peer is hammering.
#[repr(C)]
pub(crate) struct SideLine {
    /// Bytes ever committed (writer) or released (reader); monotonic, a multiple of 8.
    pub position: AtomicU64,
    #[cfg(not(loom))]
    _hot_pad: [u8; 56],
    /// [`STATE_VACANT`], [`STATE_ATTACHED`] or [`STATE_CLOSED`].
    pub state: AtomicU32,
    /// This side's futex word: [`WAKE_SLEEPING`] while it sleeps, the peer resets and wakes.
    pub wake: AtomicU32,
    /// Who holds (or last held) the role, informative: `pid | namespace << 32` (the low 32
    /// bits of the holder's PID-namespace inode); System V rings: `pid | start_ticks << 32`.
    /// 0 when nobody ever attached. Liveness never reads it (see `ownership`).
    pub owner: AtomicU64,
    #[cfg(not(loom))]
    _cold_pad: [u8; 48],
}

/// The header at offset 0 of every segment.
#[repr(C)]
pub(crate) struct Header {
    pub identity: IdentityLine,
    #[cfg(not(loom))]
    _id_pad: [u8; 128 - core::mem::size_of::<IdentityLine>()],
    pub writer: SideLine,
    pub reader: SideLine,
    /// Loom's stand-in for the kernel's futex wait queue (not part of the shared layout).
    #[cfg(loom)]
    pub parking: crate::sync::Parking,
    /// Loom's stand-in for the process table and the segment's name (not part of the layout).
    #[cfg(loom)]
    pub os: crate::sync::LoomOs,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<IdentityLine>() == 128);
    assert!(size_of::<SideLine>() == 128);
    assert!(size_of::<Header>() == 384);
    assert!(size_of::<Header>() <= HEADER_SIZE);
    assert!(align_of::<Header>() == 8);
    assert!(offset_of!(Header, identity) == 0);
    assert!(offset_of!(Header, writer) == 128);
    assert!(offset_of!(Header, reader) == 256);
    assert!(offset_of!(IdentityLine, magic) == 0);
    assert!(offset_of!(IdentityLine, version) == 8);
    assert!(offset_of!(IdentityLine, header_size) == 12);
    assert!(offset_of!(IdentityLine, capacity) == 16);
    assert!(offset_of!(IdentityLine, flags) == 24);
    assert!(offset_of!(IdentityLine, endian) == 28);
    assert!(offset_of!(IdentityLine, init) == 32);
    assert!(offset_of!(IdentityLine, creator_pid) == 36);
    assert!(offset_of!(IdentityLine, creator_ns) == 40);
    assert!(offset_of!(IdentityLine, pointer_bits) == 48);
    assert!(offset_of!(IdentityLine, backend) == 52);
    assert!(offset_of!(SideLine, position) == 0);
    assert!(offset_of!(SideLine, state) == 64);
    assert!(offset_of!(SideLine, wake) == 68);
    assert!(offset_of!(SideLine, owner) == 72);
};

/// The byte offset of a role's holder word in the segment (for a reader of the raw file).
#[cfg(not(loom))]
pub(crate) fn owner_offset(role: crate::error::Role) -> u64 {
    use core::mem::offset_of;
    let line = match role {
        crate::error::Role::Writer => offset_of!(Header, writer),
        crate::error::Role::Reader => offset_of!(Header, reader),
    };
    (line + offset_of!(SideLine, owner)) as u64
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

impl SideLine {
    #[cfg(loom)]
    fn new() -> Self {
        SideLine {
            position: AtomicU64::new(0),
            state: AtomicU32::new(STATE_VACANT),
            wake: AtomicU32::new(WAKE_IDLE),
            owner: AtomicU64::new(0),
        }
    }
}

impl Header {
    /// A fresh, uninitialised header for loom (whose atomics cannot live in zeroed memory).
    #[cfg(loom)]
    pub(crate) fn new_loom() -> Self {
        Header {
            identity: IdentityLine {
                magic: AtomicU64::new(0),
                version: AtomicU32::new(0),
                header_size: AtomicU32::new(0),
                capacity: AtomicU64::new(0),
                flags: AtomicU32::new(0),
                endian: AtomicU32::new(0),
                init: AtomicU32::new(0),
                creator_pid: AtomicU32::new(0),
                creator_ns: AtomicU64::new(0),
                pointer_bits: AtomicU32::new(0),
                backend: AtomicU32::new(0),
            },
            writer: SideLine::new(),
            reader: SideLine::new(),
            parking: Default::default(),
            os: Default::default(),
        }
    }

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

    /// Checks the identity line of a header whose init word is set, against a segment of
    /// `segment_len` bytes, and returns the geometry. Nothing here is trusted.
    pub(crate) fn validate(&self, segment_len: u64) -> Result<Geometry, LayoutError> {
        let id = &self.identity;
        let magic = id.magic.load(Ordering::Relaxed).to_ne_bytes();
        if magic != MAGIC {
            return Err(LayoutError::BadMagic(magic));
        }
        let endian = id.endian.load(Ordering::Relaxed);
        if endian != ENDIAN_MARK {
            return Err(LayoutError::Incompatible(format!(
                "its endianness marker reads {endian:#010x}, expected {ENDIAN_MARK:#010x} (created on a machine of the other byte order?)"
            )));
        }
        let version = id.version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(LayoutError::Version(version));
        }
        let bits = id.pointer_bits.load(Ordering::Relaxed);
        if bits != usize::BITS {
            return Err(LayoutError::Incompatible(format!(
                "it was created by a {bits}-bit process and this one is {}-bit",
                usize::BITS
            )));
        }
        let header_size = id.header_size.load(Ordering::Relaxed);
        if header_size as usize != HEADER_SIZE {
            return Err(LayoutError::Geometry(format!(
                "header size {header_size}, expected {HEADER_SIZE}"
            )));
        }
        let capacity = id.capacity.load(Ordering::Relaxed);
        if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
            return Err(LayoutError::Geometry(format!(
                "capacity {capacity} is not a power of two between {MIN_CAPACITY} and {MAX_CAPACITY}"
            )));
        }
        let needed = HEADER_SIZE as u64 + capacity;
        if segment_len < needed {
            return Err(LayoutError::Truncated {
                needed,
                actual: segment_len,
            });
        }
        let flags = id.flags.load(Ordering::Relaxed);
        if flags & !KNOWN_FLAGS != 0 {
            return Err(LayoutError::Geometry(format!(
                "unknown flags {:#x}",
                flags & !KNOWN_FLAGS
            )));
        }
        let code = id.backend.load(Ordering::Relaxed);
        let backend = Backend::from_code(code)
            .ok_or_else(|| LayoutError::Geometry(format!("unknown backend code {code}")))?;
        Ok(Geometry {
            capacity,
            flags,
            backend,
        })
    }

    /// The creator's word as recorded in the header: `pid | namespace << 32` (System V:
    /// `pid | start << 32`).
    pub(crate) fn creator(&self) -> u64 {
        let pid = self.identity.creator_pid.load(Ordering::Relaxed);
        let ns = self.identity.creator_ns.load(Ordering::Relaxed);
        u64::from(pid) | ((ns & 0xffff_ffff) << 32)
    }

    /// One role's line.
    pub(crate) fn side(&self, role: crate::error::Role) -> &SideLine {
        match role {
            crate::error::Role::Writer => &self.writer,
            crate::error::Role::Reader => &self.reader,
        }
    }
}

/// Why a header was refused (mapped onto `OpenError` by the caller).
#[derive(Debug)]
pub(crate) enum LayoutError {
    BadMagic([u8; 8]),
    Version(u32),
    Incompatible(String),
    Geometry(String),
    Truncated { needed: u64, actual: u64 },
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
