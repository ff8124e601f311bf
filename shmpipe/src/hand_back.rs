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
//! (docs/BENCHMARKS.md, "Handing lines back") sampled profiles put nine in ten of the writer's
//! samples on the copy into the ring, and the cost followed the ring's capacity (the smaller
//! the ring, the more of its lines were still in the reader's caches) and the host's placement
//! of the two vCPUs: 64-byte records at 7-8 M/s in a 1 MiB ring in its slow minutes,
//! 45-70 M/s in its fast ones. Evicted after reading (`clflush`), the lines come back to
//! the writer from memory without a cross-core claim: 60-70 M/s at 1 MiB and at 4 MiB, in
//! the slow minutes and the fast ones alike.
//!
//! # When
//! Only while the reader slips (it waits for the writer, so it has time to spare and the
//! writer is what limits the stream) and only for records of at most [`MAX_RECORD`] bytes:
//! each eviction writes the line back to memory and the writer later reads it from there, so
//! for large records, whose copies are limited by memory bandwidth rather than by the latency
//! of a claim, it costs more than it saves (4 KiB records ran at half their speed with it in
//! the fast minutes). A ping-pong never slips (each look finds one record), and a reader
//! behind a full ring never slips either, so neither pays for it.
//!
//! An eviction is a hint to the caches: it changes no value anyone reads, so the protocol's
//! orderings are untouched (no SYNC POINT; under loom it does nothing).

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

/// Are a record of `size` ring bytes and a ring of `capacity` bytes ones whose lines a slipping
/// reader hands back? A ring smaller than a line has none to hand back.
#[inline]
pub(crate) fn worth_it(size: u64, capacity: u64) -> bool {
    size <= MAX_RECORD && capacity >= LINE
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
    fn only_small_records_in_rings_of_a_line_or_more() {
        assert!(worth_it(16, 1 << 20));
        assert!(worth_it(MAX_RECORD, 64));
        assert!(!worth_it(MAX_RECORD + 8, 1 << 20));
        assert!(!worth_it(16, 32), "a ring smaller than a line");
    }
}
