//! Who is alive: the one place where the commands that list and watch rings (`ls`,
//! `stat --watch`) read the library's liveness fields (pids and `alive` flags). When the
//! library changes how it tells a live peer from a dead one, only this file follows.

use shmpipe::{RawHeader, RoleState, SideStatus, Status};

/// What one role of a ring (writer or reader) is doing, in the words `ls` and `stat --watch`
/// print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerState {
    /// Nobody has taken the role yet.
    Vacant,
    /// The role is attached, and whether its process lives is not known.
    Attached,
    /// The role is held by a live process.
    Alive,
    /// The role is held by a process that is gone.
    Dead,
    /// The role's handle closed the ring.
    Closed,
    /// The state word holds a value no version of shmpipe writes.
    Invalid,
}

impl PeerState {
    /// The word printed for this state.
    pub(crate) fn word(self) -> &'static str {
        match self {
            PeerState::Vacant => "vacant",
            PeerState::Attached => "attached",
            PeerState::Alive => "alive",
            PeerState::Dead => "dead",
            PeerState::Closed => "closed",
            PeerState::Invalid => "invalid",
        }
    }
}

/// One role of a ring, or its creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer {
    /// What the role is doing.
    pub(crate) state: PeerState,
    /// The process holding (or last holding) the role, when the header records one.
    pub(crate) pid: Option<u32>,
    /// Whether that process is alive, even if it has closed its side.
    pub(crate) alive: bool,
}

impl Peer {
    /// The state word, followed by the pid when there is one: `alive 1234`, `closed`.
    pub(crate) fn text(&self) -> String {
        match (self.state, self.pid) {
            (PeerState::Alive | PeerState::Dead, Some(pid)) => {
                format!("{} {pid}", self.state.word())
            }
            (state, _) => state.word().to_owned(),
        }
    }

    /// As JSON: `{"state": "alive", "pid": 1234, "alive": true}`.
    pub(crate) fn json(&self) -> String {
        format!(
            r#"{{"state":{},"pid":{},"alive":{}}}"#,
            super::show::quote(self.state.word()),
            self.pid.map_or("null".to_owned(), |p| p.to_string()),
            self.alive
        )
    }
}

/// The writer, the reader and the creator of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peers {
    /// The writing side.
    pub(crate) writer: Peer,
    /// The reading side.
    pub(crate) reader: Peer,
    /// The process that created the ring (`pid` is `None` when the header names none).
    pub(crate) creator: Peer,
}

impl Peers {
    /// The peers a header records (what [`shmpipe::inspect`] found).
    pub(crate) fn of_header(h: &RawHeader) -> Peers {
        Peers::from_parts(&h.writer, &h.reader, h.creator_pid, h.creator_alive)
    }

    /// The peers of an open ring ([`shmpipe::Ring::status`]).
    pub(crate) fn of_status(s: &Status) -> Peers {
        Peers::from_parts(&s.writer, &s.reader, s.creator_pid, s.creator_alive)
    }

    fn from_parts(writer: &SideStatus, reader: &SideStatus, creator: u32, alive: bool) -> Peers {
        Peers {
            writer: side(writer),
            reader: side(reader),
            creator: Peer {
                state: match (creator, alive) {
                    (0, _) => PeerState::Vacant,
                    (_, true) => PeerState::Alive,
                    (_, false) => PeerState::Dead,
                },
                pid: (creator != 0).then_some(creator),
                alive: creator != 0 && alive,
            },
        }
    }

    /// Is no process of the ring (creator, writer, reader) alive? Nobody will then ever use
    /// it again (a new writer replaces it), so `shmpipe rm` may clean it up.
    pub(crate) fn stale(&self) -> bool {
        !(self.writer.alive || self.reader.alive || self.creator.alive)
    }
}

/// One role's line as a [`Peer`].
fn side(s: &SideStatus) -> Peer {
    let alive = s.pid.is_some() && s.alive;
    let state = match s.state {
        RoleState::Closed => PeerState::Closed,
        RoleState::Invalid(_) => PeerState::Invalid,
        _ if s.pid.is_some() => {
            if alive {
                PeerState::Alive
            } else {
                PeerState::Dead
            }
        }
        RoleState::Attached => PeerState::Attached,
        _ => PeerState::Vacant,
    };
    Peer {
        state,
        pid: s.pid,
        alive,
    }
}
