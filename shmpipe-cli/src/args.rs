//! The command line as clap sees it, the SIZE and SECS parsers, and one-line usage errors.

use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "A FIFO at memory speed: pipe bytes between two processes through a \
shared-memory ring buffer";

const LONG_ABOUT: &str = "A FIFO at memory speed: pipe bytes between two processes through a \
shared-memory ring buffer.

`shmpipe write NAME` creates a ring and copies its stdin into it; `shmpipe read NAME` copies \
the ring to its stdout. Either side may start first: the reader waits for the ring to appear, \
the writer waits for room (and, at the end, for the reader to read everything), just as with \
a named pipe (mkfifo), but without the kernel copying every byte through a pipe buffer.";

const EXAMPLES: &str = "\
Examples:
  shmpipe write demo < big.file &       # terminal 1 (or in the background)
  shmpipe read demo > copy.file         # terminal 2: the same bytes come out
  tar c dir | shmpipe write backup --capacity 16M
  shmpipe read backup | tar x -C /restore
  shmpipe stat demo                     # header, positions, who is attached
  shmpipe rm demo                       # remove a ring a crash left behind

NAME: a POSIX shared memory name by default (`demo` is /dev/shm/demo); a NAME with a '/' \
after its first character is a file path (the file backend); with `--backend sysv`, a \
System V key (decimal or 0x hex) or PATH:ID for ftok(PATH, ID).

Exit status: 0 success; 1 a runtime failure (one line on stderr); 2 bad arguments; 128+N \
when stopped by signal N (130 for Ctrl-C), after closing the ring properly.";

const WRITE_EXAMPLES: &str = "\
Examples:
  shmpipe write demo < big.file                  # POSIX shared memory /dev/shm/demo
  producer | shmpipe write demo --capacity 64M   # a larger ring smooths out bursts
  shmpipe write /dev/shm/demo.ring < data        # a file (the file backend)
  shmpipe write 0x5eed --backend sysv < data     # a System V segment with key 0x5eed
  shmpipe write /tmp:7 --backend sysv < data     # key ftok(\"/tmp\", 7)
  shmpipe write demo --progress < big.file       # progress on stderr, ETA from the file size
  shmpipe write demo --keep-name < data          # still listed by `shmpipe ls` while read

