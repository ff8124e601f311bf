//! The asymmetric fence between a publish and a sleep (issue 13, `src/fence.rs`), with real
//! processes: a publish looks at the peer's wake word after a compiler barrier only, and the
//! sleeper's `membarrier(2)` makes that safe. Loom proves the handshake (models
//! `reader_sleeps_on_empty_and_is_woken` and `writer_sleeps_on_full_and_is_woken`, mutants
//! `publish-fence` and `sleep-fence`); these tests run it for real: ping-pongs in which every
//! receive sleeps (spin 0), between two processes, with a peer that cannot use `membarrier`
//! (the fallback), and across `fork` (the registration is inherited); and they check that a
//! publish registers the process, so the light path is the one that runs.
#![cfg(not(loom))]

use std::time::{Duration, Instant};

use shmpipe::{Reader, Ring, RingOptions, Writer};

mod support;
use support::peers::{self, child_exit, reap, wait_child};
use support::segments::{describe, parse, posix};

const DEADLINE: Duration = Duration::from_secs(120);
/// Round trips per ping-pong: each is two sleeps and two wake-ups.
const ROUNDS: u64 = 3_000;
/// `membarrier(2)` commands (`<linux/membarrier.h>`).
const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_long = 1 << 2;
const MEMBARRIER_CMD_GET_REGISTRATIONS: libc::c_long = 1 << 9;

/// The peers' roles (see `support/peers.rs`); a test that does nothing otherwise.
#[test]
fn peer_main() {
    peers::dispatch(&[
        ("echo", echo),
        ("registrations", registrations),
        ("forked-ping-pong", forked_ping_pong),
    ]);
}

/// `MEMBARRIER_CMD_GET_REGISTRATIONS` (Linux 6.3): the commands this process registered, or
/// `None` on a kernel without the query.
fn registrations_now() -> Option<libc::c_long> {
    // SAFETY: membarrier(GET_REGISTRATIONS, 0, 0) takes no pointers.
    let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0) };
    (r >= 0).then_some(r)
}

/// Message `i` of a ping-pong: its number, then bytes that depend on it.
fn message(i: u64) -> [u8; 24] {
    let mut m = [(i % 251) as u8; 24];
    m[..8].copy_from_slice(&i.to_le_bytes());
    m
}

/// Receives one message and checks it is message `i`.
fn expect(reader: &mut Reader, i: u64) {
    let mut buf = [0u8; 64];
    match reader.recv(&mut buf) {
        Ok(Some(n)) => assert_eq!(&buf[..n], &message(i)[..], "message {i}"),
        other => panic!("message {i}: {other:?}"),
    }
}

/// The pinging side: `ROUNDS` messages out, each echoed back before the next, every receive
/// sleeping (spin 0). A lost wake-up would show as a round trip of a liveness slice (50 ms to
/// 1 s); the slowest is returned for the test to report.
fn ping(writer: &mut Writer, reader: &mut Reader) -> Duration {
    reader.set_spin(Duration::ZERO);
    writer.set_spin(Duration::ZERO);
    let mut slowest = Duration::ZERO;
    for i in 0..ROUNDS {
        let start = Instant::now();
        writer.send(&message(i)).unwrap();
        expect(reader, i);
        slowest = slowest.max(start.elapsed());
    }
    slowest
}

/// The echoing side: `ROUNDS` messages back, every receive sleeping (spin 0).
fn pong(writer: &mut Writer, reader: &mut Reader) {
    reader.set_spin(Duration::ZERO);
    writer.set_spin(Duration::ZERO);
    for i in 0..ROUNDS {
        expect(reader, i);
        writer.send(&message(i)).unwrap();
    }
}

/// Peer: opens the reader of `to` and the writer of `back` and echoes `ROUNDS` messages.
fn echo(args: &[&str]) {
    let [to, back] = args.try_into().unwrap();
    let options = RingOptions::new().timeout(Some(DEADLINE));
    let mut reader = options.open(&parse(to)).unwrap().reader().unwrap();
    let mut writer = options.open(&parse(back)).unwrap().writer().unwrap();
    peers::ready();
    pong(&mut writer, &mut reader);
}

/// A ping-pong with an `echo` peer started with `env` added to its environment.
fn ping_pong_with_a_peer(prefix: &str, env: &[(&str, &str)]) {
    let to = posix(&format!("{prefix}-to"));
    let back = posix(&format!("{prefix}-back"));
    let to_ring = Ring::create(&to, 4096).unwrap();
    let back_ring = Ring::create(&back, 4096).unwrap();
    let mut writer = to_ring.writer().unwrap();
    let mut reader = back_ring.reader().unwrap();
    let mut command = peers::command("echo", &[&describe(&to), &describe(&back)]);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    peers::wait_ready(&mut child);
    let slowest = ping(&mut writer, &mut reader);
    assert!(reap(&mut child, DEADLINE).success());
    eprintln!("{prefix}: {ROUNDS} sleeping round trips, the slowest {slowest:?}");
    let _ = shmpipe::remove(&to);
    let _ = shmpipe::remove(&back);
}

