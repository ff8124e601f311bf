//! The ring protocol: how the writer places records and publishes them, how the reader finds,
//! validates and releases them, how a role is claimed, and the atomic half of the sleep/wake
//! handshake. No system calls: it works on a [`Header`] and a [`DataRegion`], so the same code
//! runs over a heap allocation (in-process rings, doctests, loom) and over a shared mapping.
//!
//! # The positions
//! The writer's position counts bytes ever committed, the reader's bytes ever released; both
//! only grow and are multiples of 8. `write - read` bytes are in use and never exceed the
//! capacity; a position's offset in the data region is `position & (capacity - 1)`.
//!
//! # Records
//! An 8-byte header (payload length `u32`, flags `u32`, native endian) and the payload, padded
//! to a multiple of 8. A record never wraps: when one does not fit before the end of the region
//! the writer fills the rest with a padding record and starts again at offset 0.
//!
//! # Trust
//! Each side keeps its own position and its cached copy of the other's in private memory (not
//! in the shared header, so the shared lines stay quiet; see rtrb). Everything loaded from
//! shared memory is validated before it is used as an offset or a length: a bad value is a
//! `Corrupted` error, never an out-of-bounds access.

use crate::error::{AttachError, RecvError, SendError};
use crate::fence;
use crate::hand_back;
use crate::layout::Role;
use crate::layout::MAX_POSITION;
use crate::layout::{Header, SideLine, STATE_CLOSED, WAKE_IDLE, WAKE_SLEEPING};
use crate::problem::position_problem;
use crate::region::{DataRegion, Eviction};
use crate::slip::Slip;
use crate::sync::{AtomicU32, Ordering};

/// Bytes of a record header.
pub(crate) const RECORD_HEADER: u64 = 8;

/// A cache line's bytes: a writer waiting on a full ring stays off the reader's line (see
/// `WriterState::room_limit`).
const LINE: u64 = 64;
/// Record flag: this record only fills the space up to the end of the data region.
pub(crate) const FLAG_PADDING: u32 = 1;
/// Record flag: a run of values sent together (`Batch::send_values`): the payload is
/// `len / elem` values of `elem` bytes each, `elem` in the upper 16 bits of the flags
/// ([`run_flags`]). A reader takes them one by one as messages, or many at a time.
pub(crate) const FLAG_RUN: u32 = 2;
/// Where a run record's element size sits in its flags.
const RUN_ELEM_SHIFT: u32 = 16;
/// The flags' lower 16 bits: the flags proper (above them, a run's element size).
const FLAG_BITS: u32 = (1 << RUN_ELEM_SHIFT) - 1;
/// The largest value a run record carries: its size must fit the flags' upper 16 bits.
pub(crate) const MAX_RUN_ELEM: usize = u16::MAX as usize;

/// The flags of a run record of `elem`-byte values (`elem` at most [`MAX_RUN_ELEM`]).
#[inline]
pub(crate) fn run_flags(elem: usize) -> u32 {
    FLAG_RUN | (elem as u32) << RUN_ELEM_SHIFT
}

/// The most payload bytes one run record carries in a ring of `capacity` bytes: 4 KiB, or an
/// eighth of a smaller ring. A reader that takes a run's values one by one releases its space
/// only after the last, so a run is kept small enough that the writer goes on filling the
/// rest of the ring meanwhile; 4 KiB of 8-byte values share one header among 512 of them.
#[inline]
pub(crate) fn max_run_bytes(capacity: u64) -> u64 {
    4096.min(capacity / 8)
}

/// The bytes a record with a `len`-byte payload occupies: header plus payload padded to 8.
#[inline]
pub(crate) fn record_size(len: usize) -> u64 {
    RECORD_HEADER + ((len as u64 + 7) & !7)
}

/// Packs a record header: length in the first four bytes, flags in the next four.
#[inline]
pub(crate) fn encode_record_header(len: u32, flags: u32) -> u64 {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&len.to_ne_bytes());
    b[4..].copy_from_slice(&flags.to_ne_bytes());
    u64::from_ne_bytes(b)
}

/// Unpacks a record header into (length, flags).
#[inline]
pub(crate) fn decode_record_header(word: u64) -> (u32, u32) {
    let b = word.to_ne_bytes();
    (
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
    )
}

/// The largest payload a ring of `capacity` bytes carries in one record.
#[inline]
pub(crate) fn max_message(capacity: u64) -> usize {
    let by_ring = capacity - RECORD_HEADER;
    by_ring.min(MAX_LEN_FIELD as u64) as usize
}

/// The largest payload length a record header's 32-bit length field is allowed to hold.
const MAX_LEN_FIELD: usize = (u32::MAX - 7) as usize;

/// A ring as seen by one handle: the shared header, the data region, and the capacity that was
/// validated once when the segment was opened (never re-read from shared memory).
#[derive(Clone, Copy)]
pub(crate) struct RingRef<'a> {
    pub header: &'a Header,
    pub data: DataRegion<'a>,
    pub capacity: u64,
}

impl RingRef<'_> {
    #[inline]
    fn mask(&self) -> u64 {
        self.capacity - 1
    }

    /// The shared line of `role`.
    #[inline]
    pub(crate) fn side(&self, role: Role) -> &SideLine {
        match role {
            Role::Writer => &self.header.writer,
            Role::Reader => &self.header.reader,
        }
    }
}

/// A futex wake-up the protocol owes the peer: the peer's wake word if the peer announced a
/// sleep, nothing otherwise. Every publish, release and close returns one; it must be redeemed
/// (`Wake::redeem`, the one place a wake-up is made), or the peer may sleep with work waiting.
#[must_use = "the peer may be asleep: redeem the wake (`Wake::redeem`)"]
#[derive(Debug, Default)]
pub(crate) struct Wake<'a>(Option<&'a AtomicU32>);

impl<'a> Wake<'a> {
    /// The word to wake, if any.
    #[inline]
    pub(crate) fn word(self) -> Option<&'a AtomicU32> {
        self.0
    }

    /// This wake-up or `other`'s (they are for the same peer: one wake is enough).
    #[inline]
    pub(crate) fn or(self, other: Wake<'a>) -> Wake<'a> {
        Wake(self.0.or(other.0))
    }
}

