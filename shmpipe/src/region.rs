//! The data region: the payload bytes of a ring, reached only through this module (the second
//! shim, beside `sync`).
//!
//! Built normally a [`DataRegion`] is a raw pointer and a length, and a copy is a
//! `memcpy` (or two unaligned words for 8 to 16 bytes). Built with `RUSTFLAGS="--cfg loom"`
//! every access also goes through a `loom::cell::UnsafeCell` per 8-byte granule, so loom
//! reports a data race if a record is read before it is published or space is reused before
//! it is released (or while a zero-copy view of it is lent).

use crate::sync::Ordering;

/// Bytes of the data region tracked by one loom cell: the record alignment, so a granule
/// never belongs to two records.
#[cfg(loom)]
pub(crate) const GRANULE: usize = 8;

/// Loom's bookkeeping for a data region: one cell per 8-byte granule.
#[cfg(loom)]
pub(crate) type Cells = [loom::cell::UnsafeCell<()>];

/// Makes the loom cells for a data region of `len` bytes.
#[cfg(loom)]
pub(crate) fn new_cells(len: usize) -> Box<Cells> {
    (0..len.div_ceil(GRANULE))
        .map(|_| loom::cell::UnsafeCell::new(()))
        .collect()
}

/// A view of a ring's data region: `len` bytes at `base`.
///
/// The methods are `unsafe` because the region is shared with another process: the caller
/// must own the byte range it touches by the ring protocol (the writer owns free space, the
/// reader owns published, unreleased records). Bounds are checked with `debug_assert!` only;
/// the protocol validates every offset it computes from shared memory before calling here.
#[derive(Clone, Copy)]
pub(crate) struct DataRegion<'a> {
    base: *mut u8,
    len: usize,
    #[cfg(loom)]
    cells: &'a Cells,
    #[cfg(not(loom))]
    _life: core::marker::PhantomData<&'a [u8]>,
}

impl<'a> DataRegion<'a> {
    /// A view of `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must stay mapped, readable and writable for `'a`, and `base` must be
    /// 8-byte aligned.
    #[cfg(not(loom))]
    pub(crate) unsafe fn new(base: *mut u8, len: usize) -> Self {
        Self {
            base,
            len,
            _life: core::marker::PhantomData,
        }
    }

    /// A view of `len` bytes at `base`, tracked by `cells`.
    ///
    /// # Safety
    /// As for the `std` build; `cells` must hold one cell per granule of the region.
    #[cfg(loom)]
    pub(crate) unsafe fn new(base: *mut u8, len: usize, cells: &'a Cells) -> Self {
        Self { base, len, cells }
    }

    #[cfg(loom)]
    fn granules(&self, offset: usize, len: usize) -> core::ops::Range<usize> {
        offset / GRANULE..(offset + len).div_ceil(GRANULE)
    }