The ring is created exclusively. If NAME holds a stale ring (its writer and creator are \
dead) it is replaced, with a notice on stderr; if it has a live writer, `write` exits 1 \
naming its pid. At end of input the ring is closed and `write` waits until the reader has \
read everything, then exits 0 (it waits for a reader to come, as a FIFO's writer does). It \
exits 1 if the reader closes the ring or dies first. Ctrl-C closes the ring: the reader gets \
what was written, then end-of-stream.";

const READ_EXAMPLES: &str = "\
Examples:
  shmpipe read demo > copy.file       # waits for `shmpipe write demo` to create the ring
  shmpipe read demo --timeout 5       # give up (exit 1) if no ring appears within 5 s
  shmpipe read demo | head -c 100     # stops quietly when stdout is closed
  shmpipe read /dev/shm/demo.ring     # a file ring
  shmpipe read 0x5eed --backend sysv  # a System V ring
  shmpipe read demo --progress > out  # bytes, rate and ring fill on stderr

Exits 0 at end-of-stream. If the writer dies, everything it wrote is delivered first, then \
`read` prints one line naming its pid and the byte count and exits 1. Ctrl-C closes the \
ring: the writer's next write fails.";

const STAT_EXAMPLES: &str = "\
Examples:
  shmpipe stat demo
  shmpipe stat demo --json | jq .header.writer
  shmpipe stat 0x5eed --backend sysv
  shmpipe stat demo --watch                   # a line a second until end-of-stream
  shmpipe stat demo --watch --interval 0.2 --json   # one JSON object per line

Works on a ring nobody is attached to. A corrupted, half-initialised or foreign segment is \
described (status and one line per problem) rather than refused; `stat` exits 1 only when \
the segment cannot be opened at all. With --json, a failure is printed on stdout as \
{\"error\": ..., \"name\": ...} as well (exit status 1, or 2 for a bad NAME or flag).

--watch needs a valid ring and keeps it mapped (without claiming a role), so it goes on \
after the name is removed, which happens once both the writer and the reader have \
attached: start it before the reader, or write with --keep-name. Positions count the \
8-byte record headers too. It ends with a line saying why at end-of-stream, when a side \
closes or dies, or when nobody is left (exit 0), or at Ctrl-C (exit 130).";

const RM_EXAMPLES: &str = "\
Examples:
  shmpipe rm demo                    # POSIX shared memory /dev/shm/demo
  shmpipe rm /dev/shm/demo.ring      # a file ring
  shmpipe rm 0x5eed --backend sysv   # a System V segment (ipcrm)
  shmpipe rm junk --force            # remove it even if it is not a shmpipe segment

Processes that have the ring mapped keep using it; only the name goes. A segment that is \
not a shmpipe segment is left alone unless --force is given.";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "shmpipe",
    version = version(),
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    propagate_version = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a ring and copy stdin into it until end of input
    #[command(after_help = WRITE_EXAMPLES)]
    Write(WriteArgs),
    /// Copy a ring to stdout until end-of-stream, waiting for it to appear
    #[command(after_help = READ_EXAMPLES)]
    Read(ReadArgs),
    /// Show a ring's header: backend, sizes, positions, writer and reader (like `ipcs -m -i`)
    #[command(after_help = STAT_EXAMPLES)]
    Stat(StatArgs),
    /// Remove a ring's name (POSIX, file or System V)
    #[command(after_help = RM_EXAMPLES)]
    Rm(RmArgs),
    /// Measure shmpipe against pipes and Unix sockets between two processes (throughput and
    /// ping-pong latency), or against rtrb between two threads
    #[command(after_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
    /// The other process of a `bench` measurement (internal)
    #[command(hide = true)]
    BenchPeer(BenchPeerArgs),
    /// List the rings on this machine: name, backend, capacity, bytes in use, writer and
    /// reader, age, and whether they are stale
    #[command(after_help = LS_EXAMPLES)]
    Ls(LsArgs),
    /// Print a shell completion script on stdout
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout, or write every page to a directory
    #[command(after_help = MAN_EXAMPLES)]
    Man(ManArgs),
}

const LS_EXAMPLES: &str = "\
Examples:
  shmpipe ls                     # POSIX rings in /dev/shm and System V rings
  shmpipe ls --all               # the other objects there too, marked as such
  shmpipe ls /var/tmp/rings      # the file rings in a directory
  shmpipe ls demo /tmp/x.ring    # just these
  shmpipe ls --json | jq '.[] | select(.stale) | .name'

WRITER and READER: vacant (nobody yet), alive PID, dead PID (the process is gone), closed \
(it closed the ring), attached (attached, liveness unknown). STATUS: live (some process of \
the ring is alive), stale (none is: nobody will use it again; remove it with `shmpipe rm`), \
initialising (its creator is writing the header), uninitialised (its creator died doing \
so), corrupted, other layout version; with --all also: not a ring, blank, \
unreadable, nameless (a System V ring whose key was removed while still attached, \
named shmid:ID).

Nothing is changed: each candidate is opened (a System V one attached) read-only to look \
for the shmpipe magic number; only rings go on to the header inspection of `shmpipe stat`, \
which maps them read-write but writes nothing. No role is claimed, no name removed. With --json, one array of objects (fields name, backend, segment, \
ring, status, stale, capacity, used, writer, reader, creator, age_secs, problems); an \
operand that cannot be looked at is an element {\"name\": ..., \"error\": ...} and the \
exit status is 1.";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  shmpipe completions bash > ~/.local/share/bash-completion/completions/shmpipe
  shmpipe completions zsh > \"${fpath[1]}/_shmpipe\"
  shmpipe completions fish > ~/.config/fish/completions/shmpipe.fish";

const MAN_EXAMPLES: &str = "\
Examples:
  shmpipe man | man -l -                 # read the manual now
  shmpipe man write | man -l -           # the page of one subcommand
  shmpipe man --dir /usr/local/share/man/man1   # shmpipe.1, shmpipe-write.1, ...";

const BENCH_EXAMPLES: &str = "\
Examples:
  shmpipe bench                                  # the default comparison, under a minute
  shmpipe bench --sizes 64,64K --seconds 2       # fewer sizes, longer measurements
  shmpipe bench --rounds 9 --mode streaming      # more rounds, one regime
  shmpipe bench --transports ring,ring-batch,pipe-1m --mode throughput
  shmpipe bench --capacity 1M --sizes 64 --mode streaming   # a 1 MiB ring
  shmpipe bench --mode threads                   # against rtrb between two threads, ~30 s
  shmpipe bench --mode targets                   # the per-message targets, met or missed, ~40 s
  shmpipe bench --json | jq '.[] | select(.mode == \"latency\")'

Each transport runs between this process and a copy of it (a peer), pinned to two different \
CPUs when there are two. Every measurement is made in rounds (--rounds, default 5) that \
alternate between the transports: round 1 of each, then round 2 of each, and so on, so a slow \
minute of the machine touches them alike. Every round is printed, with the median and the \
worst round, and each transport's ratio to the pipe is computed round by round (round i \
against the pipe's round i), with its median and worst. Every message carries a sequence \
number (in its first 8 bytes) that the receiver checks: a lost, repeated or reordered message \
fails the run.

Throughput is one way, in messages and bytes per second, from the first message sent to the \
peer's acknowledgement of the last, in two regimes: streaming (the receiver takes messages as \
fast as it can and keeps pace: on a ring it reads on the writer's heels) and full (the \
receiver does 1 µs of busy work after each message, so it is the slower side, and rings \
are 64 KiB like a default pipe, so the sender waits for room in a full buffer; 1 M \
messages/s is the ceiling there). Latency is \
the round trip of one message sent to the peer and echoed back (one way is about half): the \
p50 of each round, and the p99 and p99.9 of all rounds together.

