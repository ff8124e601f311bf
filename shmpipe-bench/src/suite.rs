//! What the three criterion bench binaries share (feature `suite`, on by default): the peer
//! crates as transports (iceoryx2, shmem-ipc, ipmpsc) on top of the [`harness`] that
//! `shmpipe bench` uses too (so the CLI and criterion measure the same way), the peer's `main`,
//! quick mode for `cargo test`, and the machine line printed with the results.
//!
//! A bench binary started with `SHMPIPE_BENCH_PEER=<spec>` in its environment is a peer: it
//! runs [`peer_main`] instead of criterion.
use std::io;
use std::process::Command;
use std::time::Duration;

use crate::harness::{self, Ends, Mode, PeerEnds, Placement, Rx, Session, Setup, Spec, Tx};
use criterion::Criterion;

/// The environment variable that makes a bench binary a peer.
pub const PEER_ENV: &str = "SHMPIPE_BENCH_PEER";

/// Whether criterion runs in test mode (`cargo test --benches`, or `cargo bench -- --test`):
/// each benchmark once, so everything is sized down.
pub fn quick() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let test = args.iter().any(|a| a == "--test");
    !bench || test
}

/// Whether criterion only lists the benchmarks (nothing must be started then).
pub fn listing() -> bool {
    std::env::args().any(|a| a == "--list")
}

/// If this process is a peer, runs it and exits; otherwise pins this thread, prints the
/// machine and returns the placement for the peers.
pub fn start(bench: &str) -> Placement {
    if let Ok(spec) = std::env::var(PEER_ENV) {
        let code = match harness::run_peer(&spec, open_peer) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("bench peer ({spec}): {e}");
                1
            }
        };
        std::process::exit(code);
    }
    let placement = harness::place();
    if !listing() {
        println!(
            "{bench}: {}{}",
            harness::describe_machine(&placement),
            if quick() {
                " (test mode: one short run each)"
            } else {
                ""
            }
        );
    }
    placement
}

/// Criterion set up for these benches: short runs (each sample is thousands of messages
/// already), flat sampling, then the command line.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

/// A message size as criterion ids and tables show it.
pub fn size_label(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{}MiB", size >> 20)
    } else if size >= 1 << 10 {
        format!("{}KiB", size >> 10)
    } else {
        format!("{size}B")
    }
}

/// Prepares and starts a peer for `transport` (built-in or a peer crate).
pub fn session(
    transport: &str,
    mode: Mode,
    size: usize,
    placement: &Placement,
) -> io::Result<Session> {
    let capacity = harness::default_capacity(size);
    let setup = match harness::builtin_setup(transport, mode, size, capacity)? {
        Some(setup) => setup,
        None => peers::setup(transport, mode, size, capacity)?,
    };
    let session = start_with(transport, mode, size, capacity, setup, placement)?;
    peers::after_start(transport);
    Ok(session)
}

/// Starts a peer for a prepared `setup`; the peer opens `transport`'s ends.
pub fn start_with(
    transport: &str,
    mode: Mode,
    size: usize,
    capacity: u64,
    setup: Setup,
    placement: &Placement,
) -> io::Result<Session> {
    let spec = Spec::new(transport, mode, size, capacity);
    let exe = std::env::current_exe()?;
    Session::start(
        Command::new(exe),
        |command, spec| {
            command.env(PEER_ENV, spec);
        },
        spec,
        setup,
        placement,
    )
}

fn open_peer(spec: &Spec) -> io::Result<Option<PeerEnds>> {
    match harness::builtin_peer(spec)? {
        Some(ends) => Ok(Some(ends)),
        None => peers::open(spec).map(Some),
    }
}

/// Fails loudly: a benchmark that cannot run must not report a number.
pub fn fail(what: &str, e: io::Error) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1)
}

/// The peer crates as transports. Both sides busy-poll (no blocking wait), which is each
/// crate's fastest mode; shmpipe's ends spin for 50 µs and then sleep.
pub mod peers {
    use super::*;
    use std::fs::File;
    use std::mem::MaybeUninit;
    use std::os::fd::OwnedFd;

    use iceoryx2::port::publisher::Publisher;
    use iceoryx2::port::subscriber::Subscriber;
    use iceoryx2::prelude::*;

    /// The peer crates' transport names.
    pub const NAMES: &[&str] = &["iceoryx2", "shmem-ipc", "ipmpsc"];

    fn other(e: impl std::fmt::Debug) -> io::Error {
        io::Error::other(format!("{e:?}"))
    }

    /// Samples (or bytes) a peer-crate channel buffers: the same memory as a ring.
    fn depth(size: usize, capacity: u64) -> usize {
        (capacity as usize / size.max(1)).clamp(2, 256)
    }