/// After a store the peer may be sleeping on (a publish, a release, a close): the wake-up the
/// peer needs, if it announced a sleep.
///
/// The common case, the peer awake, costs a compiler barrier and a load of a word the peer
/// does not write while it is awake: no locked instruction, and no cache line taken from the
/// peer. Only a peer that announced a sleep has its word reset (with one swap, so of many
/// publishes while it sleeps only one pays for the system call).
#[inline]
pub(crate) fn peer_needs_wake(peer: &SideLine) -> Wake<'_> {
    // SYNC POINT (asymmetric fence): a store-buffering handshake. We store our position, fence,
    // then load the peer's wake word; the sleeper swaps its word to SLEEPING, fences, then
    // loads our position (`announce_sleep`). With a SeqCst fence on each side, one of the two
    // loads sees the other side's store: we see SLEEPING and wake it, or its re-check sees our
    // position and it does not sleep. Our half is a compiler barrier that the sleeper's
    // `membarrier(2)` makes a full fence on our CPU (`fence`); loom models both halves as the
    // SeqCst fences the kernel makes them. Checked by loom
    // models `reader_sleeps_on_empty_and_is_woken` and `writer_sleeps_on_full_and_is_woken`
    // (a deadlock without our half: mutant `publish-fence`; without the sleeper's:
    // `sleep-fence`).
    fence::publish_fence();
    // Relaxed: the fences order it; a stale SLEEPING only costs the swap below.
    if peer.wake.load(Ordering::Relaxed) != WAKE_SLEEPING {
        return Wake::default();
    }
    // SYNC POINT (sleep/wake): a read-modify-write, which reads the latest value of the word:
    // of many wakers of one sleep, one swap reads SLEEPING and pays for the system call, and
    // the reset makes a sleeper that has not reached its FUTEX_WAIT yet return from it at
    // once (a load instead leaves the word SLEEPING, and a wake before the wait is lost:
    // mutant `wake-load`, a deadlock in `reader_sleeps_on_empty_and_is_woken`). Relaxed: the
    // fences order our publish before the sleeper's re-check (this swap was Release when it
    // was the whole handshake; weakened, it survives every model: see loom-tests/README.md).
    let asleep = peer.wake.swap(WAKE_IDLE, Ordering::Relaxed) == WAKE_SLEEPING;
    Wake(asleep.then_some(&peer.wake))
}

/// What hearing the peer's process exit does to a sleeper's wake word (`os::DeathWatch`, on
/// the watcher thread): what a peer's publish does to it, without a publish. A sleeper between
/// its last look and its `FUTEX_WAIT` then does not sleep (the word no longer says it sleeps),
/// and one asleep is woken by the returned wake-up; either way it looks at the peer's liveness.
#[inline]
pub(crate) fn death_heard(own: &SideLine) -> Wake<'_> {
    // Not a sync point since the asymmetric fence (issue 13): the fences order a publish
    // before a sleeper's re-check whatever the word held in between. A read-modify-write, as
    // every change of a wake word is, to keep one rule for the word (it was needed when the
    // swaps were the whole handshake; the mutant making it a plain store, `death-heard-store`,
    // was caught by `death_watch_fires_while_the_reader_waits` then and survives every model
    // now: removed, see loom-tests/README.md). Relaxed: it publishes nothing.
    own.wake.swap(WAKE_IDLE, Ordering::Relaxed);
    Wake(Some(&own.wake))
}

/// Announces that the side owning `own` is about to sleep; the caller must re-check its
/// condition after this and before sleeping on `own.wake`.
#[inline]
pub(crate) fn announce_sleep(own: &SideLine) {
    mark_sleeping(own);
    sleep_fence();
}

/// The first half of [`announce_sleep`], for a sleeper that announces on many words at once
/// (`WaitSet`) and then calls [`sleep_fence`] once for them all.
#[inline]
pub(crate) fn mark_sleeping(own: &SideLine) {
    // SYNC POINT (sleep/wake): a read-modify-write, as every change of a wake word is (a plain
    // store deadlocks loom models `reader_sleeps_on_empty_and_is_woken` or
    // `writer_sleeps_on_full_and_is_woken`: mutant `announce-store`). Relaxed: `sleep_fence`
    // orders it before the re-check, whose Acquire loads synchronise with the peer's Release
    // stores (it was Acquire when the swaps were the whole handshake; weakened, it survives
    // every model: see loom-tests/README.md).
    own.wake.swap(WAKE_SLEEPING, Ordering::Relaxed);
}

/// The second half of [`announce_sleep`]: the sleeper's half of the asymmetric fence, between
/// its announcements and its re-check.
#[inline]
pub(crate) fn sleep_fence() {
    // SYNC POINT (asymmetric fence): the sleeper's half of the handshake in `peer_needs_wake`
    // (a full fence and `membarrier(2)`). Checked by loom models
    // `reader_sleeps_on_empty_and_is_woken` and `writer_sleeps_on_full_and_is_woken` (a
    // deadlock without it: mutant `sleep-fence`).
    fence::sleep_fence();
}

/// The sleeper is awake again (woken, timed out, or its condition came true).
#[inline]
pub(crate) fn end_sleep(own: &SideLine) {
    // Not a sync point since the asymmetric fence (issue 13), as in `death_heard`: a
    // read-modify-write to keep one rule for the word (a plain store here broke the release
    // sequence of the waker's swap when the swaps were the whole handshake, and deadlocked
    // `stream_wraps_with_padding`; the mutant, `end-sleep-store`, survives every model now and
    // was removed). Relaxed: it publishes nothing.
    own.wake.swap(WAKE_IDLE, Ordering::Relaxed);
}

/// Have both roles been claimed? Called right after `own` was claimed, to decide whether the
/// segment's name can be removed.
pub(crate) fn both_attached(ring: &RingRef<'_>, own: Role) -> bool {
    let other = match own {
        Role::Writer => Role::Reader,
        Role::Reader => Role::Writer,
    };
    // SYNC POINT (attach): a read-modify-write that changes nothing. Could two racing claimers
    // A (writer) and B (reader) both read 0 here? Then A's RMW on the reader's word reads the
    // initial value, so it comes right after it in that word's modification order, and B's
    // claim on that word, coming later, reads from A's RMW. A's RMW is Release and B's claim
    // compare-exchange is Acquire, so A's claim (sequenced before A's RMW) happens before B's
    // RMW on the writer's word, which then cannot read the value A's claim replaced: B sees
    // A. So at least one of them sees the other (C11; the same holds with the roles swapped).
    // Both halves are needed in C11, where the two words' modification orders are independent
    // (store buffering with read-modify-writes); loom runs the RMWs of one word in a single
    // total order, so it cannot tell them apart: loom model `both_attach_one_sees_the_other`
    // checks that this is a read-modify-write (with a plain load it fails), not its ordering.
    ring.side(other).owner.fetch_add(0, Ordering::Release) != 0
}

