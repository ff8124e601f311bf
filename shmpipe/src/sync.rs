//! The primitive shim: the one module every atomic, memory ordering and spin hint comes from.
//!
//! Built normally it is `std` with nothing added: the atomics are `#[repr(transparent)]`
//! wrappers that compile to the bare instructions. Built with `RUSTFLAGS="--cfg loom"` the
//! same names are `loom`'s: the atomics are modelled and spinning yields to the loom
//! scheduler. Its sibling shim `region` does the same for the payload bytes, and the
//! loom-only module `loom_model` stands in for the kernel (futex, file locks). The ring
//! protocol is written once, against these, so the loom models in `loom-tests/` check the
//! code that ships (see crossbeam's `primitive` module and tokio's loom shim, which this
//! follows).
//!
//! `clippy.toml` bans the `std` atomic types everywhere else, so nothing bypasses the shim.
#![allow(clippy::disallowed_types)]

#[cfg(loom)]
use loom::sync::atomic as imp;
#[cfg(not(loom))]
use std::sync::atomic as imp;

pub(crate) use imp::Ordering;

/// The mutex of the registry of parked tasks: loom's under loom, so models explore its
/// interleavings.
#[cfg(loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;

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

/// Tells the processor (or the loom scheduler) that this thread is spinning.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// A sequentially consistent fence (loom's under loom): the halves of the asymmetric fence in
/// the loom model (`loom_model::os`), and the full fence `os` falls back to.
#[inline]
pub(crate) fn fence_seq_cst() {
    imp::fence(Ordering::SeqCst);
}
