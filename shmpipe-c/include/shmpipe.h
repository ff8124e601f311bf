/*
 * shmpipe.h: the C API of shmpipe, a pipe in shared memory (Linux).
 *
 * A ring is a lock-free single-producer/single-consumer queue of messages in a POSIX
 * shared-memory segment (/dev/shm/NAME), with a pipe's semantics: a send waits for room, a
 * receive waits for a message, the reader sees end-of-stream once the writer closes and
 * everything was delivered, a send after the reader closed fails with SHMPIPE_CLOSED (no
 * SIGPIPE), and a peer that dies is reported as SHMPIPE_PEER_DIED. Rings are compatible with
 * the Rust library and the `shmpipe` command: `shmpipe write NAME` / `shmpipe read NAME`.
 *
 * Link with -lshmpipe_c (libshmpipe_c.so or libshmpipe_c.a, built by
 * `cargo build --release -p shmpipe-c`; the static library also needs -lpthread -ldl -lm).
 *
 * Conventions:
 * - Every function that can fail returns an int status: SHMPIPE_OK (0) or one of the codes
 *   below. shmpipe_strerror(code) describes a code; shmpipe_last_error() gives the message of
 *   the last failure on the calling thread (naming the ring, the pid of a dead peer, ...).
 * - NULL handles and pointers are reported as SHMPIPE_INVALID_ARGUMENT, never dereferenced.
 *   Output pointers are set to NULL (lengths to 0) whenever a call fails.
 * - A handle may be used by one thread at a time (it may move between threads). A closed
 *   handle must not be used again, as with free(). Closing NULL is a no-op.
 * - Timeouts are in milliseconds. Functions that take an int64_t timeout accept -1 for
 *   "forever"; other negative values are SHMPIPE_INVALID_ARGUMENT.
 *
 * This header is written by hand; shmpipe-c/tests/header.rs checks that it declares exactly
 * the functions the library exports, with the same parameter and return types, and exactly
 * the status codes, with the same values.
 */
#ifndef SHMPIPE_H
#define SHMPIPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. Values never change meaning; new codes are only ever appended. */
enum shmpipe_status {
    /* Success. */
    SHMPIPE_OK = 0,
    /* The writer closed the ring and every message was delivered (receives only). Not a
     * failure: the end of the stream, like read() returning 0. */
    SHMPIPE_END_OF_STREAM = 1,
    /* Nothing to receive now (try_ receives only). */
    SHMPIPE_EMPTY = 2,
    /* No room to send now (try_ sends and reserves only). */
    SHMPIPE_FULL = 3,
    /* The deadline of a _timeout call, or of shmpipe_open, passed first. */
    SHMPIPE_TIMED_OUT = 4,
    /* The next message is longer than the buffer: its length is in *len and it stays in the
     * ring, to be received with a larger buffer. */
    SHMPIPE_BUFFER_TOO_SMALL = 5,
    /* Sending: the reader closed the ring (a pipe's EPIPE, without SIGPIPE). Attaching: this
     * role was closed earlier; a ring is used once. */
    SHMPIPE_CLOSED = 6,
    /* The peer's process died. A reader gets it only after every message the writer
     * committed; the last-error message names the pid. */
    SHMPIPE_PEER_DIED = 7,
    /* The message can never fit in this ring (see shmpipe_ring_max_message). */
    SHMPIPE_TOO_LARGE = 8,
    /* A position, record or header in shared memory is impossible: a buggy or hostile peer. */
    SHMPIPE_CORRUPTED = 9,
    /* A NULL pointer, a negative timeout other than -1, a commit longer than the
     * reservation, or another argument the call cannot take. */
    SHMPIPE_INVALID_ARGUMENT = 10,
    /* The capacity is not a power of two from 16 bytes to 1 TiB. */
    SHMPIPE_INVALID_CAPACITY = 11,
    /* The ring name is not acceptable (empty, contains '/', too long, not UTF-8, ...). */
    SHMPIPE_INVALID_NAME = 12,
    /* The handle holds a reservation or a lent message: commit, abandon or release it first. */
    SHMPIPE_BUSY = 13,
    /* Another live process (or handle) holds this role of the ring. */
    SHMPIPE_ALREADY_ATTACHED = 14,
    /* A segment of that name already exists (creation is exclusive). */
    SHMPIPE_ALREADY_EXISTS = 15,
    /* No ring of that name (shmpipe_open with a timeout of 0, shmpipe_remove). */
    SHMPIPE_NOT_FOUND = 16,
    /* The segment exists but is not a shmpipe ring. */
    SHMPIPE_NOT_A_RING = 17,
    /* The ring was made by another layout version, endianness or pointer width. */
    SHMPIPE_INCOMPATIBLE = 18,
    /* The segment exists but its creator did not finish initialising it in time, or died
     * before it did (the message says which). */
    SHMPIPE_NOT_INITIALISED = 19,
    /* The caller may not create, open or remove the segment. */
    SHMPIPE_PERMISSION_DENIED = 20,
    /* A system limit is too small (memory, free space in /dev/shm, ...). */
    SHMPIPE_RESOURCE_LIMIT = 21,
    /* Another system call failed; the last-error message names it and the OS error. */
    SHMPIPE_OS = 22,
    /* shmpipe_commit, shmpipe_abandon or shmpipe_release with nothing held. */
    SHMPIPE_NOTHING_HELD = 23,
    /* A bug in shmpipe (a Rust panic, caught at the boundary). The handle may be unusable. */
    SHMPIPE_INTERNAL = 24,
    /* An error this version of the C API has no specific code for. */
    SHMPIPE_ERROR = 25
};

