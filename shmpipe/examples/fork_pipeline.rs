//! An anonymous shared ring inherited across `fork`: the child produces, the parent consumes.
//!
//! ```text
//! cargo run --release --example fork_pipeline
//! ```
//!
//! The ring lives in a `MAP_SHARED | MAP_ANONYMOUS` mapping made before the fork, so both
//! processes see the same memory with no name to clean up: it is freed with the last mapping.
// The loom build (`--cfg loom`) has no shared-memory segments: nothing to run.
#![cfg_attr(loom, no_main)]
#![cfg(not(loom))]

use std::time::Instant;

use shmpipe::RingOptions;

const COUNT: u64 = 10_000_000;

fn main() {
    let ring = match RingOptions::new().capacity(1 << 16).create_anonymous() {
        Ok(ring) => ring,
        Err(e) => {
            eprintln!("fork_pipeline: {e}");
            std::process::exit(1);
        }
    };
    // SAFETY: this program has a single thread, so the child may run arbitrary code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!(
            "fork_pipeline: fork failed: {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(1);
    }
    if pid == 0 {
        // Child: the producer. Batches of 64 values per publish.
        let code = match produce(&ring) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("producer: {e}");
                1
            }
        };
        std::process::exit(code);
    }
    // Parent: the consumer.
    let start = Instant::now();
    let mut reader = ring.reader().expect("fresh ring");
    let (mut sum, mut n) = (0u64, 0u64);
    loop {
        match reader.recv_value::<u64>() {
            Ok(Some(v)) => {
                sum = sum.wrapping_add(v);
                n += 1;
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("consumer: {e}");
                std::process::exit(1);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid status pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let expected = (0..COUNT).fold(0u64, |s, v| s.wrapping_add(v * v));
    println!(
        "received {n} values from child {pid} in {secs:.3} s ({:.1} M msgs/s); sum {} expected",
        n as f64 / secs / 1e6,
        if sum == expected {
            "is as"
        } else {
            "is NOT as"
        }
    );
    if sum != expected || n != COUNT {
        std::process::exit(1);
    }
}

fn produce(ring: &shmpipe::Ring) -> Result<(), Box<dyn std::error::Error>> {
    let mut writer = ring.writer()?;
    for chunk in (0..COUNT).collect::<Vec<_>>().chunks(64) {
        let mut batch = writer.batch();
        for &v in chunk {
            batch.send_value(&(v * v))?;
        }
    }
    Ok(()) // dropping the writer closes the ring: the parent sees end-of-stream
}
