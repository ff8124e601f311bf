//! `shmpipe`, the command: a FIFO at memory speed from the shell.
//!
//! `shmpipe write NAME` creates a ring and copies stdin into it; `shmpipe read NAME` copies it
//! to stdout (both with `--progress`); `shmpipe stat NAME` shows a ring's header (`--watch`
//! keeps showing it); `shmpipe ls` lists the rings; `shmpipe rm NAME` removes a name;
//! `shmpipe bench` compares the ring with pipes and sockets; `shmpipe completions` and
//! `shmpipe man` print shell completions and the manual page. Everything here is the command line
//! around the library: parsing, signals, exit codes.
//!
//! How failures become exit codes:
//!
//! Exit status: 0 on success, 1 for a runtime failure (one line on stderr, `shmpipe: ...`),
//! 2 for bad arguments (one line too), 128 + N when stopped by signal N (130 for Ctrl-C).

mod args;
mod bench;
mod io;
mod liveness;
mod ls;
mod manual;
mod names;
mod progress;
mod read;
mod rm;
mod show;
mod signals;
mod stat;
mod targets;
mod watch;
mod write;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// How long one blocking step waits before the command checks for Ctrl-C.
const SLICE: Duration = Duration::from_millis(100);

/// Why a command did not succeed: its exit status and the line to print, if any.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: Option<String>,
}

impl Failure {
    /// A runtime failure: exit status 1.
    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: Some(message.into()),
        }
    }

    /// A usage error (a bad NAME, SIZE or flag): exit status 2.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: Some(message.into()),
        }
    }

    /// A failure already reported (on stdout or stderr): just the exit status.
    pub(crate) fn quiet(code: u8) -> Self {
        Failure {
            code,
            message: None,
        }
    }

    /// The line this failure prints, or "" when it prints none.
    pub(crate) fn text(&self) -> &str {
        self.message.as_deref().unwrap_or("")
    }

    /// Stopped by a signal after cleaning up: exit status 128 + the signal number, no message.
    pub(crate) fn signal(signal: i32) -> Self {
        Failure {
            code: u8::try_from(128 + signal).unwrap_or(u8::MAX),
            message: None,
        }
    }
}

/// What a subcommand returns.
pub(crate) type Outcome = Result<(), Failure>;

/// Parses the command line, runs the subcommand and turns its outcome into an exit status.
fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return args::usage_error(e),
    };
    let outcome = match cli.command {
        args::Command::Write(a) => write::run(a),
        args::Command::Read(a) => read::run(a),
        args::Command::Stat(a) => stat::run(a),
        args::Command::Rm(a) => rm::run(a),
        args::Command::Bench(a) => bench::run(a),
        args::Command::BenchPeer(a) => bench::peer(a),
        args::Command::Ls(a) => ls::run(a),
        args::Command::Completions(a) => manual::completions(a),
        args::Command::Man(a) => manual::man(a),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(message) = failure.message {
                say(&message);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// A peer's pid as a message names it: `pid N`, or `pid N in another PID namespace` when the
/// number is one of another namespace's (a peer in another container), where it means nothing
/// here.
pub(crate) fn pid_text(pid: u32, same_namespace: bool) -> String {
    if same_namespace {
        format!("pid {pid}")
    } else {
        format!("pid {pid} in another PID namespace")
    }
}

/// Prints one `shmpipe: ...` line on stderr (a closed stderr is ignored, not a panic).
pub(crate) fn say(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "shmpipe: {message}");
}