/* An open ring. Closing it does not close its writer or reader. */
typedef struct shmpipe_ring shmpipe_ring;
/* The one writer of a ring. */
typedef struct shmpipe_writer shmpipe_writer;
/* The one reader of a ring. */
typedef struct shmpipe_reader shmpipe_reader;

/* ---- Status ------------------------------------------------------------------------------ */

/* A static description of a status code ("unknown shmpipe status code" for others). */
const char *shmpipe_strerror(int code);

/* The message of the last failure on this thread ("" before any), valid until the next
 * failing call on this thread. Successful calls leave it unchanged. */
const char *shmpipe_last_error(void);

/* The library's version, e.g. "0.1.0". */
const char *shmpipe_version(void);

/* ---- Rings ------------------------------------------------------------------------------- */

/* Creates the ring NAME in POSIX shared memory (/dev/shm/NAME), exclusively, with `capacity`
 * bytes of data (a power of two; the largest message is capacity - 8). Fails with
 * SHMPIPE_ALREADY_EXISTS if the name is taken. The name is removed once both sides attach. */
int shmpipe_create(const char *name, uint64_t capacity, shmpipe_ring **out);

/* Opens the ring NAME, waiting up to timeout_ms for it to be created and initialised
 * (-1: forever, like opening a FIFO; 0: not at all, SHMPIPE_NOT_FOUND if missing).
 * SHMPIPE_TIMED_OUT if it did not appear in time. */
int shmpipe_open(const char *name, int64_t timeout_ms, shmpipe_ring **out);

/* Removes the ring name NAME, e.g. one left by a crash before both sides attached. */
int shmpipe_remove(const char *name);

/* The ring's data capacity in bytes (0 for NULL). */
uint64_t shmpipe_ring_capacity(const shmpipe_ring *ring);

/* The largest message one send can carry (0 for NULL). */
size_t shmpipe_ring_max_message(const shmpipe_ring *ring);

/* Attaches the ring's one writer. SHMPIPE_ALREADY_ATTACHED if a live process holds it,
 * SHMPIPE_CLOSED if the writer closed the ring before. */
int shmpipe_ring_writer(const shmpipe_ring *ring, shmpipe_writer **out);

/* Attaches the ring's one reader; fails like shmpipe_ring_writer. */
int shmpipe_ring_reader(const shmpipe_ring *ring, shmpipe_reader **out);

/* Frees the ring handle. Its writer and reader stay valid. */
int shmpipe_ring_close(shmpipe_ring *ring);

/* ---- Writing ----------------------------------------------------------------------------- */

/* Sends `len` bytes as one message, waiting for room as long as needed. SHMPIPE_CLOSED once
 * the reader closed, SHMPIPE_PEER_DIED if it died, SHMPIPE_TOO_LARGE if it can never fit. */
int shmpipe_send(shmpipe_writer *w, const void *data, size_t len);

/* Sends if there is room now; SHMPIPE_FULL otherwise. */
int shmpipe_try_send(shmpipe_writer *w, const void *data, size_t len);

