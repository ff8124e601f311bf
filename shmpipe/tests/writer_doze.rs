//! A writer waiting for room dozes after its spin (naps the reader knows nothing of) before it
//! announces a sleep, so room released in steps further apart than the spin costs the reader
//! no `membarrier(2)` interrupt and no `FUTEX_WAKE` (`wait::WRITER_DOZE`). Counted with the
//! test hooks: the waiting thread's naps and its sleeps on its wake word. A reader never
//! dozes, and a handle set not to spin neither dozes. Every wait has a deadline.
#![cfg(not(loom))]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use shmpipe::death_watch_hooks::{naps_of_this_thread, sleeps_of_this_thread};
use shmpipe::{RingOptions, SendError, Writer};

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
    // 300 µs: past the 50 µs spin, well inside the 1 ms doze. A trial whose reader thread the
    // machine holds back past the doze sleeps; one trial of five without a sleep is enough,
    // and every trial must have napped.
    let mut trials = Vec::new();
    for _ in 0..5 {
        let (naps, sleeps) = blocked_send(None, Duration::from_micros(300));
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