Transports: ring (send/recv, one copy each way), ring-zerocopy (reserve/commit and recv_ref, \
the receiver reads every byte in place), ring-batch (batches on both sides: many records \
per publish and per release; 8-byte messages as u64 values, many per call with \
send_values/recv_values, in runs of values under one record header), pipe, \
pipe-1m (a pipe enlarged with F_SETPIPE_SZ), unix (stream socket pair), seqpacket.

--json prints one array of objects with the fields transport, mode (\"throughput\" or \
\"latency\"), regime (\"streaming\" or \"full\"; null in latency rows), msg_size, \
messages, seconds, msgs_per_sec, bytes_per_sec (all rounds together), p50_ns, p99_ns, \
p999_ns (the round-trip percentiles of all rounds; null in throughput rows), rounds (one \
object per round: messages, seconds, msgs_per_sec, p50_ns, p99_ns, p999_ns), median and \
worst (of the rounds: messages/s in throughput rows, the lowest being the worst; p50 in \
nanoseconds in latency rows, the highest being the worst), and vs_pipe_rounds, \
vs_pipe_median, vs_pipe_worst (how many times better than the pipe, round by round: \
messages/s over the pipe's, or the pipe's p50 over this p50; null without a pipe row). In \
latency rows, messages counts round trips.

--mode threads compares shmpipe with rtrb (the reference SPSC ring between threads) inside \
this process: a producer thread and a consumer thread pinned to two CPUs, the same messages \
(u64 or [u64; N], the first word a sequence number the consumer checks), as many in flight, \
both sides spinning where rtrb would. Three pairs per size: per message (send/recv against \
push/pop), chunks (send_values/recv_values, copied in and out, against rtrb's \
write_chunk_uninit/read_chunk copied in from and out into slices the same way, up to 256 \
per call) and chunks in place (reserve_values/recv_values_ref against rtrb's chunks \
written and read in place); both regimes \
(streaming on 4 MiB rings, full on 64 KiB rings with 1 µs of work per message). Every \
round, the median and the worst, and shmpipe's ratio to its rtrb partner round by round. \
With --json, one array of objects with the fields mode (\"threads\"), name, api, regime, \
msg_size, rounds (messages/s), median, worst, vs_rtrb_rounds, vs_rtrb_median, vs_rtrb_worst \
(null in rtrb's rows).