    /// The sending side's ends for `transport` (one of [`NAMES`]), and how to start its peer.
    pub fn setup(transport: &str, mode: Mode, size: usize, capacity: u64) -> io::Result<Setup> {
        match transport {
            "iceoryx2" => iceoryx::setup(mode, size, capacity),
            "shmem-ipc" => shmem::setup(mode, size, capacity),
            "ipmpsc" => ipmpsc_bench::setup(mode, size, capacity),
            other => Err(io::Error::other(format!("unknown transport {other}"))),
        }
    }

    /// The peer process's ends for the transport `spec` names.
    pub fn open(spec: &Spec) -> io::Result<PeerEnds> {
        match spec.transport.as_str() {
            "iceoryx2" => iceoryx::open(spec),
            "shmem-ipc" => shmem::open(spec),
            "ipmpsc" => ipmpsc_bench::open(spec),
            other => Err(io::Error::other(format!("unknown transport {other}"))),
        }
    }

    /// Once the peer has attached: named files can go.
    pub fn after_start(transport: &str) {
        if transport == "ipmpsc" {
            ipmpsc_bench::remove_files();
        }
    }

    /// iceoryx2 publish/subscribe with loaned samples: the publisher writes each sample in
    /// place, the subscriber reads every byte in place. Latency uses two services (ping and
    /// pong). No overflow: a full subscriber buffer makes the publisher retry.
    mod iceoryx {
        use super::*;

        type Service = ipc::Service;

        fn quiet() {
            set_log_level(LogLevel::Error);
        }

        fn service_name(tag: &str) -> String {
            static N: std::sync::Mutex<u32> = std::sync::Mutex::new(0);
            let mut n = N.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            format!("shmpipe-bench/{}/{}/{tag}", std::process::id(), *n)
        }

        struct Pub {
            publisher: Publisher<Service, [u8], ()>,
            _node: Node<Service>,
        }

        impl Tx for Pub {
            fn send(&mut self, msg: &[u8]) -> io::Result<()> {
                let mut sample = loop {
                    match self.publisher.loan_slice_uninit(msg.len()) {
                        Ok(sample) => break sample,
                        // Every chunk is in flight: wait for the subscriber to return one.
                        Err(iceoryx2::port::LoanError::OutOfMemory) => std::hint::spin_loop(),
                        Err(e) => return Err(other(e)),
                    }
                };
                // Written in place: the sequence number, then one byte repeated.
                let k = harness::stamp_len(msg.len());
                let byte = msg.get(k).copied().unwrap_or(0);
                let payload = sample.payload_mut();
                for (slot, &b) in payload.iter_mut().zip(&msg[..k]) {
                    *slot = MaybeUninit::new(b);
                }
                payload[k..]
                    .iter_mut()
                    .for_each(|b| *b = MaybeUninit::new(byte));
                // SAFETY: every element of the payload was written just above.
                let sample = unsafe { sample.assume_init() };
                sample.send().map_err(other)?;
                Ok(())
            }
        }

        struct Sub {
            subscriber: Subscriber<Service, [u8], ()>,
            _node: Node<Service>,
        }

        impl Rx for Sub {
            fn recv(&mut self, buf: &mut [u8]) -> io::Result<bool> {
                loop {
                    if let Some(sample) = self.subscriber.receive().map_err(other)? {
                        if sample.payload().len() != buf.len() {
                            return Err(other("a sample of the wrong length"));
                        }
                        harness::copy_stamp(buf, sample.payload());
                        harness::consume(sample.payload());
                        return Ok(true);
                    }
                    std::hint::spin_loop();
                }
            }
        }

        fn node() -> io::Result<Node<Service>> {
            NodeBuilder::new().create::<Service>().map_err(other)
        }

        fn service(
            node: &Node<Service>,
            name: &str,
            size: usize,
            capacity: u64,
            create: bool,
        ) -> io::Result<
            iceoryx2::service::port_factory::publish_subscribe::PortFactory<Service, [u8], ()>,
        > {
            let name: ServiceName = name.try_into().map_err(other)?;
            let builder = node
                .service_builder(&name)
                .publish_subscribe::<[u8]>()
                .enable_safe_overflow(false)
                .subscriber_max_buffer_size(depth(size, capacity))
                .subscriber_max_borrowed_samples(2)
                .history_size(0)
                .max_publishers(1)
                .max_subscribers(1);
            if create {
                builder.create().map_err(other)
            } else {
                builder.open().map_err(other)
            }
        }

