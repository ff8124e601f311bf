//! Code the integration tests share, included by each as `mod support;`: `segments` (unique
//! segments, how a peer names one, cleanup), `peers` (the one peer dispatcher: running this
//! test binary again as a peer in a given role, forking), and `adversary` (the hostile-memory
//! adversary, which the fuzz target also includes by path), and `cpu` (a thread's CPU time).
// Each test binary uses its own subset.
#![allow(dead_code)]

#[cfg(feature = "test-hooks")]
pub mod adversary;
pub mod cpu;
pub mod peers;
pub mod segments;
