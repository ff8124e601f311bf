//! An adversary with write access to a ring's memory, against a live writer and reader: the
//! input is decoded into a capacity and a sequence of operations (sends, reserves, batches,
//! receives, attaches, closes) interleaved with writes of arbitrary bytes into the header and
//! the data region. See `shmpipe/tests/support/adversary.rs`, which the property test shares.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../shmpipe/tests/support/adversary.rs"]
mod adversary;

fuzz_target!(|data: &[u8]| {
    adversary::run(data);
});
