//! # shmpipe-bench
//!
//! How shmpipe is measured: [`harness`], the two-process harness behind `shmpipe bench` (a
//! sender here, a peer process started from the same program, control apart from the data,
//! every wait bounded), and, with the default feature `suite`, [`suite`]: what the criterion
//! benches in `benches/` add to it (the peer crates iceoryx2, shmem-ipc and ipmpsc as
//! transports, rtrb as the in-process reference, criterion's configuration).
//!
//! The `shmpipe` command depends on this crate without default features, so it compiles the
//! harness only; `cargo bench -p shmpipe-bench` runs the full comparison (see
//! `docs/BENCHMARKS.md` in the repository).
//!
//! ```no_run
//! use shmpipe_bench::harness;
//! let placement = harness::place();
//! println!("{}", harness::describe_machine(&placement));
//! ```
#![cfg(target_os = "linux")]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod harness;
#[cfg(feature = "suite")]
pub mod suite;
