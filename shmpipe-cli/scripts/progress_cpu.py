#!/usr/bin/env python3
"""The CPU the --progress drawer uses: a `shmpipe write` blocked on a full ring for 5 s (no
reader), with and without --progress, three pairs; CPU time (user + system) from wait4(2).
Needs a release build (cargo build --release --bin shmpipe); removes the ring it creates.

    python3 shmpipe-cli/scripts/progress_cpu.py
"""

import os
import signal
import subprocess
import time

BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "release",
                   "shmpipe")


def cpu_ms(flag, secs=5.0):
    """Milliseconds of CPU used by a writer blocked for `secs` with `flag`."""
    name = f"shmpipe-progress-cpu-{os.getpid()}"
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.Popen([BIN, "write", name, "--capacity", "64K", flag], stdin=zero,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(secs)
        proc.send_signal(signal.SIGINT)
        _, _, usage = os.wait4(proc.pid, 0)
    finally:
        subprocess.run([BIN, "rm", name], stderr=subprocess.DEVNULL, check=False)
    return (usage.ru_utime + usage.ru_stime) * 1000


def main():
    for _ in range(3):
        off = cpu_ms("--no-progress")
        on = cpu_ms("--progress")
        print(f"writer blocked 5 s on a full ring: --no-progress {off:.1f} ms CPU, "
              f"--progress {on:.1f} ms CPU")


if __name__ == "__main__":
    main()
