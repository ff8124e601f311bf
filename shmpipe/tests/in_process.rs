//! Behaviour of the handles over a heap ring, between threads of one process. The same code
//! runs over shared mappings (see `cross_process.rs`).
#![cfg(not(loom))]

use std::io::{BufRead, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use shmpipe::{channel, AttachError, RecvError, RingOptions, Role, SendError};

const DEADLINE: Duration = Duration::from_secs(30);

/// Record `i` of a test stream: 8 to 300 bytes, starting with the sequence number.
fn record(i: u64, buf: &mut Vec<u8>) -> &[u8] {
    let len = 8 + (i.wrapping_mul(7919) % 293) as usize;
    buf.clear();
    buf.extend_from_slice(&i.to_le_bytes());
    buf.extend((8..len).map(|j| (i as u8).wrapping_add(j as u8)));
    buf
}

#[test]
fn one_message_round_trips() {
    let (mut w, mut r) = channel(64).unwrap();
    w.send(b"hello").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(r.recv(&mut buf).unwrap(), Some(5));
    assert_eq!(&buf[..5], b"hello");
}

#[test]
fn zero_length_messages_are_delivered() {
    let (mut w, mut r) = channel(64).unwrap();
    w.send(b"").unwrap();
    w.send(b"x").unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(r.recv(&mut buf).unwrap(), Some(0));
    assert_eq!(r.recv(&mut buf).unwrap(), Some(1));
}

#[test]
fn wraps_with_padding_record() {
    // 64-byte ring, 24-byte records (9 + 7 padding + 8 header): the third one does not fit
    // before the end and must be preceded by a padding record.
    let (mut w, mut r) = channel(64).unwrap();
    let mut buf = [0u8; 16];
    for round in 0u8..50 {
        w.try_send(&[round; 9]).unwrap();
        w.try_send(&[round.wrapping_add(100); 9]).unwrap();
        assert_eq!(r.try_recv(&mut buf).unwrap(), Some(9));
        assert_eq!(&buf[..9], &[round; 9]);
        assert_eq!(r.try_recv(&mut buf).unwrap(), Some(9));
        assert_eq!(&buf[..9], &[round.wrapping_add(100); 9]);
    }
}

/// Every payload length from 0 to 40 bytes (the inline 8-16-byte copy, `memcpy` on either
/// side of it, records ending exactly at the end of the region, padding records), sent and
/// received one at a time and in batches, through a 128-byte ring that wraps every few
/// records: each arrives whole, with its own bytes, in order.
#[test]
fn every_short_length_round_trips_across_wraps() {
    let (mut w, mut r) = channel(128).unwrap();
    let mut buf = [0u8; 48];
    let mut sent = 0u32;
    for batched in [false, true] {
        for round in 0..20u32 {
            for len in 0..=40usize {
                let msg: Vec<u8> = (0..len).map(|j| (sent as u8) ^ (j as u8 * 3)).collect();
                if batched {
                    w.batch().try_send(&msg).unwrap();
                } else {
                    w.try_send(&msg).unwrap();
                }
                buf.fill(0xee);
                let got = if batched {
                    r.batch().try_recv(&mut buf).unwrap()
                } else {
                    r.try_recv(&mut buf).unwrap()
                };
                assert_eq!(got, Some(len), "round {round}, length {len}");
                assert_eq!(&buf[..len], &msg[..], "round {round}, length {len}");
                assert!(
                    buf[len..].iter().all(|&b| b == 0xee),
                    "wrote past {len} bytes"
                );
                sent += 1;
            }
        }
    }
    assert!(matches!(r.try_recv(&mut buf), Err(RecvError::Empty)));
}

/// `send_values` / `recv_values` through a 128-byte ring that wraps (padding records): every
/// value arrives once, in order, whichever way it was received; a record of another length
/// ends a run and is `LengthMismatch` when it comes first, staying in the ring; end-of-stream
/// is 0; a closed reader fails the send.
#[test]
fn values_stream_in_runs_across_wraps_and_stop_at_other_records() {
    let (mut w, mut r) = channel(128).unwrap();
    let mut next = 0u64;
    let mut expect = 0u64;
    let mut out = [0u64; 5];
    for round in 0..200 {
        let k = 1 + round % 6; // at most 6 records of 16 bytes: fits the ring
        let values: Vec<u64> = (next..next + k).collect();
        next += k;
        w.batch().send_values(&values).unwrap();
        let mut batch = r.batch();
        let mut got = 0;
        while got < k {
            let n = batch.recv_values(&mut out).unwrap();
            assert!(n >= 1 && n <= out.len(), "round {round}: {n}");
            for v in &out[..n] {
                assert_eq!(*v, expect, "round {round}");
                expect += 1;
            }
            got += n as u64;
        }
        assert_eq!(got, k);
    }
    // A 4-byte record between two runs of u64 values.
    w.batch().send_values(&[1u64, 2]).unwrap();
    w.send(b"four").unwrap();
    w.batch().send_values(&[3u64]).unwrap();
    let mut batch = r.batch();
    assert_eq!(batch.recv_values(&mut out).unwrap(), 2);
    assert_eq!(out[..2], [1, 2]);
    assert!(matches!(
        batch.recv_values(&mut out),
        Err(RecvError::LengthMismatch {
            expected: 8,
            found: 4
        })
    ));
    drop(batch);
    let mut buf = [0u8; 8];
    assert_eq!(r.recv(&mut buf).unwrap(), Some(4));
    assert_eq!(r.batch().recv_values(&mut out).unwrap(), 1);
    assert_eq!(out[0], 3);
    assert_eq!(r.batch().recv_values(&mut out[..0]).unwrap(), 0);
    drop(w);
    assert_eq!(r.batch().recv_values(&mut out).unwrap(), 0, "end-of-stream");

    let (mut w, r) = channel(128).unwrap();
    drop(r);
    assert!(matches!(
        w.batch().send_values(&[1u64, 2, 3]),
        Err(SendError::Closed)
    ));
}

/// Values sent together go into runs of values (layout version 4: one record header for up
/// to 4 KiB of them), and every way of receiving takes them as messages of their own:
/// `recv_value`, `recv`, `recv_ref`, the byte stream, the `values` iterator and
/// `recv_values`, mixed, get each value once, in order. A receive that refuses a value
/// (`BufferTooSmall`, `LengthMismatch`) leaves it for the next.
#[test]
fn runs_of_values_are_messages_to_every_way_of_receiving() {
    let (mut w, mut r) = channel(64 * 1024).unwrap();
    let values: Vec<u64> = (0..1000).collect();
    w.batch().send_values(&values).unwrap();
    // 1000 values as records of their own take 16 bytes each; in runs, 8 and a header per
    // 512 of them.
    assert!(r.len() < 8100, "{} bytes used: not in runs", r.len());

    let expect = std::cell::Cell::new(0u64);
    let take = |v: u64| {
        assert_eq!(v, expect.get());
        expect.set(v + 1);
    };
    take(r.recv_value::<u64>().unwrap().unwrap());
    let mut buf = [0u8; 8];
    assert_eq!(r.recv(&mut buf).unwrap(), Some(8));
    take(u64::from_ne_bytes(buf));
    take(u64::from_ne_bytes(
        r.recv_ref().unwrap().unwrap()[..].try_into().unwrap(),
    ));
    let mut small = [0u8; 4];
    assert!(matches!(
        r.try_recv(&mut small),
        Err(RecvError::BufferTooSmall {
            needed: 8,
            available: 4
        })
    ));
    assert!(matches!(
        r.recv_value::<u32>(),
        Err(RecvError::LengthMismatch {
            expected: 4,
            found: 8
        })
    ));
    let mut two = [0u8; 16];
    r.read_exact(&mut two).unwrap();
    take(u64::from_ne_bytes(two[..8].try_into().unwrap()));
    take(u64::from_ne_bytes(two[8..].try_into().unwrap()));
    for v in r.values::<u64>().take(3) {
        take(v.unwrap());
    }
    let mut out = [0u64; 100];
    while expect.get() < 1000 {
        let n = r.batch().try_recv_values(&mut out).unwrap();
        assert!(n > 0);
        out[..n].iter().for_each(|&v| take(v));
    }
    assert!(matches!(r.try_recv(&mut buf), Err(RecvError::Empty)));
    assert_eq!(r.len(), 0, "every run released");
}

/// A run's space goes back to the writer with its last value, not before: in a 256-byte ring
/// (runs of up to four u64 values), a run of four and a record filling the rest leave no
/// room until the reader has taken all four values.
#[test]
fn a_run_is_released_with_its_last_value() {
    let (mut w, mut r) = channel(256).unwrap();
    w.batch().send_values(&[1u64, 2, 3, 4]).unwrap();
    assert_eq!(r.len(), 40, "one run: a header and four values");
    w.send(&[9u8; 208]).unwrap();
    assert!(matches!(w.try_send(&[0u8; 8]), Err(SendError::Full)));
    for v in 1..=3u64 {
        assert_eq!(r.recv_value::<u64>().unwrap(), Some(v));
        assert!(matches!(w.try_send(&[0u8; 8]), Err(SendError::Full)), "{v}");
    }
    assert_eq!(r.recv_value::<u64>().unwrap(), Some(4));
    w.try_send(&[0u8; 8]).unwrap();
    let mut buf = [0u8; 208];
    assert_eq!(r.recv(&mut buf).unwrap(), Some(208));
    assert_eq!(r.recv(&mut buf).unwrap(), Some(8));
}

/// `try_send_values` adds the values there is room for now and says how many; `Full` when
/// there is room for none. The reader gets exactly those.
#[test]
fn try_send_values_sends_what_fits_and_says_how_many() {
    let (mut w, mut r) = channel(256).unwrap();
    let values: Vec<u64> = (0..100).collect();
    let mut batch = w.batch();
    let sent = batch.try_send_values(&values).unwrap();
    assert!(sent > 16 && sent < 32, "{sent} values in a 256-byte ring");
    assert!(matches!(
        batch.try_send_values(&values[sent..]),
        Err(SendError::Full)
    ));
    drop(batch);
    let mut out = vec![0u64; 100];
    let mut got = 0;
    while let Ok(n) = r.batch().try_recv_values(&mut out[got..]) {
        got += n;
    }
    assert_eq!(&out[..got], &values[..sent]);
    assert!(w.batch().try_send_values::<u64>(&[]).unwrap() == 0);
}

/// Values in place (`reserve_values` / `recv_values_ref`) through a 256-byte ring (runs of up
/// to four u64 values) that wraps: each grant holds at most a run, commits all or some of its
/// values, and the reader takes them in place or by copy, alternately: every value once, in
/// order. An abandoned grant sends nothing; committing more than reserved is
/// `GrantExceeded`; a record of another length is `LengthMismatch` and stays; the rest of a
/// run partly taken one by one comes in place; a value sent alone comes alone.
#[test]
fn values_in_place_across_wraps_mixed_with_copies() {
    let (mut w, mut r) = channel(256).unwrap();
    let (mut next, mut expect) = (0u64, 0u64);
    for round in 0..300usize {
        let k = 1 + round % 7;
        let mut batch = w.batch();
        let mut grant = batch.reserve_values::<u64>(k).unwrap();
        let m = grant.len();
        assert!(m >= 1 && m <= k.min(4), "round {round}: {m} of {k}");
        for (i, v) in grant.iter_mut().enumerate() {
            *v = next + i as u64;
        }
        let c = if round % 3 == 0 && m > 1 { m - 1 } else { m };
        grant.commit(c).unwrap();
        next += c as u64;
        drop(batch);
        while expect < next {
            let mut rb = r.batch();
            if round % 2 == 0 {
                let values = rb.recv_values_ref::<u64>().unwrap().unwrap();
                for v in values.iter() {
                    assert_eq!(*v, expect, "round {round}");
                    expect += 1;
                }
            } else {
                let mut out = [0u64; 3];
                let n = rb.recv_values(&mut out).unwrap();
                for v in &out[..n] {
                    assert_eq!(*v, expect, "round {round}");
                    expect += 1;
                }
            }
        }
    }
    assert_eq!(r.len(), 0);

    let mut batch = w.batch();
    drop(batch.reserve_values::<u64>(2).unwrap()); // abandoned
    let grant = batch.reserve_values::<u64>(2).unwrap();
    let m = grant.len();
    assert!(matches!(
        grant.commit(m + 1),
        Err(SendError::GrantExceeded { len, reserved }) if len == (m + 1) * 8 && reserved == m * 8
    ));
    let none = batch.reserve_values::<u64>(0).unwrap();
    assert!(none.is_empty());
    none.commit_all();
    drop(batch);
    assert!(matches!(
        r.batch().try_recv_values_ref::<u64>(),
        Err(RecvError::Empty)
    ));

    w.send(b"four").unwrap();
    assert!(matches!(
        r.batch().try_recv_values_ref::<u64>(),
        Err(RecvError::LengthMismatch {
            expected: 8,
            found: 4
        })
    ));
    let mut buf = [0u8; 8];
    assert_eq!(r.try_recv(&mut buf).unwrap(), Some(4));

    w.batch().send_values(&[1u32, 2, 3]).unwrap();
    assert_eq!(r.recv_value::<u32>().unwrap(), Some(1));
    assert_eq!(
        &*r.batch().recv_values_ref::<u32>().unwrap().unwrap(),
        &[2, 3]
    );
    w.send_value(&9u32).unwrap();
    w.send_value(&10u32).unwrap();
    assert_eq!(&*r.batch().recv_values_ref::<u32>().unwrap().unwrap(), &[9]);
    drop(w);
    let mut rb = r.batch();
    assert_eq!(&*rb.recv_values_ref::<u32>().unwrap().unwrap(), &[10]);
    assert!(
        rb.recv_values_ref::<u32>().unwrap().is_none(),
        "end-of-stream"
    );
}

/// A writer thread streams a million u64 values written in place through a 4 KiB ring (so it
/// waits on a full ring all the time); the reader takes them in place: all arrive, in order.
#[test]
fn threads_stream_a_million_values_in_place() {
    let (mut w, mut r) = channel(4096).unwrap();
    const N: u64 = 1_000_000;
    let t = thread::spawn(move || {
        let mut next = 0u64;
        while next < N {
            let mut batch = w.batch();
            let mut grant = batch
                .reserve_values::<u64>((N - next).min(100) as usize)
                .unwrap();
            for (i, v) in grant.iter_mut().enumerate() {
                *v = next + i as u64;
            }
            next += grant.len() as u64;
            grant.commit_all();
        }
    });
    let mut expect = 0u64;
    let mut rb = r.batch();
    while let Some(values) = rb.recv_values_ref::<u64>().unwrap() {
        for v in values.iter() {
            assert_eq!(*v, expect);
            expect += 1;
        }
    }
    assert_eq!(expect, N);
    t.join().unwrap();
}

/// A writer thread streams a million u64 values with `send_values` through a 256-byte ring
/// (so it waits on a full ring all the time); the reader takes them with `recv_values`: all
/// arrive, in order.
#[test]
fn threads_stream_a_million_values_without_loss() {
    let (mut w, mut r) = channel(256).unwrap();
    const N: u64 = 1_000_000;
    let t = thread::spawn(move || {
        let chunk: Vec<u64> = (0..100).collect();
        let mut next = 0u64;
        while next < N {
            let k = (N - next).min(100);
            let values: Vec<u64> = chunk[..k as usize].iter().map(|v| v + next).collect();
            w.batch().send_values(&values).unwrap();
            next += k;
        }
    });
    let mut out = [0u64; 64];
    let mut expect = 0u64;
    let mut batch = r.batch();
    loop {
        let n = batch.recv_values(&mut out).unwrap();
        if n == 0 {
            break;
        }
        for v in &out[..n] {
            assert_eq!(*v, expect);
            expect += 1;
        }
    }
    assert_eq!(expect, N);
    t.join().unwrap();
}

#[test]
fn full_ring_reports_full_and_empty_ring_reports_empty() {
    let (mut w, mut r) = channel(32).unwrap();
    let mut buf = [0u8; 32];
    assert!(matches!(r.try_recv(&mut buf), Err(RecvError::Empty)));
    w.try_send(&[1; 24]).unwrap(); // 32 bytes: exactly full
    assert!(matches!(w.try_send(b""), Err(SendError::Full)));
    assert_eq!(r.try_recv(&mut buf).unwrap(), Some(24));
    assert!(matches!(r.try_recv(&mut buf), Err(RecvError::Empty)));
    w.try_send(&[2; 24]).unwrap();
}

#[test]
fn largest_message_fits_an_empty_ring_only() {
    let (mut w, mut r) = channel(64).unwrap();
    assert_eq!(w.max_message(), 56);
    w.try_send(&[7; 8]).unwrap();
    let mut buf = [0u8; 64];
    r.try_recv(&mut buf).unwrap();
    // The ring is empty but the write index is at 16: the 56-byte record needs a padding
    // record first and waits for the reader to consume it.
    let sender = thread::spawn(move || {
        w.send(&[9; 56]).unwrap();
        w
    });
    assert_eq!(r.recv_timeout(&mut buf, DEADLINE).unwrap(), Some(56));
    assert!(buf[..56].iter().all(|&b| b == 9));
    sender.join().unwrap();
}

#[test]
fn oversize_message_is_refused_naming_both_sizes() {
    let (mut w, _r) = channel(64).unwrap();
    let err = w.send(&[0; 57]).unwrap_err();
    assert!(
        matches!(err, SendError::TooLarge { len: 57, max: 56 }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("57") && text.contains("56"), "{text}");
}

#[test]
fn reader_sees_eof_after_drain() {
    let (mut w, mut r) = channel(256).unwrap();
    for i in 0u8..5 {
        w.send(&[i; 10]).unwrap();
    }
    w.close();
    let mut buf = [0u8; 16];
    for i in 0u8..5 {
        assert_eq!(r.recv(&mut buf).unwrap(), Some(10));
        assert_eq!(buf[0], i);
    }
    assert_eq!(r.recv(&mut buf).unwrap(), None);
    assert_eq!(r.recv(&mut buf).unwrap(), None, "end-of-stream is sticky");
}

#[test]
fn dropping_the_writer_wakes_a_sleeping_reader_with_eof() {
    let (w, mut r) = channel(256).unwrap();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        drop(w);
    });
    let mut buf = [0u8; 8];
    assert_eq!(r.recv_timeout(&mut buf, DEADLINE).unwrap(), None);
    t.join().unwrap();
}

