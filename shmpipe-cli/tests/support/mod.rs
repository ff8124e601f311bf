//! What the tests of the `shmpipe` binary share: running it with a deadline, collecting its
//! output, unique names and keys, waiting for a condition or for a ring's header to show one,
//! and the System V segments the kernel lists.
#![allow(dead_code)] // each test binary uses part of it

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use shmpipe::{Segment, Status};

/// The next number of a counter this process shares between its tests.
fn next() -> u32 {
    static COUNTER: Mutex<u32> = Mutex::new(0);
    let mut n = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
    *n += 1;
    *n
}

/// A name no other test (or test run) uses: `shmpipe-cli-PID-N-TAG`.
pub fn unique(tag: &str) -> String {
    format!("shmpipe-cli-{}-{}-{tag}", std::process::id(), next())
}

/// A System V key no other test uses.
pub fn unique_key() -> i32 {
    (0x5e00_0000 | ((std::process::id() & 0xffff) << 8) | (next() & 0xff)) as i32
}

/// Removes a segment when dropped (test passed or not).
pub struct Name(pub Segment);

impl Drop for Name {
    fn drop(&mut self) {
        let _ = shmpipe::remove(&self.0);
    }
}

/// A unique POSIX ring name for a test, its segment, and the guard that removes it.
pub fn posix_ring(tag: &str) -> (String, Segment, Name) {
    let name = unique(tag);
    let segment = Segment::posix(&name);
    (name, segment.clone(), Name(segment))
}

pub fn posix_path(name: &str) -> PathBuf {
    Path::new("/dev/shm").join(name)
}

/// Overwrites `bytes` at `offset` of a file (a ring's header, as a hostile peer would).
pub fn poke(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

/// The System V segments the kernel lists (what `ipcs -m` shows): (key, id) each.
pub fn sysv_segments() -> Vec<(i32, i32)> {
    let table = std::fs::read_to_string("/proc/sysvipc/shm").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let key = fields.next()?.parse::<i64>().ok()? as i32;
            Some((key, fields.next()?.parse().ok()?))
        })
        .collect()
}

/// The id of the System V segment with this key, if the kernel lists one.
pub fn sysv_id(key: i32) -> Option<i32> {
    sysv_segments()
        .into_iter()
        .find_map(|(k, id)| (k == key).then_some(id))
}

/// Feeds `data` to a process's stdin, then closes it (a process that stops reading first
/// ends the feeding quietly).
pub fn feed(mut stdin: ChildStdin, data: Vec<u8>) -> JoinHandle<()> {
    thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &data);
    })
}

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_shmpipe");
/// The longest any one step may take.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A running `shmpipe`, killed when dropped. Its stderr is collected (unless it was given
/// another one).
pub struct Proc {
    pub child: Child,
    stderr: Option<Collected>,
}

/// The end of a [`Proc`].
pub struct Ended {
    pub status: ExitStatus,
    pub stderr: String,
}

impl Ended {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The stderr lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

/// Asserts that every one of `ends` exited 0, showing all their stderrs if not.
pub fn assert_exit_0(ends: &[&Ended]) {
    let codes: Vec<Option<i32>> = ends.iter().map(|e| e.code()).collect();
    let stderrs: Vec<&str> = ends.iter().map(|e| e.stderr.as_str()).collect();
    assert!(
        codes.iter().all(|&c| c == Some(0)),
        "exit codes {codes:?}, stderr {stderrs:?}"
    );
}

/// Ends a stream of `data` from `writer` (fed by `feeder`) to `reader` (whose stdout is
/// `out`): both must exit 0, and the reader must have printed exactly `data`.
pub fn assert_streamed(
    writer: &mut Proc,
    reader: &mut Proc,
    feeder: JoinHandle<()>,
    out: Collected,
    data: &[u8],
) {
    let (w, r) = (writer.wait(), reader.wait());
    feeder.join().unwrap();
    assert_exit_0(&[&w, &r]);
    assert!(
        out.finish() == data,
        "the reader's output differs from the input"
    );
}

impl Proc {
    pub fn spawn(args: &[&str], stdin: Stdio, stdout: Stdio) -> Proc {
        Self::spawn_program(BIN, args, stdin, stdout)
    }

    /// `shmpipe write ARGS`, its stdin piped (take it with [`stdin`](Self::stdin)).
    pub fn write(args: &[&str]) -> Proc {
        Self::spawn(&[&["write"], args].concat(), Stdio::piped(), Stdio::null())
    }

    /// `shmpipe read ARGS`, its stdout piped (take it with [`stdout`](Self::stdout)).
    pub fn read(args: &[&str]) -> Proc {
        Self::spawn(&[&["read"], args].concat(), Stdio::null(), Stdio::piped())
    }