    /// Asks the CPU to start bringing the two cache lines from byte `offset` (the next
    /// record's header, and the line after it, where a payload of more than 56 bytes goes on)
    /// to this core, without waiting for them: a hint, not an access. The slow path of a
    /// receive issues it at each look at the write position (`ReaderState::refresh_write`,
    /// through `try_next`: every look of a waiting receive's spin and wake-ups, and the second
    /// look of a `try_recv` whose fast path found nothing), so when the writer has published,
    /// the record's lines cross between the cores together with the position's line instead of
    /// after it (ping-pong round trips: see "Prefetching
    /// the next record" in docs/BENCHMARKS.md). The fast path of a receive does not: there the
    /// writer may still be filling the line, and taking it from the writer's core slowed
    /// streaming. A no-op off x86-64 and under loom (nothing is read, nothing to model).
    #[inline(always)]
    pub(crate) fn prefetch(&self, offset: usize) {
        debug_assert!(offset < self.len);
        #[cfg(all(target_arch = "x86_64", not(loom)))]
        {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let at = self.base.wrapping_add(offset);
            // SAFETY: `prefetcht0` is a hint: it never faults and reads nothing the program can
            // observe, whatever the address (the second line may lie past the region's end:
            // still no access). SSE, which the intrinsic is declared to need, is part of every
            // x86-64 CPU.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(at as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(64) as *const i8);
            }
        }
    }

    /// Evicts the 64-byte line at `offset` (a multiple of 64) from every cache, writing it back
    /// to memory if it is dirty: a hint, which changes no byte of the region. A reader on the
    /// writer's heels calls it for each line it has finished with, so the writer's next stores
    /// into the line need no cross-core claim of it (see `hand_back`), `how` the CPU allows
    /// ([`Eviction`]). Lines outside the region are left alone. A no-op off x86-64
    /// and under loom.
    #[inline(always)]
    pub(crate) fn evict_line(&self, offset: usize, how: Eviction) {
        debug_assert!(offset % 64 == 0);
        if offset >= self.len || self.len - offset < 64 {
            return;
        }
        #[cfg(all(target_arch = "x86_64", not(loom)))]
        {
            let at = self.base.wrapping_add(offset);
            if how == Eviction::Weak {
                // SAFETY: `offset + 64 <= len`, so the line lies in the region, which stays
                // mapped and readable for `'a` (`new`'s contract); `clflushopt` needs no more
                // (it is checked like a one-byte load), changes no value, touches no register
                // or flag, and `Eviction::detect` found it on this CPU.
                unsafe {
                    core::arch::asm!("clflushopt [{0}]", in(reg) at, options(nostack, preserves_flags))
                };
            } else {
                // SAFETY: as above, with `clflush`; SSE2, which the intrinsic is declared to
                // need, is part of every x86-64 CPU.
                unsafe { core::arch::x86_64::_mm_clflush(at) };
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(loom))))]
        let _ = how;
    }

    /// Copies `src` into the region at `offset`.
    ///
    /// # Safety
    /// `offset + src.len() <= len()`, and the range is free space owned by the writer.
    #[inline]
    pub(crate) unsafe fn write(&self, offset: usize, src: &[u8]) {
        debug_assert!(offset + src.len() <= self.len);
        #[cfg(loom)]
        for g in self.granules(offset, src.len()) {
            self.cells[g].with_mut(|_| ());
        }
        // SAFETY: the caller guarantees the range is inside the region and owned by us; `src`
        // is private memory, so the two cannot overlap.
        unsafe { copy_bytes(src.as_ptr(), self.base.add(offset), src.len()) }
    }

    /// Copies `dst.len()` bytes at `offset` out of the region.
    ///
    /// # Safety
    /// `offset + dst.len() <= len()`, and the range is a published record owned by the reader.
    #[inline]
    pub(crate) unsafe fn read(&self, offset: usize, dst: &mut [u8]) {
        debug_assert!(offset + dst.len() <= self.len);
        #[cfg(loom)]
        for g in self.granules(offset, dst.len()) {
            self.cells[g].with(|_| ());
        }
        // SAFETY: the caller guarantees the range is inside the region and published to us;
        // `dst` is private memory, so the two cannot overlap.
        unsafe { copy_bytes(self.base.add(offset), dst.as_mut_ptr(), dst.len()) }
    }

    /// Stores one 8-byte record header at `offset`.
    ///
    /// # Safety
    /// `offset` is 8-aligned, `offset + 8 <= len()`, and the word is free space owned by the
    /// writer.
    #[inline]
    pub(crate) unsafe fn write_word(&self, offset: usize, word: u64) {
        debug_assert!(offset % 8 == 0 && offset + 8 <= self.len);
        // Loom: a tracked byte copy (loom atomics cannot be laid over raw bytes).
        #[cfg(loom)]
        // SAFETY: forwarded from this function's contract.
        unsafe {
            self.write(offset, &word.to_ne_bytes())
        }
        #[cfg(not(loom))]
        // SAFETY: in bounds and 8-aligned (the base is page-aligned, the offset a multiple of
        // 8). The store is a relaxed atomic so that a peer reading the word concurrently
        // (which a buggy or hostile peer may do) is not undefined behaviour.
        unsafe {
            (*(self.base.add(offset) as *const crate::sync::AtomicU64))
                .store(word, Ordering::Relaxed)
        }
    }

    /// Loads one 8-byte record header at `offset`, exactly once (so a hostile writer cannot
    /// change it between its validation and its use).
    ///
    /// # Safety
    /// `offset` is 8-aligned, `offset + 8 <= len()`, and the word belongs to a published record.
    #[inline]
    pub(crate) unsafe fn read_word(&self, offset: usize) -> u64 {
        debug_assert!(offset % 8 == 0 && offset + 8 <= self.len);
        #[cfg(loom)]
        {
            let mut b = [0u8; 8];
            // SAFETY: forwarded from this function's contract.
            unsafe { self.read(offset, &mut b) };
            u64::from_ne_bytes(b)
        }
        #[cfg(not(loom))]
        // SAFETY: in bounds and 8-aligned; atomic so a concurrent hostile store is not UB.
        unsafe {
            (*(self.base.add(offset) as *const crate::sync::AtomicU64)).load(Ordering::Relaxed)
        }
    }

    /// Lends `len` bytes at `offset` for reading in place until the returned [`Lent`] drops.
    ///
    /// # Safety
    /// As for [`read`](Self::read); the range stays the reader's while the `Lent` lives, and
    /// the memory stays mapped that long.
    #[inline]
    pub(crate) unsafe fn lend(&self, offset: usize, len: usize) -> Lent {
        debug_assert!(offset + len <= self.len);
        Lent {
            // SAFETY: in bounds by the caller's contract.
            ptr: unsafe { self.base.add(offset) },
            len,
            #[cfg(loom)]
            _guards: self
                .granules(offset, len)
                .map(|g| self.cells[g].get())
                .collect(),
        }
    }

    /// Lends `len` bytes at `offset` for writing in place until the returned [`LentMut`] drops.
    ///
    /// # Safety
    /// As for [`write`](Self::write); the range stays the writer's while the `LentMut` lives,
    /// and the memory stays mapped that long.
    #[inline]
    pub(crate) unsafe fn lend_mut(&self, offset: usize, len: usize) -> LentMut {
        debug_assert!(offset + len <= self.len);
        LentMut {
            // SAFETY: in bounds by the caller's contract.
            ptr: unsafe { self.base.add(offset) },
            len,
            #[cfg(loom)]
            _guards: self
                .granules(offset, len)
                .map(|g| self.cells[g].get_mut())
                .collect(),
        }
    }
}

