//! Handing lines back: a reader on the writer's heels evicts each 64-byte line of the data
//! region once it has taken every record in it, so that the writer, when it comes round to
//! that line again, finds no copy of it in the reader's caches to take back first.
//!
//! # Why
//! Streaming small records between two cores, the writer, not the reader, sets the pace: a
//! reader that keeps up waits for records (it slips, see `slip`), while every store of the
//! writer into a line it last wrote one lap of the ring ago has to claim that line, which the
//! reader read and still holds. Where the reader's copy is still in its core's caches, the claim
//! is a cross-core invalidation the writer's stores wait for. On the development VM
//! (docs/BENCHMARKS.md, "Handing lines back") sampled profiles (`perf record -e cpu-clock`)
//! put nine in ten of the writer's samples on its copy into the ring, and the cost followed
//! the ring's capacity: 64-byte records ran at 8-11 M/s in a 1 MiB ring in minutes when a
//! 2 MiB ring ran them at 60 M/s. Evicted after reading (`clflush`), the lines come back to the
//! writer from memory without a cross-core claim: 46-66 M/s at 1 MiB.
//!
//! # When
//! Only while the reader slips (it waits for the writer, so it has time to spare and the
//! writer is what limits the stream), only in rings of at most [`MAX_CAPACITY`] (in a larger
//! one the writer finds the line gone from the reader's core anyway, and the eviction only
//! sends it to memory for it) and only for records of at most [`MAX_RECORD`] bytes:
//! each eviction writes the line back to memory and the writer later reads it from there, so
//! for large records, whose copies are limited by memory bandwidth rather than by the latency
//! of a claim, it costs more than it saves (4 KiB records ran at half their speed with it in
//! the fast minutes). A ping-pong never slips (each look finds one record), and a reader
//! behind a full ring never slips either, so neither pays for it.
//!
//! An eviction is a hint to the caches: it changes no value anyone reads, so the protocol's
//! orderings are untouched (no SYNC POINT; under loom it does nothing).

use crate::region::{DataRegion, Eviction};

/// The largest record (header and payload, as it lies in the ring) whose lines are handed
/// back: a payload of 256 bytes.
pub(crate) const MAX_RECORD: u64 = 264;

/// The size of the lines handed back (a cache line on every x86-64 CPU).
pub(crate) const LINE: u64 = 64;

/// The start of the line holding position `at`. Releasing the bytes from `before` to `after`
/// finishes each line from `line_of(before)` on that ends at or below `after` (a line that
/// `before` sits in the middle of was started by earlier releases, which did not finish it),
/// so each line is finished by exactly one release.
#[inline]
pub(crate) fn line_of(at: u64) -> u64 {
    at & !(LINE - 1)
}

/// The lines that releasing the bytes from `before` to `after` finishes (see [`line_of`]): what
/// `ReaderState::release_deferred` evicts, as a list for the tests.
#[cfg(test)]
fn finished_lines(before: u64, after: u64) -> impl Iterator<Item = u64> {
    (line_of(before)..)
        .step_by(LINE as usize)
        .take_while(move |line| line + LINE <= after)
}

/// Evicts from `data` (a ring of `capacity` bytes) the lines that releasing a record of
/// `size` ring bytes, up to position `released`, finished, if the record is one worth it.
/// Inlined: called out of line, it cost a third of the throughput of 8-byte records in a
/// 1 MiB ring (61 against 91 M/s).
#[inline(always)]
pub(crate) fn finished(
    data: DataRegion<'_>,
    capacity: u64,
    how: Eviction,
    released: u64,
    size: u64,
) {
    if !worth_it(size, capacity) {
        return;
    }
    let mask = capacity - 1;
    let mut line = line_of(released - size);
    while line + LINE <= released {
        data.evict_line((line & mask) as usize, how);
        line += LINE;
    }
}

/// The largest ring whose lines are handed back. In a larger ring a line has left the
/// reader's core-private caches by the time the writer comes round to it (the development
/// VM's cores have 512 KiB of L2 each), and evicting it only sends the writer to memory for it:
/// there, in the same minutes, 64-byte records ran at 49-54 M/s with the eviction in a 2 MiB
/// ring and at 60-62 M/s without, where a 1 MiB ring ran at 9-11 M/s without it and at
/// 46-49 M/s with it (docs/BENCHMARKS.md, "Handing lines back").
pub(crate) const MAX_CAPACITY: u64 = 1 << 20;

/// Are a record of `size` ring bytes and a ring of `capacity` bytes ones whose lines a slipping
/// reader hands back? Small records only ([`MAX_RECORD`]), in rings of a line
/// (nothing smaller has a whole line to hand back) to [`MAX_CAPACITY`].
#[inline]
pub(crate) fn worth_it(size: u64, capacity: u64) -> bool {
    size <= MAX_RECORD && (LINE..=MAX_CAPACITY).contains(&capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_finishes_the_lines_it_completes_and_no_other() {
        let none: Vec<u64> = finished_lines(0, 63).collect();
        assert!(
            none.is_empty(),
            "a line not taken to its end is not finished"
        );
        assert_eq!(finished_lines(0, 64).collect::<Vec<_>>(), [0]);
        assert_eq!(finished_lines(56, 72).collect::<Vec<_>>(), [0]);
        assert_eq!(finished_lines(64, 72).count(), 0);
        assert_eq!(
            finished_lines(72, 328).collect::<Vec<_>>(),
            [64, 128, 192, 256]
        );
    }

    #[test]
    fn every_line_of_a_stream_is_finished_exactly_once() {
        let mut finished = Vec::new();
        let mut at = 0;
        for (i, size) in [16u64, 72, 8, 264, 40, 128, 16, 200]
            .iter()
            .cycle()
            .take(400)
            .enumerate()
        {
            let before = at;
            at += size + (i as u64 % 3) * 8;
            finished.extend(finished_lines(before, at));
        }
        let want: Vec<u64> = (0..at / LINE).map(|l| l * LINE).collect();
        assert_eq!(finished, want);
    }

    #[test]
    fn only_small_records_in_rings_from_a_line_to_a_mebibyte() {
        assert!(worth_it(16, 1 << 20));
        assert!(worth_it(MAX_RECORD, 64));
        assert!(!worth_it(MAX_RECORD + 8, 1 << 20));
        assert!(!worth_it(16, 32), "a ring smaller than a line");
        assert!(
            !worth_it(16, 2 << 20),
            "a ring larger than the caches it is meant for"
        );
    }
}