--mode targets measures the per-message targets shmpipe holds itself to (docs/BENCHMARKS.md \
in the repository, \"Targets\"), with the sizes and capacities they name, and prints one line per target: what it asks for, the median and the \
worst round of the ratio (taken round by round), met or MISSED, and every round: ring / pipe \
between two processes (8 B at least 50x, 64 B at least 30x with no round under 15x on 4 MiB \
and on 1 MiB rings, 4 KiB at least 4x on the default 4 MiB ring), the 8-byte round trip \
through two rings over a cache line bounced between the same two CPUs (at most 1.6x; a \
round of each in turn), and shmpipe over rtrb between two threads (at least 1.0x: per \
message, chunks and chunks in place, 8 and 64 B, both regimes). The idle reader's CPU and \
the wake-up of a sleeping reader are measured by other tools, which it names. With --json, \
one array of objects with the fields mode (\"targets\"), target, wanted (median_at_least or \
median_at_most, and worst_at_least or null), rounds, median, worst, met, error (null, or why \
the target could not be measured).";

/// Which kind of segment NAME names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    /// POSIX shared memory (shm_open): NAME is `demo` or `/demo`
    Posix,
    /// System V shared memory (shmget): NAME is a key or PATH:ID for ftok
    Sysv,
    /// A file mapped MAP_SHARED: NAME is its path
    File,
}

const NAME_HELP: &str = "The ring: a POSIX shared memory name (`demo`), a file path, or a \
System V key or PATH:ID (see --backend)";

const BACKEND_HELP: &str = "What NAME names [default: posix, or file when NAME has a '/' \
after its first character]";

/// `shmpipe write`.
#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    #[arg(help = NAME_HELP)]
    pub(crate) name: String,
    /// The ring's data capacity: a power of two from 16 bytes to 1T, with an optional K, M,
    /// G or T suffix (1K = 1024 bytes). The default, 4M, is larger than a core's L2 cache, so
    /// the reader copies out lines the writer has already let go of (a ring that fits the
    /// writer's L2 moved 4 KiB messages at 3.9x a pipe, a 4M one at 5.0x; see
    /// docs/BENCHMARKS.md); 1M or less saves memory where throughput matters less
    #[arg(long, short, value_name = "SIZE", default_value = "4M", value_parser = parse_capacity)]
    pub(crate) capacity: u64,
    #[arg(long, short, value_enum, help = BACKEND_HELP)]
    pub(crate) backend: Option<BackendArg>,
    /// Keep the ring's name while the stream lasts (removed when `write` exits), so that
    /// `shmpipe ls` and `shmpipe stat --watch` find the ring after the reader has attached
    #[arg(long)]
    pub(crate) keep_name: bool,
    #[command(flatten)]
    pub(crate) progress: ProgressArgs,
}

/// `--progress` and `--no-progress`, on `write` and `read`.
#[derive(Debug, Args)]
pub(crate) struct ProgressArgs {
    /// Show bytes moved, rate, ring fill, elapsed time (and the ETA when stdin is a regular
    /// file) on stderr, redrawn on one line, then a summary line [default: on when stderr is
    /// a terminal]
    #[arg(long, overrides_with = "no_progress")]
    pub(crate) progress: bool,
    /// Show no progress, even on a terminal
    #[arg(long, overrides_with = "progress")]
    pub(crate) no_progress: bool,
}

