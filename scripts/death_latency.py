#!/usr/bin/env python3
"""How long a reader on the host takes to report a writer in another PID namespace killed
with SIGKILL: the time from the kill to the reader's exit, ROUNDS times.

    sudo scripts/death_latency.py [ROUNDS] [PATH_TO_SHMPIPE]

Needs root (unshare -p). Prints each round, then the median and the worst round.
"""
import os
import signal
import subprocess
import sys
import time

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
binary = sys.argv[2] if len(sys.argv) > 2 else "target/debug/shmpipe"
times = []
for i in range(rounds):
    name = f"death-latency-{os.getpid()}-{i}"
    writer = subprocess.Popen(
        ["unshare", "-p", "-f", "--kill-child", binary, "write", name],
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    writer.stdin.write(b"hello\n")
    writer.stdin.flush()
    time.sleep(0.3)
    reader = subprocess.Popen(
        [binary, "read", name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    time.sleep(0.3)
    # The writer is unshare's child (pid 1 in its namespace).
    with open(f"/proc/{writer.pid}/task/{writer.pid}/children") as f:
        victim = int(f.read().split()[0])
    start = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    err = reader.communicate(timeout=30)[1].decode().strip()
    took = (time.monotonic() - start) * 1000
    times.append(took)
    print(f"round {i}: reader exit {reader.returncode} after {took:.0f} ms: {err}")
    writer.kill()
    writer.wait()
times.sort()
print(f"median {times[len(times) // 2]:.0f} ms, worst {times[-1]:.0f} ms over {rounds} rounds")
