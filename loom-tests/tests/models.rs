//! loom model checks of the shmpipe protocol, run against the crate's own code.
//!
//! Built with `RUSTFLAGS="--cfg loom"`, shmpipe's `sync` shim swaps every atomic for loom's,
//! tracks every byte of the data region with a loom `UnsafeCell` per 8-byte granule, yields to
//! loom where it would spin, and models the futex with a loom `Mutex` and `Condvar`. So each
//! model below fails with
//! - a *data race* (causality violation) if a record is read before it is published or space is
//!   written before the reader released it;
//! - a *deadlock* if a wake-up is lost (a side sleeps and nobody will wake it);
//! - an assertion if a record is lost, duplicated, reordered or corrupted, or end-of-stream or
//!   an error comes when it should not.
//!
//! The models use small rings (16 or 32 bytes) so that every boundary (full, empty, the end of
//! the region, a padding record) is reached within a few records. Each one names, in its doc
//! comment, the orderings it is there to check; `loom-tests/README.md` has the table of which
//! model catches which weakened ordering (`loom-tests/mutants.sh`).
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shmpipe::loom_model::{loom_poll_recv, Parked, Registry};
use shmpipe::{AttachError, Reader, RecvError, RingOptions, SendError, WaitSet};

/// The payload of record `i`: `len` bytes that differ from every other record's.
fn msg(i: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|k| i.wrapping_mul(37).wrapping_add(k as u8).wrapping_add(1))
        .collect()
}

/// Receives (copying out) until end-of-stream; every record must fit 64 bytes.
fn recv_all(reader: &mut Reader) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while let Some(n) = reader.recv(&mut buf).unwrap() {
        got.push(buf[..n].to_vec());
    }
    got
}

/// Receives the next record, which must be `expected`.
fn expect_record(reader: &mut Reader, expected: &[u8]) {
    let mut buf = [0u8; 64];
    let n = reader.recv(&mut buf).unwrap();
    assert_eq!(n, Some(expected.len()), "wrong record length");
    assert_eq!(&buf[..expected.len()], expected, "record corrupted");
}

/// One record from a writer thread to the reader: it arrives intact, then end-of-stream.
///
/// Checks the publish pair: the writer's `Release` store of its position in
/// `WriterState::publish` and the reader's `Acquire` load in `ReaderState::refresh_write`
/// (without it the reader's copy races the writer's on the payload cells).
#[test]
fn one_record() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
        let t = thread::spawn(move || writer.send(&msg(0, 5)).unwrap());
        expect_record(&mut reader, &msg(0, 5));
        assert_eq!(reader.recv(&mut [0u8; 8]).unwrap(), None);
        t.join().unwrap();
    });
}

/// Three 9-byte records (24 bytes each) through a 32-byte ring: the second and the third
/// each need a padding record to the end of the region and start again at offset 0, in space
/// the reader has just released. All arrive intact and in order, then end-of-stream.
///
/// Checks the release pair (the reader's `Release` store of its position in
/// `ReaderState::publish`, the writer's `Acquire` load in `WriterState::refresh_read`: the
/// writer's reuse of the space races the reader's copy otherwise), the publish pair for
/// padding records, the sleep/wake handshake on both sides, and that `end_sleep` is a
/// read-modify-write.
#[test]
fn stream_wraps_with_padding() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
        let t = thread::spawn(move || {
            for i in 0..3 {
                writer.send(&msg(i, 9)).unwrap();
            }
        });
        let expected: Vec<_> = (0..3).map(|i| msg(i, 9)).collect();
        assert_eq!(recv_all(&mut reader), expected);
        t.join().unwrap();
    });
}

