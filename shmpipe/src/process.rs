//! Who we are and whether a peer is alive, robust against recycled pids.
//!
//! A role's owner word records a pid and the low 32 bits of that process's start time (field
//! 22 of `/proc/PID/stat`, clock ticks since boot). A peer is alive when `/proc/PID/stat`
//! exists, is not a zombie, and shows the same start time: a pid recycled by a newer process
//! has a later start time, and a killed peer that its parent has not reaped yet is a zombie.

use crate::layout::{Header, Owner};

/// This process's owner word.
#[cfg(not(loom))]
pub(crate) fn current() -> Owner {
    let pid = std::process::id();
    let start = read_stat(pid).map(|s| s.start_ticks).unwrap_or(0);
    Owner::new(pid, start)
}

/// Under loom: the creator of a ring (pid 1); each handle is a process of its own, from
/// `claimant`.
#[cfg(loom)]
pub(crate) fn current() -> Owner {
    Owner::new(1, 0)
}

/// The owner word a handle claiming a role of the ring at `header` records: this process.
#[cfg(not(loom))]
#[inline]
pub(crate) fn claimant(_header: &Header) -> Owner {
    current()
}

/// Under loom every handle is a process of its own, numbered by the header's model of the
/// process table, so a model can kill one and let another take its role over.
#[cfg(loom)]
pub(crate) fn claimant(header: &Header) -> Owner {
    header.os.spawn()
}

/// Is the process `owner` names, which holds (or held) a role of the ring at `header`, gone?
#[cfg(not(loom))]
#[inline]
pub(crate) fn is_dead_in(_header: &Header, owner: Owner) -> bool {
    is_dead(owner)
}

/// Under loom: has a model killed it (`Writer::crash`, `Reader::crash`)?
#[cfg(loom)]
pub(crate) fn is_dead_in(header: &Header, owner: Owner) -> bool {
    header.os.is_dead(owner)
}

/// Is the process that `owner` names gone (exited, killed, zombie, or its pid recycled)?
#[cfg(not(loom))]
pub(crate) fn is_dead(owner: Owner) -> bool {
    let pid = owner.pid();
    if pid == 0 || pid > i32::MAX as u32 {
        return true;
    }
    match read_stat(pid) {
        Some(stat) => stat.zombie || (stat.start_ticks & 0xffff_ffff) as u32 != owner.start_low(),
        None => {
            // No /proc entry we can read: ask the kernel directly. ESRCH means gone; EPERM
            // means it exists but belongs to someone else (/proc mounted with hidepid).
            // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
            let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
            r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        }
    }
}

/// Under loom a process found without its ring (the creator, in `Ring::status`) never dies;
/// the handles' processes are in the header's table (`is_dead_in`).
#[cfg(loom)]
pub(crate) fn is_dead(_owner: Owner) -> bool {
    false
}

#[cfg(not(loom))]
struct Stat {
    zombie: bool,
    start_ticks: u64,
}

#[cfg(not(loom))]
fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the last `)`.
#[cfg(not(loom))]
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?; // field 3
    let start_ticks = fields.nth(18)?.parse().ok()?; // field 22
    Some(Stat {
        zombie: state == "Z" || state == "X" || state == "x",
        start_ticks,
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn parses_a_command_name_with_spaces_and_parentheses() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.start_ticks, 987654);
        assert!(!stat.zombie);
    }

    #[test]
    fn this_process_is_alive_and_a_recycled_pid_is_not() {
        let me = current();
        assert!(!is_dead(me));
        let recycled = Owner::new(me.pid(), u64::from(me.start_low().wrapping_add(1)));
        assert!(is_dead(recycled));
        assert!(is_dead(Owner::new(0, 0)));
    }
}
