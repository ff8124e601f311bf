//! # shmpipe-bench
//!
//! How shmpipe is measured: [`harness`], the two-process harness behind `shmpipe bench` (a
//! sender here, a peer process started from the same program, control apart from the data,
//! every wait bounded), and, with the default feature `suite`, [`suite`]: what the criterion
//! benches in `benches/` add to it (the peer crates iceoryx2, shmem-ipc and ipmpsc as
//! transports, criterion's configuration). [`cacheline`] bounces a cache line between two
//! threads, the floor a round trip is judged against. [`threads`] compares shmpipe with rtrb between two
//! threads of one process, like for like (`shmpipe bench --mode threads`, and the `threads`
//! bench).
//!
//! The `shmpipe` command depends on this crate without default features, so it compiles the
//! harness and the threads comparison only; `cargo bench -p shmpipe-bench` runs the full comparison (see
//! `docs/BENCHMARKS.md` in the repository).
//!
//! ```no_run
//! use shmpipe_bench::harness;
//! let placement = harness::place();
//! println!("{}", harness::describe_machine(&placement));
//! ```
#![cfg(target_os = "linux")]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cacheline;
pub mod harness;
#[cfg(feature = "suite")]
pub mod suite;
pub mod threads;