/// A record the reader found: where its payload starts, its length, its footprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRef {
    /// Data-region offset of the payload.
    pub offset: usize,
    /// Payload length.
    pub len: usize,
    /// Bytes the record occupies (header + padded payload).
    pub size: u64,
    /// For a run of values (`FLAG_RUN`), the size of each; 0 for a plain record, which is one
    /// message.
    pub elem: usize,
}

impl RecordRef {
    /// The bytes of the message that starts `consumed` bytes into the payload: the rest of a
    /// plain record, the rest of the value `consumed` falls in for a run.
    #[inline]
    pub(crate) fn message_at(&self, consumed: usize) -> usize {
        let rest = self.len - consumed;
        if self.elem == 0 {
            rest
        } else {
            rest.min(self.elem - consumed % self.elem)
        }
    }
}

/// Room for `n` records of `len` payload bytes each, back to back from the data-region offset
/// `header_at`: what `WriterState::place_run` found, for `WriterState::write_run` to fill.
#[must_use]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    header_at: usize,
    len: usize,
    /// How many records fit.
    pub n: usize,
}

/// Has the reader closed the ring? For the writer's placements, which then place nothing and
/// leave the error to `try_place`.
#[inline]
fn reader_closed(ring: &RingRef<'_>) -> bool {
    // Relaxed: as in `WriterState::try_place`.
    ring.header.reader.state.load(Ordering::Relaxed) == STATE_CLOSED
}

/// Checks the shared positions a handle starts from (see `problem::position_problem`).
fn check_positions(ring: &RingRef<'_>, write: u64, read: u64) -> Result<(), AttachError> {
    match position_problem(write, read, ring.capacity) {
        Some(problem) => Err(AttachError::Corrupted {
            reason: problem.to_string(),
        }),
        None => Ok(()),
    }
}

/// The writer's private state.
#[derive(Debug, Clone)]
pub(crate) struct WriterState {
    /// The position last stored to the shared write position.
    published: u64,
    /// The end of the records written so far; ahead of `published` inside a batch.
    pending: u64,
    /// The reader's position as last loaded.
    cached_read: u64,
    /// When the next blocking look at the read position waits (temporal slipping, the
    /// writer's side: a writer on the reader's heels in a full ring).
    slip: Slip,
}

impl WriterState {
    /// Starts writing where the shared write position says, after checking it against the
    /// read position.
    pub(crate) fn attach(ring: &RingRef<'_>) -> Result<Self, AttachError> {
        // SYNC POINT (release): pairs with the reader's Release store in `ReaderState::publish`:
        // a writer taking over from a dead one writes below this position without loading it
        // again. Checked by loom model `writer_takes_over_from_dead_writer` (a data race).
        let read = ring.header.reader.position.load(Ordering::Acquire);
        // Relaxed: only the holder of the writer role stores this word. A vacant role's word was
        // never stored; a dead writer's stores all happen before our claim, because we found it
        // dead through the kernel (its role lock was free: its death released it, and the
        // kernel orders that release before our lock; `wait_for`'s last look relies on the same). So we load
        // the dead writer's last commit. (A claimer that gave the role back after a failed
        // attach stored nothing, and attach fails only on a corrupted header.)
        let write = ring.header.writer.position.load(Ordering::Relaxed);
        check_positions(ring, write, read)?;
        Ok(WriterState {
            published: write,
            pending: write,
            cached_read: read,
            slip: Slip::default(),
        })
    }

