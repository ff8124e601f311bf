//! `shmring`, the command: a FIFO at memory speed from the shell (DESIGN.md section 5).
//!
//! `shmring write NAME` creates a ring and copies stdin into it; `shmring read NAME` copies it
//! to stdout; `shmring stat NAME` shows a ring's header; `shmring rm NAME` removes a name.
//! Everything here is the command line around the library: parsing, signals, exit codes.

#[cfg(not(loom))]
mod cli;

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    cli::main()
}

/// The loom build has no shared-memory segments, so no command.
#[cfg(loom)]
fn main() -> std::process::ExitCode {
    eprintln!("shmring: the command is not available in a --cfg loom build");
    std::process::ExitCode::FAILURE
}
