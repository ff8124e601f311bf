//! shmring: a lock-free single-producer / single-consumer ring buffer in shared memory.
#![deny(unsafe_op_in_unsafe_fn)]

mod error;
mod layout;
#[cfg(not(loom))]
mod segment;
mod sync;

pub use error::{AttachError, CreateError, OpenError, RecvError, Role, SendError};
pub use layout::Backend;
#[cfg(not(loom))]
pub use segment::{Segment, SysvKey};