    /// Are records written but not yet published?
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.pending != self.published
    }

    /// The shared read position, reloaded and validated.
    #[inline]
    fn refresh_read(&mut self, ring: &RingRef<'_>) -> Result<u64, SendError> {
        // SYNC POINT (release): Acquire pairs with the reader's Release store of its position
        // in `ReaderState::publish`: the reader's copies out of the space it released happen
        // before our writes into it. Checked by loom models `stream_wraps_with_padding` and
        // `full_and_empty_boundaries` (a data race on the payload cells otherwise).
        let read = ring.header.reader.position.load(Ordering::Acquire);
        if read % 8 != 0 || read < self.cached_read || read > self.published {
            return Err(self.bad_read_position(read));
        }
        self.cached_read = read;
        Ok(read)
    }

    #[cold]
    fn bad_read_position(&self, read: u64) -> SendError {
        SendError::Corrupted {
            reason: format!(
                "the read position went from {} to {read} (write position {})",
                self.cached_read, self.published
            ),
        }
    }

    /// Is there room for `need` more bytes after `pending`? Reloads the read position only when
    /// the cached one says no; in a blocking send (`blocking`), after the slip's delay (a
    /// writer streaming on the reader's heels in a full ring: see `slip`).
    #[inline]
    fn has_room(
        &mut self,
        ring: &RingRef<'_>,
        need: u64,
        blocking: bool,
        guard: bool,
    ) -> Result<bool, SendError> {
        if self.pending + need - self.cached_read <= ring.capacity {
            return Ok(true);
        }
        if blocking {
            self.slip.before_look();
        }
        let before = self.cached_read;
        let read = self.refresh_read(ring)?;
        if blocking {
            self.slip.after_look(read - before, ring.capacity);
        }
        let limit = self.room_limit(read, guard);
        self.cached_read = limit;
        Ok(self.pending + need - limit <= ring.capacity)
    }

    /// Where the free space ends for a writer that has just loaded the read position `read`:
    /// there, or (`guard`, a writer waiting on a full ring) at the start of the cache line the
    /// reader is in, unless the reader has taken everything published. A writer on the
    /// reader's heels in a full ring then fills the line the reader has left, never the one it
    /// is reading, which it would take from the reader's core (a miss on the reader's next
    /// record: the reader sets the pace there). Only ever less room than there is: nothing to
    /// order (no SYNC POINT), and a wait looks with `guard` off after `wait::LINE_GUARD`, so a
    /// reader that holds its line for good (a `RecvRef` kept) delays a waiting writer by that
    /// much at most.
    #[inline]
    fn room_limit(&self, read: u64, guard: bool) -> u64 {
        if guard && read != self.published {
            read & !(LINE - 1)
        } else {
            read
        }
    }

    /// The common case of `try_place`, small enough to inline into every send: the record
    /// fits before the end of the region in the room the cached read position shows, and the
    /// reader has not closed. `None` sends the caller to `try_place`, which reloads the read
    /// position, wraps with a padding record, and reports errors.
    #[inline]
    pub(crate) fn try_place_fast(&mut self, ring: &RingRef<'_>, len: usize) -> Option<usize> {
        let index = self.pending & ring.mask();
        let to_end = ring.capacity - index;
        // `len < to_end <= capacity` keeps `record_size` from overflowing; the length field
        // holds at most `u32::MAX`.
        if len as u64 >= to_end || len > MAX_LEN_FIELD {
            return None;
        }
        let size = record_size(len);
        if size > to_end || self.pending + size - self.cached_read > ring.capacity {
            return None;
        }
        // Relaxed: as in `try_place`.
        if ring.header.reader.state.load(Ordering::Relaxed) == STATE_CLOSED {
            return None;
        }
        Some(index as usize + RECORD_HEADER as usize)
    }

    /// Room for up to `max` records of `len` payload bytes each, back to back from the next
    /// position: before the end of the region, in the free space (reloading the read position
    /// only when the cached one shows room for fewer than that), with the reader still open.
    /// Returns the room as a [`Run`] for `write_run`; a run of zero records sends the caller to
    /// `try_place` (which wraps, waits and reports errors).
    #[inline]
    pub(crate) fn place_run(
        &mut self,
        ring: &RingRef<'_>,
        len: usize,
        max: usize,
    ) -> Result<Run, SendError> {
        let (none, to_end) = self.empty_run(ring, len);
        if len as u64 >= to_end || len > MAX_LEN_FIELD || max == 0 || reader_closed(ring) {
            return Ok(none);
        }
        let size = record_size(len);
        let n = self.room_for(ring, max as u64, |bytes| bytes / size)?;
        Ok(Run {
            n: n as usize,
            ..none
        })
    }

    /// A run of nothing (`n` 0) at the next position, of records (or values) of `len` bytes,
    /// and how many bytes are left before the end of the region from there: where
    /// `place_run` and `place_values` start.
    #[inline]
    fn empty_run(&self, ring: &RingRef<'_>, len: usize) -> (Run, u64) {
        let index = self.pending & ring.mask();
        let run = Run {
            header_at: index as usize,
            len,
            n: 0,
        };
        (run, ring.capacity - index)
    }

    /// How many of something fit from the next position, up to `wanted`, where `count` says
    /// how many fit in so many bytes: counted in the free space before the end of the region,
    /// from the cached read position, and from a reloaded one only when that shows fewer than
    /// `wanted` and the end of the region leaves room for more.
    #[inline]
    fn room_for(
        &mut self,
        ring: &RingRef<'_>,
        wanted: u64,
        count: impl Fn(u64) -> u64,
    ) -> Result<u64, SendError> {
        let to_end = ring.capacity - (self.pending & ring.mask());
        let pending = self.pending;
        let fit = |read: u64| count((ring.capacity - (pending - read)).min(to_end)).min(wanted);
        let n = fit(self.cached_read);
        if n < wanted && n < count(to_end) {
            return Ok(fit(self.refresh_read(ring)?));
        }
        Ok(n)
    }

    /// Room for one run record of up to `max` values of `elem` bytes each at the next
    /// position (at most [`max_run_bytes`] of them, before the end of the region, in the free
    /// space, reloading the read position only when the cached one shows room for fewer), with
    /// the reader still open. A run of fewer than two values (`n` 0) sends the caller to
    /// `place_run`: one value is a plain record.
    #[inline]
    pub(crate) fn place_values(
        &mut self,
        ring: &RingRef<'_>,
        elem: usize,
        max: usize,
    ) -> Result<Run, SendError> {
        let (none, to_end) = self.empty_run(ring, elem);
        if elem == 0
            || elem > MAX_RUN_ELEM
            || max < 2
            || to_end <= RECORD_HEADER
            || reader_closed(ring)
        {
            return Ok(none);
        }
        let elem64 = elem as u64;
        let wanted = (max as u64).min(max_run_bytes(ring.capacity) / elem64);
        // A header, then the values.
        let n = self.room_for(ring, wanted, |bytes| {
            bytes.saturating_sub(RECORD_HEADER) / elem64
        })?;
        Ok(Run {
            n: if n < 2 { 0 } else { n as usize },
            ..none
        })
    }

    /// Writes `bytes` (the run's `n` values of its `len` bytes each, back to back) as one run
    /// record into the room `place_values` found, and completes it. Not yet visible to the
    /// reader: see `publish`.
    #[inline]
    pub(crate) fn write_values(&mut self, ring: &RingRef<'_>, run: Run, bytes: &[u8]) {
        debug_assert_eq!(run.header_at as u64, self.pending & ring.mask());
        let payload = &bytes[..run.n * run.len];
        // SAFETY: `place_values` found room for a header and `run.n` values of `run.len` bytes
        // (padded to 8) from `run.header_at`, before the end of the region, in free space the
        // writer owns until it publishes. The slice above panics rather than write past them.
        unsafe {
            ring.data
                .write(run.header_at + RECORD_HEADER as usize, payload);
            ring.data.write_word(
                run.header_at,
                encode_record_header(payload.len() as u32, run_flags(run.len)),
            );
        }
        self.pending += record_size(payload.len());
    }

    /// Writes one record per payload of `payloads` (each exactly the run's `len` bytes), at
    /// most the run's `n`, into the room `place_run` found, and completes them. Returns how
    /// many were written. Not yet visible to the reader: see `publish`.
    #[inline]
    pub(crate) fn write_run<'p>(
        &mut self,
        ring: &RingRef<'_>,
        run: Run,
        payloads: impl IntoIterator<Item = &'p [u8]>,
    ) -> usize {
        debug_assert_eq!(run.header_at as u64, self.pending & ring.mask());
        let size = record_size(run.len) as usize;
        let header = encode_record_header(run.len as u32, 0);
        let mut written = 0;
        for payload in payloads.into_iter().take(run.n) {
            let at = run.header_at + written * size;
            // SAFETY: `place_run` found room for `run.n` records of `run.len` payload bytes from
            // `run.header_at`, before the end of the region, in free space the writer owns
            // until it publishes: the header word at `at` (8-aligned: the run starts at the
            // next position, records are multiples of 8) and the `run.len` bytes after it. The
            // slice below panics rather than write past them if a payload is shorter.
            unsafe {
                ring.data.write_word(at, header);
                ring.data
                    .write(at + RECORD_HEADER as usize, &payload[..run.len]);
            }
            written += 1;
        }
        self.pending += (written * size) as u64;
        written
    }

    /// Finds room for a record with a `len`-byte payload and returns the data-region offset of
    /// its payload. Writes a padding record first when the record would not fit before the end
    /// of the region. `Full` leaves no partial record (a padding record may have been added to
    /// the pending ones: the caller publishes pending records before it waits). `blocking`: the
    /// caller waits when the ring is full, so a reload of the read position may wait the
    /// slip's delay first (the first attempt of a blocking send; never `try_send`, never the
    /// attempts of the wait itself).
    pub(crate) fn try_place(
        &mut self,
        ring: &RingRef<'_>,
        len: usize,
        blocking: bool,
        guard: bool,
    ) -> Result<usize, SendError> {
        let max = max_message(ring.capacity);
        if len > max {
            return Err(SendError::TooLarge { len, max });
        }
        // Relaxed: the reader's close publishes no data to us; we only need to see it
        // eventually, and the sleep/wake handshake makes a sleeping writer see it.
        if ring.header.reader.state.load(Ordering::Relaxed) == STATE_CLOSED {
            return Err(SendError::Closed);
        }
        let size = record_size(len);
        let index = self.pending & ring.mask();
        let to_end = ring.capacity - index;
        if size > to_end {
            if !self.has_room(ring, to_end, blocking, guard)? {
                return Err(SendError::Full);
            }
            let pad = encode_record_header((to_end - RECORD_HEADER) as u32, FLAG_PADDING);
            // SAFETY: `index` is 8-aligned and below the capacity (positions are multiples of 8
            // and masked), and `has_room` showed these `to_end` bytes are free: the reader has
            // released them, so they are ours until published.
            unsafe { ring.data.write_word(index as usize, pad) };
            self.pending += to_end;
            // Not `blocking`: the look just made (for the padding) had its slip already.
            return if self.has_room(ring, size, false, guard)? {
                Ok(RECORD_HEADER as usize)
            } else {
                Err(SendError::Full)
            };
        }
        if self.has_room(ring, size, blocking, guard)? {
            Ok(index as usize + RECORD_HEADER as usize)
        } else {
            Err(SendError::Full)
        }
    }

    /// Writes `payload` as the record placed at `offset` and completes it: the whole record
    /// (payload, then header) from one place. Not yet visible to the reader: see `publish`.
    ///
    /// # Safety
    /// `offset` was returned by `try_place` or `try_place_fast` for at least `payload.len()`
    /// bytes, and nothing was committed since.
    #[inline]
    pub(crate) unsafe fn write_record(
        &mut self,
        ring: &RingRef<'_>,
        offset: usize,
        payload: &[u8],
    ) {
        // SAFETY: by the caller's contract the `payload.len()` bytes at `offset` are free space
        // owned by the writer until it publishes.
        unsafe { ring.data.write(offset, payload) };
        self.commit(ring, offset, payload.len());
    }

    /// Completes the record whose payload was placed at `offset` by `try_place`, with `len`
    /// payload bytes (at most the length placed). Not yet visible to the reader: see `publish`.
    #[inline]
    pub(crate) fn commit(&mut self, ring: &RingRef<'_>, offset: usize, len: usize) {
        self.commit_with(ring, offset, len, 0);
    }

    /// Completes the record placed at `offset` as a run of `len / elem` values of `elem` bytes
    /// each (`len` a multiple of `elem`, at most the length placed; `elem` 1 to
    /// [`MAX_RUN_ELEM`]). Not yet visible to the reader: see `publish`.
    #[inline]
    pub(crate) fn commit_run(
        &mut self,
        ring: &RingRef<'_>,
        offset: usize,
        len: usize,
        elem: usize,
    ) {
        debug_assert!(elem != 0 && elem <= MAX_RUN_ELEM && len % elem == 0 && len != 0);
        self.commit_with(ring, offset, len, run_flags(elem));
    }

    #[inline]
    fn commit_with(&mut self, ring: &RingRef<'_>, offset: usize, len: usize, flags: u32) {
        let header_at = offset - RECORD_HEADER as usize;
        debug_assert_eq!(header_at as u64, self.pending & ring.mask());
        // SAFETY: `try_place` returned `offset` for at least `len` bytes, so the header word
        // before it is free space owned by us, 8-aligned and in bounds.
        unsafe {
            ring.data
                .write_word(header_at, encode_record_header(len as u32, flags))
        };
        self.pending += record_size(len);
    }

    /// Makes every committed record visible to the reader with one store. Returns the wake-up
    /// the reader needs if it is asleep.
    #[inline]
    pub(crate) fn publish<'a>(&mut self, ring: &RingRef<'a>) -> Wake<'a> {
        if self.pending == self.published {
            return Wake::default();
        }
        self.published = self.pending;
        // SYNC POINT (publish): Release makes the records' bytes written before it visible to
        // the reader's Acquire load in `ReaderState::refresh_write`. Checked by loom models
        // `one_record`, `stream_wraps_with_padding`, `batch_publish` and every other model that
        // moves a record (a data race on the payload cells otherwise).
        ring.header
            .writer
            .position
            .store(self.published, Ordering::Release);
        peer_needs_wake(&ring.header.reader)
    }

    /// Marks the writer closed, after publishing what is pending. Returns the wake-up the
    /// reader needs.
    pub(crate) fn close<'a>(&mut self, ring: &RingRef<'a>) -> Wake<'a> {
        // `publish` may consume the reader's "sleeping" flag: keep its answer.
        let woke = self.publish(ring);
        // SYNC POINT (close): Release orders every publish before it; the reader's Acquire load
        // of the state in `ReaderState::poll` then sees the final write position, so it never
        // reports end-of-stream before the last record. Checked by loom model
        // `writer_close_with_records_in_flight`.
        ring.header
            .writer
            .state
            .store(STATE_CLOSED, Ordering::Release);
        peer_needs_wake(&ring.header.reader).or(woke)
    }

    /// After `close`: has the reader released every byte published? `Ok(false)` while it has
    /// not; `Closed` if the reader closed the ring with bytes still unreleased.
    pub(crate) fn drained(&mut self, ring: &RingRef<'_>) -> Result<bool, SendError> {
        if self.refresh_read(ring)? == self.published {
            return Ok(true);
        }
        // SYNC POINT (reader close): Acquire pairs with the Release store of the reader's state
        // in `ReaderState::close`, which comes after its last store of the read position: the
        // position reloaded below is then the reader's final one, so a reader that drained
        // everything and then closed is never mistaken for one that closed early.
        if ring.header.reader.state.load(Ordering::Acquire) == STATE_CLOSED {
            return if self.refresh_read(ring)? == self.published {
                Ok(true)
            } else {
                Err(SendError::Closed)
            };
        }
        Ok(false)
    }
}