#[test]
fn writer_send_fails_after_reader_closes() {
    let (mut w, r) = channel(256).unwrap();
    w.send(b"before").unwrap();
    r.close();
    assert!(matches!(w.send(b"after"), Err(SendError::Closed)));
    let err: std::io::Error = w.write(b"x").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
}

#[test]
fn reader_close_wakes_a_writer_blocked_on_a_full_ring() {
    let (mut w, r) = channel(32).unwrap();
    w.send(&[0; 24]).unwrap();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        drop(r);
    });
    assert!(matches!(
        w.send_timeout(&[0; 24], DEADLINE),
        Err(SendError::Closed)
    ));
    t.join().unwrap();
}

/// A reader waiting at the last word of the data region of a shared mapping (where its looks
/// prefetch the next record's lines, the second past the end of the mapping) receives the
/// record the writer puts there, then the ones after the wrap: a prefetch is a hint and never
/// faults, wherever it points.
#[test]
fn a_reader_waiting_at_the_end_of_the_mapping_receives_what_comes() {
    for ring in [
        RingOptions::new().capacity(4096).create_memfd().unwrap(),
        RingOptions::new()
            .capacity(4096)
            .create_anonymous()
            .unwrap(),
    ] {
        let mut w = ring.writer().unwrap();
        let mut r = ring.reader().unwrap();
        // A 4080-byte record (8 + 4080 = 4088 bytes) leaves the next header at the region's
        // last word.
        w.send(&[7u8; 4080]).unwrap();
        let mut buf = vec![0u8; 4096];
        assert_eq!(r.recv(&mut buf).unwrap(), Some(4080));
        let waiting = thread::spawn(move || {
            let mut buf = [0u8; 16];
            let mut got = Vec::new();
            for _ in 0..3 {
                let n = r.recv_timeout(&mut buf, DEADLINE).unwrap().unwrap();
                got.push(buf[..n].to_vec());
            }
            got
        });
        // Let the reader spin and sleep at the end before anything comes.
        thread::sleep(Duration::from_millis(20));
        w.send(b"").unwrap(); // the only record that fits in the last word
        thread::sleep(Duration::from_millis(5));
        w.send(b"after the wrap").unwrap();
        w.send(b"and on").unwrap();
        let got = waiting.join().unwrap();
        assert_eq!(
            got,
            [b"".to_vec(), b"after the wrap".to_vec(), b"and on".to_vec()]
        );
    }
}

