//! What an idle reader costs, and how soon it hears that its writer died: a reader waits on an
//! empty POSIX ring whose writer is another process (alive, silent), and the CPU its thread
//! uses over the wait is read from `CLOCK_THREAD_CPUTIME_ID`; a thread in `poll(2)` on an empty
//! pipe is measured the same way, and so is a thread in `WaitSet::wait_timeout` on another such
//! ring. Then the writer is killed (`SIGKILL`) while the reader waits, and the time from the
//! kill to the reader's `PeerDied` is printed. The writer is in this PID namespace, so the
//! reader's wait watches its process (a pidfd) and sleeps in 1 s slices; where it cannot
//! (another PID namespace, no pidfd before Linux 5.3) it looks every 50 ms.
//! For scale, that fallback's floor: a thread doing nothing but a `FUTEX_WAIT` that times out
//! every 50 ms, measured the same way.
//!
//! ```text
//! cargo run --release -p shmpipe --example idle_cpu -- [SECONDS] [DEATHS]   # default 5 10
//! ```
// The loom build (`--cfg loom`) has no shared-memory segments: nothing to run.
#![cfg_attr(loom, no_main)]
#![cfg(not(loom))]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shmpipe::{RecvError, RingOptions, Segment, WaitSet};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--writer") {
        writer(&args[2]);
        return;
    }
    let seconds: f64 = args.get(1).map_or(5.0, |s| s.parse().expect("SECONDS"));
    let deaths: usize = args.get(2).map_or(10, |s| s.parse().expect("DEATHS"));
    if let Err(e) = run(Duration::from_secs_f64(seconds), deaths) {
        eprintln!("idle_cpu: {e}");
        std::process::exit(1);
    }
}

/// The peer: attaches as the writer, says so on stdout, then sends nothing until killed.
fn writer(name: &str) {
    let ring = RingOptions::new()
        .open(&Segment::posix(name))
        .expect("open the ring");
    let _writer = ring.writer().expect("attach as writer");
    println!("ready");
    loop {
        std::thread::park();
    }
}

fn start_writer(name: &str) -> Result<(Child, shmpipe::Reader), Box<dyn std::error::Error>> {
    let ring = RingOptions::new()
        .capacity(4096)
        .create(&Segment::posix(name))?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--writer", name])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )?;
    if line.trim() != "ready" {
        return Err("the writer did not attach".into());
    }
    Ok((child, ring.reader()?))
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn run(span: Duration, deaths: usize) -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shmpipe-idle-{}", std::process::id());
    let (mut child, mut reader) = start_writer(&name)?;
    let cpu = thread_cpu();
    let start = Instant::now();
    let mut buf = [0u8; 8];
    match reader.recv_timeout(&mut buf, span) {
        Err(RecvError::Timeout) => {}
        other => return Err(format!("the idle reader ended with {other:?}").into()),
    }
    let (ring_cpu, ring_wall) = (thread_cpu() - cpu, start.elapsed());
    child.kill()?;
    child.wait()?;

    // The same reader in a `WaitSet` (which re-arms its watch at every wait, as a loop of
    // `wait_timeout`s would).
    let (mut child, reader) = start_writer(&format!("{name}-set"))?;
    let mut set = WaitSet::new();
    set.add_reader(reader);
    let cpu = thread_cpu();
    let start = Instant::now();
    let ready = set.wait_timeout(span);
    if !ready.is_empty() {
        return Err(format!("the idle WaitSet ended with {ready:?}").into());
    }
    let (set_cpu, set_wall) = (thread_cpu() - cpu, start.elapsed());
    child.kill()?;
    child.wait()?;

    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let cpu = thread_cpu();
    let start = Instant::now();
    let mut pfd = libc::pollfd {
        fd: fds[0],
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, span.as_millis() as libc::c_int) };
    let (pipe_cpu, pipe_wall) = (thread_cpu() - cpu, start.elapsed());
    let (floor_cpu, floor_wall) = futex_timeouts(span, Duration::from_millis(50));
    for (what, cpu, wall) in [
        ("ring", ring_cpu, ring_wall),
        ("WaitSet of one ring", set_cpu, set_wall),
        ("pipe", pipe_cpu, pipe_wall),
        ("bare FUTEX_WAIT, 50 ms timeouts", floor_cpu, floor_wall),
    ] {
        println!(
            "idle {what}: waited {:.2} s, used {:.3} ms of CPU ({:.4} % of a CPU)",
            wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e3,
            cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
        );
    }

    let mut delays = Vec::new();
    for i in 0..deaths {
        let name = format!("shmpipe-idle-{}-{i}", std::process::id());
        let (mut child, mut reader) = start_writer(&name)?;
        let pid = child.id();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150 + 37 * i as u64));
            let at = Instant::now();
            child.kill().expect("kill the writer");
            child.wait().expect("reap the writer");
            at
        });
        let outcome = reader.recv(&mut buf);
        let heard = Instant::now();
        let killed = killer.join().expect("the killer thread");
        match outcome {
            Err(RecvError::PeerDied { pid: p }) if p == pid => {}
            other => return Err(format!("after the kill the reader got {other:?}").into()),
        }
        delays.push(heard.saturating_duration_since(killed));
    }
    if !delays.is_empty() {
        delays.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "death of the writer heard after: median {:.1} ms, worst {:.1} ms ({} kills)",
            ms(delays[delays.len() / 2]),
            ms(delays[delays.len() - 1]),
            delays.len()
        );
    }
    let _ = fds.map(|fd| {
        // SAFETY: our own descriptors, closed once.
        unsafe { libc::close(fd) }
    });
    Ok(())
}

/// A thread that only sleeps in `FUTEX_WAIT` slices of `slice` (each one timing out) for
/// `span`: its CPU and the time it took.
fn futex_timeouts(span: Duration, slice: Duration) -> (Duration, Duration) {
    // A real futex word for a real system call (loom does not run the examples).
    #[allow(clippy::disallowed_types)]
    let word = std::sync::atomic::AtomicU32::new(1);
    let cpu = thread_cpu();
    let start = Instant::now();
    while start.elapsed() < span {
        let timeout = libc::timespec {
            tv_sec: slice.as_secs() as libc::time_t,
            tv_nsec: slice.subsec_nanos() as libc::c_long,
        };
        // SAFETY: a futex word we own, alive for the call; a valid relative timeout. The word
        // never changes, so the wait only times out (or returns early on a signal).
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                1u32,
                &timeout as *const libc::timespec,
            )
        };
    }
    (thread_cpu() - cpu, start.elapsed())
}
