//! shmpipe against rtrb between two threads, like for like (issue 13): the comparison of
//! [`shmpipe_bench::threads`] (per message, chunks, chunks in place; both regimes; every
//! message numbered and checked; alternating rounds, shmpipe's ratio to rtrb round by round),
//! at 8 and 64 bytes. `shmpipe bench --mode threads` runs the same comparison from the
//! command line, at any of its sizes.
//!
//! ```text
//! cargo bench -p shmpipe-bench --bench threads                 # 5 rounds, about 50 s
//! cargo bench -p shmpipe-bench --bench threads -- 9 --json threads.json
//! ```
//!
//! Under `cargo test` (no `--bench` argument) it runs one tiny round of each as a smoke test.

use std::time::Duration;

use shmpipe_bench::harness;
use shmpipe_bench::threads::{self, Options};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let quick = !bench || args.iter().any(|a| a == "--test");
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let rounds: usize = if quick {
        1
    } else {
        args.iter().find_map(|a| a.parse().ok()).unwrap_or(5).max(1)
    };
    let json_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    let options = Options {
        rounds,
        per_round: if quick {
            Duration::from_millis(5)
        } else {
            Duration::from_millis(200)
        },
        ..Options::default()
    };
    let placement = harness::place();
    println!(
        "threads: {}; {rounds} round(s) of about {} ms per contender, alternating; shmpipe rings \
         of 4 MiB streaming, 64 KiB full (rtrb: as many messages); every message numbered and \
         checked; full regime: the consumer works {} ns per message here\n",
        harness::describe_machine(&placement),
        options.per_round.as_millis(),
        harness::full_work().cost().as_nanos()
    );
    let rows = threads::run(&options, &placement, |_| {}).unwrap_or_else(|e| {
        eprintln!("threads: {e}");
        std::process::exit(1)
    });
    print!("{}", threads::table(&rows));
    if let Some(path) = json_path {
        if let Err(e) = std::fs::write(&path, threads::json(&rows)) {
            eprintln!("threads: {path}: {e}");
            std::process::exit(1);
        }
    }
}
