//! A hidden test hook: write arbitrary bytes into a ring's memory, as a buggy or hostile peer
//! could, between two operations of live handles. The fuzz target (`fuzz/`), the property
//! tests and the hostile-peer tests use it to check that every operation then returns `Ok`
//! or a typed error: no panic, no out-of-bounds access, no hang.

use crate::ring::Ring;

/// Hidden test hooks of the death watch (`os::DeathWatch`): hold its process-wide slot, as a
/// thread starting the watcher under load would, count the armed watches, and count a thread's
/// sleeps (how often an idle wait wakes) and naps (a writer's doze). Not part of the API.
#[doc(hidden)]
pub mod death_watch {
    use std::time::Duration;

    /// Holds the death watch's process-wide slot for `hold`, from another thread; returns once
    /// it is held.
    pub fn hold_slot(hold: Duration) {
        crate::death_watch::hold_slot(hold);
    }

    /// How many watches on peers' processes this process has armed now.
    pub fn armed() -> usize {
        crate::death_watch::armed()
    }

    /// How many times the calling thread has gone to sleep on wake words (a blocking call's,
    /// or a `WaitSet`'s, `FUTEX_WAIT` or `futex_waitv`): each is a wake-up when it ends, so
    /// the count over an idle wait says how often the thread woke to look at its peers.
    pub fn sleeps_of_this_thread() -> u64 {
        crate::os::sleeps_of_this_thread()
    }

    /// How many naps the calling thread has taken dozing (a writer waiting for room after its
    /// spin, unknown to the reader, before it announces a sleep).
    pub fn naps_of_this_thread() -> u64 {
        crate::os::naps_of_this_thread()
    }
}

impl Ring {
    /// Writes `bytes` at byte `offset` of the ring's memory, laid out as in `docs/LAYOUT.md`
    /// (header at 0, data region at [`HEADER_SIZE`](crate::HEADER_SIZE)), with relaxed atomic
    /// byte stores; bytes past the end of the data region are dropped. Returns how many bytes
    /// were written. Not part of the API: a test hook that plays a hostile peer.
    ///
    /// # Safety
    /// No record lent by this ring's reader (`recv_ref`, `BufRead::fill_buf`) and no grant
    /// reserved by its writer (`reserve`) may be alive while this runs, and no other thread
    /// may read or write the same bytes at the same time other than through the ring's own
    /// atomic accesses: the header's words and record headers are atomics, but a payload copy
    /// racing with this would be a data race.
    #[doc(hidden)]
    pub unsafe fn tamper(&self, offset: usize, bytes: &[u8]) -> usize {
        let mut written = 0;
        while written < bytes.len() {
            let Some(at) = offset.checked_add(written) else {
                break;
            };
            let Some((ptr, room)) = self.memory.byte_ptr(at) else {
                break;
            };
            let n = room.min(bytes.len() - written);
            // SAFETY: `byte_ptr` gave `room >= n` writable bytes at `ptr`, inside this ring's
            // memory, which `self` keeps alive; the caller guarantees that nothing holds a
            // plain reference to them and that nobody accesses them concurrently but
            // atomically.
            unsafe { store_bytes(ptr, &bytes[written..written + n]) };
            written += n;
        }
        written
    }
}

/// Stores `bytes` at `dst`, one relaxed atomic byte store at a time: how the test hook
/// `Ring::tamper` plays a hostile peer that writes anywhere in the segment. Byte-sized atomics
/// keep a concurrent peer load of the same bytes from being undefined behaviour, like every
/// other store into shared memory.
///
/// # Safety
/// `dst..dst + bytes.len()` must be valid for writes, and no Rust reference to those bytes
/// other than through atomics (a lent record, a reserved grant) may be live.
// The shim (`sync`) has no byte atomics: only this hook, never built under loom, needs them.
#[allow(clippy::disallowed_types)]
unsafe fn store_bytes(dst: *mut u8, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: `dst + i` is inside the range the caller vouches for; a byte needs no
        // alignment; `AtomicU8::from_ptr` only requires the byte to be accessed atomically
        // (or not at all) by others while this store runs, which the caller guarantees.
        unsafe { std::sync::atomic::AtomicU8::from_ptr(dst.add(i)) }
            .store(b, std::sync::atomic::Ordering::Relaxed);
    }
}