#[test]
fn timeouts_expire() {
    let (mut w, mut r) = channel(32).unwrap();
    let mut buf = [0u8; 32];
    let start = Instant::now();
    assert!(matches!(
        r.recv_timeout(&mut buf, Duration::from_millis(30)),
        Err(RecvError::Timeout)
    ));
    assert!(start.elapsed() >= Duration::from_millis(30));
    w.send(&[0; 24]).unwrap();
    let start = Instant::now();
    assert!(matches!(
        w.send_timeout(b"more", Duration::from_millis(30)),
        Err(SendError::Timeout)
    ));
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(matches!(
        w.reserve_timeout(4, Duration::from_millis(1)),
        Err(SendError::Timeout)
    ));
}

#[test]
fn too_small_buffer_leaves_the_record_in_the_ring() {
    let (mut w, mut r) = channel(256).unwrap();
    w.send(b"twelve bytes").unwrap();
    let mut small = [0u8; 4];
    let err = r.recv(&mut small).unwrap_err();
    assert!(matches!(
        err,
        RecvError::BufferTooSmall {
            needed: 12,
            available: 4
        }
    ));
    let mut big = [0u8; 16];
    assert_eq!(r.recv(&mut big).unwrap(), Some(12));
    assert_eq!(&big[..12], b"twelve bytes");
}