/// Exactly full and exactly empty, at both ends. Two 16-byte records fill a 32-byte ring to
/// the last byte (the second ends exactly at the end of the region, no padding): a third
/// `try_send` is `Full` and an empty ring's `try_recv` is `Empty`. Then, concurrently, the
/// reader drains while the writer sends two more, each of which fits exactly in the space
/// one release frees at offset 0; the reader meets an exactly empty ring (read = write) at
/// offset 0 and mid-region.
///
/// Checks the full/empty arithmetic (`has_room`, `try_next`) and the release and publish
/// pairs at exactly the boundary positions.
#[test]
fn full_and_empty_boundaries() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
        assert!(matches!(
            reader.try_recv(&mut [0u8; 8]),
            Err(RecvError::Empty)
        ));
        writer.send(&msg(0, 8)).unwrap();
        writer.send(&msg(1, 8)).unwrap();
        assert!(matches!(writer.try_send(&msg(9, 1)), Err(SendError::Full)));
        let t = thread::spawn(move || recv_all(&mut reader));
        writer.send(&msg(2, 8)).unwrap();
        writer.send(&msg(3, 8)).unwrap();
        drop(writer);
        let expected: Vec<_> = (0..4).map(|i| msg(i, 8)).collect();
        assert_eq!(t.join().unwrap(), expected);
    });
}

/// Zero-copy both ways: the writer reserves room, fills it in place and commits it (once
/// shorter than reserved); the reader receives in place and releases each record by dropping
/// its guard. The third reservation wraps over the space of the second record, so the writer
/// may only write there after the reader's guard is gone.
///
/// Checks that `Grant::commit` ends the writer's access before publishing, that a `RecvRef`
/// holds the bytes until it drops (a data race on the cells otherwise), and the publish and
/// release pairs on the zero-copy paths.
#[test]
fn zero_copy_reserve_commit_and_in_place_receive() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
        let t = thread::spawn(move || {
            for i in 0..3 {
                let mut grant = writer.reserve(9).unwrap();
                grant.copy_from_slice(&msg(i, 9));
                if i == 1 {
                    grant.commit(5).unwrap();
                } else {
                    grant.commit_all();
                }
            }
        });
        for (i, len) in [(0, 9), (1, 5), (2, 9)] {
            let record = reader.recv_ref().unwrap().expect("a record");
            assert_eq!(&*record, &msg(i, 9)[..len]);
        }
        assert!(reader.recv_ref().unwrap().is_none());
        t.join().unwrap();
    });
}

/// A batch of three 1-byte records (16 bytes each) into a 32-byte ring: the first two are
/// published together when the third finds the ring full (the batch must publish what it holds
/// before it waits, or both sides wait for ever), the third when the batch drops.
///
/// Checks the publish pair for several records under one `Release` store, and the publish of
/// pending records before a batch waits.
#[test]
fn batch_publish() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
        let t = thread::spawn(move || {
            let mut batch = writer.batch();
            for i in 0..3 {
                batch.send(&msg(i, 1)).unwrap();
            }
        });
        let expected: Vec<_> = (0..3).map(|i| msg(i, 1)).collect();
        assert_eq!(recv_all(&mut reader), expected);
        t.join().unwrap();
    });
}

/// The writer sends two records and closes at once, while the reader may be anywhere: the
/// reader gets both records, then end-of-stream, never end-of-stream early.
///
/// Checks the close pair: the writer's `Release` store of its state in `WriterState::close`
/// and the reader's `Acquire` load of it in `ReaderState::poll` (without them the reader can
/// see "closed" but not the last write position, and report end-of-stream too soon), and the
/// wake-up a close owes a sleeping reader.
#[test]
fn writer_close_with_records_in_flight() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
        let t = thread::spawn(move || {
            writer.send(&msg(0, 3)).unwrap();
            writer.send(&msg(1, 3)).unwrap();
            writer.close();
        });
        expect_record(&mut reader, &msg(0, 3));
        expect_record(&mut reader, &msg(1, 3));
        assert_eq!(reader.recv(&mut [0u8; 8]).unwrap(), None);
        t.join().unwrap();
    });
}

