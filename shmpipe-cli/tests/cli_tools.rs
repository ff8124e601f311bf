//! The shell user's tools, through the real binary: `ls`, `--progress` (to a terminal and to
//! a pipe), `stat --watch`, `completions`, `man`, JSON on every error path of `stat --json`
//! and `ls --json`, and the layout version in `--version`.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::Value;
use shmpipe::Segment;

mod support;

use support::{
    collect, poke, posix_path, posix_ring, run, sysv_id, unique, unique_key, wait_for_header,
    wait_for_writer, wait_until, Collected, Name, Proc,
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Removes a file or directory tree when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A fresh directory under the temporary directory, removed when dropped.
fn scratch_dir(tag: &str) -> Scratch {
    let dir = std::env::temp_dir().join(unique(tag));
    std::fs::create_dir(&dir).unwrap();
    Scratch(dir)
}

/// Waits until the ring's reader has attached.
fn wait_for_reader(segment: &Segment) {
    wait_for_header(segment, "a reader", |h| h.reader.pid.is_some());
}

/// Deterministic bytes that are not all alike.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Parses stdout as one JSON document.
fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// The element of an `ls --json` array named `name`.
fn entry<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array()
        .expect("ls --json prints an array")
        .iter()
        .find(|e| e["name"] == name)
}

/// Checks the JSON error object a `--json` command prints on a failure.
fn assert_json_error(args: &[&str], code: i32, name: Option<&str>) {
    let (end, out) = run(args);
    assert_eq!(end.code(), Some(code), "{args:?}: {}", end.stderr);
    assert_eq!(
        out.lines().count(),
        1,
        "{args:?}: one line on stdout: {out:?}"
    );
    let value = json(&out);
    let error = value["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "{args:?}: no error message in {out}");
    match name {
        Some(name) => assert_eq!(value["name"], name, "{args:?}: {out}"),
        None => assert!(value["name"].is_null(), "{args:?}: {out}"),
    }
    // The person at the terminal gets the same line on stderr.
    assert_eq!(end.lines().len(), 1, "{args:?}: {}", end.stderr);
    assert!(end.stderr.contains(error), "{args:?}: {}", end.stderr);
}

/// A pseudo-terminal: the master end to read, the slave end to give a child as its stderr.
/// Both are opened close-on-exec, so that children other tests start meanwhile do not
/// inherit them (and keep the terminal open after our child exits).
fn pty() -> (File, OwnedFd) {
    // SAFETY: posix_openpt only opens a new descriptor.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(
        master >= 0,
        "posix_openpt: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the descriptor was just opened and belongs to nobody else.
    let master = unsafe { File::from_raw_fd(master) };
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: grantpt and unlockpt act on our master descriptor; ptsname_r writes a
    // NUL-terminated name of at most `name.len()` bytes into `name`.
    unsafe {
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0);
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0);
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0
        );
    }
    // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated path.
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
    // SAFETY: `path` is a valid C string; open only returns a new descriptor.
    let slave = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    assert!(
        slave >= 0,
        "open {path:?}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the descriptor was just opened and belongs to nobody else.
    (master, unsafe { OwnedFd::from_raw_fd(slave) })
}

/// Starts `shmpipe ARGS` with its stderr on a new terminal; the screen (collected from the
/// terminal's master end) shows what it wrote there.
fn spawn_on_terminal(args: &[&str], stdin: Stdio, stdout: Stdio) -> (Proc, Collected) {
    let (master, slave) = pty();
    let proc = Proc::spawn_with_stderr(args, stdin, stdout, Stdio::from(slave));
    // Our copy of the slave end went into the Command, which is dropped: the child holds
    // the only one, so the screen ends (EIO) when the child exits.
    (proc, collect(master))
}