#[test]
fn reserve_commit_and_in_place_receive() {
    let (mut w, mut r) = channel(256).unwrap();
    let mut grant = w.reserve(10).unwrap();
    grant[..3].copy_from_slice(b"abc");
    grant.commit(3).unwrap();
    let record = r.recv_ref().unwrap().unwrap();
    assert_eq!(&*record, b"abc");
    drop(record);
    assert!(matches!(r.try_recv_ref(), Err(RecvError::Empty)));
}

#[test]
fn abandoned_grant_publishes_nothing_and_overlong_commit_is_refused() {
    let (mut w, mut r) = channel(256).unwrap();
    {
        let _abandoned = w.reserve(10).unwrap();
    }
    let grant = w.reserve(4).unwrap();
    assert!(matches!(
        grant.commit(5),
        Err(SendError::GrantExceeded {
            len: 5,
            reserved: 4
        })
    ));
    assert!(matches!(r.try_recv_ref(), Err(RecvError::Empty)));
    w.send(b"ok").unwrap();
    assert_eq!(&*r.recv_ref().unwrap().unwrap(), b"ok");
}

#[test]
fn batch_is_published_on_drop() {
    let (mut w, mut r) = channel(1024).unwrap();
    let mut batch = w.batch();
    for i in 0u8..10 {
        batch.send(&[i]).unwrap();
    }
    let mut buf = [0u8; 4];
    assert!(matches!(r.try_recv(&mut buf), Err(RecvError::Empty)));
    drop(batch);
    for i in 0u8..10 {
        assert_eq!(r.try_recv(&mut buf).unwrap(), Some(1));
        assert_eq!(buf[0], i);
    }
}

