//! What only the loom build has: the model of the kernel (`os`, in place of the std build's
//! `os` module) and of the memory a ring lives in (`memory`, in place of `memory`), and the
//! hidden public items the models in `loom-tests/` drive: heap rings that model a shared
//! segment's locks, a segment whose creation races its opening, a handle's death and `fork`,
//! the name's removal, and one async poll without tokio. Nothing here is part of the API.

pub(crate) mod memory;
pub(crate) mod os;

use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::error::{CreateError, OpenError};
use crate::layout::{self, Backend};
use crate::options::RingOptions;
use crate::ownership::Token;
use crate::problem::{open_error, validate};
use crate::ring::Ring;
use crate::sync::Ordering;
use crate::{Reader, Writer};
use memory::Memory;

pub use crate::notify::{Parked, Registry};

/// Loom only: a segment that a model creates in one thread and opens in another, so the
/// header's initialisation races the open as it does between two processes (the shared-memory
/// backends are not built under loom). [`create`](Self::create) initialises the header as
/// `RingOptions::create` does; [`open`](Self::open) waits for the init word and validates the
/// header as `RingOptions::open` does, with the same `Header::is_ready` and `Header::validate`.
#[doc(hidden)]
#[derive(Clone)]
pub struct LoomSegment {
    memory: Arc<Memory>,
    spin: Duration,
}

impl std::fmt::Debug for LoomSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoomSegment")
            .field("capacity", &self.memory.geometry.capacity)
            .field("spin", &self.spin)
            .finish_non_exhaustive()
    }
}

impl RingOptions {
    /// Loom only: a heap ring whose roles are claimed as a std heap ring's are (the holder
    /// word's compare-exchange alone), where [`heap`](Self::heap) models the file locks of a
    /// shared segment.
    #[doc(hidden)]
    pub fn heap_in_process(&self) -> Result<Ring, CreateError> {
        let geometry = self.geometry(Backend::Heap)?;
        let memory =
            Memory::heap_in_process(geometry).ok_or_else(|| CreateError::ResourceLimit {
                segment: "a loom heap ring".into(),
                limit: "could not allocate it".into(),
                source: None,
            })?;
        Ok(self.finish(memory, "a heap ring".into()))
    }

    /// Loom only: a segment of this capacity whose header is not initialised yet.
    #[doc(hidden)]
    pub fn loom_segment(&self) -> Result<LoomSegment, CreateError> {
        let geometry = self.geometry(Backend::Posix)?;
        let memory = Memory::heap(geometry).ok_or_else(|| CreateError::ResourceLimit {
            segment: "a loom segment".into(),
            limit: "could not allocate it".into(),
            source: None,
        })?;
        Ok(LoomSegment {
            memory: Arc::new(memory),
            spin: self.spin,
        })
    }
}

impl LoomSegment {
    /// The creator's side: initialise the header (publishing it), then the ring.
    pub fn create(&self) -> Ring {
        self.memory
            .header()
            .initialise(self.memory.geometry, crate::os::holder_word());
        self.ring()
    }

    /// The opener's side: wait (yielding) for the init word, then validate the header.
    pub fn open(&self) -> Result<Ring, OpenError> {
        let header = self.memory.header();
        while !header.is_ready() {
            crate::sync::spin_hint();
        }
        let size = layout::HEADER_SIZE as u64 + self.memory.geometry.capacity;
        let geometry =
            validate(header, size).map_err(|e| open_error(e, "a loom segment".into()))?;
        if geometry.capacity != self.memory.geometry.capacity {
            return Err(OpenError::Corrupted {
                segment: "a loom segment".into(),
                reason: format!(
                    "capacity {} read back as {}",
                    self.memory.geometry.capacity, geometry.capacity
                ),
            });
        }
        Ok(self.ring())
    }

    fn ring(&self) -> Ring {
        Ring {
            memory: self.memory.clone(),
            description: "a loom segment".into(),
            spin: self.spin,
            replaced: None,
        }
    }
}

/// Loom only: one poll of a receive on `reader`, parking through `registry` (what
/// `shmpipe::tokio::AsyncReader::recv` does, without tokio).
pub fn loom_poll_recv(
    parked: &mut Parked,
    reader: &mut crate::Reader,
    waker: &Waker,
    buf: &mut [u8],
) -> Poll<Result<Option<usize>, crate::RecvError>> {
    crate::notify::poll_side(parked, reader, waker, |r| {
        crate::notify::recv_attempt(r, buf)
    })
    .map(|r| r.map_err(crate::notify::recv_error))
}

impl Ring {
    /// Has an attach removed the segment's name, i.e. did one of the two handles see the other
    /// attached (`both_attached`)? The model records the removal.
    pub fn loom_name_removed(&self) -> bool {
        self.memory.name_removed()
    }
}

/// The copy of a handle's token a `fork` gives the child: one more holder of the same
/// modelled description (`None` for an in-process ring, whose handles cannot be forked).
fn forked(memory: &Memory, token: Option<&Token>) -> Option<Token> {
    match token {
        Some(Token::Lock(ofd)) => {
            memory.os().fork(*ofd);
            Some(Token::Lock(*ofd))
        }
        _ => None,
    }
}

/// The loom-only methods of a handle: its process's death and its `fork`.
macro_rules! loom_handle {
    ($handle:ident, $what:literal) => {
        impl $handle {
            #[doc = concat!("The process holding this ", $what, " dies here (see [`abort`](Self::abort)).")]
            pub fn crash(self) {
                self.abort();
            }

            /// A copy of this handle in another (modelled) process, as `fork` makes: the role
            /// ends when the last copy is dropped.
            pub fn loom_fork(&self) -> Self {
                let mut copy = $handle::new(
                    self.memory.clone(),
                    self.state.clone(),
                    self.spin,
                    Token::InProcess,
                );
                copy.token = forked(&self.memory, self.token.as_ref());
                copy
            }
        }
    };
}

loom_handle!(Writer, "writer");
loom_handle!(Reader, "reader");

/// Loom only: what a death watch on a handle's peer does when the peer's process exits (the
/// std build's watcher thread calls the same `protocol::death_heard`), to fire from a thread
/// of a model at any moment of the handle's wait.
#[doc(hidden)]
#[derive(Clone)]
pub struct LoomDeathWatch {
    memory: Arc<Memory>,
    role: layout::Role,
}

impl std::fmt::Debug for LoomDeathWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoomDeathWatch")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl LoomDeathWatch {
    /// The watched process exited (or so the watch says: the handle looks at the liveness,
    /// which decides).
    pub fn fires(&self) {
        crate::protocol::death_heard(self.memory.header().side(self.role)).redeem();
    }
}

impl Reader {
    /// A death watch on this reader's writer, as a long wait arms one.
    pub fn loom_death_watch(&self) -> LoomDeathWatch {
        LoomDeathWatch {
            memory: self.memory.clone(),
            role: layout::Role::Reader,
        }
    }
}

impl Registry {
    /// Ends [`run`](Self::run) (the process's registry runs for ever; a model's must end).
    pub fn stop(&self) {
        self.inner.lock().unwrap().stop = true;
        self.control.fetch_add(1, Ordering::Relaxed);
        crate::os::futex_wake(&self.control);
    }
}