impl ProgressArgs {
    /// Whether to show progress: as asked, else when stderr is a terminal.
    pub(crate) fn wanted(&self) -> bool {
        if self.progress || self.no_progress {
            return self.progress;
        }
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    }
}

/// `shmpipe read`.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    #[arg(help = NAME_HELP)]
    pub(crate) name: String,
    /// How long to wait for the ring to appear, in seconds (fractions allowed); by default
    /// `read` waits as long as it takes, like opening a FIFO
    #[arg(long, short, value_name = "SECS", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub(crate) timeout: Option<Duration>,
    #[arg(long, short, value_enum, help = BACKEND_HELP)]
    pub(crate) backend: Option<BackendArg>,
    #[command(flatten)]
    pub(crate) progress: ProgressArgs,
}

/// `shmpipe stat`.
#[derive(Debug, Args)]
pub(crate) struct StatArgs {
    #[arg(help = NAME_HELP)]
    pub(crate) name: String,
    /// Print one JSON object instead of text (errors too, as {"error": ..., "name": ...})
    #[arg(long)]
    pub(crate) json: bool,
    #[arg(long, short, value_enum, help = BACKEND_HELP)]
    pub(crate) backend: Option<BackendArg>,
    /// Keep watching: one line per interval with the positions (record headers included),
    /// the write and read rates, the fill level and the peers, until end-of-stream or Ctrl-C
    #[arg(long, short)]
    pub(crate) watch: bool,
    /// Seconds between two lines of --watch (fractions allowed, at least 0.01)
    #[arg(long, short, value_name = "SECS", default_value = "1", requires = "watch",
          value_parser = parse_interval, allow_negative_numbers = true)]
    pub(crate) interval: Duration,
}

/// `shmpipe ls`.
#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Rings, ring files or directories of ring files to list instead of scanning /dev/shm
    /// and the System V segments (NAME as for the other commands)
    #[arg(value_name = "NAME|PATH", value_hint = clap::ValueHint::AnyPath)]
    pub(crate) names: Vec<String>,
    /// Also list the objects that are not rings, marked as such
    #[arg(long, short)]
    pub(crate) all: bool,
    /// Print one JSON array instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// `shmpipe completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// `shmpipe man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The subcommand whose page to print [default: the main page]
    #[arg(value_name = "SUBCOMMAND")]
    pub(crate) subcommand: Option<String>,
    /// Write every page (shmpipe.1, shmpipe-write.1, ...) into this directory instead
    #[arg(long, value_name = "DIR", conflicts_with = "subcommand",
          value_hint = clap::ValueHint::DirPath)]
    pub(crate) dir: Option<std::path::PathBuf>,
}

/// `shmpipe rm`.
#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    #[arg(help = NAME_HELP)]
    pub(crate) name: String,
    /// Remove the segment even if it is not a shmpipe segment
    #[arg(long, short)]
    pub(crate) force: bool,
    #[arg(long, short, value_enum, help = BACKEND_HELP)]
    pub(crate) backend: Option<BackendArg>,
}

/// A transport `shmpipe bench` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportArg {
    /// shmpipe, `send` and `recv` (a copy on each side)
    Ring,
    /// shmpipe, `reserve`/`commit` and `recv_ref` (in place)
    RingZerocopy,
    /// shmpipe, `batch()` on both sides: many records per publish and per release
    RingBatch,
    /// An anonymous pipe of the default size
    Pipe,
    /// A pipe enlarged to /proc/sys/fs/pipe-max-size with F_SETPIPE_SZ
    #[value(name = "pipe-1m")]
    Pipe1m,
    /// A Unix stream socket pair
    Unix,
    /// A Unix seqpacket socket pair
    Seqpacket,
}

impl TransportArg {
    /// The name in the output (as on the command line).
    pub(crate) fn name(self) -> &'static str {
        match self {
            TransportArg::Ring => "ring",
            TransportArg::RingZerocopy => "ring-zerocopy",
            TransportArg::RingBatch => "ring-batch",
            TransportArg::Pipe => "pipe",
            TransportArg::Pipe1m => "pipe-1m",
            TransportArg::Unix => "unix",
            TransportArg::Seqpacket => "seqpacket",
        }
    }
}

