//! The classic `shm_write.c`, done right: writes five 1023-byte blocks of 'A'..'E' into a ring
//! in POSIX shared memory and closes it. Run `shm_read` in another terminal, before or after.
//!
//! ```text
//! terminal 1: cargo run --example shm_write            # or: shm_write NAME
//! terminal 2: cargo run --example shm_read             # or: shm_read NAME
//! ```
//!
//! The tutorial's version fills a `struct shmseg { int cnt; int complete; char buf[1024]; }`
//! and polls a plain `int complete` with `sleep(3)`: no ordering, no flow control, no wake-up.
//! Here every record is published with a Release store, the reader sleeps on a futex until
//! one arrives, and closing the writer is the "complete" flag, ordered after the last block.
// The loom build (`--cfg loom`) has no shared-memory segments: nothing to run.
#![cfg_attr(loom, no_main)]
#![cfg(not(loom))]

use shmpipe::{Ring, Segment};

fn main() {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "shmpipe-demo".into());
    if let Err(e) = run(&name) {
        eprintln!("shm_write: {e}");
        std::process::exit(1);
    }
}

fn run(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let ring = Ring::create(&Segment::posix(name), 64 * 1024)?;
    let mut writer = ring.writer()?;
    for (i, letter) in (b'A'..=b'E').enumerate() {
        writer.send(&[letter; 1023])?;
        println!(
            "Writing Process: wrote block {} of 1023 '{}'",
            i + 1,
            letter as char
        );
    }
    writer.close(); // the reader drains all five blocks, then sees end-of-stream
    println!("Writing Process: complete");
    Ok(())
}