/// Bytes of the data region lent for reading in place (a zero-copy receive).
///
/// Under loom it holds the cells' read guards, so a writer reusing the space while it is lent
/// is reported as a data race.
pub(crate) struct Lent {
    ptr: *const u8,
    len: usize,
    #[cfg(loom)]
    _guards: Vec<loom::cell::ConstPtr<()>>,
}

impl Lent {
    /// The lent bytes.
    ///
    /// # Safety
    /// The mapping the bytes live in must outlive the returned slice.
    #[inline]
    pub(crate) unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        // SAFETY: the region was in bounds when lent, the protocol keeps the writer out of it
        // until it is released, and the caller keeps the mapping alive for 'a.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Bytes of the data region lent for writing in place (a zero-copy send).
pub(crate) struct LentMut {
    ptr: *mut u8,
    len: usize,
    #[cfg(loom)]
    _guards: Vec<loom::cell::MutPtr<()>>,
}

impl LentMut {
    /// The lent bytes.
    ///
    /// # Safety
    /// The mapping must outlive the returned slice, and only one slice may be live at a time.
    #[inline]
    pub(crate) unsafe fn as_mut_slice<'a>(&mut self) -> &'a mut [u8] {
        // SAFETY: the region was in bounds when lent and is free space no reader may touch
        // until it is published; the caller keeps the mapping alive and the slice unique.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// The lent bytes, read-only.
    ///
    /// # Safety
    /// As for [`as_mut_slice`](Self::as_mut_slice).
    #[inline]
    pub(crate) unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        // SAFETY: as above.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// `copy_nonoverlapping`, with 8 to 64 bytes copied inline as two (possibly overlapping)
/// unaligned blocks of 8, 16 or 32 bytes instead of through a call to `memcpy`: small messages
/// are the common case, and a call costs more than the copy.
///
/// # Safety
/// As for `copy_nonoverlapping`: `len` bytes readable at `src`, writable at `dst`, the two
/// ranges disjoint.
#[inline(always)]
unsafe fn copy_bytes(src: *const u8, dst: *mut u8, len: usize) {
    if (8..=16).contains(&len) {
        // SAFETY: as in `copy_two`, with blocks of 8 (`8 <= len <= 16`).
        unsafe { copy_two::<u64>(src, dst, len) }
    } else if (17..=32).contains(&len) {
        // SAFETY: blocks of 16 (`16 <= len <= 32`).
        unsafe { copy_two::<[u8; 16]>(src, dst, len) }
    } else if (33..=64).contains(&len) {
        // SAFETY: blocks of 32 (`32 <= len <= 64`).
        unsafe { copy_two::<[u8; 32]>(src, dst, len) }
    } else {
        // SAFETY: forwarded from this function's contract.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, len) }
    }
}

/// Copies `len` bytes as two blocks of `B`: the first `size_of::<B>()` bytes and the last
/// (overlapping in the middle when `len` is less than twice the block).
///
/// # Safety
/// `size_of::<B>() <= len <= 2 * size_of::<B>()`, and the contract of `copy_bytes`; `B` is a
/// plain array or integer (any bit pattern is valid).
#[inline(always)]
unsafe fn copy_two<B: Copy>(src: *const u8, dst: *mut u8, len: usize) {
    let block = core::mem::size_of::<B>();
    debug_assert!(block <= len && len <= 2 * block);
    // SAFETY: both blocks lie inside the `len` bytes of each range (`block <= len`), which the
    // caller guarantees; unaligned accesses need no alignment; both reads happen before the
    // writes, and the ranges are disjoint.
    unsafe {
        let head = src.cast::<B>().read_unaligned();
        let tail = src.add(len - block).cast::<B>().read_unaligned();
        dst.cast::<B>().write_unaligned(head);
        dst.add(len - block).cast::<B>().write_unaligned(tail);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::copy_bytes;

    /// Every length from 0 to 200, at every alignment of source and destination up to 8: the
    /// bytes copied are exactly the source's, and no byte around the destination changes
    /// (the inline paths for 8 to 64 bytes copy two overlapping blocks).
    #[test]
    fn copies_every_length_exactly() {
        let src: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=200 {
            for (s_off, d_off) in [(0, 0), (1, 3), (5, 0), (7, 7), (0, 6)] {
                let mut dst = vec![0xeeu8; 300];
                // SAFETY: `len` bytes at `s_off` and `d_off + 16` are inside the two separate
                // vectors.
                unsafe {
                    copy_bytes(
                        src.as_ptr().add(s_off),
                        dst.as_mut_ptr().add(d_off + 16),
                        len,
                    )
                };
                let at = d_off + 16;
                assert_eq!(&dst[at..at + len], &src[s_off..s_off + len], "len {len}");
                assert!(dst[..at].iter().all(|&b| b == 0xee), "before, len {len}");
                assert!(
                    dst[at + len..].iter().all(|&b| b == 0xee),
                    "after, len {len}"
                );
            }
        }
    }
}

/// How [`DataRegion::evict_line`] evicts a line on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eviction {
    /// `clflush`: every x86-64 CPU has it; ordered with the stores after it.
    Strong,
    /// `clflushopt`: ordered only with fences and with stores to the same line, so the
    /// reader's next stores (its read position) do not wait for the write-back.
    Weak,
}

impl Eviction {
    /// The weak eviction where the CPU has it (CPUID leaf 7, EBX bit 23), the strong one
    /// otherwise (and off x86-64, where eviction does nothing).
    pub(crate) fn detect() -> Self {
        #[cfg(all(target_arch = "x86_64", not(loom)))]
        {
            use core::arch::x86_64::{__cpuid_count, __get_cpuid_max};
            // The intrinsics are safe functions from Rust 1.87 on, `unsafe` before.
            #[allow(unused_unsafe)]
            // SAFETY: CPUID exists on every x86-64 CPU, and leaf 7 is asked for only where the
            // highest basic leaf is at least 7; it reads identification registers only.
            let weak =
                unsafe { __get_cpuid_max(0).0 >= 7 && __cpuid_count(7, 0).ebx & (1 << 23) != 0 };
            if weak {
                return Eviction::Weak;
            }
        }
        Eviction::Strong
    }
}
