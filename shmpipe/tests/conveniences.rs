//! The conveniences users reach for, as documented: iterating over messages (`iter`,
//! `try_iter`, `for m in &mut reader`), receiving into a growable vector (`recv_into` and its
//! variants), typed values (`try_send_value`, `send_value_timeout`, `try_recv_value`,
//! `recv_value_timeout`, `values`), and the occupancy queries on both handles (`len`,
//! `is_empty`, `is_full`, `is_abandoned`), in one process and with a peer process (a copy of
//! this test binary) that streams values, and one that is killed.
#![cfg(not(loom))]

mod support;
use support::peers::{self, reap, wait_ready};
use support::segments::{describe, parse, unique};

use std::time::{Duration, Instant};

use shmpipe::{RecvError, Ring, RingOptions, Segment, SendError};

/// Every wait in these tests ends by this deadline.
const DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Iteration

#[test]
fn iter_yields_every_message_in_order_then_ends_at_end_of_stream() {
    let (mut writer, mut reader) = shmpipe::channel(1024).unwrap();
    let sent: Vec<Vec<u8>> = vec![b"one".to_vec(), Vec::new(), vec![7; 100], b"four".to_vec()];
    for m in &sent {
        writer.send(m).unwrap();
    }
    drop(writer);
    let mut messages = reader.iter();
    let got: Vec<Vec<u8>> = messages.by_ref().map(Result::unwrap).collect();
    assert_eq!(got, sent, "every message, the empty one included, in order");
    assert!(messages.next().is_none(), "fused: stays ended");
    assert_eq!(reader.recv_into(&mut Vec::new()).unwrap(), None);
}

