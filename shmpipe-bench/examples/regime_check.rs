//! Which side waits? A check of the two throughput regimes of `shmpipe bench` and the threads
//! bench, between two pinned threads over a heap ring: the writer tries `try_send` first and
//! counts how often the ring was full; the reader tries `try_recv` first and counts how often
//! it was empty (then each waits with `send` / `recv`). Not a throughput figure (the counting
//! changes the path); it tells whether a regime is the one it is named after.
//!
//! ```text
//! cargo run --release -p shmpipe-bench --example regime_check -- SIZE CAPACITY MESSAGES [WORK_NS]
//! cargo run --release -p shmpipe-bench --example regime_check -- 64 4194304 20000000      # streaming
//! cargo run --release -p shmpipe-bench --example regime_check -- 64 65536 2000000 1000    # full
//! ```
use std::time::{Duration, Instant};

use shmpipe_bench::harness::{self, Work};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let size = arg(1, 64) as usize;
    let capacity = arg(2, 4 << 20);
    let n = arg(3, 2_000_000);
    let work = Work::lasting(Duration::from_nanos(arg(4, 0)));
    let placement = harness::place();
    let (mut writer, mut reader) = shmpipe::channel(capacity).expect("a heap ring");
    let peer = placement.peer;
    let consumer = std::thread::spawn(move || {
        if let Some(cpu) = peer {
            let _ = harness::pin_current_thread(cpu);
        }
        let mut buf = vec![0u8; size];
        let mut empty = 0u64;
        for seq in 0..n {
            match reader.try_recv(&mut buf) {
                Ok(Some(_)) => {}
                Err(shmpipe::RecvError::Empty) => {
                    empty += 1;
                    reader.recv(&mut buf).expect("a message");
                }
                other => panic!("{other:?}"),
            }
            harness::check_seq(&buf, seq).expect("in sequence");
            work.after_message();
        }
        empty
    });
    let mut msg = harness::message(size);
    let mut full = 0u64;
    let start = Instant::now();
    for seq in 0..n {
        harness::stamp(&mut msg, seq);
        match writer.try_send(&msg) {
            Ok(()) => {}
            Err(shmpipe::SendError::Full) => {
                full += 1;
                writer.send(&msg).expect("room");
            }
            Err(e) => panic!("{e}"),
        }
    }
    let empty = consumer.join().expect("the consumer");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{size} B, ring {capacity} B, receiver work {} ns: {:.2} M msgs/s; the writer found the \
         ring full at {:.3} % of its sends, the reader found it empty at {:.3} % of its receives",
        work.cost().as_nanos(),
        n as f64 / secs / 1e6,
        100.0 * full as f64 / n as f64,
        100.0 * empty as f64 / n as f64
    );
}