/// A file of `data` in a scratch directory, to give a process as its stdin.
fn input_file(dir: &Scratch, data: &[u8]) -> PathBuf {
    let path = dir.0.join("input");
    std::fs::write(&path, data).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// --version, completions, man

#[test]
fn version_names_the_layout_version() {
    let (end, out) = run(&["--version"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert_eq!(
        out.trim(),
        format!(
            "shmpipe {} (ring layout version {})",
            env!("CARGO_PKG_VERSION"),
            shmpipe::LAYOUT_VERSION
        )
    );
    let (end, out) = run(&["ls", "--version"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(out.contains("ring layout version"), "{out}");
}

#[test]
fn completions_are_printed_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (end, out) = run(&["completions", shell]);
        assert_eq!(end.code(), Some(0), "{shell}: {}", end.stderr);
        assert!(end.stderr.is_empty(), "{shell}: {}", end.stderr);
        for word in [
            "shmpipe",
            "write",
            "progress",
            "watch",
            "keep-name",
            "completions",
        ] {
            assert!(out.contains(word), "{shell}: {word:?} missing");
        }
    }
    let (end, _) = run(&["completions", "tcsh"]);
    assert_eq!(end.code(), Some(2));
    assert_eq!(end.lines().len(), 1, "{}", end.stderr);
}

#[test]
fn the_bash_completion_loads_and_completes_subcommands() {
    let (end, script) = run(&["completions", "bash"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let dir = scratch_dir("bash");
    let path = dir.0.join("shmpipe.bash");
    std::fs::write(&path, script).unwrap();
    // Source the script, then ask its function for the words after `shmpipe l`.
    let probe = format!(
        "source {}; COMP_WORDS=(shmpipe l); COMP_CWORD=1; COMP_LINE='shmpipe l'; COMP_POINT=9; \
         _shmpipe shmpipe l shmpipe; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let words = String::from_utf8_lossy(&out.stdout);
    assert_eq!(words.lines().collect::<Vec<_>>(), ["ls"], "{words}");
}

#[test]
fn man_prints_roff_pages_and_writes_them_all() {
    let (end, page) = run(&["man"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(page.contains(".TH shmpipe 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "{section} missing");
    }
    assert!(
        page.contains("ring layout version"),
        "the version is in the page"
    );
    let (end, page) = run(&["man", "write"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(page.contains(".TH shmpipe\\-write 1") || page.contains(".TH shmpipe-write 1"));
    assert!(
        page.contains("progress"),
        "write's page documents --progress"
    );
    let (end, out) = run(&["man", "bench-peer"]);
    assert_eq!(end.code(), Some(2), "the hidden subcommand has no page");
    assert!(out.is_empty() && end.lines().len() == 1, "{}", end.stderr);

    let dir = scratch_dir("man");
    let (end, _) = run(&["man", "--dir", &dir.0.display().to_string()]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let mut pages: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for expected in [
        "shmpipe.1",
        "shmpipe-write.1",
        "shmpipe-read.1",
        "shmpipe-stat.1",
        "shmpipe-ls.1",
        "shmpipe-rm.1",
    ] {
        assert!(
            pages.iter().any(|p| p == expected),
            "{expected} not in {pages:?}"
        );
    }
    assert!(!pages.iter().any(|p| p.contains("bench-peer")), "{pages:?}");
    let (end, _) = run(&["man", "--dir", "/nonexistent/shmpipe-man-dir"]);
    assert_eq!(end.code(), Some(1));
    assert_eq!(end.lines().len(), 1, "{}", end.stderr);
}

// ---------------------------------------------------------------------------------------------
// ls

/// A System V segment of another program: `size` bytes of `fill`, removed when dropped.
struct ForeignSysv {
    shmid: i32,
}

impl ForeignSysv {
    fn create(key: i32, fill: u8) -> ForeignSysv {
        // SAFETY: shmget only creates a segment; no memory is touched.
        let shmid = unsafe { libc::shmget(key, 8192, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
        assert!(shmid >= 0, "shmget: {}", std::io::Error::last_os_error());
        // SAFETY: attaching the segment just created, at an address the kernel picks.
        let addr = unsafe { libc::shmat(shmid, std::ptr::null(), 0) };
        assert_ne!(
            addr as isize,
            -1,
            "shmat: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: the segment is 8192 bytes, attached read-write at `addr` until the shmdt.
        unsafe {
            std::ptr::write_bytes(addr.cast::<u8>(), fill, 8192);
            libc::shmdt(addr);
        }
        ForeignSysv { shmid }
    }
}

impl Drop for ForeignSysv {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID on our own segment id; the null buffer is allowed for IPC_RMID.
        unsafe { libc::shmctl(self.shmid, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

#[test]
fn ls_lists_live_and_stale_rings_and_marks_the_rest_only_with_all() {
    // A live POSIX ring: its writer waits with 1000 bytes in it.
    let (live, live_segment, _live_cleanup) = posix_ring("live");
    let mut writer = Proc::write(&[&live, "--capacity", "64K"]);
    let mut stdin = writer.stdin();
    stdin.write_all(&[1; 1000]).unwrap();
    wait_for_header(&live_segment, "1000 bytes in the ring", |h| {
        h.writer.position >= 1000
    });

    // A stale one: its writer (and creator) killed outright.
    let (dead, dead_segment, _dead_cleanup) = posix_ring("dead");
    let mut victim = Proc::write(&[&dead, "--capacity", "16K"]);
    let _victim_stdin = victim.stdin();
    let victim_pid = victim.pid();
    wait_for_writer(&dead_segment, victim_pid);
    victim.signal(libc::SIGKILL);
    victim.wait();

    // A live System V ring.
    let key = unique_key();
    let key_name = format!("{:#010x}", key as u32);
    let _key_cleanup = Name(Segment::sysv_key(key));
    let mut sysv_writer = Proc::write(&[&key_name, "--backend", "sysv", "--capacity", "16K"]);
    let _sysv_stdin = sysv_writer.stdin();
    wait_for_writer(&Segment::sysv_key(key), sysv_writer.pid());

    // Objects of other programs: a POSIX object, a blank one, a System V segment.
    let (foreign, _, _foreign_cleanup) = posix_ring("foreign");
    std::fs::write(posix_path(&foreign), vec![b'x'; 8192]).unwrap();
    let (blank, _, _blank_cleanup) = posix_ring("blank");
    std::fs::write(posix_path(&blank), vec![0; 8192]).unwrap();
    let foreign_key = unique_key();
    let _foreign_sysv = ForeignSysv::create(foreign_key, 0xab);
    let foreign_key_name = format!("{:#010x}", foreign_key as u32);

    let dead_before = std::fs::read(posix_path(&dead)).unwrap();

    let (end, out) = run(&["ls", "--json"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let list = json(&out);
    let e = entry(&list, &live).unwrap_or_else(|| panic!("{live} missing from {out}"));
    assert_eq!(e["backend"], "posix");
    assert_eq!(e["ring"], true);
    assert_eq!(e["status"], "live");
    assert_eq!(e["stale"], false);
    assert_eq!(e["capacity"], 65536);
    assert_eq!(e["used"], 1008, "1000 bytes and their 8-byte record header");
    assert_eq!(e["writer"]["state"], "alive");
    assert_eq!(e["writer"]["pid"], writer.pid());
    assert_eq!(e["reader"]["state"], "vacant");
    assert!(e["age_secs"].as_f64().is_some_and(|a| a < 600.0), "{e}");

    let e = entry(&list, &dead).unwrap_or_else(|| panic!("{dead} missing from {out}"));
    assert_eq!(e["status"], "stale");
    assert_eq!(e["stale"], true);
    assert_eq!(e["writer"]["state"], "dead");
    assert_eq!(e["writer"]["pid"], victim_pid);
    assert_eq!(e["creator"]["alive"], false);

    let e = entry(&list, &key_name).unwrap_or_else(|| panic!("{key_name} missing from {out}"));
    assert_eq!(e["backend"], "sysv");
    assert_eq!(e["status"], "live");
    assert_eq!(e["capacity"], 16384);

    for other in [&foreign, &blank, &foreign_key_name] {
        assert!(
            entry(&list, other).is_none(),
            "{other} listed without --all"
        );
    }

    let (end, out) = run(&["ls", "--json", "--all"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let list = json(&out);
    for (other, status) in [
        (&foreign, "not a ring"),
        (&blank, "blank"),
        (&foreign_key_name, "not a ring"),
    ] {
        let e = entry(&list, other).unwrap_or_else(|| panic!("{other} missing from {out}"));
        assert_eq!(e["ring"], false, "{e}");
        assert_eq!(e["status"], status, "{e}");
        assert_eq!(e["stale"], false, "{e}");
    }
    assert!(entry(&list, &live).is_some() && entry(&list, &dead).is_some());

    // The text listing: a header, one line per ring, the stale one marked, a hint on stderr.
    let (end, out) = run(&["ls"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let header = out.lines().next().unwrap_or_default();
    for column in [
        "NAME", "BACKEND", "CAPACITY", "USED", "WRITER", "READER", "AGE", "STATUS",
    ] {
        assert!(header.contains(column), "{column} missing from {header:?}");
    }
    let line = line_of_in(&out, &live);
    assert!(line.contains("64.0 KiB") && line.contains(&format!("alive {}", writer.pid())));
    assert!(line.ends_with("live"), "{line}");
    let line = line_of_in(&out, &dead);
    assert!(
        line.contains(&format!("dead {victim_pid}")) && line.ends_with("stale"),
        "{line}"
    );
    assert!(!out.contains(&foreign), "{out}");
    assert!(end.stderr.contains("stale ring") && end.stderr.contains("shmpipe rm"));
    let (_, out) = run(&["ls", "--all"]);
    assert!(line_of_in(&out, &foreign).ends_with("not a ring"), "{out}");

    // Nothing was changed: the stale ring is byte for byte the same, the foreign object too,
    // and the live writer still delivers to a reader.
    assert_eq!(std::fs::read(posix_path(&dead)).unwrap(), dead_before);
    assert_eq!(
        std::fs::read(posix_path(&foreign)).unwrap(),
        vec![b'x'; 8192]
    );
    drop(stdin);
    let (end, out) = run(&["read", &live]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert_eq!(out.len(), 1000);
    assert_eq!(writer.wait().code(), Some(0));

    // `rm` cleans up the stale ring, as marked.
    let (end, _) = run(&["rm", &dead]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(!posix_path(&dead).exists());
    drop(sysv_writer);
}

fn line_of_in(out: &str, name: &str) -> String {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} missing from:\n{out}"))
        .to_owned()
}

#[test]
fn ls_lists_file_rings_in_a_directory_and_named_operands() {
    let dir = scratch_dir("ls-dir");
    let ring_path = dir.0.join("x.ring");
    let ring = ring_path.display().to_string();
    let mut writer = Proc::write(&[&ring, "--capacity", "4K"]);
    let stdin = writer.stdin();
    wait_for_writer(&Segment::file(&ring_path), writer.pid());
    let other = dir.0.join("notes.txt");
    std::fs::write(&other, "not a ring at all").unwrap();
    let other = other.display().to_string();
    let dir_name = dir.0.display().to_string();

    let (end, out) = run(&["ls", "--json", &dir_name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let list = json(&out);
    assert_eq!(list.as_array().unwrap().len(), 1, "{out}");
    let e = entry(&list, &ring).unwrap_or_else(|| panic!("{ring} missing from {out}"));
    assert_eq!(e["backend"], "file");
    assert_eq!(e["status"], "live");
    assert_eq!(e["capacity"], 4096);

    let (end, out) = run(&["ls", "--json", "--all", &dir_name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let list = json(&out);
    assert_eq!(
        entry(&list, &other).unwrap()["status"],
        "not a ring",
        "{out}"
    );

    // Named operands are shown whatever they are: that is what was asked.
    let (end, out) = run(&["ls", &ring, &other]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(line_of_in(&out, &ring).ends_with("live"), "{out}");
    assert!(line_of_in(&out, &other).ends_with("not a ring"), "{out}");

    drop(stdin);
    let (end, _) = run(&["read", &ring]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert_eq!(writer.wait().code(), Some(0));
}

#[test]
fn ls_json_reports_every_failure_as_json() {
    let missing = std::env::temp_dir().join(unique("missing")).join("x.ring");
    let missing = missing.display().to_string();
    let gone = unique("gone");
    let (end, out) = run(&["ls", "--json", &missing, &gone]);
    assert_eq!(end.code(), Some(1), "{}", end.stderr);
    let list = json(&out);
    for name in [&missing, &gone] {
        let e = entry(&list, name).unwrap_or_else(|| panic!("{name} missing from {out}"));
        assert!(
            e["error"]
                .as_str()
                .is_some_and(|m| m.contains("does not exist")),
            "{e}"
        );
    }
    // In text, one line on stderr per operand that failed, exit 1.
    let (end, out) = run(&["ls", &missing]);
    assert_eq!(end.code(), Some(1));
    assert!(out.is_empty(), "{out}");
    assert_eq!(end.lines().len(), 1, "{}", end.stderr);

    assert_json_error(&["ls", "--json", "a/"], 2, Some("a/"));
    assert_json_error(&["ls", "--json", "--bogus"], 2, None);
}

#[test]
fn stat_json_reports_every_failure_as_json() {
    let missing = unique("missing");
    assert_json_error(&["stat", "--json", &missing], 1, Some(&missing));
    assert_json_error(&["stat", "--json", &missing, "--watch"], 1, Some(&missing));
    assert_json_error(
        &["stat", "--json", "a/b", "--backend", "posix"],
        2,
        Some("a/b"),
    );
    assert_json_error(&["stat", "--json", "0", "--backend", "sysv"], 2, Some("0"));
    assert_json_error(&["stat", "--json", &missing, "--bogus"], 2, None);
    assert_json_error(&["stat", "--json", &missing, "--interval", "1"], 2, None);
    assert_json_error(
        &["stat", "--json", &missing, "--watch", "--interval", "0"],
        2,
        None,
    );
    // A segment that is not a ring is described by `stat`, but cannot be watched.
    let (foreign, _, _cleanup) = posix_ring("foreign");
    std::fs::write(posix_path(&foreign), vec![b'x'; 8192]).unwrap();
    let (end, out) = run(&["stat", "--json", &foreign]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert_eq!(json(&out)["status"], "not a shmpipe segment");
    assert_json_error(&["stat", "--json", "--watch", &foreign], 1, Some(&foreign));
}

// ---------------------------------------------------------------------------------------------
// --progress

#[test]
fn progress_is_off_on_a_pipe_unless_asked_and_never_touches_stdout() {
    let data = pattern(3 << 20);
    let dir = scratch_dir("pipe");
    let input = input_file(&dir, &data);
    for (flags, shown) in [(&[][..], false), (&["--progress"][..], true)] {
        let (name, _, _cleanup) = posix_ring("pipe");
        let mut write_args = vec!["write", &name, "--capacity", "64K"];
        write_args.extend(flags);
        let mut writer = Proc::spawn(
            &write_args,
            Stdio::from(File::open(&input).unwrap()),
            Stdio::piped(),
        );
        let writer_out = collect(writer.stdout());
        wait_for_writer(&Segment::posix(&name), writer.pid());
        if shown {
            wait_until("a progress line on the writer's stderr", || {
                writer.stderr_so_far().contains("ring 100%")
            });
        } else {
            // Past a few redraw intervals, with the writer held by the full ring.
            thread::sleep(Duration::from_millis(700));
        }
        let mut read_args = vec!["read", &name];
        read_args.extend(flags);
        let mut reader = Proc::spawn(&read_args, Stdio::null(), Stdio::piped());
        let out = collect(reader.stdout());
        let read_end = reader.wait();
        let write_end = writer.wait();
        assert_eq!(read_end.code(), Some(0), "{}", read_end.stderr);
        assert_eq!(write_end.code(), Some(0), "{}", write_end.stderr);
        assert!(
            out.finish() == data,
            "read's stdout is exactly the data ({flags:?})"
        );
        assert!(
            writer_out.finish().is_empty(),
            "write prints nothing on stdout"
        );
        if !shown {
            assert!(write_end.stderr.is_empty(), "{:?}", write_end.stderr);
            assert!(read_end.stderr.is_empty(), "{:?}", read_end.stderr);
            continue;
        }
        let total = data.len();
        assert!(
            write_end.stderr.starts_with('\r') && write_end.stderr.contains("ring 100%"),
            "{:?}",
            write_end.stderr
        );
        assert!(write_end.stderr.contains("ETA"), "{:?}", write_end.stderr);
        assert!(
            write_end
                .stderr
                .contains(&format!("shmpipe: wrote {total} bytes (3.00 MiB) in ")),
            "{:?}",
            write_end.stderr
        );
        assert!(write_end.stderr.ends_with("/s\n"), "{:?}", write_end.stderr);
        assert!(
            read_end
                .stderr
                .contains(&format!("shmpipe: read {total} bytes (3.00 MiB) in ")),
            "{:?}",
            read_end.stderr
        );
        assert_eq!(read_end.stderr.matches('\n').count(), 1, "one summary line");
    }
}

#[test]
fn progress_is_on_by_default_on_a_terminal_with_eta_for_a_file() {
    let data = pattern(2 << 20);
    let dir = scratch_dir("tty");
    let input = input_file(&dir, &data);
    let (name, segment, _cleanup) = posix_ring("tty");
    let (mut writer, screen) = spawn_on_terminal(
        &["write", &name, "--capacity", "64K"],
        Stdio::from(File::open(&input).unwrap()),
        Stdio::null(),
    );
    wait_for_writer(&segment, writer.pid());
    // The ring is full and no reader has come: the line is redrawn while the writer waits.
    wait_until("a progress line with an ETA on the terminal", || {
        let text = screen.text_so_far();
        text.contains("ring 100%") && text.contains("ETA")
    });
    let (mut reader, reader_screen) =
        spawn_on_terminal(&["read", &name], Stdio::null(), Stdio::piped());
    let out = collect(reader.stdout());
    assert!(reader.wait().status.success());
    assert!(writer.wait().status.success());
    assert!(out.finish() == data);
    let shown = screen.text();
    let first = shown.split('\r').nth(1).unwrap_or_default();
    // `64.0 KiB 3%  ...  ring 100%  0:00  ETA ...`: bytes, percentage, rate, fill, elapsed.
    assert!(first.contains("KiB") && first.contains('%'), "{shown:?}");
    assert!(
        shown.contains(&format!("shmpipe: wrote {} bytes (2.00 MiB)", data.len())),
        "{shown:?}"
    );
    let shown = reader_screen.text();
    assert!(
        shown.contains(&format!("shmpipe: read {} bytes (2.00 MiB)", data.len())),
        "{shown:?}"
    );
}

#[test]
fn no_progress_keeps_a_terminal_quiet() {
    let (name, segment, _cleanup) = posix_ring("quiet");
    let (mut writer, screen) = spawn_on_terminal(
        &["write", &name, "--capacity", "16K", "--no-progress"],
        Stdio::piped(),
        Stdio::null(),
    );
    let mut stdin = writer.stdin();
    // Less than the ring holds: the writer is not blocked, just waiting for more input.
    stdin.write_all(&[5; 10_000]).unwrap();
    wait_for_writer(&segment, writer.pid());
    // Several redraw intervals pass.
    thread::sleep(Duration::from_millis(800));
    let (mut reader, reader_screen) = spawn_on_terminal(
        &["read", &name, "--progress", "--no-progress"],
        Stdio::null(),
        Stdio::piped(),
    );
    let out = collect(reader.stdout());
    drop(stdin);
    assert!(reader.wait().status.success());
    assert!(writer.wait().status.success());
    assert_eq!(out.finish().len(), 10_000);
    assert_eq!(screen.text(), "");
    assert_eq!(reader_screen.text(), "", "the last of the two flags wins");
}

// ---------------------------------------------------------------------------------------------
// stat --watch and write --keep-name

#[test]
fn stat_watch_follows_a_stream_to_its_end() {
    let (name, segment, _cleanup) = posix_ring("watch");
    let mut writer = Proc::write(&[&name, "--capacity", "64K"]);
    let stdin = writer.stdin();
    wait_for_writer(&segment, writer.pid());
    let mut watch = Proc::spawn(
        &["stat", &name, "--watch", "--interval", "0.05", "--json"],
        Stdio::null(),
        Stdio::piped(),
    );
    let lines = collect(watch.stdout());
    lines.wait_for(1);
    let mut reader = Proc::read(&[&name]);
    let out = collect(reader.stdout());
    // Once both sides have attached the name goes; the watch keeps its mapping.
    wait_until("the reader to attach and the name to go", || {
        !posix_path(&name).exists()
    });
    let data = pattern(8 << 20);
    // In bursts with pauses, so that the watch sees the stream under way.
    let feeder = thread::spawn(move || {
        let mut stdin = stdin;
        for chunk in data.chunks(512 << 10) {
            stdin.write_all(chunk).unwrap();
            thread::sleep(Duration::from_millis(40));
        }
    });
    feeder.join().unwrap();
    assert_eq!(writer.wait().code(), Some(0));
    assert_eq!(reader.wait().code(), Some(0));
    assert_eq!(out.finish().len(), 8 << 20);
    let end = watch.wait();
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let text = String::from_utf8(lines.finish()).unwrap();
    let samples: Vec<Value> = text.lines().map(json).collect();
    assert!(samples.len() >= 2, "{text}");
    let mut written = 0;
    for s in &samples {
        let w = s["written"].as_u64().unwrap();
        assert!(w >= written, "positions only grow: {text}");
        written = w;
        assert_eq!(s["capacity"], 65536);
    }
    assert!(samples[1..].iter().all(|s| s["write_rate"].is_number()));
    assert!(
        samples.iter().any(|s| s["reader"]["state"] == "alive"),
        "{text}"
    );
    let last = samples.last().unwrap();
    assert!(
        last["end"]
            .as_str()
            .is_some_and(|e| e.starts_with("end-of-stream")),
        "{last}"
    );
    assert_eq!(last["read"], last["written"]);
    assert!(samples[..samples.len() - 1]
        .iter()
        .all(|s| s["end"].is_null()));
}

#[test]
fn stat_watch_in_text_stops_at_ctrl_c() {
    let (name, segment, _cleanup) = posix_ring("watch-int");
    let mut writer = Proc::write(&[&name, "--capacity", "16K"]);
    let _stdin = writer.stdin();
    wait_for_writer(&segment, writer.pid());
    let mut watch = Proc::spawn(
        &["stat", &name, "--watch", "--interval", "0.05"],
        Stdio::null(),
        Stdio::piped(),
    );
    let out = collect(watch.stdout());
    wait_until("three lines of the watch", || {
        out.so_far() > 0 && watch_lines(&out) >= 3
    });
    watch.signal(libc::SIGINT);
    let end = watch.wait();
    assert_eq!(end.code(), Some(130), "{}", end.stderr);
    let text = String::from_utf8(out.finish()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ELAPSED", "WRITTEN", "WRITE", "RATE", "READ", "READ", "RATE", "FILL", "WRITER",
            "READER"
        ]
    );
    let pid = writer.pid();
    for line in lines {
        assert!(
            line.contains(&format!("alive {pid}")) && line.ends_with("vacant"),
            "{line}"
        );
    }
    assert!(writer.running(), "watching changed nothing for the writer");
}

/// Lines collected so far from a watch.
fn watch_lines(out: &support::Collected) -> usize {
    out.snapshot().iter().filter(|&&b| b == b'\n').count()
}

#[test]
fn keep_name_keeps_a_ring_listed_while_it_is_read_then_removes_it() {
    let (name, segment, _cleanup) = posix_ring("keep");
    let mut writer = Proc::write(&[&name, "--capacity", "16K", "--keep-name"]);
    let mut stdin = writer.stdin();
    wait_for_writer(&segment, writer.pid());
    let mut reader = Proc::read(&[&name]);
    let out = collect(reader.stdout());
    wait_for_reader(&segment);
    stdin.write_all(b"kept").unwrap();
    out.wait_for(4);
    let (end, listing) = run(&["ls", "--json", &name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let list = json(&listing);
    let e = entry(&list, &name).unwrap_or_else(|| panic!("{name} missing from {listing}"));
    assert_eq!(e["writer"]["state"], "alive");
    assert_eq!(e["reader"]["state"], "alive");
    assert_eq!(e["reader"]["pid"], reader.pid());
    drop(stdin);
    assert_eq!(reader.wait().code(), Some(0));
    assert_eq!(writer.wait().code(), Some(0));
    assert_eq!(out.finish(), b"kept");
    assert!(
        !posix_path(&name).exists(),
        "the writer removed the name at the end"
    );
}

#[test]
fn ls_marks_a_corrupted_ring_and_watch_refuses_it() {
    let (name, segment, _cleanup) = posix_ring("corrupt");
    // The creator (this test) keeps it open: in use, not stale.
    let _creator = shmpipe::RingOptions::new()
        .capacity(4096)
        .create(&segment)
        .unwrap();
    // The capacity (offset 16 of the header, docs/LAYOUT.md): not a power of two.
    poke(&posix_path(&name), 16, &12345u64.to_ne_bytes());
    let (end, out) = run(&["ls", "--json", &name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let list = json(&out);
    let e = entry(&list, &name).unwrap_or_else(|| panic!("{name} missing from {out}"));
    assert_eq!(e["ring"], true);
    assert_eq!(e["status"], "corrupted");
    assert_eq!(e["stale"], false, "its creator (this test) has it open");
    assert_eq!(e["creator"]["pid"], std::process::id());
    assert!(
        e["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("12345 is not a power of two")),
        "{e}"
    );
    let (end, out) = run(&["ls", &name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(line_of_in(&out, &name).ends_with("corrupted"), "{out}");
    assert_json_error(&["stat", &name, "--watch", "--json"], 1, Some(&name));
}

#[test]
fn stat_watch_ends_when_the_writer_dies() {
    let (name, segment, _cleanup) = posix_ring("watch-dies");
    let mut writer = Proc::write(&[&name, "--capacity", "16K"]);
    let _stdin = writer.stdin();
    let pid = writer.pid();
    wait_for_writer(&segment, pid);
    let mut watch = Proc::spawn(
        &["stat", &name, "--watch", "--interval", "0.05", "--json"],
        Stdio::null(),
        Stdio::piped(),
    );
    let lines = collect(watch.stdout());
    lines.wait_for(1);
    writer.signal(libc::SIGKILL);
    writer.wait();
    let end = watch.wait();
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let text = String::from_utf8(lines.finish()).unwrap();
    let last = json(text.lines().last().unwrap());
    assert_eq!(last["writer"]["state"], "dead", "{text}");
    assert_eq!(last["writer"]["pid"], pid, "{text}");
    assert!(
        last["end"]
            .as_str()
            .is_some_and(|e| e.starts_with("the writer died")),
        "{text}"
    );
}

#[test]
fn ls_all_shows_a_sysv_ring_whose_key_went_as_nameless() {
    let key = unique_key();
    let key_name = format!("{key:#010x}");
    let _cleanup = Name(Segment::sysv_key(key));
    let mut writer = Proc::write(&[&key_name, "--backend", "sysv", "--capacity", "16K"]);
    let mut stdin = writer.stdin();
    wait_for_writer(&Segment::sysv_key(key), writer.pid());
    let shmid = sysv_id(key).expect("the ring is listed by the kernel");
    let mut reader = Proc::read(&[&key_name, "--backend", "sysv"]);
    let out = collect(reader.stdout());
    // Both sides attached: the key is removed, the segment stays while they are attached.
    wait_until("the key to go", || sysv_id(key).is_none());
    let nameless = format!("shmid:{shmid}");

    let (end, listing) = run(&["ls", "--json"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let list = json(&listing);
    assert!(
        entry(&list, &nameless).is_none(),
        "only with --all: {listing}"
    );
    assert!(entry(&list, &key_name).is_none(), "{listing}");
    let (end, listing) = run(&["ls", "--json", "--all"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let list = json(&listing);
    let e = entry(&list, &nameless).unwrap_or_else(|| panic!("{nameless} missing: {listing}"));
    assert_eq!(e["status"], "nameless");
    assert_eq!(e["backend"], "sysv");
    assert!(
        e["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("2 attached processes")),
        "{e}"
    );

    stdin.write_all(b"still flowing").unwrap();
    drop(stdin);
    assert_eq!(reader.wait().code(), Some(0));
    assert_eq!(writer.wait().code(), Some(0));
    assert_eq!(out.finish(), b"still flowing");
}

#[test]
fn ls_marks_a_ring_whose_creator_died_initialising_it_as_stale() {
    // The magic and version and nothing else: what a creator that died after its first write
    // leaves (docs/LAYOUT.md: they are written before the reservation).
    let (name, _, _cleanup) = posix_ring("half");
    let mut header = b"SHMPIPE\0".to_vec();
    header.extend_from_slice(&shmpipe::LAYOUT_VERSION.to_ne_bytes());
    header.resize(8192, 0);
    std::fs::write(posix_path(&name), header).unwrap();
    let (end, out) = run(&["ls", "--json", &name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    let e = entry(&json(&out), &name)
        .cloned()
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(e["status"], "uninitialised");
    assert_eq!(e["stale"], true);
    let (end, out) = run(&["ls", &name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(
        line_of_in(&out, &name).ends_with("uninitialised, stale"),
        "{out}"
    );
    assert!(end.stderr.contains("1 stale ring"), "{}", end.stderr);
    let (end, _) = run(&["rm", &name]);
    assert_eq!(
        end.code(),
        Some(0),
        "rm accepts what ls marks stale: {}",
        end.stderr
    );
    assert!(!posix_path(&name).exists());
}
