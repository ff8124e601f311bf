//! `Reader::batch`: records received through a batch are released together, and a writer
//! waiting for room is never left waiting on released-but-unpublished space (the batch
//! publishes when an eighth of the ring is released, before it waits, and when dropped).
#![cfg(not(loom))]

use std::time::{Duration, Instant};

use shmpipe::{RecvError, RingOptions, SendError};

const DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn a_batch_receives_in_order_and_releases_when_dropped() {
    let ring = RingOptions::new().capacity(256).heap().unwrap();
    let mut writer = ring.writer().unwrap();
    let mut reader = ring.reader().unwrap();
    // 16 records of 16 bytes fill the ring.
    for i in 0u8..16 {
        writer.try_send(&[i; 8]).unwrap();
    }
    assert!(matches!(writer.try_send(&[0; 8]), Err(SendError::Full)));
    let mut buf = [0u8; 8];
    let mut batch = reader.batch();
    assert_eq!(batch.recv(&mut buf).unwrap(), Some(8));
    assert_eq!(buf, [0; 8]);
    // 16 bytes released, less than an eighth of the ring (32): not published yet.
    assert!(matches!(writer.try_send(&[0; 8]), Err(SendError::Full)));
    assert_eq!(batch.recv(&mut buf).unwrap(), Some(8));
    assert_eq!(buf, [1; 8]);
    // 32 bytes: published, room for two records.
    writer.try_send(&[16; 8]).unwrap();
    writer.try_send(&[17; 8]).unwrap();
    assert!(matches!(writer.try_send(&[0; 8]), Err(SendError::Full)));
    assert_eq!(batch.recv(&mut buf).unwrap(), Some(8));
    assert_eq!(buf, [2; 8]);
    assert!(matches!(writer.try_send(&[0; 8]), Err(SendError::Full)));
    drop(batch);
    // Dropping the batch published the last release.
    writer.try_send(&[18; 8]).unwrap();
    for i in 3u8..19 {
        assert_eq!(reader.recv(&mut buf).unwrap(), Some(8));
        assert_eq!(buf, [i; 8]);
    }
}

#[test]
fn try_recv_on_an_empty_ring_publishes_the_batch() {
    let ring = RingOptions::new().capacity(1024).heap().unwrap();
    let mut writer = ring.writer().unwrap();
    let mut reader = ring.reader().unwrap();
    writer.send(b"one").unwrap();
    let mut buf = [0u8; 8];
    let mut batch = reader.batch();
    assert_eq!(batch.try_recv(&mut buf).unwrap(), Some(3));
    assert!(matches!(batch.try_recv(&mut buf), Err(RecvError::Empty)));
    // The release is visible even though the batch lives on.
    assert_eq!(ring.status().reader.position, 16);
    drop(batch);
}

#[test]
fn a_writer_blocked_on_a_full_ring_streams_through_a_batch() {
    let (mut writer, mut reader) = shmpipe::channel(256).unwrap();
    const COUNT: u64 = 200_000;
    let sending = std::thread::spawn(move || {
        for i in 0..COUNT {
            writer.send(&i.to_le_bytes()).unwrap();
        }
    });
    let start = Instant::now();
    let mut buf = [0u8; 8];
    let mut batch = reader.batch();
    for i in 0..COUNT {
        let got = batch.recv_timeout(&mut buf, DEADLINE).unwrap();
        assert_eq!(got, Some(8));
        assert_eq!(u64::from_le_bytes(buf), i);
        assert!(start.elapsed() < DEADLINE, "stalled at record {i}");
    }
    assert_eq!(batch.recv_timeout(&mut buf, DEADLINE).unwrap(), None);
    drop(batch);
    sending.join().unwrap();
}

#[test]
fn close_and_wait_sees_a_batch_drain_the_ring() {
    let (mut writer, mut reader) = shmpipe::channel(1024).unwrap();
    for i in 0u8..20 {
        writer.send(&[i]).unwrap();
    }
    let reading = std::thread::spawn(move || {
        let mut buf = [0u8; 1];
        let mut batch = reader.batch();
        let mut n = 0;
        while batch.recv(&mut buf).unwrap().is_some() {
            n += 1;
        }
        n
    });
    writer.close_and_wait(Some(DEADLINE)).unwrap();
    assert_eq!(reading.join().unwrap(), 20);
}
