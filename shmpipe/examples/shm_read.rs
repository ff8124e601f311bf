//! The classic `shm_read.c`, done right: waits for the ring `shm_write` creates (start them in
//! either order), prints each block as it arrives, and stops at end-of-stream. No `sleep`.
//!
//! ```text
//! terminal 1: cargo run --example shm_read             # or: shm_read NAME
//! terminal 2: cargo run --example shm_write            # or: shm_write NAME
//! ```
// The loom build (`--cfg loom`) has no shared-memory segments: nothing to run.
#![cfg_attr(loom, no_main)]
#![cfg(not(loom))]

use shmpipe::{RingOptions, Segment};

fn main() {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "shmpipe-demo".into());
    if let Err(e) = run(&name) {
        eprintln!("shm_read: {e}");
        std::process::exit(1);
    }
}

fn run(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    // Wait for the writer to create the ring, like opening a FIFO.
    let ring = RingOptions::new()
        .wait_for_creation(true)
        .timeout(None)
        .open(&Segment::posix(name))?;
    let mut reader = ring.reader()?; // both sides attached: the name is removed now
    let mut block = vec![0u8; ring.max_message()];
    let mut count = 0;
    while let Some(len) = reader.recv(&mut block)? {
        count += 1;
        let text = String::from_utf8_lossy(&block[..len]);
        println!(
            "Reading Process: block {count}, {len} bytes: {}...",
            &text[..text.len().min(40)]
        );
    }
    println!("Reading Process: end of stream after {count} blocks");
    Ok(())
}