/// Every receive on both sides sleeps, so every publish meets a sleeper or one about to be:
/// the handshake runs two times per round trip, and every message comes back in order.
#[test]
fn sleeping_ping_pong_between_processes() {
    ping_pong_with_a_peer("shmpipe-fence", &[]);
}

/// The echo's process cannot use `membarrier(2)` (as under a seccomp filter that refuses it):
/// it publishes with full fences and sleeps at most a millisecond at a time; this process
/// still publishes light. Nothing is lost and nothing hangs.
#[test]
fn sleeping_ping_pong_with_a_peer_without_membarrier() {
    ping_pong_with_a_peer("shmpipe-fence-off", &[("SHMPIPE_NO_MEMBARRIER", "1")]);
}

/// Peer: says the process's `membarrier` registrations before and after one publish (and one
/// blocking receive, which sleeps once).
fn registrations(_args: &[&str]) {
    let before = registrations_now();
    let (mut writer, mut reader) = shmpipe::channel(256).unwrap();
    reader.set_spin(Duration::ZERO);
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        writer.send(b"one").unwrap();
    });
    let mut buf = [0u8; 8];
    assert_eq!(reader.recv(&mut buf).unwrap(), Some(3));
    sender.join().unwrap();
    let after = registrations_now();
    peers::say(&format!("before {before:?} after {after:?}"));
}

/// The line a `registrations` peer says, started with `env`.
fn registrations_of_a_peer(env: &[(&str, &str)]) -> String {
    use std::io::Read;
    let mut command = peers::command("registrations", &[]);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(reap(&mut child, DEADLINE).success());
    let line = out.lines().find(|l| l.starts_with("before "));
    line.unwrap_or_else(|| panic!("no registrations line in {out:?}"))
        .to_string()
}

/// A publish registers its process for `MEMBARRIER_CMD_GLOBAL_EXPEDITED` (so its later
/// publishes take the light path); with `SHMPIPE_NO_MEMBARRIER=1` it does not (full fences).
#[test]
fn a_publish_registers_the_process_for_membarrier() {
    if registrations_now().is_none() {
        eprintln!("skipped: this kernel has no MEMBARRIER_CMD_GET_REGISTRATIONS (Linux 6.3)");
        return;
    }
    let registered = format!("after Some({MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED})");
    let line = registrations_of_a_peer(&[]);
    assert!(line.starts_with("before Some(0)"), "{line}");
    assert!(line.ends_with(&registered), "{line}");
    let line = registrations_of_a_peer(&[("SHMPIPE_NO_MEMBARRIER", "1")]);
    assert_eq!(line, "before Some(0) after Some(0)");
}

/// Peer: creates two rings, publishes once (registering this process), `fork`s, and plays a
/// sleeping ping-pong with its child, which echoes with the handles and the registration it
/// inherited (and checks that it has the registration).
fn forked_ping_pong(args: &[&str]) {
    let [to, back] = args.try_into().unwrap();
    let to_ring = Ring::create(&parse(to), 4096).unwrap();
    let back_ring = Ring::create(&parse(back), 4096).unwrap();
    let mut writer = to_ring.writer().unwrap();
    let mut reader = back_ring.reader().unwrap();
    let mut echo_writer = back_ring.writer().unwrap();
    let mut echo_reader = to_ring.reader().unwrap();
    // One publish before the fork: the parent is registered, and so will the child be.
    echo_writer.send(&message(u64::MAX)).unwrap();
    expect(&mut reader, u64::MAX);
    // SAFETY: the peer is single-threaded; the child only runs ring operations and exits.
    let child = unsafe { peers::fork() };
    if child == 0 {
        child_exit(move || {
            drop(writer);
            drop(reader);
            if let Some(r) = registrations_now() {
                assert_eq!(r & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 1 << 2, "{r}");
            }
            pong(&mut echo_writer, &mut echo_reader);
        });
    }
    drop(echo_writer);
    drop(echo_reader);
    let slowest = ping(&mut writer, &mut reader);
    assert_eq!(wait_child(child, DEADLINE), 0, "the forked echo failed");
    peers::say(&format!("slowest {slowest:?}"));
}

/// A process and its `fork`ed child, each sleeping on every receive, publish to each other
/// with light fences (the child with the registration it inherited): every message comes back.
#[test]
fn sleeping_ping_pong_across_fork() {
    let to = posix("shmpipe-fence-fork-to");
    let back = posix("shmpipe-fence-fork-back");
    let mut child = peers::spawn("forked-ping-pong", &[&describe(&to), &describe(&back)]);
    assert!(reap(&mut child, DEADLINE).success());
    let _ = shmpipe::remove(&to);
    let _ = shmpipe::remove(&back);
}