/// What `shmpipe bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BenchMode {
    /// Throughput (both regimes) and latency
    Both,
    /// Messages and bytes per second, one way, in both regimes (streaming and full)
    Throughput,
    /// Throughput with a receiver that keeps pace (it reads on the sender's heels)
    Streaming,
    /// Throughput with a slower receiver (1 µs of work per message): the sender waits on a
    /// full buffer
    Full,
    /// Ping-pong round trips
    Latency,
    /// shmpipe against rtrb between two threads of this process, like for like: per message
    /// (`send`/`recv` against `push`/`pop`), in chunks (`send_values`/`recv_values` against
    /// `write_chunk`/`read_chunk`) and in chunks in place (`reserve_values`/`recv_values_ref`);
    /// both regimes. Sizes 8, 16, 32, ... 4K bytes (default 8,64); not with --transports
    Threads,
    /// The per-message targets shmpipe holds itself to (docs/BENCHMARKS.md, "Targets") in one
    /// run, each with what it asks for, its median and
    /// worst round, and whether it is met: ring against pipe between two processes (8 B,
    /// 64 B and 4 KiB on 4 MiB rings, 64 B on 1 MiB rings), the 8-byte round trip against a
    /// cache line bounced between the same two CPUs, and shmpipe against rtrb between two
    /// threads (8 and 64 B, both regimes); under a minute with the defaults. Not with --sizes,
    /// --transports or --capacity, which the targets fix
    Targets,
}

/// `shmpipe bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Message sizes in bytes, comma-separated, with an optional K or M suffix (1 byte to 16M)
    /// [default: 8,64,4K,64K; with --mode threads 8,64]
    #[arg(long, value_name = "SIZES", value_delimiter = ',', value_parser = parse_message_size)]
    pub(crate) sizes: Option<Vec<usize>>,
    /// Transports to compare, comma-separated [default: ring,pipe,unix]
    #[arg(long, value_name = "LIST", value_enum, value_delimiter = ',')]
    pub(crate) transports: Option<Vec<TransportArg>>,
    /// Time per measurement (each transport, size and mode), in seconds (fractions allowed),
    /// split evenly over the rounds
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_seconds,
          allow_negative_numbers = true)]
    pub(crate) seconds: Duration,
    /// Rounds per measurement, the transports taking turns (round 1 of each, then round 2 of
    /// each, ...); every round is shown, with the median and the worst (1 to 100)
    #[arg(long, value_name = "N", default_value = "5",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) rounds: u32,
    /// Measure throughput, latency, or both (between two processes), or compare with rtrb
    /// between two threads
    #[arg(long, value_enum, default_value = "both")]
    pub(crate) mode: BenchMode,
    /// The ring capacity [default: four records, and at least 4M; in the full regime at
    /// least 64K] (with --mode threads, rtrb's ring holds as many messages as this one)
    #[arg(long, value_name = "SIZE", value_parser = parse_capacity)]
    pub(crate) capacity: Option<u64>,
    /// Print one JSON array instead of tables
    #[arg(long)]
    pub(crate) json: bool,
}

/// `shmpipe bench-peer`: internal.
#[derive(Debug, Args)]
pub(crate) struct BenchPeerArgs {
    /// What to do, as the parent wrote it
    pub(crate) spec: String,
}

/// Parses a benchmark message size: 1 byte to 16M.
fn parse_message_size(text: &str) -> Result<usize, String> {
    let bytes = parse_size(text)?;
    if !(1..=16 << 20).contains(&bytes) {
        return Err(format!(
            "{text} is not a message size from 1 byte to 16M; use sizes such as 8,64,4K,64K"
        ));
    }
    Ok(bytes as usize)
}

