"""Python to Python throughput: a shmpipe ring against multiprocessing.Pipe.

    python bench/throughput.py [SECONDS_PER_POINT]

For each message size, a child process receives while the parent sends for about SECONDS
(default 1); prints messages/s and MB/s for `Writer.send`/`Reader.recv` (bytes out),
`Reader.recv_view` (zero-copy in) and `multiprocessing.Pipe` (`send_bytes`/`recv_bytes`).
"""
import multiprocessing as mp
import os
import sys
import time

import shmpipe

SIZES = [64, 4096, 65536]


def ring_reader(name, views, done):
    reader = shmpipe.open(name, timeout=30).reader()
    count = 0
    if views:
        while (view := reader.recv_view(timeout=30)) is not None:
            view.release()
            count += 1
    else:
        while reader.recv(timeout=30) is not None:
            count += 1
    done.send(count)


def pipe_reader(conn, done):
    count = 0
    while conn.recv_bytes() != b"":
        count += 1
    done.send(count)


def measure(kind, size, seconds):
    msg = b"x" * size
    done_r, done_w = mp.Pipe(duplex=False)
    if kind == "pipe":
        rx, tx = mp.Pipe(duplex=False)
        child = mp.Process(target=pipe_reader, args=(rx, done_w))
        child.start()
        send = tx.send_bytes
    else:
        name = f"pybench-{os.getpid()}-{kind}-{size}"
        ring = shmpipe.create(name, 4 << 20)
        child = mp.Process(target=ring_reader, args=(name, kind == "ring-view", done_w))
        child.start()
        # The writer is attached after the fork: a forked child would hold a copy of it, and
        # (as with a pipe's write end left open in a child) the reader would never see the
        # end of the stream until that child exits.
        writer = ring.writer()
        send = writer.send
    sent = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(256):
            send(msg)
        sent += 256
        if time.perf_counter() >= deadline:
            break
    if kind == "pipe":
        tx.send_bytes(b"")
    else:
        writer.close(wait=True, timeout=60)
    received = done_r.recv()
    elapsed = time.perf_counter() - start
    child.join(60)
    assert received == sent, (received, sent)
    return sent / elapsed, sent * size / elapsed / 1e6


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    print(f"{'transport':<12} {'size':>7} {'msgs/s':>12} {'MB/s':>9}")
    for size in SIZES:
        for kind in ("ring", "ring-view", "pipe"):
            rate, mbps = measure(kind, size, seconds)
            print(f"{kind:<12} {size:>7} {rate:>12,.0f} {mbps:>9,.0f}", flush=True)


if __name__ == "__main__":
    main()