/// The writer sends a 24-byte record into a 32-byte ring, then reserves room for a 16-byte
/// one, which needs a padding record over the last 8 bytes first, and abandons the
/// reservation (or is told `Full`), then closes. The padding record is pending (written, not
/// published) until a publish: the close's, if the reservation was granted. The reader gets
/// the record, then end-of-stream.
///
/// Checks that `WriterState::close` keeps the answer of its own publish: that publish may be
/// the one that finds the reader asleep (and resets its wake word), so the close must wake it.
#[test]
fn writer_close_publishes_pending_padding() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
        let t = thread::spawn(move || {
            writer.send(&msg(0, 9)).unwrap();
            match writer.try_reserve(1) {
                Ok(grant) => drop(grant),
                Err(SendError::Full) => {}
                Err(e) => panic!("try_reserve failed: {e}"),
            }
            writer.close();
        });
        assert_eq!(recv_all(&mut reader), [msg(0, 9)]);
        t.join().unwrap();
    });
}

/// The writer sends 8-byte records into a 16-byte ring (one record fills it) until it is told
/// `Closed`; the reader takes one record and closes. The writer, blocked on the full ring or
/// about to be, must learn of the close (no deadlock) and send at most one more record.
///
/// Checks that the reader's close reaches a writer sleeping on a full ring: the reset of the
/// writer's wake word after the (`Relaxed`) state store in `ReaderState::close`, and the
/// sleep/wake handshake.
#[test]
fn reader_close_while_writer_blocked() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(16).unwrap();
        let t = thread::spawn(move || {
            let mut sent = 0u8;
            loop {
                match writer.send(&msg(sent, 8)) {
                    Ok(()) => sent += 1,
                    Err(SendError::Closed) => return sent,
                    Err(e) => panic!("send failed: {e}"),
                }
            }
        });
        expect_record(&mut reader, &msg(0, 8));
        drop(reader);
        let sent = t.join().unwrap();
        assert!((1..=2).contains(&sent), "sent {sent} records");
    });
}

/// The reader blocks on an empty ring; the writer sends one record but does not close (it
/// hands its handle back through `join`), so only the publish's wake-up can end the reader's
/// wait. Then the writer closes and the reader sees end-of-stream.
///
/// Checks the sleep/wake handshake for the reader: `announce_sleep`'s `Acquire` swap and
/// `peer_needs_wake`'s `Release` swap on the reader's wake word (a lost wake-up is a deadlock).
#[test]
fn reader_sleeps_on_empty_and_is_woken() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(16).unwrap();
        let t = thread::spawn(move || {
            writer.send(&msg(0, 4)).unwrap();
            writer
        });
        expect_record(&mut reader, &msg(0, 4));
        drop(t.join().unwrap());
        assert_eq!(reader.recv(&mut [0u8; 8]).unwrap(), None);
    });
}

/// A death watch on the writer's process fires (the watcher thread's reset and wake of the
/// reader's wake word) at any moment while the reader waits for the writer's one record: the
/// reader still gets it (the writer does not close, so only the publish's wake-up can end the
/// wait), and the watch's reset never hides the publish from the reader's re-check.
///
/// Checks that `protocol::death_heard` is a read-modify-write (a deadlock with a plain store:
/// it would break the release sequence of the writer's wake-up swap).
#[test]
fn death_watch_fires_while_the_reader_waits() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(16).unwrap();
        let watch = reader.loom_death_watch();
        let t = thread::spawn(move || {
            writer.send(&msg(0, 4)).unwrap();
            writer
        });
        let fired = thread::spawn(move || watch.fires());
        expect_record(&mut reader, &msg(0, 4));
        fired.join().unwrap();
        drop(t.join().unwrap());
        assert_eq!(reader.recv(&mut [0u8; 8]).unwrap(), None);
    });
}

