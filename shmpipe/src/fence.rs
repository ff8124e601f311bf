//! The asymmetric fence between a publish and a sleep (issue 13): what lets a publish (or a
//! release) look at the peer's wake word without a locked instruction.
//!
//! A side that publishes must learn whether its peer went to sleep waiting for it, and a side
//! that goes to sleep must see anything published before it sleeps: a store-buffering
//! handshake (each side stores, then loads the other's word), which needs a full fence on
//! both sides. The sleeper pays for both: it calls `membarrier(2)`
//! (`MEMBARRIER_CMD_GLOBAL_EXPEDITED`), which executes a full fence on every CPU running a
//! thread of a process registered for it, while every publisher of a registered process gets
//! away with a compiler barrier. A publish happens per message, a sleep after a spin of tens
//! of microseconds: the trade is the one `membarrier(2)` was made for (it is how liburcu and
//! folly's `asymmetricHeavyBarrier` make their fast side cheap).
//!
//! Where `membarrier(2)` is missing (a kernel before 4.16, a seccomp filter that refuses it,
//! or `SHMPIPE_NO_MEMBARRIER=1`), a process that cannot register publishes with full fences,
//! and a process whose sleepers cannot issue the call caps every sleep on a wake word at
//! `os::FALLBACK_POLL` (a wake-up may then take up to a millisecond; nothing is lost).
//!
//! The loom build models both halves as what the kernel makes them: `SeqCst` fences.

use crate::sync::fence_seq_cst;

#[cfg(not(loom))]
mod imp {
    use super::fence_seq_cst;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// `membarrier(2)` commands (`<linux/membarrier.h>`).
    const MEMBARRIER_CMD_GLOBAL_EXPEDITED: libc::c_long = 1 << 1;
    const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_long = 1 << 2;

    /// Has this process registered for `MEMBARRIER_CMD_GLOBAL_EXPEDITED`? [`UNTRIED`] until its
    /// first publish, then [`REGISTERED`] or [`REFUSED`]. The registration belongs to the
    /// address space: every thread has it, a `fork`ed child inherits it
    /// (`MEMBARRIER_CMD_GET_REGISTRATIONS` in the child says so; the statics are inherited
    /// with it), and `exec` drops both. A plain atomic rather than a `OnceLock`: every publish
    /// and every release reads it, and its one load and compare cost half of a `OnceLock`'s
    /// (callgrind: 125 -> 119 instructions per 8-byte message sent and received); two threads' first
    /// publishes may both register, which the kernel allows.
    static MEMBARRIER_REGISTRATION: AtomicU8 = AtomicU8::new(UNTRIED);
    const UNTRIED: u8 = 0;
    const REGISTERED: u8 = 1;
    const REFUSED: u8 = 2;

    /// Set when this process's sleepers cannot issue the heavy half of the fence (a kernel
    /// without `membarrier(2)`, a seccomp filter, `SHMPIPE_NO_MEMBARRIER`): from then on its
    /// sleepers do not rely on being woken (see `os::sleep_cap`). Process-local, never shared.
    static SLEEP_FENCE_MISSING: AtomicU8 = AtomicU8::new(0);

    /// `membarrier(cmd, 0, 0)`: did it succeed? Always false under `SHMPIPE_NO_MEMBARRIER=1`
    /// (read once; for tests of the fallback).
    fn membarrier(cmd: libc::c_long) -> bool {
        static REFUSED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *REFUSED
            .get_or_init(|| std::env::var_os("SHMPIPE_NO_MEMBARRIER").is_some_and(|v| v != "0"))
        {
            return false;
        }
        // SAFETY: membarrier(cmd, flags 0, cpu_id 0) takes no pointers; an unknown or refused
        // command is an error return, nothing else.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0u32, 0i32) == 0 }
    }

    /// The publisher's half of the asymmetric fence between a publish (or release) and its look
    /// at the peer's wake word (see `protocol::peer_needs_wake`): a compiler barrier once this
    /// process is registered for `MEMBARRIER_CMD_GLOBAL_EXPEDITED`, whose sleepers' `membarrier`
    /// then turns it into a full fence exactly when one is needed ([`sleep_fence`]); a full
    /// fence before that, or where the registration failed.
    #[inline]
    pub(crate) fn publish_fence() {
        // Acquire: a thread that sees another's registration publishes light only after it
        // (a plain load on x86 and ARM64 alike as far as the cost goes).
        if MEMBARRIER_REGISTRATION.load(Ordering::Acquire) == REGISTERED {
            std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        } else {
            register_for_membarrier();
            fence_seq_cst();
        }
    }

    /// Registers this process for `MEMBARRIER_CMD_GLOBAL_EXPEDITED` (once). Until the call has
    /// returned, publishes use full fences; the kernel orders the registration against a
    /// concurrent `membarrier` (it executes a full barrier on this CPU when the registration
    /// completes), so every light publish after it is covered.
    #[cold]
    fn register_for_membarrier() {
        if MEMBARRIER_REGISTRATION.load(Ordering::Acquire) == UNTRIED {
            let done = if membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) {
                REGISTERED
            } else {
                REFUSED
            };
            // Release: after the call returned (see the Acquire above).
            MEMBARRIER_REGISTRATION.store(done, Ordering::Release);
        }
    }

    /// The sleeper's half of the asymmetric fence, between announcing its sleep (the swap of its
    /// wake word) and its last look before sleeping: a full fence here, and
    /// `MEMBARRIER_CMD_GLOBAL_EXPEDITED`, which executes a full fence on every CPU running a thread
    /// of a registered process, so a peer's light publish is either visible to our look or sees
    /// our announcement. A sleep costs a system call more (a few microseconds; a publish saves a
    /// locked instruction and, on the reader's heels, a wait for a cache line). If the call fails,
    /// this process's sleepers stop trusting wake-ups (`os::sleep_cap`).
    pub(crate) fn sleep_fence() {
        fence_seq_cst();
        if SLEEP_FENCE_MISSING.load(Ordering::Relaxed) != 0 {
            return;
        }
        let ok = membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED);
        if !ok {
            SLEEP_FENCE_MISSING.store(1, Ordering::Relaxed);
        }
    }

    /// Can this process's sleepers rely on being woken (their `membarrier(2)` calls worked)?
    pub(crate) fn wakeups_trusted() -> bool {
        SLEEP_FENCE_MISSING.load(Ordering::Relaxed) == 0
    }
}

#[cfg(loom)]
mod imp {
    use super::fence_seq_cst;

    /// The publisher's half (the shipped build: a compiler barrier, which the sleeper's
    /// `membarrier(2)` turns into a full fence on the publisher's CPU when it matters), modelled
    /// as what the kernel promises it becomes: a `SeqCst` fence.
    #[inline]
    pub(crate) fn publish_fence() {
        fence_seq_cst();
    }

    /// The sleeper's half: a `SeqCst` fence (the `membarrier(2)` call is what makes the
    /// publisher's half one too).
    #[inline]
    pub(crate) fn sleep_fence() {
        fence_seq_cst();
    }
}

/// Only `os` asks, and the loom build replaces `os` (a model's sleepers are always woken).
#[cfg(not(loom))]
pub(crate) use imp::wakeups_trusted;
pub(crate) use imp::{publish_fence, sleep_fence};
