//! The one peer mechanism of the cross-process tests: a peer is this test binary started again
//! to play a role.
//!
//! - A test binary with peers has a single test entry `peer_main`, whose body hands this
//!   module the binary's table of roles: `peers::dispatch(&[("write", write), ...])`, each role
//!   a function of its arguments.
//! - A test starts a peer with [`spawn`] (or [`command`], to add to it): the binary runs only
//!   `peer_main`, with the role and its arguments in `SHMPIPE_TEST_PEER`. [`dispatch`] runs the
//!   role, then exits 0; a role fails by panicking or by exiting with a status of its own. In a
//!   test run (no variable set), `peer_main` is a test that does nothing.
//! - A role says when it is ready with [`ready`]; the test waits for it with [`wait_ready`],
//!   and reaps the peer with a deadline ([`reap`]).
//!
//! Also here: `fork`ing a child peer and waiting for it, for the tests that share a ring by
//! inheritance.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The variable that carries a peer's role and arguments.
const VAR: &str = "SHMPIPE_TEST_PEER";
/// The test entry each binary with peers has, calling [`dispatch`].
const ENTRY: &str = "peer_main";

/// A role: what a peer does, given the arguments it was started with.
pub type Role = fn(&[&str]);

/// The body of a binary's `peer_main`: in a peer, runs the role it was started for, then
/// exits 0; in a test run, returns at once.
pub fn dispatch(roles: &[(&str, Role)]) {
    let Ok(task) = std::env::var(VAR) else {
        return;
    };
    let words: Vec<&str> = task.split(' ').collect();
    let (name, args) = words.split_first().expect("a role");
    let Some((_, role)) = roles.iter().find(|(known, _)| known == name) else {
        let known: Vec<&str> = roles.iter().map(|(known, _)| *known).collect();
        panic!("unknown peer role {name:?}: this binary has {known:?}");
    };
    role(args);
    std::process::exit(0);
}

/// The command that starts a peer playing `role` with `args` (words without spaces): its
/// stdout piped (for [`wait_ready`]), its stderr inherited.
pub fn command(role: &str, args: &[&str]) -> Command {
    let mut task = vec![role];
    task.extend_from_slice(args);
    assert!(
        task.iter().all(|w| !w.is_empty() && !w.contains(' ')),
        "peer words must be non-empty and without spaces: {task:?}"
    );
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", ENTRY, "--nocapture", "--test-threads=1", "-q"])
        .env(VAR, task.join(" "))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Starts a peer playing `role` with `args` (see [`command`]).
pub fn spawn(role: &str, args: &[&str]) -> Child {
    command(role, args).spawn().expect("spawn peer")
}

/// Prints `line` on stdout at once (for the test reading the peer's stdout).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// Called by a role: tells the test that it is ready (see [`wait_ready`]).
pub fn ready() {
    say("ready");
}

/// Reads the peer's stdout up to its "ready" line (the test harness prints its own lines
/// first); false if its stdout ended first (it failed, or exited, before it was ready).
pub fn got_ready(child: &mut Child) -> bool {
    let out = child.stdout.take().expect("the peer's stdout is piped");
    let mut out = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            return false;
        }
        if line.trim() == "ready" {
            return true;
        }
    }
}

/// Waits for the peer's "ready" line; panics if it ended first. A peer says it before it
/// blocks or fails, and its own waits have deadlines, so this returns.
pub fn wait_ready(child: &mut Child) {
    assert!(
        got_ready(child),
        "peer {} ended before it was ready",
        child.id()
    );
}

/// Waits for a child, killing it (and failing the test) if it outlives `deadline`.
pub fn reap(child: &mut Child, deadline: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("peer {} did not exit within {deadline:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Kills `child` (`kill -9`) after `after`, on a thread of its own, and reaps it: the instant
/// just before the kill (for a test that measures how soon the death is heard; taken before,
/// so a death heard while this thread is descheduled after the kill still comes after it).
pub fn kill_after(mut child: Child, after: Duration) -> std::thread::JoinHandle<Instant> {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let killed = Instant::now();
        child.kill().unwrap();
        reap(&mut child, Duration::from_secs(60));
        killed
    })
}

/// `fork(2)`: the child's pid, or 0 in the child, which then ends in [`child_exit`].
///
/// # Safety
///
/// The child runs on a copy of the calling thread only: the caller vouches that what it does
/// there needs no lock another thread may have held at the fork (call it from a peer, which
/// is single-threaded, or do nothing in the child but ring operations), and that it ends in
/// [`child_exit`], never returning into the test harness.
pub unsafe fn fork() -> libc::pid_t {
    // SAFETY: the caller's promise above.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    pid
}

/// Runs `f` in a forked child, then `_exit`s with 0 if it returned, 1 if it panicked.
pub fn child_exit(f: impl FnOnce()) -> ! {
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
    // SAFETY: ends the forked child without running the parent's destructors twice.
    unsafe { libc::_exit(if ok { 0 } else { 1 }) }
}

/// Waits for a forked child: its exit status (128 + the signal if a signal ended it), or a
/// panic (after a SIGKILL) past `deadline`.
pub fn wait_child(pid: libc::pid_t, deadline: Duration) -> i32 {
    let start = Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
        }
        if start.elapsed() > deadline {
            // SAFETY: kill(2) on our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("child {pid} did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