/// The writer fills a 16-byte ring with one record and blocks sending the second; the reader
/// takes both but does not close (it hands its handle back through `join`), so only the
/// release's wake-up can end the writer's wait.
///
/// Checks the sleep/wake handshake for the writer: `announce_sleep`'s `Acquire` swap and
/// `peer_needs_wake`'s `Release` swap on the writer's wake word (a lost wake-up is a
/// deadlock).
#[test]
fn writer_sleeps_on_full_and_is_woken() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(16).unwrap();
        let t = thread::spawn(move || {
            expect_record(&mut reader, &msg(0, 8));
            expect_record(&mut reader, &msg(1, 8));
            reader
        });
        writer.send(&msg(0, 8)).unwrap();
        writer.send(&msg(1, 8)).unwrap();
        let reader = t.join().unwrap();
        drop(writer);
        drop(reader);
    });
}

/// Two would-be writers claim the same heap ring at once (two threads; no file locks): exactly
/// one gets the writer, the other is told the role is taken.
///
/// Checks that the claim of the holder word (`ownership::claim_word`) is one compare-exchange
/// (mutual exclusion needs no ordering, only the read-modify-write). Shared segments add the
/// kernel's lock on top (`claim_after_close_is_refused`).
#[test]
fn role_claim_race() {
    loom::model(|| {
        let ring = Arc::new(RingOptions::new().capacity(16).heap_in_process().unwrap());
        let other = ring.clone();
        // Each keeps what it won until both have tried (a dropped writer closes the role).
        let t = thread::spawn(move || other.writer());
        let mine = ring.writer();
        let theirs = t.join().unwrap();
        let won = [&mine, &theirs].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "{mine:?} / {theirs:?}");
        for r in [mine, theirs] {
            assert!(matches!(
                r,
                Ok(_) | Err(AttachError::AlreadyAttached { .. })
            ));
        }
    });
}

/// The writer and the reader attach at the same time: at least one of them sees the other
/// attached (and removes the segment's name, so a crash from then on leaves nothing behind).
///
/// Checks that `both_attached` reads the other owner word with a read-modify-write. (Its
/// orderings, and the claim's, matter only under the C11 model, where two RMWs on different
/// words can each miss the other; loom runs the RMWs of one word in a single total order, so
/// no loom model can tell them apart: see the README.)
///
/// The ring claims its roles as a heap ring does (the holder word's compare-exchange alone): the
/// modelled lock table's mutex would otherwise order the two claims and hide a plain load here.
#[test]
fn both_attach_one_sees_the_other() {
    loom::model(|| {
        let ring = Arc::new(RingOptions::new().capacity(16).heap_in_process().unwrap());
        let other = ring.clone();
        let t = thread::spawn(move || other.writer().unwrap());
        let reader = ring.reader().unwrap();
        let writer = t.join().unwrap();
        assert!(ring.loom_name_removed(), "neither side saw the other");
        drop((writer, reader));
    });
}

/// A creator initialises a segment's header while another "process" opens it: the opener
/// waits for the init word, then finds every identity field (magic, version, geometry) as the
/// creator wrote it, attaches the reader and receives the creator's record.
///
/// Checks the init pair: the creator's `Release` store of the init word in
/// `Header::initialise` and the opener's `Acquire` load in `Header::is_ready` (without them
/// the opener reads a half-written header and refuses it).
#[test]
fn opener_waits_for_initialised_header() {
    loom::model(|| {
        let segment = RingOptions::new().capacity(16).loom_segment().unwrap();
        let creator = segment.clone();
        let t = thread::spawn(move || {
            let ring = creator.create();
            let mut writer = ring.writer().unwrap();
            writer.send(&msg(0, 2)).unwrap();
        });
        let ring = segment.open().expect("the opener refused the header");
        assert_eq!(ring.capacity(), 16);
        let mut reader = ring.reader().unwrap();
        assert_eq!(recv_all(&mut reader), [msg(0, 2)]);
        t.join().unwrap();
    });
}

