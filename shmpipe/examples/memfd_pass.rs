//! A ring in a sealed `memfd`, passed to an unrelated process over a Unix socket.
//!
//! ```text
//! cargo run --example memfd_pass
//! ```
//!
//! The program listens on a socket, starts a second copy of itself (a new process image, not a
//! fork: it shares nothing it was not sent), sends it the memfd with `SCM_RIGHTS`, and writes
//! messages the other process reads. The memfd is sealed against shrinking and growing, so
//! neither side can make the other fault by truncating it; the receiver checks the seals.
// The loom build (`--cfg loom`) has no shared-memory segments: nothing to run.
#![cfg_attr(loom, no_main)]
#![cfg(not(loom))]

use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;

use shmpipe::RingOptions;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("receive") if args.len() == 3 => receive(&args[2]),
        None => send(),
        _ => Err("usage: memfd_pass (no arguments)".into()),
    };
    if let Err(e) = result {
        eprintln!("memfd_pass: {e}");
        std::process::exit(1);
    }
}

fn send() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("memfd_pass-{}.sock", std::process::id()));
    let listener = UnixListener::bind(&path)?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("receive")
        .arg(&path)
        .spawn()?;
    let (socket, _) = listener.accept()?;
    std::fs::remove_file(&path)?;
    let ring = RingOptions::new().capacity(4096).create_memfd()?;
    ring.send_memfd(&socket)?;
    let mut writer = ring.writer()?;
    for i in 1..=5 {
        writer.send(format!("message {i} from pid {}", std::process::id()).as_bytes())?;
    }
    writer.close();
    let status = child.wait()?;
    println!("sender: receiver exited with {status}");
    Ok(())
}

fn receive(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let socket = UnixStream::connect(path)?;
    let ring = RingOptions::new().receive_memfd(&socket)?;
    let mut reader = ring.reader()?;
    let mut buf = [0u8; 256];
    while let Some(n) = reader.recv(&mut buf)? {
        println!(
            "receiver (pid {}): {}",
            std::process::id(),
            String::from_utf8_lossy(&buf[..n])
        );
    }
    println!("receiver: end of stream");
    Ok(())
}
