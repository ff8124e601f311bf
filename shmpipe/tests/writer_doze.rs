//! A writer waiting for room dozes after its spin (naps the reader knows nothing of) before it
//! announces a sleep, so room released in steps further apart than the spin costs the reader
//! no `membarrier(2)` interrupt and no `FUTEX_WAKE` (`wait::WRITER_DOZE`). Counted with the
//! test hooks: the waiting thread's naps and its sleeps on its wake word. A reader never
//! dozes, and a handle set not to spin neither dozes; between two processes too. Every wait
//! has a deadline.
#![cfg(not(loom))]

mod support;
use support::peers::{self, reap};
use support::segments::{self, describe, parse};

use std::sync::mpsc;
use std::time::{Duration, Instant};

use shmpipe::death_watch_hooks::{naps_of_this_thread, sleeps_of_this_thread};
use shmpipe::{Ring, RingOptions, SendError, Writer};

const DEADLINE: Duration = Duration::from_secs(30);

/// Fills the writer's ring with 8-byte messages.
fn fill(writer: &mut Writer) {
    loop {
        match writer.try_send(&[7u8; 8]) {
            Ok(()) => continue,
            Err(SendError::Full) => return,
            Err(e) => panic!("filling the ring: {e}"),
        }
    }
}

/// One blocked send whose room the reader frees `after` it starts: the writer thread's naps
/// and sleeps during the send.
fn blocked_send(spin: Option<Duration>, after: Duration) -> (u64, u64) {
    let mut options = RingOptions::new().capacity(1024);
    if let Some(spin) = spin {
        options = options.spin(spin);
    }
    let ring = options.heap().unwrap();
    let (mut writer, mut reader) = (ring.writer().unwrap(), ring.reader().unwrap());
    fill(&mut writer);
    let (go, started) = mpsc::channel();
    let frees = std::thread::spawn(move || {
        started.recv().unwrap();
        std::thread::sleep(after);
        let mut buf = [0u8; 8];
        assert_eq!(reader.recv(&mut buf).unwrap(), Some(8));
        reader
    });
    let (naps, sleeps) = (naps_of_this_thread(), sleeps_of_this_thread());
    go.send(()).unwrap();
    let start = Instant::now();
    writer.send_timeout(&[1u8; 8], DEADLINE).unwrap();
    assert!(
        start.elapsed() >= after,
        "the send did not wait for the room"
    );
    let counted = (
        naps_of_this_thread() - naps,
        sleeps_of_this_thread() - sleeps,
    );
    drop(frees.join().unwrap());
    counted
}

#[test]
fn room_that_comes_within_the_doze_is_found_without_a_sleep() {
    // 150 µs: past the 50 µs spin, well inside the 1 ms doze. A trial whose reader thread the
    // machine holds back past the doze sleeps (on two busy CPUs, a few in a hundred); one
    // trial of twenty without a sleep is enough, and every trial must have napped. With the
    // doze at zero every trial sleeps without a nap.
    let mut trials = Vec::new();
    for _ in 0..20 {
        let (naps, sleeps) = blocked_send(None, Duration::from_micros(150));
        trials.push((naps, sleeps));
        assert!(
            naps >= 1,
            "the writer waited past its spin without napping: {trials:?}"
        );
        if sleeps == 0 {
            return;
        }
    }
    panic!("the writer slept in every trial (naps, sleeps): {trials:?}");
}

#[test]
fn room_that_takes_longer_than_the_doze_is_slept_for() {
    let (naps, sleeps) = blocked_send(None, Duration::from_millis(20));
    assert!(naps >= 1, "naps {naps}, sleeps {sleeps}");
    // 1 ms of naps (each at least the 10 µs asked) before the sleep: not the whole 20 ms.
    assert!(naps <= 100, "naps {naps}, sleeps {sleeps}");
    assert!(sleeps >= 1, "naps {naps}, sleeps {sleeps}");
}