/* Sends, waiting at most timeout_ms for room; SHMPIPE_TIMED_OUT after that. */
int shmpipe_send_timeout(shmpipe_writer *w, const void *data, size_t len, uint64_t timeout_ms);

/* Zero-copy send: reserves room for a `len`-byte message in the ring and puts its address in
 * *buf, waiting for room as long as needed. Write the message there, then shmpipe_commit (or
 * shmpipe_abandon). Until then other sends on this writer fail with SHMPIPE_BUSY. */
int shmpipe_reserve(shmpipe_writer *w, size_t len, void **buf);

/* Like shmpipe_reserve, but SHMPIPE_FULL if there is no room now. */
int shmpipe_try_reserve(shmpipe_writer *w, size_t len, void **buf);

/* Like shmpipe_reserve, but SHMPIPE_TIMED_OUT after timeout_ms. */
int shmpipe_reserve_timeout(shmpipe_writer *w, size_t len, void **buf, uint64_t timeout_ms);

/* Sends the first `len` bytes of the reservation as one message. A len larger than the
 * reservation is SHMPIPE_INVALID_ARGUMENT and keeps it; none held is SHMPIPE_NOTHING_HELD. */
int shmpipe_commit(shmpipe_writer *w, size_t len);

/* Drops the reservation without sending anything. */
int shmpipe_abandon(shmpipe_writer *w);

/* Closes the ring from the writer's side and frees the handle: the reader receives every
 * message sent, then end-of-stream. A held reservation is abandoned. */
int shmpipe_writer_close(shmpipe_writer *w);

/* Closes like shmpipe_writer_close, then waits up to timeout_ms (-1: forever) until the reader
 * has received everything. The handle is freed whatever the result: SHMPIPE_OK, or
 * SHMPIPE_CLOSED / SHMPIPE_PEER_DIED if the reader went first with messages unread,
 * SHMPIPE_TIMED_OUT, SHMPIPE_CORRUPTED. */
int shmpipe_writer_close_wait(shmpipe_writer *w, int64_t timeout_ms);

/* ---- Reading ----------------------------------------------------------------------------- */

/* Receives the next message into buf (cap bytes) and puts its length in *len, waiting as long
 * as needed. SHMPIPE_END_OF_STREAM once the writer closed and everything was delivered;
 * SHMPIPE_BUFFER_TOO_SMALL with the needed length in *len (the message stays in the ring);
 * SHMPIPE_PEER_DIED after the last message of a writer that died. buf may be NULL if cap is
 * 0, to learn the next message's length. */
int shmpipe_recv(shmpipe_reader *r, void *buf, size_t cap, size_t *len);

/* Like shmpipe_recv, but SHMPIPE_EMPTY if nothing is there now. */
int shmpipe_try_recv(shmpipe_reader *r, void *buf, size_t cap, size_t *len);

/* Like shmpipe_recv, but SHMPIPE_TIMED_OUT after timeout_ms. */
int shmpipe_recv_timeout(shmpipe_reader *r, void *buf, size_t cap, size_t *len,
                         uint64_t timeout_ms);

/* Zero-copy receive: *data and *len give the next message's bytes in the ring, readable until
 * shmpipe_release (other receives on this reader fail with SHMPIPE_BUSY meanwhile). Waits as
 * long as needed; SHMPIPE_END_OF_STREAM as shmpipe_recv. The bytes are in memory the writer's
 * process can also write: copy out what must not change under you. */
int shmpipe_recv_ref(shmpipe_reader *r, const void **data, size_t *len);

/* Like shmpipe_recv_ref, but SHMPIPE_EMPTY if nothing is there now. */
int shmpipe_try_recv_ref(shmpipe_reader *r, const void **data, size_t *len);

/* Like shmpipe_recv_ref, but SHMPIPE_TIMED_OUT after timeout_ms. */
int shmpipe_recv_ref_timeout(shmpipe_reader *r, const void **data, size_t *len,
                             uint64_t timeout_ms);

/* Gives the message lent by shmpipe_recv_ref back to the writer. */
int shmpipe_release(shmpipe_reader *r);

/* Closes the ring from the reader's side and frees the handle: the writer's next send fails
 * with SHMPIPE_CLOSED. A lent message is released first. */
int shmpipe_reader_close(shmpipe_reader *r);

#ifdef __cplusplus
}
#endif

#endif /* SHMPIPE_H */
