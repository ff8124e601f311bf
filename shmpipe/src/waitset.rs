//! [`WaitSet`]: one thread waits on many rings at once.

use std::time::{Duration, Instant};

use crate::layout::{Role, WAKE_SLEEPING};
use crate::protocol;
use crate::sync::AtomicU32;
use crate::wait::LIVENESS_SLICE;
use crate::{Reader, Writer};

/// A handle's place in a [`WaitSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaitKey(usize);

/// One handle [`WaitSet::wait`] found ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitReady {
    /// Which handle.
    pub key: WaitKey,
    /// `Some(pid)` if it is ready because its peer's process died without closing: what the
    /// peer published before it died can still be received with the `try_` calls, after which
    /// they report `Empty` (and a blocking call `PeerDied`). Remove the handle then.
    pub peer_died: Option<u32>,
}

enum Member {
    Reader(Reader),
    Writer(Writer, usize),
}

impl Member {
    fn wake_word(&self) -> &AtomicU32 {
        match self {
            Member::Reader(r) => &r.memory().header().reader.wake,
            Member::Writer(w, _) => &w.memory().header().writer.wake,
        }
    }

    /// Would the next call go through (or fail) without waiting?
    fn ready(&mut self) -> bool {
        match self {
            // An error is ready too: the next receive reports it.
            Member::Reader(r) => r.poll_ready(crate::reader::Empties::Count).unwrap_or(true),
            Member::Writer(w, len) => w.poll_room(*len),
        }
    }

    /// Looks at the peer's liveness if the handle's `Vigil` says a look is due (arming a
    /// watch on the peer's process if the wait has slept a slice, `long`): the pid of a dead
    /// peer. Also returns how long the member may sleep before its next look.
    fn look_at_peer(&mut self, long: bool) -> (Option<u32>, Duration) {
        let (memory, role) = match self {
            Member::Reader(r) => (r.memory().clone(), Role::Reader),
            Member::Writer(w, _) => (w.memory().clone(), Role::Writer),
        };
        let own = memory.header().side(role);
        let (vigil, peer) = match self {
            Member::Reader(r) => r.vigil_and_peer(),
            Member::Writer(w, _) => w.vigil_and_peer(),
        };
        (vigil.look(&peer, own, long), vigil.slice())
    }

    /// The wait is over: any watch on the peer's process is let go.
    fn end_wait(&mut self) {
        match self {
            Member::Reader(r) => r.vigil_and_peer().0.end_wait(),
            Member::Writer(w, _) => w.vigil_and_peer().0.end_wait(),
        }
    }
}

/// Waits on many rings from sync code: readers (ready when a record or end-of-stream is
/// there) and writers (ready when a message of a given length fits, or the reader closed).
///
/// The set owns its handles; [`reader`](Self::reader) and [`writer`](Self::writer) lend them
/// out, [`remove_reader`](Self::remove_reader) and [`remove_writer`](Self::remove_writer) give
/// them back. A wait first looks at every handle (the sync try-path); only if none is ready
/// does it announce a sleep on every ring's wake word, exactly as a blocking call does, and
/// sleep in one `futex_waitv(2)` on all of them (Linux 5.16+; on older kernels, or past 128
/// rings, it polls every millisecond instead). The peers need nothing new. Each handle looks
/// at its peer's liveness as a blocking call does: after a 50 ms slice of sleep, and, once the
/// wait has slept that long, through a watch on the peer's process where the kernel can watch
/// it (then every second, the process's exit waking the set at once; from another PID
/// namespace, every 50 ms). A dead peer is reported ([`WaitReady::peer_died`]). When each
/// handle last looked is kept across waits, so a loop of short
/// [`wait_timeout`](Self::wait_timeout)s hears a death within a slice too.
///
/// ```
/// use std::time::Duration;
/// use shmpipe::WaitSet;
/// let (mut w1, r1) = shmpipe::channel(256)?;
/// let (_w2, r2) = shmpipe::channel(256)?;
/// let mut set = WaitSet::new();
/// let k1 = set.add_reader(r1);
/// let _k2 = set.add_reader(r2);
/// w1.send(b"one")?;
/// let ready = set.wait_timeout(Duration::from_secs(10));
/// assert_eq!(ready.len(), 1);
/// assert_eq!(ready[0].key, k1);
/// let mut buf = [0u8; 8];
/// assert_eq!(set.reader(k1).unwrap().try_recv(&mut buf)?, Some(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct WaitSet {
    /// The handles; each keeps when it last looked at its peer's liveness across waits (its
    /// `wait::Vigil`), so a loop of short `wait_timeout`s still looks once per slice.
    members: Vec<Option<Member>>,
}