/// The reader attaches while the writer is sending: it starts from the write position it
/// loads at attach time, and still receives every record intact, then end-of-stream.
///
/// Checks the `Acquire` load of the write position in `ReaderState::attach`: the reader reads
/// the records below that position without loading it again.
#[test]
fn reader_attaches_mid_stream() {
    loom::model(|| {
        let ring = Arc::new(RingOptions::new().capacity(32).heap().unwrap());
        let mut writer = ring.writer().unwrap();
        let t = thread::spawn(move || {
            writer.send(&msg(0, 3)).unwrap();
            writer.send(&msg(1, 3)).unwrap();
        });
        let mut reader = ring.reader().unwrap();
        assert_eq!(recv_all(&mut reader), [msg(0, 3), msg(1, 3)]);
        t.join().unwrap();
    });
}

/// The writer fills a 16-byte ring with one record and its process dies; a new writer takes
/// the role over and sends a second record into the space the reader is releasing meanwhile.
/// The reader gets both, intact, then end-of-stream.
///
/// Checks the `Acquire` load of the read position in `WriterState::attach`: the new writer
/// writes below the read position it loads at attach time without loading it again, into
/// space the reader was copying from (a data race without it). Finding the old writer dead
/// orders everything it did before the new writer's claim, as the kernel does for processes;
/// here both live in the main thread.
#[test]
fn writer_takes_over_from_dead_writer() {
    loom::model(|| {
        let ring = Arc::new(RingOptions::new().capacity(16).heap().unwrap());
        let mut first = ring.writer().unwrap();
        let mut reader = ring.reader().unwrap();
        first.send(&msg(0, 8)).unwrap();
        let t = thread::spawn(move || {
            expect_record(&mut reader, &msg(0, 8));
            reader
        });
        first.crash();
        let mut second = ring.writer().expect("the dead writer's role is taken over");
        second.send(&msg(1, 8)).unwrap();
        let mut reader = t.join().unwrap();
        expect_record(&mut reader, &msg(1, 8));
        drop(second);
        assert_eq!(reader.recv(&mut [0u8; 8]).unwrap(), None);
    });
}

/// The writer sends a record, closes and waits (`close_and_wait`) until the reader has it; the
/// reader drains the ring, then closes (drops its handle). The wait ends with `Ok`: a reader
/// that released everything before closing is never mistaken for one that closed early.
///
/// Checks the reader-close pair: the reader's `Release` store of its state in
/// `ReaderState::close`, after its last store of the read position, and the writer's `Acquire`
/// load of that state in `WriterState::drained` (without them the writer can see "closed" with
/// a stale read position and report `Closed`); and the wake-ups the reader's release and close
/// owe a writer asleep in the wait.
#[test]
fn writer_waits_until_the_reader_drained() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
        writer.send(&msg(1, 8)).unwrap();
        let t = thread::spawn(move || {
            expect_record(&mut reader, &msg(1, 8));
            assert_eq!(recv_all(&mut reader), Vec::<Vec<u8>>::new());
            drop(reader);
        });
        writer.close_and_wait(None).unwrap();
        t.join().unwrap();
    });
}