#[test]
fn iter_waits_and_ends_when_the_writer_closes_mid_iteration() {
    let (mut writer, mut reader) = shmpipe::channel(256).unwrap();
    // A small ring and many messages: the iterator blocks on an empty ring again and again,
    // and the writer closes while it does.
    let sender = std::thread::spawn(move || {
        for i in 0u32..2000 {
            writer.send(&i.to_le_bytes()).unwrap();
            if i % 500 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        // Dropped here: the iterator is waiting.
    });
    let mut expected = 0u32;
    for message in &mut reader {
        let message = message.unwrap();
        assert_eq!(
            u32::from_le_bytes(message[..].try_into().unwrap()),
            expected
        );
        expected += 1;
    }
    assert_eq!(
        expected, 2000,
        "the iterator ended only after the last message"
    );
    sender.join().unwrap();
}

#[test]
fn iter_yields_the_writers_death_once_then_ends() {
    // An anonymous ring (a memfd): its roles are held by file locks, so `abort` (the writer
    // lets go of its role as a death would) is seen as a death.
    let ring = RingOptions::new()
        .capacity(1024)
        .create_anonymous()
        .unwrap();
    let mut writer = ring.writer().unwrap();
    let mut reader = ring.reader().unwrap();
    writer.send(b"before").unwrap();
    writer.abort();
    let mut messages = reader.iter();
    assert_eq!(messages.next().unwrap().unwrap(), b"before");
    let started = Instant::now();
    match messages.next() {
        Some(Err(RecvError::PeerDied { pid })) => assert_eq!(pid, std::process::id()),
        other => panic!("expected PeerDied, got {other:?}"),
    }
    assert!(started.elapsed() < DEADLINE);
    assert!(messages.next().is_none(), "ends after the error");
    assert!(messages.next().is_none());
}

#[test]
fn try_iter_takes_what_is_there_and_never_waits() {
    let (mut writer, mut reader) = shmpipe::channel(1024).unwrap();
    assert_eq!(reader.try_iter().count(), 0, "an empty ring: ends at once");
    writer.send(b"a").unwrap();
    writer.send(b"bb").unwrap();
    let mut messages = reader.try_iter();
    assert_eq!(messages.next().unwrap().unwrap(), b"a");
    assert_eq!(messages.next().unwrap().unwrap(), b"bb");
    assert!(messages.next().is_none(), "empty, writer still open: ends");
    writer.send(b"ccc").unwrap();
    assert!(messages.next().is_none(), "once ended it stays ended");
    let later: Vec<_> = reader.try_iter().map(Result::unwrap).collect();
    assert_eq!(
        later,
        [b"ccc".to_vec()],
        "a new try_iter sees what came since"
    );
    writer.send(b"last").unwrap();
    drop(writer);
    let rest: Vec<_> = reader.try_iter().map(Result::unwrap).collect();
    assert_eq!(rest, [b"last".to_vec()]);
    assert_eq!(reader.try_iter().count(), 0, "end-of-stream: ends");
}

// ---------------------------------------------------------------------------------------------
// Receiving into a vector

#[test]
fn recv_into_sizes_the_vector_to_each_message_and_reuses_its_capacity() {
    let (mut writer, mut reader) = shmpipe::channel(1 << 16).unwrap();
    let big = vec![0xab; 5000];
    writer.send(&big).unwrap();
    writer.send(b"tiny").unwrap();
    writer.send(b"").unwrap();
    writer.send(&[1u8; 4999]).unwrap();
    drop(writer);

    let mut buf = Vec::with_capacity(8); // smaller than the first message
    assert_eq!(reader.recv_into(&mut buf).unwrap(), Some(5000));
    assert_eq!(buf, big, "grown to fit, not BufferTooSmall");
    let allocation = buf.as_ptr();
    let capacity = buf.capacity();

    assert_eq!(reader.recv_into(&mut buf).unwrap(), Some(4));
    assert_eq!(buf, b"tiny", "exactly the message: no stale bytes after it");
    assert_eq!(reader.recv_into(&mut buf).unwrap(), Some(0));
    assert!(buf.is_empty());
    assert_eq!(reader.recv_into(&mut buf).unwrap(), Some(4999));
    assert_eq!(buf, [1u8; 4999]);
    assert_eq!(buf.as_ptr(), allocation, "the capacity was reused");
    assert_eq!(buf.capacity(), capacity);

    assert_eq!(reader.recv_into(&mut buf).unwrap(), None, "end-of-stream");
    assert_eq!(buf, [1u8; 4999], "left alone at end-of-stream");
}

#[test]
fn recv_into_takes_the_largest_message_into_an_empty_vector() {
    let (mut writer, mut reader) = shmpipe::channel(4096).unwrap();
    let max = writer.max_message();
    let message: Vec<u8> = (0..max).map(|i| i as u8).collect();
    writer.send(&message).unwrap();
    let mut buf = Vec::new();
    assert_eq!(reader.recv_into(&mut buf).unwrap(), Some(max));
    assert_eq!(buf, message);
}

#[test]
fn try_and_timeout_variants_leave_the_vector_alone_when_nothing_comes() {
    let (mut writer, mut reader) = shmpipe::channel(1024).unwrap();
    let mut buf = b"kept".to_vec();
    assert!(matches!(
        reader.try_recv_into(&mut buf),
        Err(RecvError::Empty)
    ));
    let started = Instant::now();
    assert!(matches!(
        reader.recv_into_timeout(&mut buf, Duration::from_millis(30)),
        Err(RecvError::Timeout)
    ));
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(buf, b"kept");

    writer.send(b"now").unwrap();
    assert_eq!(reader.try_recv_into(&mut buf).unwrap(), Some(3));
    assert_eq!(buf, b"now");
    writer.send(&[9; 300]).unwrap();
    assert_eq!(
        reader.recv_into_timeout(&mut buf, DEADLINE).unwrap(),
        Some(300)
    );
    assert_eq!(buf, [9; 300]);
    drop(writer);
    assert_eq!(reader.try_recv_into(&mut buf).unwrap(), None);
    assert_eq!(reader.recv_into_timeout(&mut buf, DEADLINE).unwrap(), None);
    assert_eq!(buf, [9; 300]);
}

#[test]
fn recv_into_after_buffer_too_small_gets_the_same_message() {
    // A message refused by `recv` for a short buffer stays in the ring: `recv_into` takes it.
    let (mut writer, mut reader) = shmpipe::channel(1024).unwrap();
    writer.send(&[5; 64]).unwrap();
    let mut short = [0u8; 8];
    assert!(matches!(
        reader.recv(&mut short),
        Err(RecvError::BufferTooSmall { needed: 64, .. })
    ));
    let mut buf = Vec::new();
    assert_eq!(reader.recv_into(&mut buf).unwrap(), Some(64));
    assert_eq!(buf, [5; 64]);
    assert!(reader.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Typed values

/// Sends and receives one value of any `Pod` type named through the re-exported `bytemuck`.
fn round_trip<T: shmpipe::bytemuck::Pod + PartialEq + std::fmt::Debug>(value: T) {
    let (mut writer, mut reader) = shmpipe::channel(1024).unwrap();
    writer.try_send_value(&value).unwrap();
    assert_eq!(
        reader.len(),
        8 + (std::mem::size_of::<T>() as u64).div_ceil(8) * 8
    );
    assert_eq!(reader.try_recv_value::<T>().unwrap(), Some(value));
}

#[test]
fn typed_values_round_trip_through_the_reexported_bytemuck() {
    round_trip(7u8);
    round_trip(-3i64);
    round_trip([1.5f64, -2.5]);
    round_trip([0u16; 13]);
    round_trip(());
}

#[test]
fn try_send_value_is_full_and_send_value_timeout_times_out_on_a_full_ring() {
    let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
    writer.try_send_value(&1u64).unwrap();
    writer.try_send_value(&2u64).unwrap(); // 2 × (8 + 8): full
    assert!(writer.is_full());
    assert!(matches!(writer.try_send_value(&3u64), Err(SendError::Full)));
    let started = Instant::now();
    assert!(matches!(
        writer.send_value_timeout(&3u64, Duration::from_millis(30)),
        Err(SendError::Timeout)
    ));
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(reader.recv_value::<u64>().unwrap(), Some(1));
    writer
        .send_value_timeout(&3u64, DEADLINE)
        .expect("room again");
    assert_eq!(reader.recv_value::<u64>().unwrap(), Some(2));
    assert_eq!(reader.recv_value::<u64>().unwrap(), Some(3));
    drop(reader);
    assert!(matches!(
        writer.try_send_value(&4u64),
        Err(SendError::Closed)
    ));
    assert!(matches!(
        writer.send_value_timeout(&4u64, DEADLINE),
        Err(SendError::Closed)
    ));
}

#[test]
fn try_recv_value_and_recv_value_timeout_report_empty_timeout_and_end_of_stream() {
    let (mut writer, mut reader) = shmpipe::channel(256).unwrap();
    assert!(matches!(
        reader.try_recv_value::<u32>(),
        Err(RecvError::Empty)
    ));
    let started = Instant::now();
    assert!(matches!(
        reader.recv_value_timeout::<u32>(Duration::from_millis(30)),
        Err(RecvError::Timeout)
    ));
    assert!(started.elapsed() >= Duration::from_millis(30));
    writer.send_value(&11u32).unwrap();
    writer.send_value(&12u32).unwrap();
    assert_eq!(reader.try_recv_value::<u32>().unwrap(), Some(11));
    assert_eq!(
        reader.recv_value_timeout::<u32>(DEADLINE).unwrap(),
        Some(12)
    );
    drop(writer);
    assert_eq!(reader.try_recv_value::<u32>().unwrap(), None);
    assert_eq!(reader.recv_value_timeout::<u32>(DEADLINE).unwrap(), None);
}

#[test]
fn a_wrong_size_value_is_an_error_that_leaves_the_message_in_the_ring() {
    let (mut writer, mut reader) = shmpipe::channel(256).unwrap();
    writer.send(b"abc").unwrap(); // 3 bytes: no u32, no u16
    writer.send_value(&[1u16, 2]).unwrap(); // 4 bytes: a u32's size, another type
    for attempt in [
        reader.recv_value::<u32>(),
        reader.try_recv_value::<u32>(),
        reader.recv_value_timeout::<u32>(DEADLINE),
    ] {
        assert!(
            matches!(
                attempt,
                Err(RecvError::LengthMismatch {
                    expected: 4,
                    found: 3
                })
            ),
            "{attempt:?}"
        );
    }
    let mut values = reader.values::<u16>();
    assert!(matches!(
        values.next(),
        Some(Err(RecvError::LengthMismatch {
            expected: 2,
            found: 3
        }))
    ));
    assert!(values.next().is_none(), "the iterator ends after the error");
    let mut buf = Vec::new();
    assert_eq!(reader.recv_into(&mut buf).unwrap(), Some(3));
    assert_eq!(buf, b"abc", "the refused message was still there, whole");
    // Only the length is checked: 4 bytes are any 4-byte Pod.
    let as_u32 = reader.recv_value::<u32>().unwrap().unwrap();
    assert_eq!(
        as_u32.to_ne_bytes(),
        shmpipe::bytemuck::cast::<[u16; 2], [u8; 4]>([1, 2])
    );
}

#[test]
fn values_iterates_until_end_of_stream_while_the_writer_sends() {
    let (mut writer, mut reader) = shmpipe::channel(128).unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..1000u64 {
            writer.send_value(&[i, i * i]).unwrap();
        }
        let mut batch = writer.batch();
        batch.send_values(&[[7u64, 49]; 10]).unwrap();
    });
    let mut n = 0u64;
    for pair in reader.values::<[u64; 2]>() {
        let [a, b] = pair.unwrap();
        if n < 1000 {
            assert_eq!([a, b], [n, n * n]);
        } else {
            assert_eq!([a, b], [7, 49]);
        }
        n += 1;
    }
    assert_eq!(n, 1010);
    sender.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Occupancy

#[test]
fn len_counts_headers_payload_padding_and_the_wrap_padding_record() {
    let (mut writer, mut reader) = shmpipe::channel(64).unwrap();
    assert_eq!((writer.len(), reader.len()), (0, 0));
    assert!(writer.is_empty() && reader.is_empty());
    for i in 0..3u8 {
        writer.send(&[i; 5]).unwrap(); // 8 + 8 bytes each
    }
    assert_eq!((writer.len(), reader.len()), (48, 48));
    let mut buf = Vec::new();
    reader.recv_into(&mut buf).unwrap();
    reader.recv_into(&mut buf).unwrap();
    assert_eq!((writer.len(), reader.len()), (16, 16));
    // 16 bytes to the end of the region, a 24-byte record: a 16-byte padding record, then the
    // record at offset 0.
    writer.send(&[9; 16]).unwrap();
    assert_eq!((writer.len(), reader.len()), (16 + 16 + 24, 56));
    reader.recv_into(&mut buf).unwrap();
    assert_eq!(
        reader.len(),
        40,
        "the padding record is in use until passed"
    );
    assert_eq!(reader.recv_into(&mut buf).unwrap(), Some(16));
    assert_eq!(buf, [9; 16]);
    assert_eq!((writer.len(), reader.len()), (0, 0));
    assert!(writer.is_empty() && reader.is_empty());
}

#[test]
fn is_full_means_no_room_for_the_smallest_record() {
    let (mut writer, reader) = shmpipe::channel(256).unwrap();
    for _ in 0..10 {
        writer.send(&[1; 13]).unwrap(); // 24-byte records
    }
    assert_eq!(writer.len(), 240);
    assert!(!writer.is_full() && !reader.is_full(), "16 bytes are free");
    writer.try_send(&[2; 8]).unwrap(); // the last 16 bytes
    assert_eq!((writer.len(), reader.len()), (256, 256));
    assert!(writer.is_full() && reader.is_full());
    assert!(!writer.is_empty() && !reader.is_empty());
    assert!(matches!(writer.try_send(b""), Err(SendError::Full)));

    // Filled with empty messages (8 bytes each): full exactly when `try_send` says so.
    let (mut writer, mut reader) = shmpipe::channel(64).unwrap();
    let mut sent = 0;
    loop {
        assert_eq!(writer.is_full(), sent == 8, "after {sent} empty messages");
        match writer.try_send(b"") {
            Ok(()) => sent += 1,
            Err(SendError::Full) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(sent, 8);
    assert!(writer.is_full() && reader.is_full());
    assert_eq!(reader.len(), reader.capacity());

    // Receiving one record makes room for one more.
    let mut buf = vec![1; 4];
    assert_eq!(reader.try_recv_into(&mut buf).unwrap(), Some(0));
    assert!(buf.is_empty());
    assert!(!writer.is_full() && !reader.is_full());
    writer.try_send(b"").unwrap();
    assert!(writer.is_full());
}

#[test]
fn is_abandoned_when_the_peer_closes() {
    let (writer, reader) = shmpipe::channel(1024).unwrap();
    assert!(!writer.is_abandoned() && !reader.is_abandoned());
    drop(reader);
    assert!(writer.is_abandoned(), "the reader closed");

    let (mut writer, mut reader) = shmpipe::channel(1024).unwrap();
    writer.send(b"unread").unwrap();
    writer.close();
    assert!(reader.is_abandoned(), "the writer closed");
    assert!(!reader.is_empty(), "its message is still there");
    assert_eq!(reader.recv_into(&mut Vec::new()).unwrap(), Some(6));
    assert!(reader.is_abandoned(), "and stays abandoned");
}

#[test]
fn is_abandoned_when_the_peer_dies_and_not_while_it_is_vacant() {
    let ring = RingOptions::new()
        .capacity(1024)
        .create_anonymous()
        .unwrap();
    let reader = ring.reader().unwrap();
    assert!(!reader.is_abandoned(), "no writer yet: it may still come");
    let writer = ring.writer().unwrap();
    assert!(!reader.is_abandoned() && !writer.is_abandoned());
    writer.abort(); // lets its role go as a death would
    assert!(reader.is_abandoned(), "the writer is dead");
    assert!(reader.is_abandoned(), "and stays so");

    let ring = RingOptions::new()
        .capacity(1024)
        .create_anonymous()
        .unwrap();
    let writer = ring.writer().unwrap();
    assert!(!writer.is_abandoned(), "no reader yet");
    ring.reader().unwrap().abort();
    assert!(writer.is_abandoned(), "the reader is dead");
}

// ---------------------------------------------------------------------------------------------
// Across processes

/// The peers of this binary (see `support::peers`).
#[test]
fn peer_main() {
    peers::dispatch(&[("values", values), ("read-and-hang", read_and_hang)]);
}

/// Opens the ring a peer was given.
fn open(spec: &str) -> Ring {
    RingOptions::new()
        .timeout(Some(DEADLINE))
        .open(&parse(spec))
        .unwrap()
}

/// Sends `count` values `[i, !i]`, then a message of the wrong size, then closes.
fn values(args: &[&str]) {
    let [spec, count] = args else {
        panic!("values SPEC COUNT");
    };
    let ring = open(spec);
    let mut writer = ring.writer().unwrap();
    let count: u64 = count.parse().unwrap();
    for i in 0..count {
        writer.send_value(&[i, !i]).unwrap();
    }
    writer.send(b"odd size").unwrap();
}

/// Attaches as the reader, says so, and waits to be killed.
fn read_and_hang(args: &[&str]) {
    let [spec] = args else {
        panic!("read-and-hang SPEC");
    };
    let ring = open(spec);
    let _reader = ring.reader().unwrap();
    peers::ready();
    std::thread::sleep(DEADLINE);
}

#[test]
fn values_and_iteration_across_processes() {
    let segment = Segment::posix(unique("conv-values"));
    let ring = Ring::create(&segment, 4096).unwrap();
    let mut reader = ring.reader().unwrap();
    assert!(!reader.is_abandoned(), "the writer has not come yet");
    let count = 20_000u64; // 24-byte records through a 4 KiB ring: it wraps over 100 times
    let mut child = peers::spawn("values", &[&describe(&segment), &count.to_string()]);
    let mut expected = 0;
    for value in reader.values::<[u64; 2]>() {
        match value {
            Ok(pair) => {
                assert_eq!(pair, [expected, !expected]);
                expected += 1;
            }
            Err(RecvError::LengthMismatch {
                expected: 16,
                found: 8,
            }) => break,
            Err(e) => panic!("after {expected} values: {e}"),
        }
    }
    assert_eq!(expected, count);
    assert!(reap(&mut child, DEADLINE).success());
    assert!(reader.is_abandoned(), "the writer closed");
    let rest: Vec<_> = reader.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(rest, [b"odd size".to_vec()]);
    assert!(reader.is_empty());
}

#[test]
fn a_killed_reader_process_is_abandoned() {
    let segment = Segment::posix(unique("conv-killed"));
    let ring = Ring::create(&segment, 4096).unwrap();
    let mut writer = ring.writer().unwrap();
    let mut child = peers::spawn("read-and-hang", &[&describe(&segment)]);
    wait_ready(&mut child);
    writer.send(b"never read").unwrap();
    assert!(!writer.is_abandoned(), "the reader is alive");
    child.kill().unwrap();
    child.wait().unwrap();
    // The kernel has released the dead reader's lock once it has been reaped.
    let started = Instant::now();
    while !writer.is_abandoned() {
        assert!(
            started.elapsed() < DEADLINE,
            "the dead reader was not noticed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        writer.len(),
        8 + 16,
        "its unread message is still in the ring"
    );
    // Sends go on until the ring is full; the one that would wait reports the death.
    let err = loop {
        match writer.send_timeout(&[0; 100], DEADLINE) {
            Ok(()) => continue,
            Err(e) => break e,
        }
    };
    match err {
        SendError::PeerDied { pid } => assert_eq!(pid, child.id()),
        other => panic!("expected PeerDied, got {other}"),
    }
    assert!(
        writer.capacity() - writer.len() < 8 + 104,
        "it failed for want of room"
    );
}
