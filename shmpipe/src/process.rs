//! Pids: whether the process a System V ring's holder word names is alive, robust against
//! recycled pids (the fd-based segments use file locks instead: see `ownership`), and which
//! PID namespace this process is in.
//!
//! A role's owner word records a pid and the low 32 bits of that process's start time (field
//! 22 of `/proc/PID/stat`, clock ticks since boot). A peer is alive when `/proc/PID/stat`
//! exists, is not a zombie, and shows the same start time: a pid recycled by a newer process
//! has a later start time, and a killed peer that its parent has not reaped yet is a zombie.

use std::os::unix::fs::MetadataExt;

use crate::layout::Owner;

/// This process's owner word (System V rings): its pid and start time.
pub(crate) fn current() -> Owner {
    let pid = std::process::id();
    let start = read_stat(pid).map(|s| s.start_ticks).unwrap_or(0);
    Owner::new(pid, start)
}

/// The low 32 bits of the inode of this process's PID namespace (`/proc/self/ns/pid`), or 0
/// when it cannot be read: recorded beside a pid so `stat` can tell a pid of another
/// namespace from one of its own.
pub(crate) fn pid_namespace() -> u32 {
    std::fs::metadata("/proc/self/ns/pid")
        .map(|m| m.ino() as u32)
        .unwrap_or(0)
}

/// Is the process that `owner` names gone (exited, killed, zombie, or its pid recycled)?
/// Only for System V rings, whose liveness is by pid (see `ownership`): wrong across PID
/// namespaces, as documented.
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

struct Stat {
    zombie: bool,
    start_ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the last `)`.
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

#[cfg(test)]
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