/// A receive batch holding a deferred release while the writer waits for that very space. In
/// a 128-byte ring a receive batch publishes its releases once 16 bytes (an eighth) are
/// released. The writer fills the ring exactly, with a 24-byte record (16-byte payload) and
/// thirteen empty 8-byte records, then sends a record that needs the whole ring (a 120-byte
/// payload: 128 bytes). The reader, in one `Reader::batch`, publishes after the first record
/// and after every second empty one, so after the thirteenth it holds 8 released bytes
/// unpublished, and the writer can go on only once they are published: the reader must
/// publish them before it waits on the empty ring. Then the writer closes: the reader gets
/// all fifteen records and end-of-stream.
///
/// Checks `RecvBatch`'s deferred release: the publish of released-but-unpublished records
/// before the reader waits (`Reader::next_slow`; without it both sides sleep: a deadlock), and
/// the wake-up it owes the writer; with the Release store and Acquire reload of the read
/// position guarding the cells the writer then reuses.
#[test]
fn receive_batch_publishes_deferred_releases_before_waiting() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(128).unwrap();
        let t = thread::spawn(move || {
            let mut batch = writer.batch();
            batch.send(&msg(0, 16)).unwrap();
            for _ in 0..13 {
                batch.send(&[]).unwrap();
            }
            drop(batch);
            writer.send(&msg(14, 120)).unwrap();
            writer.close();
        });
        let mut batch = reader.batch();
        let mut buf = [0u8; 128];
        assert_eq!(batch.recv(&mut buf).unwrap(), Some(16));
        assert_eq!(&buf[..16], &msg(0, 16)[..], "record corrupted");
        for i in 1..14 {
            assert_eq!(batch.recv(&mut buf).unwrap(), Some(0), "empty record {i}");
        }
        assert_eq!(batch.recv(&mut buf).unwrap(), Some(120));
        assert_eq!(&buf[..120], &msg(14, 120)[..], "record corrupted");
        assert_eq!(batch.recv(&mut buf).unwrap(), None);
        drop(batch);
        t.join().unwrap();
    });
}

/// Values streamed in runs: in a 32-byte ring (room for two 16-byte records), the writer
/// sends one u64 value on its own, then two with one `send_values` (the second of which wraps
/// to the start, into the space of the first), and closes; the reader takes them with
/// `recv_values` into room for three. All three arrive in order, then end-of-stream.
///
/// Checks the run paths: `WriterState::place_run` (room counted from the cached or reloaded
/// read position, up to the end of the region) and `ReaderState::next_run`'s `Acquire` load of
/// the write position, which finds the second value when the first came alone (a data race on
/// the payload cells without it); and their fall-back to the one-record paths.
#[test]
fn values_stream_in_runs() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
        let t = thread::spawn(move || {
            writer.send_value(&10u64).unwrap();
            writer.batch().send_values(&[11u64, 12]).unwrap();
            writer.close();
        });
        let mut got = Vec::new();
        let mut out = [0u64; 3];
        let mut batch = reader.batch();
        loop {
            let n = batch.recv_values(&mut out).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&out[..n]);
        }
        assert_eq!(got, [10, 11, 12]);
        drop(batch);
        t.join().unwrap();
    });
}

/// A run of values (layout version 4) is released only after its last value: in a 128-byte
/// ring (runs of up to two u64 values), the writer sends [1, 2] as one run (24 bytes), a
/// 96-byte record that fills the rest of the ring, then [3, 4], which needs the run's space;
/// the reader takes 1 and 2 one by one with `recv_value`, the record, then 3 and 4 with
/// `recv_values`.
///
/// Checks `Reader::finish_current_then`, which holds a run across receives until its last
/// value (mutant `run-released-early`: the run's space goes back with its first value, and
/// the second is lost or overwritten while read, a data race on the payload cells), and the
/// run paths `WriterState::place_values` / `write_values` and `ReaderState::next_values`.
#[test]
fn a_run_of_values_is_released_after_its_last_value() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(128).unwrap();
        let t = thread::spawn(move || {
            writer.batch().send_values(&[1u64, 2]).unwrap();
            writer.send(&[9u8; 96]).unwrap();
            writer.batch().send_values(&[3u64, 4]).unwrap();
            writer.close();
        });
        assert_eq!(reader.recv_value::<u64>().unwrap(), Some(1));
        assert_eq!(reader.recv_value::<u64>().unwrap(), Some(2));
        let mut buf = [0u8; 96];
        assert_eq!(reader.recv(&mut buf).unwrap(), Some(96));
        assert_eq!(buf, [9u8; 96], "record corrupted");
        let mut got = Vec::new();
        let mut out = [0u64; 4];
        let mut batch = reader.batch();
        loop {
            let n = batch.recv_values(&mut out).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&out[..n]);
        }
        assert_eq!(got, [3, 4]);
        drop(batch);
        t.join().unwrap();
    });
}

