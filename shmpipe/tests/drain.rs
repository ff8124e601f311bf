//! `Writer::close_and_wait`: the writer closes and waits until the reader has read
//! everything, or closed, or died, or the timeout passes.
#![cfg(not(loom))]

use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use shmpipe::{channel, Ring, RingOptions, Segment, SendError};

mod support;
use support::peers;

const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn returns_once_the_reader_has_drained() {
    let (mut w, mut r) = channel(1024).unwrap();
    for i in 0u8..20 {
        w.send(&[i; 30]).unwrap();
    }
    let reader = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        let mut buf = [0u8; 64];
        let mut got = 0;
        while let Some(n) = r.recv_timeout(&mut buf, DEADLINE).unwrap() {
            assert_eq!(n, 30);
            got += 1;
        }
        // Keep the reader open a while: the writer must not need it to close.
        thread::sleep(Duration::from_millis(50));
        got
    });
    w.close_and_wait(Some(DEADLINE)).unwrap();
    assert_eq!(reader.join().unwrap(), 20);
}

#[test]
fn returns_at_once_when_nothing_is_unread() {
    let (mut w, mut r) = channel(256).unwrap();
    w.send(b"read").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(r.recv(&mut buf).unwrap(), Some(4));
    w.close_and_wait(Some(Duration::ZERO)).unwrap();
    assert_eq!(r.recv(&mut buf).unwrap(), None);

    let (w, _r) = channel(256).unwrap();
    w.close_and_wait(Some(Duration::ZERO)).unwrap();
}

#[test]
fn times_out_while_nobody_reads_and_leaves_the_ring_closed() {
    let (mut w, mut r) = channel(256).unwrap();
    w.send(b"unread").unwrap();
    let start = Instant::now();
    assert!(matches!(
        w.close_and_wait(Some(Duration::from_millis(30))),
        Err(SendError::Timeout)
    ));
    assert!(start.elapsed() >= Duration::from_millis(30));
    let mut buf = [0u8; 8];
    assert_eq!(r.recv(&mut buf).unwrap(), Some(6));
    assert_eq!(r.recv(&mut buf).unwrap(), None, "the ring was closed");
}

#[test]
fn fails_closed_when_the_reader_closes_early() {
    let (mut w, mut r) = channel(256).unwrap();
    w.send(b"one").unwrap();
    w.send(b"two").unwrap();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 8];
        assert_eq!(r.recv(&mut buf).unwrap(), Some(3));
        thread::sleep(Duration::from_millis(20));
        r.close();
    });
    assert!(matches!(
        w.close_and_wait(Some(DEADLINE)),
        Err(SendError::Closed)
    ));
    reader.join().unwrap();
}

#[test]
fn succeeds_when_the_reader_drains_then_closes() {
    let (mut w, mut r) = channel(256).unwrap();
    w.send(b"all of it").unwrap();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 16];
        while r.recv_timeout(&mut buf, DEADLINE).unwrap().is_some() {}
        drop(r);
    });
    w.close_and_wait(Some(DEADLINE)).unwrap();
    reader.join().unwrap();
}

#[test]
fn waits_for_a_reader_that_attaches_late() {
    let ring = RingOptions::new().capacity(256).heap().unwrap();
    let mut w = ring.writer().unwrap();
    w.send(b"for later").unwrap();
    let reader = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        let mut r = ring.reader().unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(r.recv(&mut buf).unwrap(), Some(9));
        assert_eq!(r.recv(&mut buf).unwrap(), None);
    });
    w.close_and_wait(Some(DEADLINE)).unwrap();
    reader.join().unwrap();
}

#[test]
fn an_abandoned_grant_after_a_padding_record_does_not_block_the_drain() {
    // 64-byte ring: two 24-byte records leave 16 bytes before the end. Reserving 20 bytes
    // (a 32-byte record) writes a 16-byte padding record first; the grant is then dropped,
    // so the last thing in the ring is that padding. The reader skips it at end-of-stream
    // and must still release it, or the writer would wait forever.
    let (mut w, mut r) = channel(64).unwrap();
    w.send(&[1; 9]).unwrap();
    w.send(&[2; 9]).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(r.recv(&mut buf).unwrap(), Some(9));
    assert_eq!(r.recv(&mut buf).unwrap(), Some(9));
    let _abandoned_without_commit = w.reserve(20).unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 64];
        assert_eq!(r.recv_timeout(&mut buf, DEADLINE).unwrap(), None);
        // Stay open until the writer is done: only the release may satisfy it.
        let _ = finished.recv_timeout(DEADLINE);
        drop(r);
    });
    let result = w.close_and_wait(Some(Duration::from_secs(5)));
    done.send(()).unwrap();
    reader.join().unwrap();
    result.unwrap();
}

/// The reader process of [`reports_a_reader_process_that_dies`] (see `support/peers.rs`); a
/// test that does nothing otherwise.
#[test]
fn peer_main() {
    peers::dispatch(&[("read-and-sleep", read_and_sleep)]);
}

/// Peer: attaches a reader to the named POSIX ring and sleeps until killed (at most a minute).
fn read_and_sleep(args: &[&str]) {
    let [name] = args.try_into().unwrap();
    let ring = Ring::open(&Segment::posix(name)).unwrap();
    let _reader = ring.reader().unwrap();
    thread::sleep(Duration::from_secs(60));
}

#[test]
fn reports_a_reader_process_that_dies() {
    let name = format!("shmpipe-drain-test-{}", std::process::id());
    let segment = Segment::posix(&name);
    let _ = shmpipe::remove(&segment);
    let ring = RingOptions::new().capacity(4096).create(&segment).unwrap();
    let mut w = ring.writer().unwrap();
    w.send(b"never read").unwrap();
    let mut child = peers::command("read-and-sleep", &[&name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while ring.status().reader.pid.is_none() {
        if start.elapsed() > DEADLINE || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = shmpipe::remove(&segment);
            panic!("the child process never attached its reader");
        }
        thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let result = w.close_and_wait(Some(DEADLINE));
    let _ = ring.remove_name();
    match result {
        Err(SendError::PeerDied { pid }) => assert_eq!(pid, child.id()),
        other => panic!("expected PeerDied, got {other:?}"),
    }
}
