/*
 * The classic shm_write.c, done right, in C: writes five 1023-byte blocks of 'A'..'E' into a
 * ring in POSIX shared memory and closes it. Run shm_read (or `shmpipe read NAME`) in another
 * terminal, before or after.
 *
 *   terminal 1: ./shm_write            # or: shm_write NAME
 *   terminal 2: ./shm_read             # or: shm_read NAME, or: shmpipe read NAME
 *
 * The tutorial's version fills a `struct shmseg { int cnt; int complete; char buf[1024]; }`
 * and polls a plain `int complete` with sleep(3): no ordering, no flow control, no wake-up.
 * Here every block is published with a release store, the reader sleeps on a futex until one
 * arrives, and closing the writer is the "complete" flag, ordered after the last block.
 */
#include <stdio.h>
#include <string.h>

#include "shmpipe.h"

static int fail(const char *what) {
    fprintf(stderr, "shm_write: %s: %s\n", what, shmpipe_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "shmpipe-demo";
    shmpipe_ring *ring;
    shmpipe_writer *writer;
    char block[1023];

    if (shmpipe_create(name, 64 * 1024, &ring) != SHMPIPE_OK)
        return fail("create");
    if (shmpipe_ring_writer(ring, &writer) != SHMPIPE_OK) {
        shmpipe_ring_close(ring);
        return fail("attach");
    }
    shmpipe_ring_close(ring); /* the writer keeps the ring mapped */

    for (int i = 0; i < 5; i++) {
        char letter = (char)('A' + i);
        memset(block, letter, sizeof block);
        /* Waits for room if the reader is behind; fails (no SIGPIPE) if it closed or died. */
        if (shmpipe_send(writer, block, sizeof block) != SHMPIPE_OK) {
            int rc = fail("send");
            shmpipe_writer_close(writer);
            return rc;
        }
        printf("Writing Process: wrote block %d of 1023 '%c'\n", i + 1, letter);
    }
    shmpipe_writer_close(writer); /* the reader drains all five blocks, then sees end-of-stream */
    printf("Writing Process: complete\n");
    return 0;
}