/// Values in place: in a 128-byte ring (runs of up to two u64 values), the writer reserves
/// a run of two, writes and commits it, sends a 96-byte record that fills the rest of the
/// ring, then reserves a second run, which needs the first one's space; the reader takes the
/// first run in place (`recv_values_ref`, reading it while the guard lives), the record, then
/// the second run in place.
///
/// Checks `ValuesGrant::commit` (the run published after the lent bytes are given back) and
/// `ValuesRef`'s drop, which releases the values only when the guard goes (mutant
/// `values-ref-released-at-lend`: the writer's second run lands on values still lent, a data
/// race on the payload cells).
#[test]
fn values_in_place_are_released_when_the_guard_drops() {
    loom::model(|| {
        let (mut writer, mut reader) = shmpipe::channel(128).unwrap();
        let t = thread::spawn(move || {
            for first in [1u64, 3] {
                let mut batch = writer.batch();
                let mut grant = batch.reserve_values::<u64>(2).unwrap();
                assert_eq!(grant.len(), 2);
                grant.copy_from_slice(&[first, first + 1]);
                grant.commit_all();
                drop(batch);
                if first == 1 {
                    writer.send(&[9u8; 96]).unwrap();
                }
            }
            writer.close();
        });
        let mut batch = reader.batch();
        assert_eq!(&*batch.recv_values_ref::<u64>().unwrap().unwrap(), &[1, 2]);
        let mut buf = [0u8; 96];
        assert_eq!(batch.recv(&mut buf).unwrap(), Some(96));
        assert_eq!(buf, [9u8; 96], "record corrupted");
        assert_eq!(&*batch.recv_values_ref::<u64>().unwrap().unwrap(), &[3, 4]);
        assert!(batch.recv_values_ref::<u64>().unwrap().is_none());
        drop(batch);
        t.join().unwrap();
    });
}

/// The pipe(2) idiom across `fork`: the writer handle is copied into a second process, which
/// drops its copy at once while the first keeps sending, then closes. The reader, waiting in
/// a third thread, gets every record, then end-of-stream: never `PeerDied` (the role lived on
/// in the other copy), never an early end-of-stream (the copy dropped first was not the last).
///
/// Checks close by the last holder (`ownership::release_locks`): the hold lock taken on the
/// presence description decides who is last (mutant `close-not-last-holder`: end-of-stream
/// before the record), and the transition lock held from before the handle's description is
/// closed until after CLOSED is stored keeps a closing role from looking dead to the reader's
/// liveness test (`ownership::Liveness::peer_is_dead`; mutant `close-without-transition`:
/// `PeerDied`).
#[test]
fn forked_writer_closes_with_its_last_copy() {
    loom::model(|| {
        let ring = RingOptions::new().capacity(16).heap().unwrap();
        let mut writer = ring.writer().unwrap();
        let mut reader = ring.reader().unwrap();
        let copy = writer.loom_fork();
        let r = thread::spawn(move || recv_all(&mut reader));
        let child = thread::spawn(move || drop(copy));
        writer.send(&msg(0, 3)).unwrap();
        drop(writer);
        child.join().unwrap();
        assert_eq!(r.join().unwrap(), [msg(0, 3)]);
    });
}

/// A second writer claims the role while the first closes it: it is told the role is taken
/// (the close had not begun) or closed, and never takes the role over as if the first had
/// died.
///
/// Checks that a claim waits for the role's transition lock before it takes the hold lock
/// (`ownership::claim_locks`; mutant `claim-without-transition`: the claimant finds the hold
/// lock free and the state still ATTACHED in the middle of the close, and takes over).
#[test]
fn claim_after_close_is_refused() {
    loom::model(|| {
        let ring = Arc::new(RingOptions::new().capacity(16).heap().unwrap());
        let writer = ring.writer().unwrap();
        let other = ring.clone();
        let t = thread::spawn(move || other.writer().map(|w| w.abort()));
        drop(writer);
        let second = t.join().unwrap();
        assert!(
            matches!(
                second,
                Err(AttachError::AlreadyAttached { .. } | AttachError::Closed { .. })
            ),
            "{second:?}"
        );
    });
}

