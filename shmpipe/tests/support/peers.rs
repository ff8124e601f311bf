//! Helpers shared by the tests that run a peer process: unique names, how a peer finds a
//! segment (`posix:NAME`, `sysv:KEY`, `file:PATH`), re-executing the test binary as the peer,
//! and reaping it with a deadline.
#![allow(dead_code)] // each test binary uses its own subset

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use shmpipe::Segment;

/// A name no other test (or test process) uses: `PREFIX-PID-N`.
pub fn unique(prefix: &str) -> String {
    // The atomics ban (clippy.toml) is for ring code; this counter only makes names unique.
    #[allow(clippy::disallowed_types)]
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// How a peer finds `segment`: `posix:NAME`, `sysv:KEY` or `file:PATH`.
pub fn describe(segment: &Segment) -> String {
    match segment {
        Segment::Posix(name) => format!("posix:{name}"),
        Segment::SysV(shmpipe::SysvKey::Key(k)) => format!("sysv:{k}"),
        Segment::File(path) => format!("file:{}", path.display()),
        other => panic!("unsupported in tests: {other:?}"),
    }
}

/// The segment a `describe` string names.
pub fn parse(spec: &str) -> Segment {
    let (kind, rest) = spec.split_once(':').expect("kind:rest");
    match kind {
        "posix" => Segment::posix(rest),
        "sysv" => Segment::sysv_key(rest.parse().unwrap()),
        "file" => Segment::file(rest),
        other => panic!("unknown segment kind {other}"),
    }
}

/// Starts this test binary again, running only its `peer_main` test, with `var` set to the
/// task's words; the peer's stdout is piped (for a "ready" line), its stderr inherited.
pub fn spawn_peer(var: &str, task: &[impl AsRef<str>]) -> Child {
    let words: Vec<&str> = task.iter().map(AsRef::as_ref).collect();
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "peer_main",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(var, words.join(" "))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn peer")
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