#[test]
fn batch_larger_than_the_ring_streams_through() {
    let (mut w, mut r) = channel(64).unwrap();
    let t = thread::spawn(move || {
        let mut batch = w.batch();
        for i in 0u32..1000 {
            batch.send(&i.to_le_bytes()).unwrap();
        }
    });
    let mut buf = [0u8; 4];
    for i in 0u32..1000 {
        assert_eq!(r.recv_timeout(&mut buf, DEADLINE).unwrap(), Some(4));
        assert_eq!(u32::from_le_bytes(buf), i);
    }
    assert_eq!(r.recv_timeout(&mut buf, DEADLINE).unwrap(), None);
    t.join().unwrap();
}

#[test]
fn typed_values_round_trip_and_wrong_sizes_stay_in_the_ring() {
    let (mut w, mut r) = channel(256).unwrap();
    w.send_value(&42u64).unwrap();
    w.send_value(&[1u16, 2, 3]).unwrap();
    assert_eq!(r.recv_value::<u64>().unwrap(), Some(42));
    assert!(matches!(
        r.recv_value::<u64>(),
        Err(RecvError::LengthMismatch {
            expected: 8,
            found: 6
        })
    ));
    assert_eq!(r.recv_value::<[u16; 3]>().unwrap(), Some([1, 2, 3]));
}

