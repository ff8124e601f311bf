//! The shim: the one module every atomic, fence and data-region access comes from.
//!
//! Built normally it is `std` with nothing added: the atomics are `#[repr(transparent)]`
//! wrappers that compile to the bare instructions, and the data region is a raw pointer.
//! Built with `RUSTFLAGS="--cfg loom"` the same names are `loom`'s: the atomics are modelled,
//! every access to the payload bytes goes through a `loom::cell::UnsafeCell` per 8-byte granule
//! (so loom reports a data race if a record is read before it is published or space is reused
//! before it is released), spinning yields to the loom scheduler, and the futex is modelled with
//! a loom `Mutex` and `Condvar`. The ring protocol is written once, against this module, so the
//! loom models in `loom-tests/` check the code that ships (see crossbeam's `primitive` module
//! and tokio's loom shim, which this follows).
//!
//! `clippy.toml` bans the `std` atomic types everywhere else, so nothing bypasses the shim.
#![allow(clippy::disallowed_types)]

#[cfg(loom)]
use loom::sync::atomic as imp;
#[cfg(not(loom))]
use std::sync::atomic as imp;

pub(crate) use imp::Ordering;

macro_rules! atomic_wrapper {
    ($name:ident, $int:ty) => {
        /// A shared-memory word: `#[repr(transparent)]` over the `std` (or loom) atomic.
        #[repr(transparent)]
        #[derive(Debug)]
        pub(crate) struct $name(imp::$name);

        #[allow(dead_code)]
        impl $name {
            /// A new atomic holding `v`.
            #[inline]
            pub(crate) fn new(v: $int) -> Self {
                Self(imp::$name::new(v))
            }
            /// Atomic load.
            #[inline]
            pub(crate) fn load(&self, order: Ordering) -> $int {
                self.0.load(order)
            }
            /// Atomic store.
            #[inline]
            pub(crate) fn store(&self, v: $int, order: Ordering) {
                self.0.store(v, order)
            }
            /// Atomic swap.
            #[inline]
            pub(crate) fn swap(&self, v: $int, order: Ordering) -> $int {
                self.0.swap(v, order)
            }
            /// Atomic add, returning the previous value.
            #[inline]
            pub(crate) fn fetch_add(&self, v: $int, order: Ordering) -> $int {
                self.0.fetch_add(v, order)
            }
            /// Atomic compare-and-exchange.
            #[inline]
            pub(crate) fn compare_exchange(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                self.0.compare_exchange(current, new, success, failure)
            }
            /// The address of the word, for the futex system call.
            #[cfg(not(loom))]
            #[inline]
            pub(crate) fn as_ptr(&self) -> *const $int {
                self.0.as_ptr()
            }
        }
    };
}

atomic_wrapper!(AtomicU32, u32);
atomic_wrapper!(AtomicU64, u64);

/// Stores `bytes` at `dst`, one relaxed atomic byte store at a time: how the test hook
/// `Ring::tamper` plays a hostile peer that writes anywhere in the segment. Byte-sized atomics
/// keep a concurrent peer load of the same bytes from being undefined behaviour, like every
/// other store into shared memory.
///
/// # Safety
/// `dst..dst + bytes.len()` must be valid for writes, and no Rust reference to those bytes
/// other than through atomics (a lent record, a reserved grant) may be live.
#[cfg(all(not(loom), feature = "test-hooks"))]
pub(crate) unsafe fn store_bytes(dst: *mut u8, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: `dst + i` is inside the range the caller vouches for; a byte needs no
        // alignment; `AtomicU8::from_ptr` only requires the byte to be accessed atomically
        // (or not at all) by others while this store runs, which the caller guarantees.
        unsafe { imp::AtomicU8::from_ptr(dst.add(i)) }.store(b, Ordering::Relaxed);
    }
}

/// Tells the processor (or the loom scheduler) that this thread is spinning.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

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
            (*(self.base.add(offset) as *const imp::AtomicU64)).store(word, Ordering::Relaxed)
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
            (*(self.base.add(offset) as *const imp::AtomicU64)).load(Ordering::Relaxed)
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

/// Loom's model of the futex wait queue of one header: a mutex and a condition variable.
///
/// A futex wait is "sleep if the word still holds `expected`", checked atomically with
/// joining the queue; a wake takes the same lock. Holding the mutex from the check to
/// `Condvar::wait` gives exactly that atomicity, so a lost wake-up in our protocol is a
/// deadlock loom reports.
#[cfg(loom)]
#[derive(Debug, Default)]
pub(crate) struct Parking {
    lock: loom::sync::Mutex<()>,
    cond: loom::sync::Condvar,
}

#[cfg(loom)]
impl Parking {
    /// Sleeps while `word == expected`, until woken.
    pub(crate) fn wait(&self, word: &AtomicU32, expected: u32) {
        let guard = self.lock.lock().unwrap();
        if word.load(Ordering::Relaxed) == expected {
            drop(self.cond.wait(guard).unwrap());
        }
    }

    /// Wakes every sleeper.
    pub(crate) fn wake(&self) {
        let _guard = self.lock.lock().unwrap();
        self.cond.notify_all();
    }

    /// `futex_waitv(2)`: sleeps while every word holds its expected value, until woken.
    pub(crate) fn wait_any(&self, words: &[(&AtomicU32, u32)]) {
        let guard = self.lock.lock().unwrap();
        if words
            .iter()
            .all(|(word, expected)| word.load(Ordering::Relaxed) == *expected)
        {
            drop(self.cond.wait(guard).unwrap());
        }
    }
}

