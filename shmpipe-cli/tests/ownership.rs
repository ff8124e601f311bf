//! Ownership the kernel vouches for, tried as a user would (issue 9): the real binary, peers
//! in other PID namespaces (`unshare`, as root), `kill -9` and `SIGSTOP`, never clobbering
//! what is not a stale ring, racing replacements, a slow creator, a sparse ring on a full
//! tmpfs. A test that needs what the kernel refuses here (no user namespaces, no root) says so
//! on stderr and passes without checking; CI runs as root, where every one runs.
#![cfg(not(loom))]

mod support;

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use shmpipe::{RingOptions, Segment};
use support::{
    assert_exit_0, assert_streamed, collect, feed, posix_path, posix_ring, run, sysv_id,
    sysv_segments, unique, wait_for_header, wait_for_writer, wait_until, Name, Proc, BIN,
};

/// `seq 1 N` as bytes.
fn seq(n: u32) -> Vec<u8> {
    (1..=n)
        .map(|i| format!("{i}\n"))
        .collect::<String>()
        .into_bytes()
}

/// Feeds `data` slowly (a chunk every 20 ms), so the stream lasts a while.
fn feed_slowly(mut proc_stdin: std::process::ChildStdin, data: Vec<u8>) -> JoinHandle<()> {
    thread::spawn(move || {
        for chunk in data.chunks(4096) {
            if proc_stdin.write_all(chunk).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Can this machine make PID namespaces (`unshare -p -f --mount-proc`)? Says why not.
fn namespaces() -> bool {
    let ok = Command::new("unshare")
        .args(["-p", "-f", "--mount-proc", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "skipped: `unshare -p -f --mount-proc` is refused here (needs root or user namespaces)"
        );
    }
    ok
}

/// `shmpipe ARGS` inside a new PID namespace (pid 1 there), with `--mount-proc` or without.
fn in_namespace(args: &[&str], mount_proc: bool, stdin: Stdio, stdout: Stdio) -> Proc {
    // --kill-child: the namespaced process dies with `unshare` (a test's `Proc` kills it).
    let mut all = vec!["-p", "-f", "--kill-child"];
    if mount_proc {
        all.push("--mount-proc");
    }
    all.push(BIN);
    all.extend_from_slice(args);
    Proc::spawn_program("unshare", &all, stdin, stdout)
}

/// The host pid of the process `unshare` (pid `parent`) forked into the namespace.
fn child_of(parent: u32) -> u32 {
    let mut found = 0;
    wait_until(&format!("a child of {parent}"), || {
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        found = children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        found != 0
    });
    found
}

/// Waits until `segment` has a live writer.
fn wait_for_live_writer(segment: &Segment) {
    wait_for_header(segment, "a live writer", |h| h.writer.alive);
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a process this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

#[test]
fn a_writer_in_another_pid_namespace_streams_to_a_host_reader() {
    if !namespaces() {
        return;
    }
    let (name, segment, _cleanup) = posix_ring("ns-writer");
    let data = seq(200_000);
    // A ring smaller than the data (1.6 MB), so the writer is still attached, blocked on a
    // full ring, when the host looks (the default 4M would take it all and close).
    let mut writer = in_namespace(
        &["write", &name, "--capacity", "1M"],
        true,
        Stdio::piped(),
        Stdio::null(),
    );
    let feeder = feed(writer.stdin(), data.clone());
    wait_for_live_writer(&segment);

    // From the host: alive, pid 1 of another namespace, and a second writer is refused
    // without touching the ring.
    let (end, text) = run(&["stat", &name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(
        text.contains("writer        attached, pid 1 in another PID namespace (alive)"),
        "{text}"
    );
    let mut second = Proc::write(&[&name]);
    drop(second.stdin());
    let refused = second.wait();
    assert_eq!(refused.code(), Some(1), "{}", refused.stderr);
    assert!(refused.stderr.contains("in use"), "{}", refused.stderr);

    let mut reader = Proc::read(&[&name]);
    let out = collect(reader.stdout());
    assert_streamed(&mut writer, &mut reader, feeder, out, &data);
}

#[test]
fn a_reader_in_another_pid_namespace_reads_from_a_host_writer() {
    if !namespaces() {
        return;
    }
    let (name, _, _cleanup) = posix_ring("ns-reader");
    let data = seq(200_000);
    let mut reader = in_namespace(&["read", &name], true, Stdio::null(), Stdio::piped());
    let out = collect(reader.stdout());
    let mut writer = Proc::write(&[&name]);
    let feeder = feed(writer.stdin(), data.clone());
    assert_streamed(&mut writer, &mut reader, feeder, out, &data);
}

/// `kill -9` of a writer in a PID namespace without its own /proc: the host reader delivers
/// what was written, then says the writer died, promptly.
#[test]
fn kill_9_of_a_namespaced_writer_is_seen_by_the_host_reader() {
    if !namespaces() {
        return;
    }
    let (name, segment, _cleanup) = posix_ring("ns-kill-w");
    let mut writer = in_namespace(&["write", &name], false, Stdio::piped(), Stdio::null());
    let mut stdin = writer.stdin();
    stdin.write_all(b"committed before the kill\n").unwrap();
    wait_for_live_writer(&segment);
    let host_pid = child_of(writer.pid());
    let mut reader = Proc::read(&[&name]);
    let out = collect(reader.stdout());
    out.wait_for(26);
    signal(host_pid, libc::SIGKILL);
    let killed = Instant::now();
    let r = reader.wait();
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "the death took {:?} to be seen",
        killed.elapsed()
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("died"), "{}", r.stderr);
    assert_eq!(out.finish(), b"committed before the kill\n");
    drop(stdin);
}

/// `kill -9` of a reader in a PID namespace: the host writer fails naming the death.
#[test]
fn kill_9_of_a_namespaced_reader_fails_the_host_writer() {
    if !namespaces() {
        return;
    }
    let (name, segment, _cleanup) = posix_ring("ns-kill-r");
    let mut writer = Proc::write(&[&name, "--capacity", "64K"]);
    let feeder = feed_slowly(writer.stdin(), seq(2_000_000));
    wait_for_live_writer(&segment);
    let mut reader = in_namespace(&["read", &name], false, Stdio::null(), Stdio::piped());
    let out = collect(reader.stdout());
    out.wait_for(1);
    let host_pid = child_of(reader.pid());
    signal(host_pid, libc::SIGKILL);
    let w = writer.wait();
    assert_eq!(w.code(), Some(1), "{}", w.stderr);
    assert!(w.stderr.contains("died"), "{}", w.stderr);
    drop(reader);
    drop(feeder);
}

/// `SIGSTOP` for ten seconds is not death, on either side; after `SIGCONT` the stream ends
/// normally.
#[test]
fn a_stopped_peer_is_not_dead() {
    let stop_writer = thread::spawn(|| stopped(true));
    stopped(false);
    stop_writer.join().unwrap();
}

fn stopped(writer_side: bool) {
    let (name, segment, _cleanup) = posix_ring(if writer_side { "stop-w" } else { "stop-r" });
    let data = seq(60_000);
    let mut writer = Proc::write(&[&name, "--capacity", "64K"]);
    let feeder = feed_slowly(writer.stdin(), data.clone());
    wait_for_live_writer(&segment);
    let mut reader = Proc::read(&[&name]);
    let out = collect(reader.stdout());
    out.wait_for(1);
    let stopped = if writer_side {
        writer.pid()
    } else {
        reader.pid()
    };
    signal(stopped, libc::SIGSTOP);
    thread::sleep(Duration::from_secs(10));
    assert!(
        writer.running() && reader.running(),
        "a side gave up on a stopped peer"
    );
    signal(stopped, libc::SIGCONT);
    assert_streamed(&mut writer, &mut reader, feeder, out, &data);
}

/// What `write` must never destroy: each is refused at once, with a line naming what is there,
/// and left exactly as it was.
#[test]
fn write_never_clobbers_what_is_not_a_stale_ring() {
    let dir = PathBuf::from(format!("/tmp/{}", unique("clobber")));
    std::fs::create_dir_all(&dir).unwrap();
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, b"26 bytes of somebody's notes").unwrap();
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").unwrap();
    let image = dir.join("disk.img");
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let real = dir.join("real");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::write(real.join("file"), b"behind a directory symlink").unwrap();
    std::os::unix::fs::symlink(&real, dir.join("dir-symlink")).unwrap();
    let dangling = dir.join("dangling");
    std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
    let sem = unique("sem");
    std::fs::write(posix_path(&sem), [7u8; 32]).unwrap();
    let _sem = Name(Segment::posix(&sem));
    let blank = unique("blank");
    std::fs::write(posix_path(&blank), b"").unwrap();
    let _blank = Name(Segment::posix(&blank));

    let mut cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![notes.display().to_string()],
            "too short to be a shmpipe segment",
        ),
        (vec![empty.display().to_string()], "0 bytes long"),
        (vec![image.display().to_string()], "no ring header"),
        (
            vec![dir.join("dir-symlink/file").display().to_string()],
            "too short to be a shmpipe segment",
        ),
        (vec![dangling.display().to_string()], "symbolic link"),
        (vec![sem.clone()], "32 bytes long"),
        (vec![blank.clone()], "0 bytes long"),
    ];
    let ipc = ipcmk();
    // Removed when the test ends, passed or not.
    let _ipc_cleanup = ipc.clone().map(IpcRm);
    if let Some(key) = &ipc {
        cases.push((
            vec![key.clone(), "--backend".into(), "sysv".into()],
            "no ring header",
        ));
    }
    let snapshot = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut all: Vec<_> = walk(dir);
        for name in [&sem, &blank] {
            all.push((posix_path(name), std::fs::read(posix_path(name)).unwrap()));
        }
        all
    };
    let before = snapshot(&dir);
    for (args, words) in &cases {
        let mut argv = vec!["write"];
        argv.extend(args.iter().map(String::as_str));
        let mut proc = Proc::spawn(&argv, Stdio::piped(), Stdio::null());
        // The writer may have refused (and exited) before reading it: a closed pipe is fine.
        let _ = proc.stdin().write_all(b"x\n");
        let start = Instant::now();
        let end = proc.wait();
        assert_eq!(end.code(), Some(1), "{args:?}: {}", end.stderr);
        assert_eq!(end.lines().len(), 1, "{args:?}: {}", end.stderr);
        assert!(end.stderr.contains(words), "{args:?}: {}", end.stderr);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{args:?} took {:?}",
            start.elapsed()
        );
    }
    assert!(snapshot(&dir) == before, "something was changed");
    assert!(
        std::fs::symlink_metadata(&dangling).is_ok(),
        "the dangling link went"
    );
    if let Some(key) = ipc {
        assert!(sysv_id_of(&key).is_some(), "the ipcmk segment is gone");
    } else {
        eprintln!("skipped the System V case: ipcmk failed");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file under `dir` (not following symlinks) and its bytes.
fn walk(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(walk(&path));
        } else if meta.is_file() {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        } else {
            out.push((
                path.clone(),
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            ));
        }
    }
    out.sort();
    out
}

/// Removes the System V segment with this key (`0x...`) when dropped.
struct IpcRm(String);

impl Drop for IpcRm {
    fn drop(&mut self) {
        if let Some(id) = sysv_id_of(&self.0) {
            let _ = Command::new("ipcrm").args(["-m", &id.to_string()]).status();
        }
    }
}

/// A System V segment made by `ipcmk -M 4096`: its key, as `0x...`.
fn ipcmk() -> Option<String> {
    let out = Command::new("ipcmk").args(["-M", "4096"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let id: i32 = text.split_whitespace().last()?.parse().ok()?;
    let (key, _) = sysv_segments().into_iter().find(|&(_, i)| i == id)?;
    Some(format!("{:#x}", key as u32))
}

/// The id of the System V segment with this key (`0x...`), if it exists.
fn sysv_id_of(key: &str) -> Option<i32> {
    sysv_id(i64::from_str_radix(key.trim_start_matches("0x"), 16).ok()? as i32)
}

/// A stale ring under `name`: created, its writer aborted (as a crash leaves it), nobody has it
/// open any more.
fn make_stale(name: &str) {
    let ring = RingOptions::new()
        .capacity(4096)
        .create(&Segment::posix(name))
        .unwrap();
    let mut writer = ring.writer().unwrap();
    writer.send(b"left by a crash").unwrap();
    writer.abort();
}

/// Two `write`s racing to replace the same stale ring, fifty times: exactly one replaces it
/// and streams to the reader, the other is refused with one line, nobody hangs.
#[test]
fn racing_writers_replace_a_stale_ring_exactly_once() {
    for trial in 0..50 {
        let (name, _, _cleanup) = posix_ring("race");
        make_stale(&name);
        let mut a = Proc::write(&[&name]);
        let mut b = Proc::write(&[&name]);
        let fa = feed(a.stdin(), b"from a".to_vec());
        let fb = feed(b.stdin(), b"from b".to_vec());
        // Whoever won waits for a reader: read its stream (once it is there: a reader that
        // came first would open the stale ring itself, and keep it from being replaced).
        let pids = [Some(a.pid()), Some(b.pid())];
        wait_for_header(&Segment::posix(&name), "the winner's ring", |h| {
            pids.contains(&h.writer.pid)
        });
        let (r, out) = run(&["read", &name, "--timeout", "20"]);
        // On a loaded machine the slower writer may try only after the winner's stream was
        // read and its name removed: it then creates a fresh ring (no notice) and waits for
        // a reader, as a FIFO's writer does. Read that one too. Nobody may hang.
        let mut second = None;
        let t0 = Instant::now();
        while a.running() || b.running() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "trial {trial}: a writer still runs 20 s after the reader finished"
            );
            let waiting = shmpipe::inspect(&Segment::posix(&name))
                .ok()
                .and_then(|found| found.header)
                .and_then(|h| h.writer.pid);
            let running: Vec<u32> = [&mut a, &mut b]
                .into_iter()
                .filter_map(|p| p.running().then(|| p.pid()))
                .collect();
            if waiting.is_some_and(|pid| running.contains(&pid)) {
                second = Some(run(&["read", &name, "--timeout", "20"]));
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        let (ea, eb) = (a.wait(), b.wait());
        fa.join().unwrap();
        fb.join().unwrap();
        let notices = [&ea, &eb]
            .iter()
            .filter(|e| e.stderr.contains("replaced a stale ring"))
            .count();
        assert_eq!(notices, 1, "trial {trial}: {} / {}", ea.stderr, eb.stderr);
        let (won, lost) = if ea.stderr.contains("replaced a stale ring") {
            (&ea, &eb)
        } else {
            (&eb, &ea)
        };
        assert_eq!(won.code(), Some(0), "trial {trial}: {}", won.stderr);
        match &second {
            None => {
                assert_eq!(lost.code(), Some(1), "trial {trial}: {}", lost.stderr);
                assert_eq!(lost.lines().len(), 1, "trial {trial}: {}", lost.stderr);
            }
            Some((r2, out2)) => {
                assert_eq!(
                    (lost.code(), r2.code()),
                    (Some(0), Some(0)),
                    "trial {trial}"
                );
                assert!(lost.stderr.is_empty(), "trial {trial}: {}", lost.stderr);
                assert!(
                    out2 == "from a" || out2 == "from b",
                    "trial {trial}: {out2:?}"
                );
            }
        }
        assert_eq!(r.code(), Some(0), "trial {trial}: {}", r.stderr);
        assert!(
            out == "from a" || out == "from b",
            "trial {trial}: read {out:?}"
        );
    }
}

/// A creator that takes its time (a large ring being reserved) holds the segment open while
/// its header is still zero: a second writer refuses it at once and removes nothing, and a
/// reader waits for it instead of calling it dead. Once the creator is gone without finishing,
/// the reader says so at once and a writer replaces it.
#[test]
fn a_slow_creation_is_never_taken_for_stale() {
    let (name, _, _cleanup) = posix_ring("slow");
    let path = posix_path(&name);
    // What a slow creator looks like: created exclusively, presence lock taken, sized, the
    // magic and version written, the init word still 0.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    presence_lock(&file);
    file.set_len(4096 + 4096).unwrap();
    file.write_all_at(b"SHMPIPE\0", 0).unwrap();
    file.write_all_at(&shmpipe::LAYOUT_VERSION.to_ne_bytes(), 8)
        .unwrap();

    let mut w = Proc::write(&[&name]);
    drop(w.stdin());
    let start = Instant::now();
    let refused = w.wait();
    assert_eq!(refused.code(), Some(1), "{}", refused.stderr);
    assert!(refused.stderr.contains("in use"), "{}", refused.stderr);
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(path.exists(), "the slow creator's segment was removed");
    let (r, _) = run(&["read", &name, "--timeout", "1"]);
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("not finished initialising"),
        "{}",
        r.stderr
    );

    // The creator dies without finishing.
    drop(file);
    let (r, _) = run(&["read", &name, "--timeout", "5"]);
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("creator is gone"), "{}", r.stderr);
    let mut w = Proc::write(&[&name]);
    let f = feed(w.stdin(), b"fresh".to_vec());
    // Read once the new ring is there: a reader that came first would find the abandoned
    // segment and give up at once, leaving the writer waiting for a reader.
    wait_for_writer(&Segment::posix(&name), w.pid());
    let (r, out) = run(&["read", &name, "--timeout", "20"]);
    let w = w.wait();
    f.join().unwrap();
    assert_exit_0(&[&w, &r]);
    assert!(w.stderr.contains("replaced a stale ring"), "{}", w.stderr);
    assert_eq!(out, "fresh");
}

/// The presence read lock a creator takes (see docs/LAYOUT.md).
fn presence_lock(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: `flock` is a plain C struct; all-zero is a valid value of it.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_RDLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 1;
    // SAFETY: a valid fd and a valid flock for the call.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

/// A ring whose pages were punched out of a tmpfs that is then filled: opening it for reading
/// fails with a clear line (its backing cannot be reserved), never a `SIGBUS`. In a private
/// mount namespace with a 1 MiB tmpfs (as root).
#[test]
fn a_sparse_ring_on_a_full_tmpfs_is_refused_not_a_sigbus() {
    let dir = format!("/tmp/{}", unique("tmpfs"));
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        r#"set -e
mount -t tmpfs -o size=1M shmpipe-test "{dir}"
echo hello | "{BIN}" write "{dir}/ring" --capacity 256K &
writer=$!
while [ ! -s "{dir}/ring" ]; do sleep 0.01; done
sleep 0.2
fallocate --punch-hole --offset 8192 --length 253952 "{dir}/ring"
dd if=/dev/zero of="{dir}/fill" bs=4096 2>/dev/null || true
set +e
"{BIN}" read "{dir}/ring" --timeout 5
echo "read exit $?"
kill $writer 2>/dev/null
wait $writer 2>/dev/null
true
"#
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("mount") {
        eprintln!("skipped: cannot mount a private tmpfs here: {stderr}");
        return;
    }
    assert!(
        stdout.contains("read exit 1"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains("not all backed by memory"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
}

/// Kills of namespaced peers at random moments (twenty, alternating sides): the survivor on
/// the host always ends, within seconds, with exit 1 naming the death, and what the reader
/// printed is a prefix of what was written.
#[test]
fn crash_campaign_with_namespaced_peers() {
    if !namespaces() {
        return;
    }
    let data = seq(2_000_000);
    let mut seed = std::process::id() as u64 | 1;
    for round in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(5 + seed % 200);
        let (name, _, _cleanup) = posix_ring("ns-crash");
        let kill_writer = round % 2 == 0;
        let (mut writer, mut reader) = if kill_writer {
            (
                in_namespace(
                    &["write", &name, "--capacity", "64K"],
                    round % 4 == 0,
                    Stdio::piped(),
                    Stdio::null(),
                ),
                Proc::read(&[&name]),
            )
        } else {
            (
                Proc::write(&[&name, "--capacity", "64K"]),
                in_namespace(
                    &["read", &name],
                    round % 4 == 1,
                    Stdio::null(),
                    Stdio::piped(),
                ),
            )
        };
        let feeder = feed_slowly(writer.stdin(), data.clone());
        let out = collect(reader.stdout());
        out.wait_for(1);
        thread::sleep(delay);
        let victim = if kill_writer {
            child_of(writer.pid())
        } else {
            child_of(reader.pid())
        };
        signal(victim, libc::SIGKILL);
        let killed = Instant::now();
        let survivor = if kill_writer {
            reader.wait()
        } else {
            writer.wait()
        };
        assert!(
            killed.elapsed() < Duration::from_secs(3),
            "round {round}: the survivor took {:?}",
            killed.elapsed()
        );
        assert_eq!(
            survivor.code(),
            Some(1),
            "round {round}: {}",
            survivor.stderr
        );
        assert!(
            survivor.stderr.contains("died"),
            "round {round}: {}",
            survivor.stderr
        );
        drop((writer, reader));
        let got = out.finish();
        assert!(
            data.starts_with(&got),
            "round {round}: the reader printed something never written"
        );
        drop(feeder);
    }
}

/// A file ring truncated under a live stream: the writer says the ring's memory is gone (not
/// "stdin failed") or dies of it, and the reader never exits 0 as if the stream had ended.
/// (The reader may itself be killed by `SIGBUS`: truncation by a live peer after open is the
/// residual risk SECURITY.md names.)
#[test]
fn a_file_ring_truncated_under_a_stream_never_looks_complete() {
    let path = format!("/dev/shm/{}", unique("truncated"));
    let _cleanup = Name(Segment::file(&path));
    let mut writer = Proc::write(&[&path, "--capacity", "1M"]);
    let feeder = feed_slowly(writer.stdin(), seq(2_000_000));
    // The hostile peer opens the file before the name goes (once both sides attach).
    wait_for_live_writer(&Segment::file(&path));
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let mut reader = Proc::read(&[&path]);
    let out = collect(reader.stdout());
    out.wait_for(100_000);
    file.set_len(4096 + (1 << 19)).unwrap();
    let (w, r) = (writer.wait(), reader.wait());
    drop(feeder);
    assert_ne!(w.code(), Some(0), "the writer went on: {}", w.stderr);
    if w.code() == Some(1) {
        assert!(w.stderr.contains("no longer backed"), "{}", w.stderr);
        assert!(!w.stderr.contains("stdin"), "{}", w.stderr);
    }
    assert_ne!(
        r.code(),
        Some(0),
        "the reader took a cut stream for a whole one"
    );
    let _ = out.finish();
}

/// Peers without `/proc` (a mount namespace where it is unmounted, as in a bare chroot): the
/// roles are still held by file locks (a role's own description is opened by the ring's name
/// instead of through `/proc/self/fd`), so the stream is whole, both ways, and nobody is
/// declared dead.
#[test]
fn peers_without_proc_stream_whole() {
    let probe = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "umount -l /proc",
        ])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot unmount /proc in a private mount namespace here");
        return;
    }
    for without_proc in ["write", "read"] {
        let (name, _, _cleanup) = posix_ring("noproc");
        let data = seq(100_000);
        let bare = |args: &str, stdin: Stdio, stdout: Stdio| {
            let script = format!("umount -l /proc && exec \"{BIN}\" {args}");
            Proc::spawn_program(
                "unshare",
                &["-m", "--propagation", "private", "sh", "-c", &script],
                stdin,
                stdout,
            )
        };
        let (mut writer, mut reader) = if without_proc == "write" {
            (
                bare(
                    &format!("write {name} --capacity 64K"),
                    Stdio::piped(),
                    Stdio::null(),
                ),
                Proc::read(&[&name]),
            )
        } else {
            (
                Proc::write(&[&name, "--capacity", "64K"]),
                bare(&format!("read {name}"), Stdio::null(), Stdio::piped()),
            )
        };
        let feeder = feed(writer.stdin(), data.clone());
        let out = collect(reader.stdout());
        let (w, r) = (writer.wait(), reader.wait());
        feeder.join().unwrap();
        assert_eq!(
            (w.code(), r.code()),
            (Some(0), Some(0)),
            "{without_proc} without /proc: {} / {}",
            w.stderr,
            r.stderr
        );
        assert!(
            out.finish() == data,
            "{without_proc} without /proc: the stream changed"
        );
    }
}
