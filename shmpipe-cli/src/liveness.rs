//! Who is alive: the one place where the commands that list and watch rings (`ls`,
//! `stat --watch`) read the library's liveness fields (pids and `alive` flags). When the
//! library changes how it tells a live peer from a dead one, only this file follows.

use shmpipe::{RoleState, SideStatus, Status};

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
    /// Whether any process has the ring open: the kernel's answer (the presence lock; System
    /// V: its attach count), what `replace_stale` and `shmpipe rm` go by.
    pub(crate) in_use: bool,
}

/// The writer, reader and creator a header records ([`shmpipe::inspect`] or
/// [`shmpipe::Ring::status`], the same [`Status`]): the one function where the commands added
/// for `ls` and `stat --watch` read pids and `alive` flags.
pub(crate) fn peers(status: &Status) -> Peers {
    let (writer, reader, creator_pid, creator_alive, in_use) = (
        &status.writer,
        &status.reader,
        status.creator_pid,
        status.creator_alive,
        status.in_use,
    );
    let side = |s: &SideStatus| {
        let alive = s.pid.is_some() && s.alive;
        let state = match s.state {
            RoleState::Closed => PeerState::Closed,
            RoleState::Invalid(_) => PeerState::Invalid,
            _ if s.pid.is_some() && alive => PeerState::Alive,
            _ if s.pid.is_some() => PeerState::Dead,
            RoleState::Attached => PeerState::Attached,
            _ => PeerState::Vacant,
        };
        Peer {
            state,
            pid: s.pid,
            alive,
        }
    };
    Peers {
        writer: side(writer),
        reader: side(reader),
        creator: Peer {
            state: match (creator_pid, creator_alive) {
                (0, _) => PeerState::Vacant,
                (_, true) => PeerState::Alive,
                (_, false) => PeerState::Dead,
            },
            pid: (creator_pid != 0).then_some(creator_pid),
            alive: creator_pid != 0 && creator_alive,
        },
        in_use,
    }
}

impl Peers {
    /// Does no process have the ring open any more (the kernel's answer)? Nobody will then
    /// ever use it again (a new writer replaces it), so `shmpipe rm` may clean it up.
    pub(crate) fn stale(&self) -> bool {
        !self.in_use
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shmpipe::Backend;

    fn side(state: RoleState, pid: Option<u32>, alive: bool) -> SideStatus {
        SideStatus {
            position: 0,
            state,
            pid,
            alive,
            same_namespace: true,
            sleeping: false,
        }
    }

    fn status(writer: SideStatus, reader: SideStatus, creator_alive: bool) -> Status {
        Status {
            magic: shmpipe::MAGIC,
            version: shmpipe::LAYOUT_VERSION,
            header_size: shmpipe::HEADER_SIZE as u32,
            capacity: 4096,
            flags: 0,
            endian: 0x0102_0304,
            pointer_bits: usize::BITS,
            init: 1,
            backend_code: 1,
            backend: Some(Backend::Posix),
            creator_pid: 10,
            creator_alive,
            in_use: true,
            writer,
            reader,
        }
    }

    #[test]
    fn states_and_staleness() {
        let s = status(
            side(RoleState::Attached, Some(10), true),
            side(RoleState::Vacant, None, false),
            true,
        );
        let p = peers(&s);
        assert_eq!(p.writer.text(), "alive 10");
        assert_eq!(p.reader.text(), "vacant");
        assert!(!p.stale());

        // Everyone gone: the roles read dead and closed, but a ring we have open is in use (by
        // us): staleness is the kernel's answer about who has it open (`in_use`), which
        // `Ring::status` always gives as true.
        let s = status(
            side(RoleState::Attached, Some(10), false),
            side(RoleState::Closed, Some(11), false),
            false,
        );
        let p = peers(&s);
        assert_eq!(p.writer.text(), "dead 10");
        assert_eq!(p.reader.text(), "closed");
        assert!(!p.stale());

        // A writer that closed its side but still lives (waiting for the drain) keeps the
        // ring in use.
        let s = status(
            side(RoleState::Closed, Some(10), true),
            side(RoleState::Vacant, None, false),
            false,
        );
        let p = peers(&s);
        assert_eq!(p.writer.state, PeerState::Closed);
        assert!(!p.stale());

        // Attached with no pid recorded: liveness unknown, not claimed alive.
        let s = status(
            side(RoleState::Attached, None, false),
            side(RoleState::Invalid(9), None, false),
            true,
        );
        let p = peers(&s);
        assert_eq!(p.writer.text(), "attached");
        assert_eq!(p.reader.text(), "invalid");
        assert_eq!(p.creator.text(), "alive 10");
    }
}