/// What the reader found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Poll {
    /// A published record.
    Record(RecordRef),
    /// Nothing published, writer still open (or never attached).
    Empty,
    /// The writer closed and every record was released.
    Eof,
}

/// The reader's private state.
#[derive(Debug, Clone)]
pub(crate) struct ReaderState {
    /// The end of the records released so far; ahead of `stored` while a skipped padding
    /// record or a receive batch has not been published yet.
    released: u64,
    /// The position last stored to the shared read position.
    stored: u64,
    /// The writer's position as last loaded.
    cached_write: u64,
    /// When the next blocking look at the write position waits (temporal slipping).
    slip: Slip,
    /// How this CPU evicts the lines a slipping reader hands back (`hand_back`).
    eviction: Eviction,
}

impl ReaderState {
    /// Starts reading where the shared read position says.
    pub(crate) fn attach(ring: &RingRef<'_>) -> Result<Self, AttachError> {
        // Relaxed: only the holder of the reader role stores this word; as in
        // `WriterState::attach`, a dead holder's stores all happen before our claim.
        let read = ring.header.reader.position.load(Ordering::Relaxed);
        // SYNC POINT (publish): as in `refresh_write`; we read the records below this position
        // without loading it again. Checked by loom model `reader_attaches_mid_stream` (a data
        // race).
        let write = ring.header.writer.position.load(Ordering::Acquire);
        check_positions(ring, write, read)?;
        Ok(ReaderState {
            released: read,
            stored: read,
            cached_write: write,
            slip: Slip::default(),
            eviction: Eviction::detect(),
        })
    }