// --- async: a task parked through the registry (`shmpipe/src/notify.rs`) ------------------

/// Receives one record as a task would (the code `AsyncReader::recv` runs, without tokio),
/// under `loom::future::block_on`, whose waker is loom's own: a lost wake-up leaves the task
/// blocked for ever with the registry's waiter thread asleep, a deadlock loom reports.
///
/// Receives one record as a task would: polls, and on `Pending` waits for its waker.
fn recv_parked(
    parked: &mut Parked,
    reader: &mut Reader,
    buf: &mut [u8],
) -> Result<Option<usize>, RecvError> {
    loom::future::block_on(std::future::poll_fn(|cx| {
        loom_poll_recv(parked, reader, cx.waker(), buf)
    }))
}

/// One record from a writer thread to a task parked through the registry, then end-of-stream
/// after the writer is dropped (by the task's thread, once the record arrived: so the record's
/// publish is the only thing that can wake the task for it).
///
/// Checks the async handshake of `notify::poll_side`: announce, re-check, then register the
/// waker (mutant `async-no-recheck`, the re-check removed, deadlocks here), and the waiter
/// thread's look at every parked word after it wakes (mutant `async-waiter-ignores-reset`).
#[test]
fn async_reader_parks_and_is_woken() {
    loom::model(|| {
        let registry = std::sync::Arc::new(Registry::new());
        let (mut writer, mut reader) = shmpipe::channel(32).unwrap();
        let waiter = {
            let registry = registry.clone();
            thread::spawn(move || registry.run())
        };
        let sending = thread::spawn(move || {
            writer.send(&[7; 5]).unwrap();
            writer
        });
        let mut parked = registry.parked();
        let mut buf = [0u8; 8];
        assert_eq!(
            recv_parked(&mut parked, &mut reader, &mut buf).unwrap(),
            Some(5)
        );
        assert_eq!(buf[..5], [7; 5]);
        drop(sending.join().unwrap());
        assert_eq!(
            recv_parked(&mut parked, &mut reader, &mut buf).unwrap(),
            None
        );
        drop(parked);
        registry.stop();
        waiter.join().unwrap();
    });
}

/// A `WaitSet` (sync) on one reader: the waiting thread announces its sleep on the ring's wake
/// word, re-checks every ring, and sleeps in the modelled `futex_waitv`; the writer's ordinary
/// publish wakes it and the record is ready; then the writer's close makes it ready again
/// (end-of-stream). The writer is dropped only after the record was taken, so the publish alone
/// must wake the set for it.
///
/// Checks `WaitSet::wait_until`'s re-check after the announcement (mutant `waitset-no-recheck`:
/// a deadlock).
#[test]
fn waitset_sleeps_and_is_woken() {
    loom::model(|| {
        let (mut writer, reader) = shmpipe::channel(32).unwrap();
        let mut set = WaitSet::new();
        let k = set.add_reader(reader);
        let sending = thread::spawn(move || {
            writer.send(&msg(0, 5)).unwrap();
            writer
        });
        let ready = set.wait();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].key, k);
        let mut buf = [0u8; 8];
        assert_eq!(set.reader(k).unwrap().try_recv(&mut buf).unwrap(), Some(5));
        assert_eq!(buf[..5], msg(0, 5)[..]);
        drop(sending.join().unwrap());
        assert_eq!(set.wait()[0].key, k);
        assert_eq!(set.reader(k).unwrap().try_recv(&mut buf).unwrap(), None);
    });
}