        fn publisher(
            node: Node<Service>,
            name: &str,
            size: usize,
            capacity: u64,
            create: bool,
        ) -> io::Result<Pub> {
            let service = service(&node, name, size, capacity, create)?;
            let publisher = service
                .publisher_builder()
                .initial_max_slice_len(size)
                .max_loaned_samples(1)
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()
                .map_err(other)?;
            Ok(Pub {
                publisher,
                _node: node,
            })
        }

        fn subscriber(
            node: Node<Service>,
            name: &str,
            size: usize,
            capacity: u64,
            create: bool,
        ) -> io::Result<Sub> {
            let service = service(&node, name, size, capacity, create)?;
            let subscriber = service.subscriber_builder().create().map_err(other)?;
            Ok(Sub {
                subscriber,
                _node: node,
            })
        }

        pub(super) fn setup(mode: Mode, size: usize, capacity: u64) -> io::Result<Setup> {
            quiet();
            let ping = service_name("ping");
            let tx = publisher(node()?, &ping, size, capacity, true)?;
            let mut args = vec![ping];
            let rx: Option<Box<dyn Rx>> = if mode == Mode::Latency {
                let pong = service_name("pong");
                let sub = subscriber(node()?, &pong, size, capacity, true)?;
                args.push(pong);
                Some(Box::new(sub))
            } else {
                None
            };
            Ok(Setup {
                ends: Ends {
                    tx: Box::new(tx),
                    rx,
                },
                pass_fds: Vec::new(),
                args,
                cleanup: Vec::new(),
            })
        }

        pub(super) fn open(spec: &Spec) -> io::Result<PeerEnds> {
            quiet();
            let ping = spec.args.first().ok_or_else(|| other("no service name"))?;
            let rx = subscriber(node()?, ping, spec.size, spec.capacity, false)?;
            let tx: Option<Box<dyn Tx>> = if spec.mode == Mode::Latency {
                let pong = spec.args.get(1).ok_or_else(|| other("no pong service"))?;
                Some(Box::new(publisher(
                    node()?,
                    pong,
                    spec.size,
                    spec.capacity,
                    false,
                )?))
            } else {
                None
            };
            Ok(PeerEnds {
                rx: Box::new(rx),
                tx,
            })
        }
    }

    /// shmem-ipc: its SPSC byte ring over a sealed memfd (`Sender<u8>`/`Receiver<u8>`), a
    /// message being `size` bytes copied in and out. Both sides poll the ring directly
    /// (`sender_mut`/`receiver_mut`), skipping the eventfd signals a blocking user would pay.
    mod shmem {
        use super::*;
        use shmem_ipc::sharedring::{Receiver, Sender};

        struct ShmTx(Sender<u8>);

        impl Tx for ShmTx {
            fn send(&mut self, msg: &[u8]) -> io::Result<()> {
                let mut done = 0;
                while done < msg.len() {
                    let rest = &msg[done..];
                    let mut wrote = 0;
                    self.0
                        .sender_mut()
                        .send(|ptr, room| {
                            let n = room.min(rest.len());
                            // SAFETY: shmem-ipc lends `room` writable elements at `ptr`; we
                            // write `n <= room` bytes from a private buffer.
                            unsafe { std::ptr::copy_nonoverlapping(rest.as_ptr(), ptr, n) };
                            wrote = n;
                            n
                        })
                        .map_err(other)?;
                    if wrote == 0 {
                        std::hint::spin_loop();
                    }
                    done += wrote;
                }
                Ok(())
            }
        }

        struct ShmRx(Receiver<u8>);

        impl Rx for ShmRx {
            fn recv(&mut self, buf: &mut [u8]) -> io::Result<bool> {
                let mut done = 0;
                while done < buf.len() {
                    let len = buf.len();
                    let rest = &mut buf[done..];
                    let mut read = 0;
                    self.0
                        .receiver_mut()
                        .recv(|ptr, avail| {
                            let n = avail.min(len - done);
                            // SAFETY: shmem-ipc lends `avail` readable elements at `ptr`; we
                            // copy `n <= avail` of them into a private buffer.
                            unsafe { std::ptr::copy_nonoverlapping(ptr, rest.as_mut_ptr(), n) };
                            read = n;
                            n
                        })
                        .map_err(other)?;
                    if read == 0 {
                        std::hint::spin_loop();
                    }
                    done += read;
                }
                Ok(true)
            }
        }

        fn dup(file: &File) -> io::Result<OwnedFd> {
            Ok(OwnedFd::from(file.try_clone()?))
        }

