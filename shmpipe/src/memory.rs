//! The memory a ring lives in: a heap block in this process or a shared mapping, shared by the
//! `Ring` and its handles through an `Arc`. It holds the validated geometry, so nothing about
//! the layout is re-read from shared memory after `open`.

use crate::layout::{Backend, Geometry, Header};
use crate::os::Pids;
use crate::ownership::Liveness;
use crate::protocol::RingRef;
use crate::region::DataRegion;
use crate::segment::locks::FdLocks;

/// A ring's memory and its validated geometry.
pub(crate) struct Memory {
    header: *const Header,
    data: *mut u8,
    pub(crate) geometry: Geometry,
    backing: Backing,
}

enum Backing {
    /// Kept only to be unmapped when the last handle goes.
    Mapped(crate::segment::Mapping),
    /// Kept only to be freed when the last handle goes.
    Heap { _block: HeapBlock },
}

// SAFETY: the memory is a plain block (heap or MAP_SHARED) reached only through atomics and the
// ring protocol, which decides which side may touch which bytes; the raw pointers are not tied
// to a thread.
unsafe impl Send for Memory {}
// SAFETY: as above; every shared access goes through atomics or through byte ranges the
// protocol hands to exactly one handle.
unsafe impl Sync for Memory {}

impl Memory {
    /// The ring as the protocol sees it.
    #[inline]
    pub(crate) fn ring(&self) -> RingRef<'_> {
        // SAFETY: `data` points at `capacity` bytes that live as long as `self` (the backing
        // is owned by `self`), and is page-aligned (mapping) or 4096-aligned (heap).
        let data = unsafe { DataRegion::new(self.data, self.geometry.capacity as usize) };
        RingRef {
            header: self.header(),
            data,
            capacity: self.geometry.capacity,
        }
    }

    /// The shared header.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: `header` points at a live, aligned header owned by the backing, which lives
        // as long as `self`; all its fields are atomics, so shared references are fine.
        unsafe { &*self.header }
    }

    /// The backend the segment was created with.
    pub(crate) fn backend(&self) -> Backend {
        self.geometry.backend
    }

    /// How the liveness of this ring's roles is known (see `ownership`).
    pub(crate) fn liveness(&self) -> Liveness<'_> {
        match &self.backing {
            Backing::Mapped(mapping) => match mapping.file() {
                Some(fd) => Liveness::Locks(FdLocks(fd, Some(mapping))),
                None => Liveness::Pids(Pids),
            },
            Backing::Heap { .. } => Liveness::InProcess,
        }
    }

    /// A pointer to byte `offset` of the segment as laid out (header at 0, data region at
    /// `HEADER_SIZE`), and how many bytes from there to the end of the data region; `None`
    /// past the end. For the test hook [`Ring::tamper`](crate::Ring::tamper).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn byte_ptr(&self, offset: usize) -> Option<(*mut u8, usize)> {
        use crate::layout::HEADER_SIZE;
        let capacity = self.geometry.capacity as usize;
        if offset < HEADER_SIZE {
            // SAFETY: the header block is HEADER_SIZE bytes (a page of the mapping or of the
            // heap block), so `offset` is inside it. The pointer was made from a `*mut u8` to
            // the block, so writing through it is allowed.
            let ptr = unsafe { (self.header as *mut u8).add(offset) };
            Some((ptr, HEADER_SIZE - offset))
        } else if offset - HEADER_SIZE < capacity {
            let at = offset - HEADER_SIZE;
            // SAFETY: `at < capacity`, and the data region is `capacity` bytes at `data`.
            Some((unsafe { self.data.add(at) }, capacity - at))
        } else {
            None
        }
    }

    /// Removes the segment's name (nothing for a heap ring). Best effort: a failure leaves the
    /// name for `shmpipe rm`.
    pub(crate) fn remove_name(&self) {
        if let Some(mapping) = self.mapping() {
            let _ = mapping.remove_name();
        }
    }

    /// The mapping, for name removal and memfd passing.
    pub(crate) fn mapping(&self) -> Option<&crate::segment::Mapping> {
        match &self.backing {
            Backing::Mapped(m) => Some(m),
            Backing::Heap { .. } => None,
        }
    }
}

mod imp {
    use super::*;
    use crate::layout::HEADER_SIZE;
    use std::alloc::{alloc_zeroed, dealloc, Layout};

    /// A zeroed, page-aligned heap block laid out exactly like a segment.
    pub(super) struct HeapBlock {
        ptr: *mut u8,
        layout: Layout,
    }

    impl Drop for HeapBlock {
        fn drop(&mut self) {
            // SAFETY: allocated by `alloc_zeroed` with this layout in `Memory::heap`.
            unsafe { dealloc(self.ptr, self.layout) }
        }
    }

    impl Memory {
        /// A zeroed heap block for a ring of `capacity` bytes. The caller initialises the header.
        pub(crate) fn heap(geometry: Geometry) -> Option<Memory> {
            let size = HEADER_SIZE.checked_add(usize::try_from(geometry.capacity).ok()?)?;
            let layout = Layout::from_size_align(size, HEADER_SIZE).ok()?;
            // SAFETY: the layout has a non-zero size (at least one page).
            let ptr = unsafe { alloc_zeroed(layout) };
            if ptr.is_null() {
                return None;
            }
            // SAFETY: the block is `size` bytes, so the data region at HEADER_SIZE is inside it.
            let data = unsafe { ptr.add(HEADER_SIZE) };
            Some(Memory {
                header: ptr as *const Header,
                data,
                geometry,
                backing: Backing::Heap {
                    _block: HeapBlock { ptr, layout },
                },
            })
        }

        /// A mapped segment whose header was validated against `geometry`.
        pub(crate) fn mapped(mapping: crate::segment::Mapping, geometry: Geometry) -> Memory {
            let base = mapping.ptr();
            debug_assert!(mapping.len() as u64 >= HEADER_SIZE as u64 + geometry.capacity);
            Memory {
                header: base as *const Header,
                // SAFETY: the mapping is at least HEADER_SIZE + capacity bytes (validated by
                // `Header::validate` or sized by the creator).
                data: unsafe { base.add(HEADER_SIZE) },
                geometry,
                backing: Backing::Mapped(mapping),
            }
        }

        /// The header of a mapping that is not yet wrapped in a `Memory`.
        ///
        /// # Safety
        /// `mapping` must be at least `HEADER_SIZE` bytes and page-aligned.
        pub(crate) unsafe fn header_of(mapping: &crate::segment::Mapping) -> &Header {
            // SAFETY: by the caller's contract the header fits; a page-aligned pointer is
            // aligned for the header; all fields are atomics valid for any bit pattern.
            unsafe { &*(mapping.ptr() as *const Header) }
        }
    }
}
use imp::HeapBlock;