    /// The shared write position, reloaded and validated.
    #[inline]
    fn refresh_write(&mut self, ring: &RingRef<'_>) -> Result<u64, RecvError> {
        // The next record's lines on their way with the position's (`DataRegion::prefetch`).
        ring.data.prefetch((self.released & ring.mask()) as usize);
        // SYNC POINT (publish): Acquire pairs with the writer's Release store in
        // `WriterState::publish`: the record bytes before that store are visible to us. Checked
        // by loom model `one_record` and every other model that moves a record (a data race).
        let write = ring.header.writer.position.load(Ordering::Acquire);
        if !self.write_is_valid(ring, write) {
            return Err(self.bad_write_position(ring, write));
        }
        self.cached_write = write;
        Ok(write)
    }

    /// Can `write`, just loaded, follow the write position we know?
    #[inline]
    fn write_is_valid(&self, ring: &RingRef<'_>, write: u64) -> bool {
        write % 8 == 0
            && write >= self.cached_write
            && write - self.released <= ring.capacity
            && write <= MAX_POSITION
    }

    #[cold]
    fn bad_write_position(&self, ring: &RingRef<'_>, write: u64) -> RecvError {
        RecvError::Corrupted {
            reason: format!(
                "the write position went from {} to {write} (read position {}, capacity {})",
                self.cached_write, self.released, ring.capacity
            ),
        }
    }

    /// Are records published beyond the read position? Reloads the write position only when
    /// everything known was released, after the slip's delay if `blocking` (see `slip`); an
    /// invalid value is not taken (it is left for `try_next` to load again and report).
    #[inline]
    fn more_published(&mut self, ring: &RingRef<'_>, blocking: bool) -> bool {
        if self.released != self.cached_write {
            return true;
        }
        if blocking {
            self.slip.before_look();
        }
        // SYNC POINT (publish): Acquire pairs with the writer's Release store in
        // `WriterState::publish`, as in `refresh_write`. Checked by loom models `one_record`
        // (the fast path of every receive) and `values_stream_in_runs` (the runs of
        // `recv_values`): a data race on the payload cells otherwise.
        let write = ring.header.writer.position.load(Ordering::Acquire);
        if write == self.released || !self.write_is_valid(ring, write) {
            self.slip.after_look(0, ring.capacity);
            return false;
        }
        self.slip.after_look(write - self.released, ring.capacity);
        self.cached_write = write;
        true
    }

    /// The common case of `try_next`, small enough to inline into every receive: a data
    /// record (not padding) published before the end of the region. Reloads the write
    /// position when everything known was released. `None` sends the caller to `try_next` (or
    /// `poll`), which looks again and reports padding, end-of-stream and corruption; nothing
    /// read here is used there. `blocking`: the caller waits when nothing is published, so a
    /// reload may wait the slip's delay first.
    #[inline]
    pub(crate) fn try_next_fast(
        &mut self,
        ring: &RingRef<'_>,
        blocking: bool,
    ) -> Option<RecordRef> {
        let (flags, record) = self.published_header(ring, blocking)?;
        (flags == 0).then_some(record)
    }

    /// The header at the read position, if records are published there (reloading the write
    /// position when everything known was released, as `more_published` does) and the record
    /// it announces fits before the write position and the end of the region: its flags and the
    /// record (as one of plain bytes: `elem` 0). Nothing else is checked: the fast paths take
    /// what they expect and leave everything else to `try_next`.
    #[inline]
    fn published_header(&mut self, ring: &RingRef<'_>, blocking: bool) -> Option<(u32, RecordRef)> {
        if !self.more_published(ring, blocking) {
            return None;
        }
        let available = self.cached_write - self.released;
        let index = self.released & ring.mask();
        let to_end = ring.capacity - index;
        // SAFETY: as in `try_next`: `index` is 8-aligned and in bounds, and at least 8
        // published bytes start there.
        let word = unsafe { ring.data.read_word(index as usize) };
        let (len, flags) = decode_record_header(word);
        let size = record_size(len as usize);
        if size > to_end || size > available {
            return None;
        }
        let record = RecordRef {
            offset: index as usize + RECORD_HEADER as usize,
            len: len as usize,
            size,
            elem: 0,
        };
        Some((flags, record))
    }

    /// Records of exactly `len` payload bytes (no flags) published back to back from the read
    /// position, before the end of the region: the data-region offset of the first one's
    /// payload and how many (at most `max`). Reloads the write position when everything known
    /// was released. Each header is loaded once and checked; the run stops at the first other
    /// record, which is left for `try_next` to look at and report.
    #[inline]
    pub(crate) fn next_run(
        &mut self,
        ring: &RingRef<'_>,
        len: usize,
        max: usize,
    ) -> (usize, usize) {
        let index = self.released & ring.mask();
        if len > MAX_LEN_FIELD || !self.more_published(ring, false) {
            return (index as usize, 0);
        }
        let size = record_size(len);
        let span = (self.cached_write - self.released).min(ring.capacity - index);
        let most = ((span / size) as usize).min(max);
        let expected = encode_record_header(len as u32, 0);
        let mut n = 0;
        while n < most {
            // SAFETY: `index + n * size` is 8-aligned and, with the 8 bytes of its header,
            // inside the `span` published bytes before the end of the region.
            let word = unsafe { ring.data.read_word(index as usize + n * size as usize) };
            if word != expected {
                break;
            }
            n += 1;
        }
        (index as usize + RECORD_HEADER as usize, n)
    }

