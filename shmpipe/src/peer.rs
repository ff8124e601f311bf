//! A waiting handle's peer: whether its process is gone without closing (the kernel's answer,
//! through `ownership`), and how its death can be heard between looks (`os::DeathWatch`).

use std::sync::Arc;

use crate::layout::Role;
use crate::layout::{holder_namespace, holder_pid, Header};
use crate::memory::Memory;
use crate::os;
use crate::ownership::{Liveness, Token};
use crate::sync::Ordering;

/// A waiting handle's peer: how the handle learns that the process holding the peer's role
/// is gone without closing it.
#[derive(Clone, Copy)]
pub(crate) struct Peer<'a> {
    /// The ring's memory (a watch on the peer's process keeps it mapped while armed).
    memory: &'a Arc<Memory>,
    liveness: Liveness<'a>,
    header: &'a Header,
    /// The asking handle's token, while it holds its role (the probe for the peer's locks).
    own: Option<&'a Token>,
    role: Role,
}

/// How a sleeper can hear of its peer's death between its looks at the liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeathNotice {
    /// The peer is in this process's heap ring: it cannot die without the sleeper.
    Impossible,
    /// The kernel can say when this process (a pid of our PID namespace) exits: the process
    /// the peer's holder word `word` names. Informative, as the holder word is: it says when
    /// to look, never what the look finds.
    Process { pid: u32, word: u64 },
    /// Only by looking, while the holder word is `word` (`None`: whatever it is).
    LookOnly { word: Option<u64> },
}

impl<'a> Peer<'a> {
    /// The peer in `role` of the ring in `memory`, as the handle holding `own` sees it.
    pub(crate) fn new(memory: &'a Arc<Memory>, own: Option<&'a Token>, role: Role) -> Self {
        Peer {
            memory,
            liveness: memory.liveness(),
            header: memory.header(),
            own,
            role,
        }
    }

    /// The ring's memory.
    pub(crate) fn memory(&self) -> &'a Arc<Memory> {
        self.memory
    }

    /// The peer's holder word as it is now, where a notice depends on it (`None`: it does
    /// not, and is not loaded).
    pub(crate) fn holder_word(&self) -> Option<u64> {
        match self.liveness {
            Liveness::InProcess => None,
            // Relaxed: the holder word is informative (see `DeathNotice`); no other memory is
            // read on the strength of it.
            Liveness::Locks(_) | Liveness::Pids(_) => {
                Some(self.header.side(self.role).owner.load(Ordering::Relaxed))
            }
        }
    }

    /// Is the process holding the peer's role gone without closing it, and if so which pid
    /// did it record?
    pub(crate) fn died(&self) -> Option<u32> {
        let dead = self.liveness.peer_is_dead(self.header, self.own, self.role);
        dead.then(|| holder_pid(self.header.side(self.role).owner.load(Ordering::Relaxed)))
    }

    /// How the peer's death can be heard between looks (see `os::DeathWatch`).
    pub(crate) fn notice(&self) -> DeathNotice {
        let line = self.header.side(self.role);
        let word = match self.liveness {
            Liveness::InProcess => return DeathNotice::Impossible,
            Liveness::Locks(_) => {
                // A pid means something only in the namespace it was recorded in (and the
                // loom build, whose namespace is 0, never loads the word here).
                let ours = os::pid_namespace();
                if ours == 0 {
                    return DeathNotice::LookOnly { word: None };
                }
                // Relaxed, as in `holder_word`. Untrusted: a pid that names nobody, or the
                // wrong process, only makes the watch useless (see `os::WATCHED_SLICE`).
                let word = line.owner.load(Ordering::Relaxed);
                if holder_namespace(word) != ours {
                    return DeathNotice::LookOnly { word: Some(word) };
                }
                word
            }
            // Pids are of this namespace (the documented limit of System V rings).
            // Relaxed, as in `holder_word`.
            Liveness::Pids(_) => line.owner.load(Ordering::Relaxed),
        };
        let pid = holder_pid(word);
        // A peer recorded by this very process may be a copy of its handle in a `fork`ed
        // child, whose exit no watch of this pid would see.
        if pid == 0 || pid == holder_pid(os::holder_word()) {
            return DeathNotice::LookOnly { word: Some(word) };
        }
        DeathNotice::Process { pid, word }
    }
}
