//! A watch on the peer's process that cannot start because the process's watcher is busy (its
//! slot held past the 50 ms a sleeper tries for, as when another thread starts the watcher
//! under load) is tried again at the sleeper's next look, instead of leaving the handle
//! looking every 50 ms for good. Its own test binary: nothing else here arms watches.
#![cfg(not(loom))]

mod support;
use support::peers::{self, reap};
use support::segments::{self, describe, parse};

use std::time::Duration;

use shmpipe::death_watch_hooks;
use shmpipe::{RecvError, Ring, RingOptions};

const DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn peer_main() {
    peers::dispatch(&[("attach-then-hang", attach_then_hang)]);
}

/// Peer: attaches as the writer, says so, then hangs (to be killed).
fn attach_then_hang(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let ring = RingOptions::new()
        .timeout(Some(DEADLINE))
        .open(&parse(spec))
        .unwrap();
    let _w = ring.writer().unwrap();
    peers::ready();
    std::thread::sleep(DEADLINE);
}

#[test]
fn a_busy_watcher_is_tried_again() {
    let segment = segments::posix("shmpipe-busy-watch");
    let ring = Ring::create(&segment, 4096).unwrap();
    let mut reader = ring.reader().unwrap();
    reader.set_spin(Duration::ZERO);
    let mut child = peers::spawn("attach-then-hang", &[&describe(&segment)]);
    peers::wait_ready(&mut child);
    let pid = child.id();
    // The wait's first watch (after its first 50 ms slice) finds the slot busy, and so does
    // the next; the slot is free again at 300 ms.
    death_watch_hooks::hold_slot(Duration::from_millis(300));
    let checker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let armed = death_watch_hooks::armed();
        child.kill().unwrap();
        (child, armed)
    });
    let got = reader.recv_timeout(&mut [0u8; 8], DEADLINE);
    let (mut child, armed) = checker.join().unwrap();
    assert!(
        matches!(got, Err(RecvError::PeerDied { pid: p }) if p == pid),
        "{got:?}"
    );
    assert_eq!(armed, 1, "the wait watched its peer once the slot was free");
    reap(&mut child, DEADLINE);
    let _ = shmpipe::remove(&segment);
}