    /// A run record of `elem`-byte values published at the read position (no waiting, nothing
    /// else): for `recv_values`, which takes its values many at a time.
    #[inline]
    pub(crate) fn next_values(&mut self, ring: &RingRef<'_>, elem: usize) -> Option<RecordRef> {
        if elem == 0 || elem > MAX_RUN_ELEM {
            return None;
        }
        let (flags, record) = self.published_header(ring, false)?;
        let whole = record.len != 0 && record.len % elem == 0;
        (flags == run_flags(elem) && whole).then_some(RecordRef { elem, ..record })
    }

    /// Releases, without publishing yet, the `n` records of `len` payload bytes `next_run`
    /// found (see `release_deferred`).
    #[inline]
    pub(crate) fn release_run(&mut self, len: usize, n: usize) {
        self.released += n as u64 * record_size(len);
    }

    /// The next published record, skipping (and releasing) padding. `Ok(None)` when nothing is
    /// published beyond what was released.
    #[inline]
    pub(crate) fn try_next(&mut self, ring: &RingRef<'_>) -> Result<Option<RecordRef>, RecvError> {
        loop {
            if self.released == self.cached_write && self.refresh_write(ring)? == self.released {
                return Ok(None);
            }
            let available = self.cached_write - self.released;
            let index = self.released & ring.mask();
            let to_end = ring.capacity - index;
            // SAFETY: `index` is 8-aligned (positions are validated multiples of 8) and below
            // the capacity, and at least 8 published bytes start there (`available` >= 8
            // because positions differ by a multiple of 8), so the word is ours to read.
            let word = unsafe { ring.data.read_word(index as usize) };
            let (len, flags) = decode_record_header(word);
            let elem = (flags >> RUN_ELEM_SHIFT) as usize;
            match flags {
                flags
                    if flags & FLAG_BITS == FLAG_RUN
                        && (elem == 0 || len == 0 || len as usize % elem != 0) =>
                {
                    return Err(RecvError::Corrupted {
                        reason: format!(
                            "a run record at position {} holds {len} bytes of {elem}-byte values",
                            self.released
                        ),
                    });
                }
                flags if flags == 0 || flags & FLAG_BITS == FLAG_RUN => {
                    let size = record_size(len as usize);
                    if size > to_end || size > available {
                        return Err(RecvError::Corrupted {
                            reason: format!(
                                "a record at position {} claims {len} bytes but only {} are published before {}",
                                self.released,
                                available.min(to_end),
                                if size > to_end { "the end of the ring" } else { "the write position" }
                            ),
                        });
                    }
                    return Ok(Some(RecordRef {
                        offset: index as usize + RECORD_HEADER as usize,
                        len: len as usize,
                        size,
                        elem: if flags == 0 { 0 } else { elem },
                    }));
                }
                FLAG_PADDING => {
                    if u64::from(len) + RECORD_HEADER != to_end || to_end > available {
                        return Err(RecvError::Corrupted {
                            reason: format!(
                                "a padding record at position {} claims {len} bytes, but {} remain to the end of the ring",
                                self.released,
                                to_end - RECORD_HEADER
                            ),
                        });
                    }
                    self.released += to_end;
                }
                other => {
                    return Err(RecvError::Corrupted {
                        reason: format!(
                            "a record at position {} has unknown flags {other:#x}",
                            self.released
                        ),
                    })
                }
            }
        }
    }

    /// The next record, or end-of-stream once the writer has closed and everything it
    /// published was released.
    #[inline]
    pub(crate) fn poll(&mut self, ring: &RingRef<'_>) -> Result<Poll, RecvError> {
        if let Some(record) = self.try_next(ring)? {
            return Ok(Poll::Record(record));
        }
        // SYNC POINT (close): Acquire pairs with the Release store in `WriterState::close`; the
        // write position reloaded below is then final. Checked by loom model
        // `writer_close_with_records_in_flight`.
        if ring.header.writer.state.load(Ordering::Acquire) == STATE_CLOSED {
            return Ok(match self.try_next(ring)? {
                Some(record) => Poll::Record(record),
                None => Poll::Eof,
            });
        }
        Ok(Poll::Empty)
    }

