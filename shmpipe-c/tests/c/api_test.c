/*
 * The C API's contract, from C: every status code a caller can meet, NULL and bad arguments,
 * messages left in the ring, zero-copy both ways, end-of-stream, closing. One process; each
 * check prints its line and the program exits 1 at the first failure.
 *
 *   api_test PREFIX     (ring names are PREFIX-1, PREFIX-2, ...; all removed on success)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmpipe.h"

static int checks;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        checks++;                                                                          \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "api_test: line %d: CHECK(%s) failed (last error: %s)\n",      \
                    __LINE__, #cond, shmpipe_last_error());                                \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define EXPECT(call, code) CHECK((call) == (code))

static char names[8][128];

static const char *ring_name(const char *prefix, int i) {
    snprintf(names[i], sizeof names[i], "%s-%d", prefix, i);
    return names[i];
}

int main(int argc, char **argv) {
    char prefix[96];
    if (argc > 1)
        snprintf(prefix, sizeof prefix, "%s", argv[1]);
    else
        snprintf(prefix, sizeof prefix, "shmpipe-api-test-%d", (int)getpid());

    /* Status texts and the version. */
    CHECK(strcmp(shmpipe_strerror(SHMPIPE_OK), "success") == 0);
    CHECK(strstr(shmpipe_strerror(SHMPIPE_PEER_DIED), "died") != NULL);
    CHECK(strcmp(shmpipe_strerror(-5), "unknown shmpipe status code") == 0);
    CHECK(strcmp(shmpipe_strerror(SHMPIPE_ERROR + 1), "unknown shmpipe status code") == 0);
    CHECK(strlen(shmpipe_version()) > 0);

    /* NULL and bad arguments are codes, not crashes; outputs are cleared. */
    shmpipe_ring *ring = (shmpipe_ring *)1;
    EXPECT(shmpipe_create(NULL, 4096, &ring), SHMPIPE_INVALID_ARGUMENT);
    CHECK(ring == NULL);
    CHECK(strstr(shmpipe_last_error(), "NULL") != NULL);
    EXPECT(shmpipe_create(ring_name(prefix, 1), 4096, NULL), SHMPIPE_INVALID_ARGUMENT);
    EXPECT(shmpipe_create(ring_name(prefix, 1), 1000, &ring), SHMPIPE_INVALID_CAPACITY);
    EXPECT(shmpipe_create("a/b", 4096, &ring), SHMPIPE_INVALID_NAME);
    EXPECT(shmpipe_create("", 4096, &ring), SHMPIPE_INVALID_NAME);
    EXPECT(shmpipe_open(ring_name(prefix, 1), -2, &ring), SHMPIPE_INVALID_ARGUMENT);
    EXPECT(shmpipe_open(ring_name(prefix, 1), 0, &ring), SHMPIPE_NOT_FOUND);
    EXPECT(shmpipe_open(ring_name(prefix, 1), 50, &ring), SHMPIPE_TIMED_OUT);
    EXPECT(shmpipe_remove(ring_name(prefix, 1)), SHMPIPE_NOT_FOUND);
    EXPECT(shmpipe_ring_writer(NULL, NULL), SHMPIPE_INVALID_ARGUMENT);
    EXPECT(shmpipe_send(NULL, "x", 1), SHMPIPE_INVALID_ARGUMENT);
    EXPECT(shmpipe_commit(NULL, 1), SHMPIPE_INVALID_ARGUMENT);
    EXPECT(shmpipe_release(NULL), SHMPIPE_INVALID_ARGUMENT);
    EXPECT(shmpipe_writer_close_wait(NULL, -1), SHMPIPE_INVALID_ARGUMENT);
    size_t len = 99;
    EXPECT(shmpipe_recv(NULL, NULL, 0, &len), SHMPIPE_INVALID_ARGUMENT);
    CHECK(len == 0);
    EXPECT(shmpipe_ring_close(NULL), SHMPIPE_OK);
    EXPECT(shmpipe_writer_close(NULL), SHMPIPE_OK);
    EXPECT(shmpipe_reader_close(NULL), SHMPIPE_OK);
    CHECK(shmpipe_ring_capacity(NULL) == 0);

    /* A ring, both ends. */
    EXPECT(shmpipe_create(ring_name(prefix, 1), 4096, &ring), SHMPIPE_OK);
    shmpipe_ring *again;
    EXPECT(shmpipe_create(ring_name(prefix, 1), 4096, &again), SHMPIPE_ALREADY_EXISTS);
    CHECK(shmpipe_ring_capacity(ring) == 4096);
    CHECK(shmpipe_ring_max_message(ring) == 4088);
    shmpipe_ring *opened;
    EXPECT(shmpipe_open(ring_name(prefix, 1), 0, &opened), SHMPIPE_OK);
    shmpipe_writer *w;
    shmpipe_reader *r;
    EXPECT(shmpipe_ring_writer(ring, &w), SHMPIPE_OK);
    shmpipe_writer *w2;
    EXPECT(shmpipe_ring_writer(opened, &w2), SHMPIPE_ALREADY_ATTACHED);
    CHECK(w2 == NULL);
    EXPECT(shmpipe_ring_reader(opened, &r), SHMPIPE_OK);
    EXPECT(shmpipe_ring_close(opened), SHMPIPE_OK);

    /* Empty, timeouts, NULL data with a length. */
    char buf[64];
    EXPECT(shmpipe_try_recv(r, buf, sizeof buf, &len), SHMPIPE_EMPTY);
    EXPECT(shmpipe_recv_timeout(r, buf, sizeof buf, &len, 20), SHMPIPE_TIMED_OUT);
    EXPECT(shmpipe_send(w, NULL, 3), SHMPIPE_INVALID_ARGUMENT);
    EXPECT(shmpipe_recv(r, NULL, 3, &len), SHMPIPE_INVALID_ARGUMENT);
    EXPECT(shmpipe_recv(r, buf, sizeof buf, NULL), SHMPIPE_INVALID_ARGUMENT);

    /* A message too big for the buffer stays in the ring, its length reported. */
    EXPECT(shmpipe_send(w, "hello, world", 12), SHMPIPE_OK);
    EXPECT(shmpipe_recv(r, buf, 5, &len), SHMPIPE_BUFFER_TOO_SMALL);
    CHECK(len == 12);
    EXPECT(shmpipe_recv(r, NULL, 0, &len), SHMPIPE_BUFFER_TOO_SMALL);
    CHECK(len == 12);
    EXPECT(shmpipe_recv(r, buf, sizeof buf, &len), SHMPIPE_OK);
    CHECK(len == 12 && memcmp(buf, "hello, world", 12) == 0);

    /* An empty message is not end-of-stream. */
    EXPECT(shmpipe_send(w, NULL, 0), SHMPIPE_OK);
    EXPECT(shmpipe_try_recv(r, NULL, 0, &len), SHMPIPE_OK);
    CHECK(len == 0);

    /* Too large, full, send timeout. */
    static char big[8192];
    EXPECT(shmpipe_send(w, big, 4089), SHMPIPE_TOO_LARGE);
    CHECK(strstr(shmpipe_last_error(), "4089") != NULL);
    int sent = 0, rc;
    while ((rc = shmpipe_try_send(w, big, 1000)) == SHMPIPE_OK)
        sent++;
    CHECK(rc == SHMPIPE_FULL && sent >= 3 && sent <= 4);
    EXPECT(shmpipe_try_send(w, big, 1000), SHMPIPE_FULL);
    EXPECT(shmpipe_send_timeout(w, big, 1000, 20), SHMPIPE_TIMED_OUT);
    void *room = (void *)1;
    EXPECT(shmpipe_try_reserve(w, 1000, &room), SHMPIPE_FULL);
    CHECK(room == NULL);
    EXPECT(shmpipe_reserve_timeout(w, 1000, &room, 20), SHMPIPE_TIMED_OUT);
    for (int i = 0; i < sent; i++) {
        EXPECT(shmpipe_recv(r, big, sizeof big, &len), SHMPIPE_OK);
        CHECK(len == 1000);
    }
    EXPECT(shmpipe_try_recv(r, big, sizeof big, &len), SHMPIPE_EMPTY);

    /* Zero-copy send: reserve, write in place, commit part; busy meanwhile. */
    EXPECT(shmpipe_commit(w, 1), SHMPIPE_NOTHING_HELD);
    EXPECT(shmpipe_abandon(w), SHMPIPE_NOTHING_HELD);
    EXPECT(shmpipe_reserve(w, 16, &room), SHMPIPE_OK);
    CHECK(room != NULL);
    memcpy(room, "in place, zero copy", 16);
    EXPECT(shmpipe_send(w, "x", 1), SHMPIPE_BUSY);
    EXPECT(shmpipe_reserve(w, 1, &room), SHMPIPE_BUSY);
    CHECK(room == NULL);
    EXPECT(shmpipe_commit(w, 17), SHMPIPE_INVALID_ARGUMENT); /* still held */
    EXPECT(shmpipe_commit(w, 8), SHMPIPE_OK);
    EXPECT(shmpipe_reserve(w, 4, &room), SHMPIPE_OK);
    EXPECT(shmpipe_abandon(w), SHMPIPE_OK);

    /* Zero-copy receive: lent in place until released; busy meanwhile. */
    const void *data = (const void *)1;
    EXPECT(shmpipe_release(r), SHMPIPE_NOTHING_HELD);
    EXPECT(shmpipe_recv_ref(r, &data, &len), SHMPIPE_OK);
    CHECK(len == 8 && memcmp(data, "in place", 8) == 0);
    EXPECT(shmpipe_recv(r, buf, sizeof buf, &len), SHMPIPE_BUSY);
    EXPECT(shmpipe_try_recv_ref(r, &data, &len), SHMPIPE_BUSY);
    CHECK(data == NULL && len == 0);
    EXPECT(shmpipe_release(r), SHMPIPE_OK);
    EXPECT(shmpipe_try_recv_ref(r, &data, &len), SHMPIPE_EMPTY);
    EXPECT(shmpipe_recv_ref_timeout(r, &data, &len, 20), SHMPIPE_TIMED_OUT);
    EXPECT(shmpipe_recv_ref(r, NULL, &len), SHMPIPE_INVALID_ARGUMENT);

    /* End-of-stream after the last message, and again after that. */
    EXPECT(shmpipe_send(w, "last", 4), SHMPIPE_OK);
    EXPECT(shmpipe_reserve(w, 4, &room), SHMPIPE_OK); /* abandoned by the close */
    EXPECT(shmpipe_writer_close(w), SHMPIPE_OK);
    EXPECT(shmpipe_recv_ref(r, &data, &len), SHMPIPE_OK);
    CHECK(len == 4 && memcmp(data, "last", 4) == 0);
    EXPECT(shmpipe_release(r), SHMPIPE_OK);
    EXPECT(shmpipe_recv(r, buf, sizeof buf, &len), SHMPIPE_END_OF_STREAM);
    CHECK(len == 0);
    EXPECT(shmpipe_recv_ref(r, &data, &len), SHMPIPE_END_OF_STREAM);
    CHECK(data == NULL);
    EXPECT(shmpipe_ring_writer(ring, &w), SHMPIPE_CLOSED); /* a ring is used once */
    EXPECT(shmpipe_reader_close(r), SHMPIPE_OK);
    EXPECT(shmpipe_ring_close(ring), SHMPIPE_OK);

    /* The reader closes first: the writer's send fails with CLOSED, not SIGPIPE. */
    EXPECT(shmpipe_create(ring_name(prefix, 2), 1024, &ring), SHMPIPE_OK);
    EXPECT(shmpipe_ring_writer(ring, &w), SHMPIPE_OK);
    EXPECT(shmpipe_ring_reader(ring, &r), SHMPIPE_OK);
    EXPECT(shmpipe_send(w, "unread", 6), SHMPIPE_OK);
    EXPECT(shmpipe_recv_ref(r, &data, &len), SHMPIPE_OK);
    EXPECT(shmpipe_reader_close(r), SHMPIPE_OK); /* releases the lent message, then closes */
    EXPECT(shmpipe_send(w, "x", 1), SHMPIPE_CLOSED);
    CHECK(strstr(shmpipe_last_error(), "closed") != NULL);
    EXPECT(shmpipe_writer_close_wait(w, 1000), SHMPIPE_OK); /* nothing left unread */
    EXPECT(shmpipe_ring_close(ring), SHMPIPE_OK);

    /* close_wait: the reader closes with messages unread. */
    EXPECT(shmpipe_create(ring_name(prefix, 3), 1024, &ring), SHMPIPE_OK);
    EXPECT(shmpipe_ring_writer(ring, &w), SHMPIPE_OK);
    EXPECT(shmpipe_ring_reader(ring, &r), SHMPIPE_OK);
    EXPECT(shmpipe_send(w, "unread", 6), SHMPIPE_OK);
    EXPECT(shmpipe_writer_close_wait(w, 20), SHMPIPE_TIMED_OUT);
    EXPECT(shmpipe_reader_close(r), SHMPIPE_OK);
    EXPECT(shmpipe_ring_close(ring), SHMPIPE_OK);

    /* Names are removed once both sides attached; remove works before that. */
    EXPECT(shmpipe_open(ring_name(prefix, 1), 0, &ring), SHMPIPE_NOT_FOUND);
    EXPECT(shmpipe_create(ring_name(prefix, 4), 1024, &ring), SHMPIPE_OK);
    EXPECT(shmpipe_remove(ring_name(prefix, 4)), SHMPIPE_OK);
    EXPECT(shmpipe_open(ring_name(prefix, 4), 0, &opened), SHMPIPE_NOT_FOUND);
    EXPECT(shmpipe_ring_close(ring), SHMPIPE_OK);

    printf("api_test: %d checks passed\n", checks);
    return 0;
}