        pub(super) fn setup(mode: Mode, _size: usize, capacity: u64) -> io::Result<Setup> {
            let sender = Sender::<u8>::new(capacity as usize).map_err(other)?;
            let mut pass_fds = vec![
                dup(sender.memfd().as_file())?,
                dup(sender.empty_signal())?,
                dup(sender.full_signal())?,
            ];
            let rx: Option<Box<dyn Rx>> = if mode == Mode::Latency {
                let receiver = Receiver::<u8>::new(capacity as usize).map_err(other)?;
                pass_fds.push(dup(receiver.memfd().as_file())?);
                pass_fds.push(dup(receiver.empty_signal())?);
                pass_fds.push(dup(receiver.full_signal())?);
                Some(Box::new(ShmRx(receiver)))
            } else {
                None
            };
            Ok(Setup {
                ends: Ends {
                    tx: Box::new(ShmTx(sender)),
                    rx,
                },
                pass_fds,
                args: Vec::new(),
                cleanup: Vec::new(),
            })
        }

        fn inherited(i: i32) -> File {
            // SAFETY: the parent passed fds 3.. to this process to own (checked by open()).
            unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(harness::PEER_FD + i) }
        }

        pub(super) fn open(spec: &Spec) -> io::Result<PeerEnds> {
            let cap = spec.capacity as usize;
            let receiver = Receiver::<u8>::open(cap, inherited(0), inherited(1), inherited(2))
                .map_err(other)?;
            let tx: Option<Box<dyn Tx>> = if spec.mode == Mode::Latency {
                let sender = Sender::<u8>::open(cap, inherited(3), inherited(4), inherited(5))
                    .map_err(other)?;
                Some(Box::new(ShmTx(sender)))
            } else {
                None
            };
            Ok(PeerEnds {
                rx: Box::new(ShmRx(receiver)),
                tx,
            })
        }
    }

    /// ipmpsc: its shared-file ring (in /dev/shm) with bincode framing; messages are sent as
    /// `serde_bytes` (one copy in) and received through its zero-copy context, copied out.
    mod ipmpsc_bench {
        use super::*;
        use ipmpsc::{Receiver, Sender, SharedRingBuffer};

        static FILES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

        struct IpTx(Sender);

        impl Tx for IpTx {
            fn send(&mut self, msg: &[u8]) -> io::Result<()> {
                self.0.send(&serde_bytes::Bytes::new(msg)).map_err(other)
            }
        }

        struct IpRx(Receiver);

        impl Rx for IpRx {
            fn recv(&mut self, buf: &mut [u8]) -> io::Result<bool> {
                let mut context = self.0.zero_copy_context();
                let got: &[u8] = context.recv().map_err(other)?;
                if got.len() != buf.len() {
                    return Err(other("a message of the wrong length"));
                }
                buf.copy_from_slice(got);
                Ok(true)
            }
        }

        fn path(tag: &str) -> String {
            static N: std::sync::Mutex<u32> = std::sync::Mutex::new(0);
            let mut n = N.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            format!(
                "/dev/shm/shmpipe-bench-ipmpsc-{}-{}-{tag}",
                std::process::id(),
                *n
            )
        }

        fn create(tag: &str, capacity: u64) -> io::Result<(SharedRingBuffer, String)> {
            let path = path(tag);
            let ring = SharedRingBuffer::create(&path, capacity as u32).map_err(other)?;
            FILES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(path.clone());
            Ok((ring, path))
        }

        pub(super) fn remove_files() {
            for path in FILES.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
                let _ = std::fs::remove_file(path);
            }
        }

        pub(super) fn setup(mode: Mode, _size: usize, capacity: u64) -> io::Result<Setup> {
            let (ring, path) = create("a", capacity)?;
            let mut args = vec![path];
            let rx: Option<Box<dyn Rx>> = if mode == Mode::Latency {
                let (back, path) = create("b", capacity)?;
                args.push(path);
                Some(Box::new(IpRx(Receiver::new(back))))
            } else {
                None
            };
            Ok(Setup {
                ends: Ends {
                    tx: Box::new(IpTx(Sender::new(ring))),
                    rx,
                },
                pass_fds: Vec::new(),
                args,
                cleanup: Vec::new(),
            })
        }

        pub(super) fn open(spec: &Spec) -> io::Result<PeerEnds> {
            let path = spec.args.first().ok_or_else(|| other("no ring path"))?;
            let rx = IpRx(Receiver::new(SharedRingBuffer::open(path).map_err(other)?));
            let tx: Option<Box<dyn Tx>> = if spec.mode == Mode::Latency {
                let path = spec.args.get(1).ok_or_else(|| other("no echo ring"))?;
                Some(Box::new(IpTx(Sender::new(
                    SharedRingBuffer::open(path).map_err(other)?,
                ))))
            } else {
                None
            };
            Ok(PeerEnds {
                rx: Box::new(rx),
                tx,
            })
        }
    }
}
