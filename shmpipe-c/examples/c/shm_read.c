/*
 * The classic shm_read.c, done right, in C: waits for the ring shm_write creates (start them
 * in either order), prints each block as it arrives, and stops at end-of-stream. No sleep().
 *
 *   terminal 1: ./shm_read             # or: shm_read NAME
 *   terminal 2: ./shm_write            # or: shm_write NAME, or: shmpipe write NAME < file
 */
#include <stdio.h>
#include <stdlib.h>

#include "shmpipe.h"

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "shmpipe-demo";
    shmpipe_ring *ring;
    shmpipe_reader *reader;

    /* Wait for the writer to create the ring, like opening a FIFO. */
    if (shmpipe_open(name, -1, &ring) != SHMPIPE_OK) {
        fprintf(stderr, "shm_read: open: %s\n", shmpipe_last_error());
        return 1;
    }
    size_t cap = shmpipe_ring_max_message(ring);
    if (shmpipe_ring_reader(ring, &reader) != SHMPIPE_OK) { /* both attached: name removed */
        fprintf(stderr, "shm_read: attach: %s\n", shmpipe_last_error());
        shmpipe_ring_close(ring);
        return 1;
    }
    shmpipe_ring_close(ring);

    char *block = malloc(cap);
    if (block == NULL) {
        fprintf(stderr, "shm_read: out of memory\n");
        shmpipe_reader_close(reader);
        return 1;
    }
    int count = 0, rc;
    size_t len, total = 0;
    while ((rc = shmpipe_recv(reader, block, cap, &len)) == SHMPIPE_OK) {
        count++;
        total += len;
        printf("Reading Process: block %d, %zu bytes: %.*s...\n", count, len,
               (int)(len < 40 ? len : 40), block);
    }
    free(block);
    shmpipe_reader_close(reader);
    if (rc != SHMPIPE_END_OF_STREAM) {
        /* e.g. SHMPIPE_PEER_DIED: the writer died (after everything it sent was delivered). */
        fprintf(stderr, "shm_read: %s\n", shmpipe_last_error());
        return 1;
    }
    printf("Reading Process: end of stream after %d blocks, %zu bytes\n", count, total);
    return 0;
}
