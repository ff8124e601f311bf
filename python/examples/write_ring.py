"""Sends stdin into a new ring NAME, in 64 KiB messages: `shmpipe read NAME` reads it."""
import sys

import shmpipe

with shmpipe.create(sys.argv[1], capacity=1 << 20).writer() as writer:
    while chunk := sys.stdin.buffer.read1(64 * 1024):
        writer.send(chunk)
    writer.close(wait=True, timeout=60)  # return once the reader has everything
