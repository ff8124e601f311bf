/*
 * shm_cat: a byte stream through a ring, in C, compatible with the `shmpipe` command.
 *
 *   shm_cat write NAME [CAPACITY] < input    creates the ring, sends stdin, closes, waits
 *                                            until the reader has everything
 *   shm_cat read NAME > output               waits for the ring, copies it to stdout
 *
 * Either side can be the Rust command instead: `shmpipe write NAME` / `shmpipe read NAME`.
 * Exit status 0 on success, 1 on failure (one line on stderr: a dead peer is named).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmpipe.h"

static int fail(const char *what) {
    fprintf(stderr, "shm_cat: %s: %s\n", what, shmpipe_last_error());
    return 1;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int do_write(const char *name, uint64_t capacity) {
    shmpipe_ring *ring;
    shmpipe_writer *w;
    if (shmpipe_create(name, capacity, &ring) != SHMPIPE_OK)
        return fail("create");
    size_t max = shmpipe_ring_max_message(ring);
    size_t chunk = capacity / 4 < max ? (size_t)(capacity / 4) : max;
    int rc = shmpipe_ring_writer(ring, &w);
    shmpipe_ring_close(ring);
    if (rc != SHMPIPE_OK)
        return fail("attach");
    char *buf = malloc(chunk);
    if (buf == NULL) {
        shmpipe_writer_close(w);
        fprintf(stderr, "shm_cat: out of memory\n");
        return 1;
    }
    for (;;) {
        ssize_t n = read(0, buf, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "shm_cat: reading stdin: %s\n", strerror(errno));
            free(buf);
            shmpipe_writer_close(w);
            return 1;
        }
        if (n == 0)
            break;
        if (shmpipe_send(w, buf, (size_t)n) != SHMPIPE_OK) {
            free(buf);
            shmpipe_writer_close(w);
            return fail("send");
        }
    }
    free(buf);
    /* Like a pipe's writer that reports success only once its reader has everything. */
    if (shmpipe_writer_close_wait(w, -1) != SHMPIPE_OK)
        return fail("close");
    return 0;
}

static int do_read(const char *name) {
    shmpipe_ring *ring;
    shmpipe_reader *r;
    if (shmpipe_open(name, -1, &ring) != SHMPIPE_OK)
        return fail("open");
    size_t cap = shmpipe_ring_max_message(ring);
    int rc = shmpipe_ring_reader(ring, &r);
    shmpipe_ring_close(ring);
    if (rc != SHMPIPE_OK)
        return fail("attach");
    char *buf = malloc(cap);
    if (buf == NULL) {
        shmpipe_reader_close(r);
        fprintf(stderr, "shm_cat: out of memory\n");
        return 1;
    }
    size_t len;
    while ((rc = shmpipe_recv(r, buf, cap, &len)) == SHMPIPE_OK) {
        if (write_all(1, buf, len) != 0) {
            fprintf(stderr, "shm_cat: writing stdout: %s\n", strerror(errno));
            free(buf);
            shmpipe_reader_close(r);
            return 1;
        }
    }
    free(buf);
    if (rc != SHMPIPE_END_OF_STREAM) {
        int status = fail("recv");
        shmpipe_reader_close(r);
        return status;
    }
    shmpipe_reader_close(r);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "write") == 0) {
        uint64_t capacity = argc > 3 ? strtoull(argv[3], NULL, 0) : 1 << 20;
        return do_write(argv[2], capacity);
    }
    if (argc == 3 && strcmp(argv[1], "read") == 0)
        return do_read(argv[2]);
    fprintf(stderr, "usage: shm_cat write NAME [CAPACITY] < input\n       shm_cat read NAME > output\n");
    return 2;
}