    /// Like [`spawn`](Self::spawn), for another program (`unshare`, a shell).
    pub fn spawn_program(program: &str, args: &[&str], stdin: Stdio, stdout: Stdio) -> Proc {
        Self::start(program, args, stdin, stdout, None)
    }

    /// Like [`spawn`](Self::spawn), with its stderr on `stderr` (a terminal) instead of
    /// collected: the [`Ended`] has an empty `stderr`.
    pub fn spawn_with_stderr(args: &[&str], stdin: Stdio, stdout: Stdio, stderr: Stdio) -> Proc {
        Self::start(BIN, args, stdin, stdout, Some(stderr))
    }

    fn start(
        program: &str,
        args: &[&str],
        stdin: Stdio,
        stdout: Stdio,
        stderr: Option<Stdio>,
    ) -> Proc {
        let mut command = Command::new(program);
        let collect_stderr = stderr.is_none();
        command
            .args(args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr.unwrap_or_else(Stdio::piped));
        // SAFETY: the closure only calls `signal`, which is async-signal-safe. It undoes a
        // SIGINT disposition of "ignore" inherited from a test run started in the background
        // by a script, which `shmpipe` would rightly respect.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut child = command.spawn().expect("spawn shmpipe");
        let stderr = collect_stderr.then(|| collect(child.stderr.take().unwrap()));
        Proc { child, stderr }
    }

    /// What the process has written on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        let bytes = self.stderr.as_ref().map(Collected::snapshot);
        String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().expect("stdin was piped")
    }

    pub fn stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("stdout was piped")
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid (not yet reaped, so not recycled).
        assert_eq!(unsafe { libc::kill(self.pid() as libc::pid_t, signal) }, 0);
    }

    /// Waits for the process to exit, at most `deadline`.
    pub fn wait_for(&mut self, deadline: Duration) -> Ended {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < deadline,
                "shmpipe (pid {}) did not exit within {deadline:?}",
                self.pid()
            );
            thread::sleep(Duration::from_millis(5));
        };
        let stderr = self.stderr.take().map(Collected::text).unwrap_or_default();
        Ended { status, stderr }
    }

    pub fn wait(&mut self) -> Ended {
        self.wait_for(DEADLINE)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `shmpipe ARGS` with no input to completion; returns its end and stdout.
pub fn run(args: &[&str]) -> (Ended, String) {
    let mut proc = Proc::spawn(args, Stdio::null(), Stdio::piped());
    let out = collect(proc.stdout());
    let ended = proc.wait();
    (ended, out.text())
}

/// What a process writes (on a pipe or a terminal), collected by a thread until it ends;
/// `so_far` shows progress.
pub struct Collected {
    bytes: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

/// Collects everything `out` gives until its end (or an error: a terminal gives EIO once
/// its last slave end is closed).
pub fn collect(mut out: impl Read + Send + 'static) -> Collected {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let sink = bytes.clone();
    let thread = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = out.read(&mut buf) {
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    Collected { bytes, thread }
}

impl Collected {
    pub fn so_far(&self) -> usize {
        self.bytes.lock().unwrap().len()
    }

    /// A copy of what arrived so far.
    pub fn snapshot(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    /// What arrived so far, as text.
    pub fn text_so_far(&self) -> String {
        String::from_utf8_lossy(&self.snapshot()).into_owned()
    }

    /// Waits until at least `n` bytes arrived.
    pub fn wait_for(&self, n: usize) {
        wait_until(&format!("{n} bytes of output"), || self.so_far() >= n);
    }

    /// Everything, once the process has exited (its stdout is then closed).
    pub fn finish(self) -> Vec<u8> {
        self.thread.join().unwrap();
        Arc::try_unwrap(self.bytes).unwrap().into_inner().unwrap()
    }

    /// Everything as text, once the process has exited.
    pub fn text(self) -> String {
        String::from_utf8_lossy(&self.finish()).into_owned()
    }
}

/// Polls `condition` until it holds, panicking after [`DEADLINE`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `segment` has a ring header for which `condition` holds (`what` names it).
pub fn wait_for_header(segment: &Segment, what: &str, condition: impl Fn(&Status) -> bool) {
    wait_until(&format!("{what} on {segment}"), || {
        shmpipe::inspect(segment)
            .ok()
            .and_then(|found| found.header)
            .is_some_and(|h| condition(&h))
    });
}

/// Waits until the ring's writer (the process `pid`) has attached.
pub fn wait_for_writer(segment: &Segment, pid: u32) {
    wait_for_header(segment, &format!("a writer with pid {pid}"), |h| {
        h.writer.pid == Some(pid)
    });
}
