//! What the tests of the `shmpipe` binary share: running it with a deadline, collecting its
//! output, waiting for a condition.
#![allow(dead_code)] // each test binary uses part of it

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use shmpipe::Segment;

/// A name no other test (or test run) uses: `shmpipe-cli-PID-N-TAG`.
pub fn unique(tag: &str) -> String {
    static COUNTER: Mutex<u32> = Mutex::new(0);
    let mut n = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
    *n += 1;
    format!("shmpipe-cli-{}-{}-{tag}", std::process::id(), *n)
}

/// Removes a segment when dropped (test passed or not).
pub struct Name(pub Segment);

impl Drop for Name {
    fn drop(&mut self) {
        let _ = shmpipe::remove(&self.0);
    }
}

pub fn posix_path(name: &str) -> PathBuf {
    Path::new("/dev/shm").join(name)
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

/// A running `shmpipe`, killed when dropped. Its stderr is collected.
pub struct Proc {
    pub child: Child,
    stderr: Option<JoinHandle<String>>,
    stderr_so_far: Arc<Mutex<Vec<u8>>>,
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

impl Proc {
    pub fn spawn(args: &[&str], stdin: Stdio, stdout: Stdio) -> Proc {
        Self::spawn_program(BIN, args, stdin, stdout)
    }

    /// Like [`spawn`](Self::spawn), for another program (`unshare`, a shell).
    pub fn spawn_program(program: &str, args: &[&str], stdin: Stdio, stdout: Stdio) -> Proc {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped());
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
        let mut err = child.stderr.take().unwrap();
        let stderr_so_far = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr_so_far.clone();
        let stderr = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&sink.lock().unwrap()).into_owned()
        });
        Proc {
            child,
            stderr: Some(stderr),
            stderr_so_far,
        }
    }

    /// What the process has written on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr_so_far.lock().unwrap()).into_owned()
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
        let stderr = self.stderr.take().unwrap().join().unwrap();
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
    let out = out.finish();
    (ended, String::from_utf8_lossy(&out).into_owned())
}

/// Stdout collected by a thread; `so_far` shows progress.
pub struct Collected {
    bytes: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

pub fn collect(mut out: ChildStdout) -> Collected {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let sink = bytes.clone();
    let thread = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
            }
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

    /// Waits until at least `n` bytes arrived.
    pub fn wait_for(&self, n: usize) {
        wait_until(&format!("{n} bytes of output"), || self.so_far() >= n);
    }

    /// Everything, once the process has exited (its stdout is then closed).
    pub fn finish(self) -> Vec<u8> {
        self.thread.join().unwrap();
        Arc::try_unwrap(self.bytes).unwrap().into_inner().unwrap()
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