    /// Releases `record` (and any padding skipped before it) back to the writer. Returns the
    /// wake-up the writer needs if it is asleep.
    #[inline]
    pub(crate) fn release<'a>(&mut self, ring: &RingRef<'a>, record: RecordRef) -> Wake<'a> {
        self.release_deferred(ring, record);
        self.publish(ring)
    }

    /// Releases `record` (and any padding skipped before it) without publishing it yet: a
    /// receive batch publishes many records with one store, through `publish_skipped` (which
    /// the reader also calls before it waits on an empty ring, so a writer waiting for the
    /// space is never left waiting) or the next `release`.
    #[inline]
    pub(crate) fn release_deferred(&mut self, ring: &RingRef<'_>, record: RecordRef) {
        debug_assert_eq!(
            (self.released & ring.mask()) as usize + RECORD_HEADER as usize,
            record.offset
        );
        self.released += record.size;
        // A reader on the writer's heels hands the lines it finished back (see `hand_back`):
        // a cache hint, no ordering.
        if self.slip.slipping() && hand_back::worth_it(record.size, ring.capacity) {
            hand_back::finished(
                ring.data,
                ring.capacity,
                self.eviction,
                self.released,
                record.size,
            );
        }
    }

    /// Bytes released but not yet published.
    #[inline]
    pub(crate) fn unpublished_bytes(&self) -> u64 {
        self.released - self.stored
    }

    /// Stores the released position if records released without publishing (a skipped
    /// padding record, a receive batch) are not published yet (so a writer waiting for that
    /// space sees it). Returns the wake-up the writer needs.
    #[inline]
    pub(crate) fn publish_skipped<'a>(&mut self, ring: &RingRef<'a>) -> Wake<'a> {
        if self.released != self.stored {
            self.publish(ring)
        } else {
            Wake::default()
        }
    }

    #[inline]
    fn publish<'a>(&mut self, ring: &RingRef<'a>) -> Wake<'a> {
        self.stored = self.released;
        // SYNC POINT (release): Release orders our reads of the released records before the
        // writer's Acquire load in `WriterState::refresh_read` (or `WriterState::attach`) and
        // its reuse of the space. Checked by loom models `stream_wraps_with_padding`,
        // `full_and_empty_boundaries`, `zero_copy_reserve_commit_and_in_place_receive` (a data
        // race on the payload cells otherwise).
        ring.header
            .reader
            .position
            .store(self.released, Ordering::Release);
        peer_needs_wake(&ring.header.writer)
    }

    /// Marks the reader closed; the writer's next send fails. Returns the wake-up it needs.
    pub(crate) fn close<'a>(&mut self, ring: &RingRef<'a>) -> Wake<'a> {
        // `publish` may consume the writer's "sleeping" flag: keep its answer. Only what this
        // handle released and has not stored: a copy of the handle left in another process by
        // `fork` holds an older position, which must never move the shared one back.
        let woke = self.publish_skipped(ring);
        // The close publishes no data to the reader side of the protocol; a writer sleeping on
        // a full ring sees it through the sleep/wake handshake (the swap below; loom model
        // `reader_close_while_writer_blocked`, a deadlock without the wake-up).
        // SYNC POINT (reader close): Release orders the final read position stored above
        // before the close, for the writer's Acquire load in `WriterState::drained`. Checked by
        // loom model `writer_waits_until_the_reader_drained`.
        ring.header
            .reader
            .state
            .store(STATE_CLOSED, Ordering::Release);
        peer_needs_wake(&ring.header.writer).or(woke)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn record_header_round_trips() {
        for (len, flags) in [(0, 0), (1, 0), (1023, 0), (u32::MAX, FLAG_PADDING)] {
            assert_eq!(
                decode_record_header(encode_record_header(len, flags)),
                (len, flags)
            );
        }
    }

    #[test]
    fn record_sizes_are_padded_to_eight() {
        assert_eq!(record_size(0), 8);
        assert_eq!(record_size(1), 16);
        assert_eq!(record_size(8), 16);
        assert_eq!(record_size(9), 24);
    }

    /// The writer's slip (`has_room`): a blocking first attempt on a full ring that finds a
    /// little room released starts the delay; a non-blocking one (`try_send`, the attempts of
    /// a waiting send) never does.
    #[cfg(not(loom))]
    #[test]
    fn only_a_blocking_send_on_the_readers_heels_slips() {
        for blocking in [true, false] {
            let ring = crate::RingOptions::new().capacity(4096).heap().unwrap();
            let rr = ring.memory.ring();
            let mut writer = WriterState::attach(&rr).unwrap();
            let mut reader = ReaderState::attach(&rr).unwrap();
            // Fill the ring with 8-byte records (16 bytes each).
            let mut sent = 0;
            while let Ok(offset) = writer.try_place(&rr, 8, false, false) {
                writer.commit(&rr, offset, 8);
                sent += 1;
            }
            assert_eq!(sent, 4096 / 16);
            writer.publish(&rr).redeem();
            assert_eq!(writer.slip.delay(), Duration::ZERO);
            // The reader takes one record: 16 bytes of room.
            let record = reader.try_next(&rr).unwrap().unwrap();
            reader.release(&rr, record).redeem();
            let offset = writer.try_place(&rr, 8, blocking, false).unwrap();
            writer.commit(&rr, offset, 8);
            let expected = if blocking {
                crate::slip::MIN_DELAY
            } else {
                Duration::ZERO
            };
            assert_eq!(writer.slip.delay(), expected, "blocking: {blocking}");
        }
    }

    /// The writer's line guard (`room_limit`): a guarded look counts the free space only up to
    /// the start of the cache line the reader is in, unless the reader has taken everything
    /// published; an unguarded one counts every free byte.
    #[cfg(not(loom))]
    #[test]
    fn a_guarded_writer_stays_off_the_readers_line() {
        let ring = crate::RingOptions::new().capacity(4096).heap().unwrap();
        let rr = ring.memory.ring();
        let mut writer = WriterState::attach(&rr).unwrap();
        let mut reader = ReaderState::attach(&rr).unwrap();
        while let Ok(offset) = writer.try_place(&rr, 8, false, false) {
            writer.commit(&rr, offset, 8);
        }
        writer.publish(&rr).redeem();
        // The reader takes one 16-byte record: its position is mid-line (16), and the only
        // free space, 16 bytes, lies in the line it is reading.
        let record = reader.try_next(&rr).unwrap().unwrap();
        reader.release(&rr, record).redeem();
        assert!(matches!(
            writer.try_place(&rr, 8, false, true),
            Err(SendError::Full)
        ));
        // The cached position is the line's start now: the next unguarded look loads again.
        assert_eq!(writer.cached_read, 0);
        let offset = writer.try_place(&rr, 8, false, false).unwrap();
        writer.commit(&rr, offset, 8);
        writer.publish(&rr).redeem();
        // Three more records take the reader to the next line (64): room there, guarded too.
        for _ in 0..3 {
            let record = reader.try_next(&rr).unwrap().unwrap();
            reader.release(&rr, record).redeem();
        }
        for _ in 0..3 {
            let offset = writer.try_place(&rr, 8, false, true).unwrap();
            writer.commit(&rr, offset, 8);
        }
        writer.publish(&rr).redeem();
        // A reader that took everything published is not guarded against: with the reader
        // idle mid-line at 4048, a padding record to the end of the region (48 bytes) and a
        // 4048-byte record fill the ring exactly, guarded or not.
        let ring = crate::RingOptions::new().capacity(4096).heap().unwrap();
        let rr = ring.memory.ring();
        let mut writer = WriterState::attach(&rr).unwrap();
        let mut reader = ReaderState::attach(&rr).unwrap();
        let offset = writer.try_place(&rr, 4040, false, true).unwrap();
        writer.commit(&rr, offset, 4040);
        writer.publish(&rr).redeem();
        let record = reader.try_next(&rr).unwrap().unwrap();
        reader.release(&rr, record).redeem();
        assert_eq!(writer.room_limit(4048, true), 4048);
        let offset = writer.try_place(&rr, 4040, false, true).unwrap();
        writer.commit(&rr, offset, 4040);
        assert_eq!(writer.pending, 4048 + 4096);
        // Inside a batch (records pending, not published) the published position decides.
        assert_eq!(writer.room_limit(4048, true), 4048);
        assert_eq!(writer.room_limit(4040, true), 4032);
        assert_eq!(writer.room_limit(4040, false), 4040);
    }

    #[test]
    fn max_message_leaves_room_for_the_header() {
        assert_eq!(max_message(16), 8);
        assert_eq!(max_message(1 << 20), (1 << 20) - 8);
        assert_eq!(max_message(1 << 40), (u32::MAX - 7) as usize);
    }
}