/// Loom's model of the rest of what the kernel keeps for a ring: the open-file-description
/// locks that tell live role holders from dead ones (see `ownership`), and the segment's name
/// (so a model can see whether an attach removed it).
///
/// A description is a number with a count of the (modelled) processes holding it: 0 is the
/// ring's presence description, shared by everyone; each claim makes a new one; `fork` adds a
/// holder; a holder's drop or death removes one, and the last one's going releases the
/// description's locks, as the kernel does. The table sits behind a loom `Mutex`, so whoever
/// finds a lock free happens-after the release that freed it: what the kernel's own lock on
/// the file's lock list gives a real peer.
#[cfg(loom)]
#[derive(Debug, Default)]
pub(crate) struct LoomOs {
    table: loom::sync::Mutex<LockTable>,
    names_removed: std::sync::atomic::AtomicU32,
}

/// The modelled locks: who holds each of the four role bytes, and each description's holders.
#[cfg(loom)]
#[derive(Debug, Default)]
struct LockTable {
    /// Holder counts, indexed by description (index 0, the presence description, unused).
    holders: Vec<u32>,
    /// The description holding each byte: writer hold, writer transition, reader hold,
    /// reader transition.
    locks: [Option<u32>; 4],
}

#[cfg(loom)]
impl LockTable {
    fn slot(byte: i64) -> usize {
        match byte {
            128 => 0,
            129 => 1,
            256 => 2,
            _ => 3,
        }
    }

    /// `F_OFD_SETLK` of a write lock: free, or already this description's.
    fn try_lock(&mut self, ofd: u32, byte: i64) -> bool {
        let slot = &mut self.locks[Self::slot(byte)];
        match *slot {
            Some(holder) if holder != ofd => false,
            _ => {
                *slot = Some(ofd);
                true
            }
        }
    }

    fn unlock(&mut self, ofd: u32, byte: i64) {
        let slot = &mut self.locks[Self::slot(byte)];
        if *slot == Some(ofd) {
            *slot = None;
        }
    }

    /// One holder of `ofd` goes; the last one's going releases its locks.
    fn close(&mut self, ofd: u32) {
        let count = &mut self.holders[ofd as usize];
        *count = count.saturating_sub(1);
        if *count == 0 {
            for slot in &mut self.locks {
                if *slot == Some(ofd) {
                    *slot = None;
                }
            }
        }
    }
}

#[cfg(loom)]
impl crate::ownership::Locks for LoomOs {
    /// A modelled description's number (0: the presence description).
    type Own = u32;

    fn open_own(&self) -> std::io::Result<u32> {
        let mut table = self.table.lock().unwrap();
        if table.holders.is_empty() {
            table.holders.push(0);
        }
        table.holders.push(1);
        Ok(table.holders.len() as u32 - 1)
    }

    fn try_lock_own(&self, own: &u32, byte: i64) -> std::io::Result<bool> {
        Ok(self.table.lock().unwrap().try_lock(*own, byte))
    }

    fn unlock_own(&self, own: &u32, byte: i64) {
        self.table.lock().unwrap().unlock(*own, byte);
    }

    fn try_lock_presence(&self, byte: i64) -> std::io::Result<bool> {
        Ok(self.table.lock().unwrap().try_lock(0, byte))
    }

    fn unlock_presence(&self, byte: i64) {
        self.table.lock().unwrap().unlock(0, byte);
    }

    fn close_own(&self, own: u32) {
        self.table.lock().unwrap().close(own);
    }

    fn held_elsewhere(&self, probe: Option<&u32>, byte: i64, len: i64) -> bool {
        let probe = probe.copied().unwrap_or(0);
        let table = self.table.lock().unwrap();
        (byte..byte + len)
            .any(|b| table.locks[LockTable::slot(b)].is_some_and(|holder| holder != probe))
    }

    /// Yields to the other threads; never gives up (loom explores the waits instead).
    fn pause(&self, _tries: u32) -> bool {
        loom::thread::yield_now();
        true
    }
}

#[cfg(loom)]
impl LoomOs {
    /// A process holding description `ofd` forks: one more holder.
    pub(crate) fn fork(&self, ofd: u32) {
        self.table.lock().unwrap().holders[ofd as usize] += 1;
    }

    /// A process holding description `ofd` dies: one holder less.
    pub(crate) fn crash(&self, ofd: u32) {
        self.table.lock().unwrap().close(ofd);
    }

    /// The segment's name is removed (`Mapping::remove_name` in the real backends).
    pub(crate) fn remove_name(&self) {
        self.names_removed.fetch_add(1, Ordering::Relaxed);
    }

    /// Has the segment's name been removed?
    pub(crate) fn name_removed(&self) -> bool {
        self.names_removed.load(Ordering::Relaxed) != 0
    }
}

/// `copy_nonoverlapping`, with 8 to 16 bytes copied inline as two (possibly overlapping)
/// unaligned words instead of through a call to `memcpy`: small messages are the common case.
///
/// # Safety
/// As for `copy_nonoverlapping`: `len` bytes readable at `src`, writable at `dst`, the two
/// ranges disjoint.
#[inline(always)]
unsafe fn copy_bytes(src: *const u8, dst: *mut u8, len: usize) {
    if (8..=16).contains(&len) {
        // SAFETY: both words lie inside the `len` bytes of each range (`8 <= len`), which the
        // caller guarantees; unaligned accesses need no alignment.
        unsafe {
            let head = src.cast::<u64>().read_unaligned();
            let tail = src.add(len - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(head);
            dst.add(len - 8).cast::<u64>().write_unaligned(tail);
        }
    } else {
        // SAFETY: forwarded from this function's contract.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, len) }
    }
}