/// Parses a byte count with an optional binary suffix: `65536`, `64K`, `1M`, `1G`, `1T`
/// (also `KB`/`KiB` and lower case; 1K = 1024).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    const HINT: &str =
        "use a number of bytes with an optional K, M, G or T suffix, such as 64K or 1M";
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!("{text:?} is not a size; {HINT}"));
    }
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("{suffix:?} is not a size suffix; {HINT}")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("{text} is too large"))
}

/// Parses a ring capacity: a size that is a power of two in the range the library allows.
fn parse_capacity(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    if !bytes.is_power_of_two() || !(shmpipe::MIN_CAPACITY..=shmpipe::MAX_CAPACITY).contains(&bytes)
    {
        return Err(format!(
            "{text} ({bytes} bytes) is not a power of two from 16 bytes to 1T; use a size such as 64K, 1M or 16M"
        ));
    }
    Ok(bytes)
}

/// Parses a number of seconds, such as `5` or `0.5`.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| {
            format!("{text:?} is not a number of seconds; use a number such as 5 or 0.5")
        })
}

/// Parses the `--watch` interval: seconds, at least 0.01.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_seconds(text)?;
    if interval < Duration::from_millis(10) {
        return Err(format!(
            "{text:?} is too short; the interval is at least 0.01 seconds"
        ));
    }
    Ok(interval)
}

/// What `--version` prints after the name: the package version and the layout version of
/// the rings this binary reads and writes (`0.1.0 (ring layout version 1)`).
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        format!(
            "{} (ring layout version {})",
            env!("CARGO_PKG_VERSION"),
            shmpipe::LAYOUT_VERSION
        )
    })
}

/// Prints a clap error and returns its exit status: help and version go to stdout with 0;
/// a usage error is one line on stderr (`shmpipe: ...`, its tips in parentheses) with 2.
pub(crate) fn usage_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            let line = one_line(&e.render().to_string());
            if wants_json() {
                crate::show::json_error(&line, None);
            }
            super::say(&line);
            ExitCode::from(2)
        }
    }
}

/// Did the command line ask `stat` or `ls` for JSON? Then even a usage error is reported as
/// JSON on stdout (besides the line on stderr), as a script reading stdout expects.
fn wants_json() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    matches!(args.first().map(String::as_str), Some("stat" | "ls"))
        && args.iter().any(|a| a == "--json")
}

/// Folds clap's multi-line error into one line: the error itself, then its tips and possible
/// values in parentheses; the usage and "for more information" lines are left out.
fn one_line(rendered: &str) -> String {
    let mut main = String::new();
    let mut extra = Vec::new();
    for line in rendered.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("Usage:") || line.starts_with("For more information")
        {
            continue;
        }
        if main.is_empty() {
            main = line.strip_prefix("error: ").unwrap_or(line).to_owned();
        } else {
            extra.push(
                line.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
            );
        }
    }
    let help = match std::env::args().nth(1) {
        Some(sub)
            if [
                "write",
                "read",
                "stat",
                "rm",
                "bench",
                "ls",
                "completions",
                "man",
            ]
            .contains(&sub.as_str()) =>
        {
            format!("shmpipe {sub} --help")
        }
        _ => "shmpipe --help".to_owned(),
    };
    if extra.is_empty() {
        format!("{main}; see `{help}`")
    } else if main.ends_with(':') {
        // "the following required arguments were not provided:" and the list.
        format!("{main} {}; see `{help}`", extra.join(", "))
    } else {
        format!("{main} ({}); see `{help}`", extra.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert!(parse_size("").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("1X").is_err());
        assert!(parse_size("-1K").is_err());
        assert!(parse_size("1.5M").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("20000000T").is_err());
    }

    #[test]
    fn capacities_are_powers_of_two_in_range() {
        assert_eq!(parse_capacity("64K"), Ok(65536));
        assert!(parse_capacity("100K").is_err());
        assert!(parse_capacity("8").is_err());
        assert!(parse_capacity("2T").is_err());
    }

    #[test]
    fn seconds_may_be_fractional_but_not_negative() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("3"), Ok(Duration::from_secs(3)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("inf").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
