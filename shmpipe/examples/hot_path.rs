//! The send/receive hot path on one thread, for counting instructions with callgrind.
//!
//! ```text
//! cargo build --profile bench --example hot_path
//! valgrind --tool=callgrind target/release/examples/hot_path 64 send 100000
//! valgrind --tool=callgrind target/release/examples/hot_path 64 send 200000
//! ```
//!
//! Arguments: message size, `send` (`send`/`recv`), `batch` (`Writer::batch` /
//! `Reader::batch`) or `values` (`Batch::send_values` / `RecvBatch::recv_values` of 8-byte
//! values: the size must be 8), and the message count. The difference between two counts divided by the
//! difference in messages is the cost of one message sent and received, without the start-up.
//! Messages go through a 256 KiB heap ring in rounds of 256 (send 256, receive 256).
// The loom build (`--cfg loom`) runs no real rings: nothing to run.
#![cfg_attr(loom, no_main)]
#![cfg(not(loom))]

use std::hint::black_box;
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (size, mode, count) = match args.as_slice() {
        [size, mode, count] if ["send", "batch", "values"].contains(&mode.as_str()) => {
            match (size.parse::<usize>(), count.parse::<u64>()) {
                (Ok(size), Ok(count)) if size > 0 && (mode != "values" || size == 8) => {
                    (size, mode.as_str(), count)
                }
                _ => usage(),
            }
        }
        _ => usage(),
    };
    if let Err(e) = run(size, mode, count) {
        eprintln!("hot_path: {e}");
        exit(1);
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: hot_path SIZE send|batch|values COUNT   (SIZE in bytes, at least 1; 8 for values)"
    );
    exit(2)
}

fn run(size: usize, mode: &str, count: u64) -> Result<(), Box<dyn std::error::Error>> {
    let (mut writer, mut reader) = shmpipe::channel(256 << 10)?;
    if size > writer.max_message() {
        return Err(format!("{size} bytes is more than the ring carries").into());
    }
    let msg = vec![1u8; size];
    let mut buf = vec![0u8; size];
    let mut received = 0u64;
    let mut left = count;
    while left > 0 {
        let round = left.min(256);
        if mode == "values" {
            let values: Vec<u64> = (0..round).collect();
            writer.batch().send_values(black_box(&values))?;
            let mut got = vec![0u64; round as usize];
            let mut receiving = reader.batch();
            let mut n = 0;
            while n < got.len() {
                n += receiving.recv_values(&mut got[n..])?;
            }
            received += n as u64;
            buf[0] = (got[1 % got.len()] == 1 % round) as u8;
        } else if mode == "batch" {
            let mut sending = writer.batch();
            for _ in 0..round {
                sending.send(black_box(&msg))?;
            }
            drop(sending);
            let mut receiving = reader.batch();
            for _ in 0..round {
                received += receiving.recv(&mut buf)?.map_or(0, |_| 1);
            }
        } else {
            for _ in 0..round {
                writer.send(black_box(&msg))?;
            }
            for _ in 0..round {
                received += reader.recv(&mut buf)?.map_or(0, |_| 1);
            }
        }
        left -= round;
    }
    if received != count || black_box(&buf)[0] != 1 {
        return Err(format!("sent {count} messages, received {received}").into());
    }
    println!("{count} messages of {size} bytes sent and received");
    Ok(())
}
