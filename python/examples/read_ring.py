"""Copies the ring NAME to stdout: `shmpipe write NAME < file` in another terminal (or first)."""
import sys

import shmpipe

ring = shmpipe.open(sys.argv[1], timeout=float(sys.argv[2]) if len(sys.argv) > 2 else None)
with ring.reader() as reader:
    for message in reader:  # waits for each message; stops at end-of-stream
        sys.stdout.buffer.write(message)
