//! One consumer serving several producer processes, each on its own ring: first a tokio task
//! per ring on a single-threaded runtime (`shmpipe::tokio`), then one sync loop over a
//! `WaitSet`. Neither starts a thread per ring.
//!
//! ```text
//! cargo run --release --features tokio --example many_producers [PRODUCERS]
//! ```
//!
//! The producers are `fork`ed children writing into anonymous rings made before the fork, at
//! different paces, then closing; the consumer counts each one's messages until end-of-stream.
// The loom build (`--cfg loom`) has no shared-memory segments: nothing to run.
#![cfg_attr(loom, no_main)]
#![cfg(not(loom))]

use std::time::{Duration, Instant};

use shmpipe::tokio::AsyncReader;
use shmpipe::{Reader, RecvError, RingOptions, WaitSet};

const MESSAGES: u64 = 20_000;

/// Makes `n` anonymous rings and forks one producer per ring; returns the readers and pids.
fn start_producers(n: usize) -> (Vec<Reader>, Vec<libc::pid_t>) {
    let mut readers = Vec::new();
    let mut pids = Vec::new();
    for k in 0..n {
        let ring = RingOptions::new()
            .capacity(1 << 14)
            .create_anonymous()
            .expect("anonymous ring");
        let mut writer = ring.writer().expect("writer");
        let reader = ring.reader().expect("reader");
        // SAFETY: this process has one thread when it forks (shmpipe's waiter thread starts
        // with the first parked task, after every fork); the child only sends, then `_exit`s.
        match unsafe { libc::fork() } {
            0 => {
                drop(reader);
                drop(std::mem::take(&mut readers));
                for i in 0..MESSAGES {
                    if i % 1000 == 0 {
                        std::thread::sleep(Duration::from_millis(k as u64 % 3));
                    }
                    if writer.send(&i.to_le_bytes()).is_err() {
                        // SAFETY: ends the child without running the parent's destructors.
                        unsafe { libc::_exit(1) };
                    }
                }
                drop(writer); // end-of-stream
                              // SAFETY: as above.
                unsafe { libc::_exit(0) };
            }
            pid if pid > 0 => {
                drop(writer);
                readers.push(reader);
                pids.push(pid);
            }
            _ => panic!("fork failed: {}", std::io::Error::last_os_error()),
        }
    }
    (readers, pids)
}

fn reap(pids: &[libc::pid_t]) {
    for &pid in pids {
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
}

/// One task per ring on a current-thread runtime: one OS thread serves every ring.
fn with_tokio(n: usize) -> Result<u64, RecvError> {
    let (readers, pids) = start_producers(n);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let total = runtime.block_on(async {
        let tasks: Vec<_> = readers
            .into_iter()
            .map(|reader| {
                tokio::spawn(async move {
                    let mut reader = AsyncReader::new(reader);
                    let mut buf = [0u8; 8];
                    let mut count = 0u64;
                    while reader.recv(&mut buf).await?.is_some() {
                        count += 1;
                    }
                    Ok::<u64, RecvError>(count)
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("task")?;
        }
        Ok::<u64, RecvError>(total)
    })?;
    reap(&pids);
    Ok(total)
}

/// The same with a `WaitSet`, in sync code on this thread.
fn with_waitset(n: usize) -> Result<u64, RecvError> {
    let (readers, pids) = start_producers(n);
    let mut set = WaitSet::new();
    for reader in readers {
        set.add_reader(reader);
    }
    let mut total = 0u64;
    let mut buf = [0u8; 8];
    while !set.is_empty() {
        for ready in set.wait() {
            let reader = set.reader(ready.key).expect("a reader");
            loop {
                match reader.try_recv(&mut buf) {
                    Ok(Some(_)) => total += 1,
                    Ok(None) => {
                        set.remove_reader(ready.key);
                        break;
                    }
                    Err(RecvError::Empty) if ready.peer_died.is_none() => break,
                    Err(RecvError::Empty) => {
                        return Err(RecvError::PeerDied {
                            pid: ready.peer_died.unwrap_or(0),
                        })
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    reap(&pids);
    Ok(total)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8);
    // The sync loop first: its producers are forked before shmpipe's waiter thread exists.
    measure("WaitSet", n, with_waitset);
    measure("tokio", n, with_tokio);
}

/// Runs `consumer` over `n` producers, prints how long it took, and checks the count.
fn measure(label: &str, n: usize, consumer: fn(usize) -> Result<u64, RecvError>) {
    let start = Instant::now();
    let total = consumer(n).unwrap_or_else(|e| panic!("{label} consumer: {e}"));
    println!(
        "{:<8} {total} messages from {n} producer processes in {:?}",
        format!("{label}:"),
        start.elapsed()
    );
    assert_eq!(total, n as u64 * MESSAGES);
}