#[test]
fn a_writer_set_not_to_spin_does_not_doze() {
    let (naps, sleeps) = blocked_send(Some(Duration::ZERO), Duration::from_millis(5));
    assert_eq!(naps, 0, "sleeps {sleeps}");
    assert!(sleeps >= 1);
}

#[test]
fn a_reader_waiting_for_records_does_not_doze() {
    let (mut writer, mut reader) = shmpipe::channel(1024).unwrap();
    let sends = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        writer.send(b"late").unwrap();
        writer
    });
    let (naps, sleeps) = (naps_of_this_thread(), sleeps_of_this_thread());
    let mut buf = [0u8; 8];
    assert_eq!(reader.recv_timeout(&mut buf, DEADLINE).unwrap(), Some(4));
    assert_eq!(naps_of_this_thread() - naps, 0);
    assert!(sleeps_of_this_thread() - sleeps >= 1);
    drop(sends.join().unwrap());
}

#[test]
fn a_deadline_inside_the_doze_ends_the_wait_on_time() {
    let (mut writer, _reader) = shmpipe::channel(1024).unwrap();
    fill(&mut writer);
    let start = Instant::now();
    let e = writer
        .send_timeout(b"x", Duration::from_micros(400))
        .unwrap_err();
    assert!(matches!(e, SendError::Timeout), "{e}");
    let took = start.elapsed();
    // Under a millisecond were it not for a busy machine; the doze alone would be 1 ms more.
    assert!(took < Duration::from_millis(50), "{took:?}");
}

/// The peer's side of the test below (see `support/peers.rs`); a test that does nothing
/// otherwise.
#[test]
fn peer_main() {
    peers::dispatch(&[("release-in-steps", release_in_steps)]);
}

/// Peer: the reader of the ring `spec`, taking one record every `step_us` microseconds until
/// end-of-stream.
fn release_in_steps(args: &[&str]) {
    let [spec, step_us] = args.try_into().unwrap();
    let step = Duration::from_micros(step_us.parse().unwrap());
    let ring = RingOptions::new()
        .timeout(Some(DEADLINE))
        .open(&parse(spec))
        .unwrap();
    let mut reader = ring.reader().unwrap();
    peers::ready();
    let mut buf = [0u8; 8];
    loop {
        std::thread::sleep(step);
        match reader.recv_timeout(&mut buf, DEADLINE).unwrap() {
            Some(_) => continue,
            None => return,
        }
    }
}

/// Between processes, as a user runs it: a reader process releasing room a record every
/// 150 µs (past the writer's 50 µs spin, inside its 1 ms doze) lets the writer process find
/// it by napping, without announcing a sleep the reader would pay for.
#[test]
fn a_reader_process_releasing_in_steps_is_followed_by_naps_not_sleeps() {
    let segment = segments::posix("shmpipe-doze");
    let ring = Ring::create(&segment, 1024).unwrap();
    let mut writer = ring.writer().unwrap();
    fill(&mut writer);
    let mut child = peers::spawn("release-in-steps", &[&describe(&segment), "150"]);
    peers::wait_ready(&mut child);
    const WAITS: u64 = 40;
    let (naps, sleeps) = (naps_of_this_thread(), sleeps_of_this_thread());
    for _ in 0..WAITS {
        writer.send_timeout(&[1u8; 8], DEADLINE).unwrap();
    }
    let (naps, sleeps) = (
        naps_of_this_thread() - naps,
        sleeps_of_this_thread() - sleeps,
    );
    drop(writer);
    assert!(reap(&mut child, DEADLINE).success());
    let _ = shmpipe::remove(&segment);
    // Every wait outlasts the spin, so each naps; one the machine holds the reader back in
    // past the doze sleeps. With the doze, nearly none do (0 here on a quiet machine); with
    // the doze at zero, every wait sleeps and none naps.
    assert!(
        naps >= WAITS / 2,
        "naps {naps}, sleeps {sleeps} in {WAITS} waits"
    );
    assert!(
        sleeps <= WAITS / 4,
        "naps {naps}, sleeps {sleeps} in {WAITS} waits"
    );
}