#[test]
fn io_write_and_read_carry_a_byte_stream() {
    let (mut w, mut r) = channel(128).unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let expected = data.clone();
    let t = thread::spawn(move || {
        w.write_all(&data).unwrap();
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    t.join().unwrap();
    assert_eq!(got, expected);
}

#[test]
fn bufread_lines_span_records() {
    let (mut w, mut r) = channel(256).unwrap();
    w.send(b"first li").unwrap();
    w.send(b"ne\nsecond line\n").unwrap();
    w.send(b"").unwrap();
    w.send(b"third").unwrap();
    drop(w);
    let lines: Vec<String> = (&mut r).lines().map(Result::unwrap).collect();
    assert_eq!(lines, ["first line", "second line", "third"]);
}

#[test]
fn second_writer_and_reader_are_refused_with_the_pid() {
    let ring = RingOptions::new().capacity(64).heap().unwrap();
    let _w = ring.writer().unwrap();
    let _r = ring.reader().unwrap();
    let me = std::process::id();
    match ring.writer() {
        Err(AttachError::AlreadyAttached {
            role: Role::Writer,
            pid,
        }) => assert_eq!(pid, me),
        other => panic!("unexpected {other:?}"),
    }
    match ring.reader() {
        Err(
            e @ AttachError::AlreadyAttached {
                role: Role::Reader, ..
            },
        ) => assert!(e.to_string().contains(&me.to_string())),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_closed_role_cannot_be_attached_again() {
    let ring = RingOptions::new().capacity(64).heap().unwrap();
    ring.writer().unwrap().close();
    assert!(matches!(
        ring.writer(),
        Err(AttachError::Closed { role: Role::Writer })
    ));
}

#[test]
fn invalid_capacities_are_refused() {
    for cap in [0, 8, 100, 3 << 20] {
        let err = RingOptions::new().capacity(cap).heap().unwrap_err();
        assert!(
            matches!(err, shmpipe::CreateError::InvalidCapacity { .. }),
            "{cap}: {err:?}"
        );
    }
}

#[test]
fn threads_stream_a_million_varying_records_without_loss() {
    const N: u64 = 1_000_000;
    let (mut w, mut r) = channel(4096).unwrap();
    let t = thread::spawn(move || {
        let mut buf = Vec::new();
        for i in 0..N {
            w.send(record(i, &mut buf)).unwrap();
        }
    });
    let mut expected = Vec::new();
    let mut got = vec![0u8; 512];
    for i in 0..N {
        let n = r.recv_timeout(&mut got, DEADLINE).unwrap().unwrap();
        assert_eq!(&got[..n], record(i, &mut expected), "record {i}");
    }
    assert_eq!(r.recv_timeout(&mut got, DEADLINE).unwrap(), None);
    t.join().unwrap();
}

#[test]
fn status_reports_positions_and_roles() {
    let ring = RingOptions::new().capacity(256).heap().unwrap();
    let mut w = ring.writer().unwrap();
    w.send(&[0; 8]).unwrap();
    let s = ring.status();
    assert_eq!(s.capacity, 256);
    assert_eq!(s.used(), 16);
    assert_eq!(s.writer.pid, Some(std::process::id()));
    assert!(s.writer.alive);
    assert_eq!(s.reader.pid, None);
    assert_eq!(s.reader.state, shmpipe::RoleState::Vacant);
}

/// A writer waiting on a full ring stays off the cache line the reader is reading for a moment
/// (the line guard, issue 13), never for longer: the last free bytes of a ring, in the line
/// of a record the reader holds, are taken by a blocking `send`, a `send_timeout` and a
/// `try_send` while the reader keeps holding it.
#[test]
fn the_last_bytes_in_the_readers_line_are_taken_while_it_holds_a_record() {
    for how in ["send", "send_timeout", "try_send"] {
        let (mut w, mut r) = channel(4096).unwrap();
        let mut filled = 0u64;
        while w.try_send(&filled.to_le_bytes()).is_ok() {
            filled += 1;
        }
        assert_eq!(filled, 4096 / 16);
        let mut buf = [0u8; 8];
        assert_eq!(r.recv(&mut buf).unwrap(), Some(8));
        // Position 16: mid-line, and the record after it held.
        let held = r.recv_ref().unwrap().unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let writer = thread::spawn(move || {
            let last = filled.to_le_bytes();
            let sent = match how {
                "send" => w.send(&last),
                "send_timeout" => w.send_timeout(&last, Duration::from_secs(5)),
                _ => w.try_send(&last),
            };
            done.send(()).unwrap();
            (w, sent)
        });
        finished
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("{how} hung while the reader held a record"));
        let (w, sent) = writer.join().unwrap();
        sent.unwrap_or_else(|e| panic!("{how}: {e}"));
        assert_eq!(&*held, &1u64.to_le_bytes());
        drop(held);
        drop(w);
        let mut seq = 2;
        while let Some(n) = r.recv(&mut buf).unwrap() {
            assert_eq!((n, u64::from_le_bytes(buf)), (8, seq), "{how}");
            seq += 1;
        }
        assert_eq!(seq, filled + 1, "{how}");
    }
}

/// A reader on the writer's heels hands each line it has finished back to memory (`clflush`,
/// shmpipe's `hand_back`): in rings from one line to 64 KiB, with records from 8 to 300 bytes
/// (the small ones handed back, the large ones not), received by `recv`, `recv_ref` and a
/// receive batch's `recv` in turn, the
/// stream arrives whole and in order, the last line of the region included.
#[test]
fn a_reader_on_the_writers_heels_hands_lines_back_without_losing_a_byte() {
    for capacity in [64u64, 128, 1024, 64 << 10] {
        let (mut writer, mut reader) = channel(capacity).unwrap();
        let max = writer.max_message().min(300);
        let n = 60_000u64;
        let sender = thread::spawn(move || {
            let mut buf = Vec::new();
            for i in 0..n {
                let msg = record(i, &mut buf);
                writer.send(&msg[..msg.len().min(max)]).unwrap();
            }
        });
        let started = Instant::now();
        let mut want = Vec::new();
        let mut got = vec![0u8; 512];
        for i in 0..n {
            let expected = record(i, &mut want);
            let expected = &expected[..expected.len().min(max)];
            match i % 3 {
                0 => {
                    let len = reader.recv(&mut got).unwrap().expect("a record");
                    assert_eq!(&got[..len], expected, "record {i}, capacity {capacity}");
                }
                1 => {
                    let held = reader.recv_ref().unwrap().expect("a record");
                    assert_eq!(&held[..], expected, "record {i}, capacity {capacity}");
                }
                _ => {
                    let len = reader.batch().recv(&mut got).unwrap().expect("a record");
                    assert_eq!(&got[..len], expected, "record {i}, capacity {capacity}");
                }
            }
            assert!(
                started.elapsed() < DEADLINE,
                "capacity {capacity}: stuck at {i}"
            );
        }
        sender.join().unwrap();
        assert_eq!(reader.recv(&mut got).unwrap(), None, "capacity {capacity}");
    }
}