impl std::fmt::Debug for WaitSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitSet").field("len", &self.len()).finish()
    }
}

impl WaitSet {
    /// An empty set.
    ///
    /// ```
    /// let set = shmpipe::WaitSet::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> Self {
        WaitSet::default()
    }

    /// How many handles the set holds.
    ///
    /// ```
    /// let (_w, r) = shmpipe::channel(256)?;
    /// let mut set = shmpipe::WaitSet::new();
    /// set.add_reader(r);
    /// assert_eq!(set.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.members.iter().filter(|m| m.is_some()).count()
    }

    /// Whether the set holds no handle.
    ///
    /// ```
    /// assert!(shmpipe::WaitSet::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add(&mut self, member: Member) -> WaitKey {
        if let Some(i) = self.members.iter().position(Option::is_none) {
            self.members[i] = Some(member);
            WaitKey(i)
        } else {
            self.members.push(Some(member));
            WaitKey(self.members.len() - 1)
        }
    }

    /// Adds a reader: ready when a record (of any length) or end-of-stream is there. A reader
    /// at end-of-stream stays ready: remove it then, or every wait returns at once.
    ///
    /// ```
    /// let (mut w, r) = shmpipe::channel(256)?;
    /// let mut set = shmpipe::WaitSet::new();
    /// let key = set.add_reader(r);
    /// w.send(b"x")?;
    /// assert_eq!(set.wait()[0].key, key);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_reader(&mut self, reader: Reader) -> WaitKey {
        self.add(Member::Reader(reader))
    }

    /// Adds a writer: ready when a `len`-byte message fits now, or the send would fail at
    /// once (reader closed, `len` too large).
    ///
    /// ```
    /// let (w, _r) = shmpipe::channel(256)?;
    /// let mut set = shmpipe::WaitSet::new();
    /// let key = set.add_writer(w, 100); // ready while 100 bytes fit
    /// assert_eq!(set.wait()[0].key, key);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_writer(&mut self, writer: Writer, len: usize) -> WaitKey {
        self.add(Member::Writer(writer, len))
    }

    /// The reader at `key`, if that is one.
    ///
    /// ```
    /// let (mut w, r) = shmpipe::channel(256)?;
    /// let mut set = shmpipe::WaitSet::new();
    /// let key = set.add_reader(r);
    /// w.send(b"hi")?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(set.reader(key).unwrap().try_recv(&mut buf)?, Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reader(&mut self, key: WaitKey) -> Option<&mut Reader> {
        match self.members.get_mut(key.0)? {
            Some(Member::Reader(r)) => Some(r),
            _ => None,
        }
    }

    /// The writer at `key`, if that is one.
    ///
    /// ```
    /// let (w, mut r) = shmpipe::channel(256)?;
    /// let mut set = shmpipe::WaitSet::new();
    /// let key = set.add_writer(w, 8);
    /// set.writer(key).unwrap().send(b"hi")?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(r.try_recv(&mut buf)?, Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writer(&mut self, key: WaitKey) -> Option<&mut Writer> {
        match self.members.get_mut(key.0)? {
            Some(Member::Writer(w, _)) => Some(w),
            _ => None,
        }
    }

    /// Takes the reader at `key` out of the set.
    ///
    /// ```
    /// let (_w, r) = shmpipe::channel(256)?;
    /// let mut set = shmpipe::WaitSet::new();
    /// let key = set.add_reader(r);
    /// let reader = set.remove_reader(key).unwrap();
    /// assert!(set.is_empty());
    /// # drop(reader);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_reader(&mut self, key: WaitKey) -> Option<Reader> {
        match self.members.get_mut(key.0)?.take() {
            Some(Member::Reader(r)) => Some(r),
            other => {
                self.members[key.0] = other;
                None
            }
        }
    }

    /// Takes the writer at `key` out of the set.
    ///
    /// ```
    /// let (w, _r) = shmpipe::channel(256)?;
    /// let mut set = shmpipe::WaitSet::new();
    /// let key = set.add_writer(w, 8);
    /// let writer = set.remove_writer(key).unwrap();
    /// assert!(set.remove_writer(key).is_none());
    /// # drop(writer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_writer(&mut self, key: WaitKey) -> Option<Writer> {
        match self.members.get_mut(key.0)?.take() {
            Some(Member::Writer(w, _)) => Some(w),
            other => {
                self.members[key.0] = other;
                None
            }
        }
    }

    /// Waits until at least one handle is ready and returns every ready one (none only if
    /// the set is empty).
    ///
    /// ```
    /// let (w, r) = shmpipe::channel(256)?;
    /// let mut set = shmpipe::WaitSet::new();
    /// let key = set.add_reader(r);
    /// drop(w); // end-of-stream makes the reader ready
    /// assert_eq!(set.wait()[0].key, key);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&mut self) -> Vec<WaitReady> {
        self.wait_until(None)
    }

    /// Like [`wait`](Self::wait), but returns an empty list once `timeout` has passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_w, r) = shmpipe::channel(256)?;
    /// let mut set = shmpipe::WaitSet::new();
    /// set.add_reader(r);
    /// assert!(set.wait_timeout(Duration::from_millis(10)).is_empty()); // nothing came
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> Vec<WaitReady> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    fn ready_now(&mut self) -> Vec<WaitReady> {
        let mut ready = Vec::new();
        for (i, member) in self.members.iter_mut().enumerate() {
            if let Some(m) = member {
                if m.ready() {
                    ready.push(WaitReady {
                        key: WaitKey(i),
                        peer_died: None,
                    });
                }
            }
        }
        ready
    }

    fn announce_all(&self, announce: bool) {
        for m in self.members.iter().flatten() {
            let side = match m {
                Member::Reader(r) => &r.memory().header().reader,
                Member::Writer(w, _) => &w.memory().header().writer,
            };
            if announce {
                protocol::mark_sleeping(side);
            } else {
                protocol::end_sleep(side);
            }
        }
        if announce {
            // One fence for every announcement, before the re-check.
            protocol::sleep_fence();
        }
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> Vec<WaitReady> {
        let ready = self.wait_slices(deadline);
        for m in self.members.iter_mut().flatten() {
            m.end_wait();
        }
        ready
    }

    /// `wait_until`, but for letting the watches go.
    fn wait_slices(&mut self, deadline: Option<Instant>) -> Vec<WaitReady> {
        let asleep_since = Instant::now();
        loop {
            let ready = self.ready_now();
            if !ready.is_empty() || self.is_empty() {
                return ready;
            }
            // The handshake of a blocking call (`wait::wait_for`), on every ring at once.
            self.announce_all(true);
            // SYNC POINT (sleep/wake): the re-check after the announcement, as in
            // `wait::wait_for`: a peer's update before our announcement is seen here, one after
            // it finds the word "sleeping" and wakes the futex_waitv. Checked by loom model
            // `waitset_sleeps_and_is_woken` (mutant `waitset-no-recheck`: a deadlock).
            let ready = self.ready_now();
            if !ready.is_empty() {
                self.announce_all(false);
                return ready;
            }
            // The peers' liveness, each handle as a sync wait looks (`wait::sleep_until`): once
            // per slice, and once this wait has slept a slice, through a watch on each peer's
            // process that can be watched, whose exit resets that ring's wake word and so
            // wakes this futex_waitv; the set then sleeps up to a second between looks.
            let long = crate::os::liveness_due(asleep_since, LIVENESS_SLICE);
            let mut slice = crate::os::WATCHED_SLICE;
            let mut dead = Vec::new();
            for (i, m) in self.members.iter_mut().enumerate() {
                if let Some(m) = m {
                    let (died, every) = m.look_at_peer(long);
                    slice = slice.min(every);
                    if let Some(pid) = died {
                        dead.push(WaitReady {
                            key: WaitKey(i),
                            peer_died: Some(pid),
                        });
                    }
                }
            }
            if !dead.is_empty() {
                self.announce_all(false);
                return dead;
            }
            if let Some(deadline) = deadline {
                let now = Instant::now();
                if now >= deadline {
                    self.announce_all(false);
                    return Vec::new();
                }
                slice = slice.min(deadline - now);
            }
            {
                let words: Vec<(&AtomicU32, u32)> = self
                    .members
                    .iter()
                    .flatten()
                    .map(|m| (m.wake_word(), WAKE_SLEEPING))
                    .collect();
                crate::os::wait_any(&words, slice);
            }
            self.announce_all(false);
        }
    }
}
