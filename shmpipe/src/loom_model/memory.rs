//! The loom build's `Memory` (in place of the std `memory` module, with the same names): a
//! constructed header, the payload bytes with one loom cell per 8-byte granule, and the model
//! of what the kernel keeps for a segment (`LoomOs`: its lock table and its name).

use crate::layout::{Backend, Geometry, Header, IdentityLine, SideLine, STATE_VACANT, WAKE_IDLE};
use crate::loom_model::os::{LoomOs, ModelLocks};
use crate::ownership::Liveness;
use crate::protocol::RingRef;
use crate::region::{new_cells, Cells, DataRegion};
use crate::sync::{AtomicU32, AtomicU64};

/// A ring's memory in a model.
pub(crate) struct Memory {
    header: Box<Header>,
    data: *mut u8,
    _bytes: Box<[u8]>,
    cells: Box<Cells>,
    pub(crate) geometry: Geometry,
    /// The model of the kernel's lock table and of the segment's name.
    os: LoomOs,
    /// Roles tracked as in a std heap ring (the holder word's compare-exchange alone), rather
    /// than through the modelled lock table.
    in_process: bool,
}

// SAFETY: as for the std `Memory`: every shared access goes through (loom) atomics or through
// byte ranges the protocol hands to exactly one handle, tracked by the loom cells.
unsafe impl Send for Memory {}
// SAFETY: as above.
unsafe impl Sync for Memory {}

impl Memory {
    /// A heap block whose roles are claimed through the modelled lock table, as a shared
    /// segment's are.
    pub(crate) fn heap(geometry: Geometry) -> Option<Memory> {
        Some(Self::new(geometry, false))
    }

    /// A heap block whose roles are tracked as a std heap ring's are.
    pub(crate) fn heap_in_process(geometry: Geometry) -> Option<Memory> {
        Some(Self::new(geometry, true))
    }

    fn new(geometry: Geometry, in_process: bool) -> Memory {
        let mut bytes = vec![0u8; geometry.capacity as usize].into_boxed_slice();
        let cells = new_cells(bytes.len());
        Memory {
            header: Box::new(Header::new()),
            data: bytes.as_mut_ptr(),
            _bytes: bytes,
            cells,
            geometry,
            os: LoomOs::default(),
            in_process,
        }
    }

    /// The ring as the protocol sees it.
    pub(crate) fn ring(&self) -> RingRef<'_> {
        // SAFETY: `data` points at `capacity` bytes owned by `self`; the cells cover them.
        let data =
            unsafe { DataRegion::new(self.data, self.geometry.capacity as usize, &self.cells) };
        RingRef {
            header: self.header(),
            data,
            capacity: self.geometry.capacity,
        }
    }

    /// The header.
    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// The backend the segment was created with.
    pub(crate) fn backend(&self) -> Backend {
        self.geometry.backend
    }

    /// How the liveness of this ring's roles is known.
    pub(crate) fn liveness(&self) -> Liveness<'_> {
        if self.in_process {
            Liveness::InProcess
        } else {
            Liveness::Locks(ModelLocks(&self.os))
        }
    }

    /// Records the name's removal (a model's segment has no name).
    pub(crate) fn remove_name(&self) {
        self.os.remove_name();
    }

    /// Has an attach removed the segment's name?
    pub(crate) fn name_removed(&self) -> bool {
        self.os.name_removed()
    }

    /// The model of the kernel's lock table, for `fork` and death.
    pub(crate) fn os(&self) -> &LoomOs {
        &self.os
    }
}

/// Loom's atomics cannot live in zeroed memory: the model constructs its header.
impl SideLine {
    pub(crate) fn new() -> Self {
        SideLine {
            position: AtomicU64::new(0),
            _hot_pad: [0; 56],
            state: AtomicU32::new(STATE_VACANT),
            wake: AtomicU32::new(WAKE_IDLE),
            owner: AtomicU64::new(0),
            _cold_pad: [0; 48],
        }
    }
}

impl Header {
    /// A fresh, uninitialised header for loom (whose atomics cannot live in zeroed memory).
    pub(crate) fn new() -> Self {
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
                _reserved: [0; 72],
            },
            writer: SideLine::new(),
            reader: SideLine::new(),
        }
    }
}
