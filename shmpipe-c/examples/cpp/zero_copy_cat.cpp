// zero_copy_cat: shm_cat in C++, zero-copy both ways, over a small RAII wrapper of shmpipe.h.
//
//   zero_copy_cat write NAME [CAPACITY] < input   read(2)s stdin straight into the ring
//                                                 (shmpipe_reserve / shmpipe_commit)
//   zero_copy_cat read NAME > output              write(2)s each message straight from the ring
//                                                 (shmpipe_recv_ref / shmpipe_release)
//
// Either side can be the Rust command (`shmpipe write NAME` / `shmpipe read NAME`), shm_cat,
// or Python. Exit status 0 on success, 1 on failure (one line on stderr).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include "shmpipe.h"

namespace shm {

// A failed call: its status code and the library's message.
struct Error : std::runtime_error {
    int code;
    Error(const std::string &what, int code)
        : std::runtime_error(what + ": " + shmpipe_last_error()), code(code) {}
};

inline int check(int rc, const char *what) {
    if (rc != SHMPIPE_OK && rc != SHMPIPE_END_OF_STREAM) throw Error(what, rc);
    return rc;
}

struct RingClose { void operator()(shmpipe_ring *r) const { shmpipe_ring_close(r); } };
struct WriterClose { void operator()(shmpipe_writer *w) const { shmpipe_writer_close(w); } };
struct ReaderClose { void operator()(shmpipe_reader *r) const { shmpipe_reader_close(r); } };

class Writer {
  public:
    explicit Writer(shmpipe_writer *w) : w_(w) {}
    // Lends `len` bytes of the ring; commit(n) sends the first n, abandon() drops them.
    char *reserve(size_t len) {
        void *p = nullptr;
        check(shmpipe_reserve(w_.get(), len, &p), "reserve");
        return static_cast<char *>(p);
    }
    void commit(size_t len) { check(shmpipe_commit(w_.get(), len), "commit"); }
    void abandon() { check(shmpipe_abandon(w_.get()), "abandon"); }
    // Closes and waits until the reader has everything (-1: as long as needed).
    void close_wait(int64_t timeout_ms = -1) {
        check(shmpipe_writer_close_wait(w_.release(), timeout_ms), "close");
    }
  private:
    std::unique_ptr<shmpipe_writer, WriterClose> w_;
};

// One message lent in place; given back to the writer when it goes out of scope.
class Lent {
  public:
    Lent(shmpipe_reader *r, const void *data, size_t len) : r_(r), data_(data), len_(len) {}
    Lent(const Lent &) = delete;
    Lent &operator=(const Lent &) = delete;
    ~Lent() { if (data_ != nullptr) shmpipe_release(r_); }
    const char *data() const { return static_cast<const char *>(data_); }
    size_t size() const { return len_; }
    explicit operator bool() const { return data_ != nullptr; }  // false: end-of-stream
  private:
    shmpipe_reader *r_;
    const void *data_;
    size_t len_;
};

class Reader {
  public:
    explicit Reader(shmpipe_reader *r) : r_(r) {}
    Lent recv_ref() {
        const void *data = nullptr;
        size_t len = 0;
        int rc = check(shmpipe_recv_ref(r_.get(), &data, &len), "recv");
        return Lent(r_.get(), rc == SHMPIPE_OK ? data : nullptr, len);
    }
  private:
    std::unique_ptr<shmpipe_reader, ReaderClose> r_;
};

class Ring {
  public:
    static Ring create(const char *name, uint64_t capacity) {
        shmpipe_ring *r = nullptr;
        check(shmpipe_create(name, capacity, &r), "create");
        return Ring(r);
    }
    static Ring open(const char *name, int64_t timeout_ms = -1) {
        shmpipe_ring *r = nullptr;
        check(shmpipe_open(name, timeout_ms, &r), "open");
        return Ring(r);
    }
    size_t max_message() const { return shmpipe_ring_max_message(r_.get()); }
    Writer writer() {
        shmpipe_writer *w = nullptr;
        check(shmpipe_ring_writer(r_.get(), &w), "attach writer");
        return Writer(w);
    }
    Reader reader() {
        shmpipe_reader *r = nullptr;
        check(shmpipe_ring_reader(r_.get(), &r), "attach reader");
        return Reader(r);
    }
  private:
    explicit Ring(shmpipe_ring *r) : r_(r) {}
    std::unique_ptr<shmpipe_ring, RingClose> r_;
};

}  // namespace shm

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = ::write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) throw std::runtime_error(std::string("writing stdout: ") + std::strerror(errno));
        p += k;
        n -= static_cast<size_t>(k);
    }
}

static void do_write(const char *name, uint64_t capacity) {
    shm::Ring ring = shm::Ring::create(name, capacity);
    size_t chunk = std::min<size_t>(ring.max_message(), capacity / 4);
    shm::Writer writer = ring.writer();
    for (;;) {
        char *room = writer.reserve(chunk);
        ssize_t n = ::read(0, room, chunk);
        if (n < 0 && errno == EINTR) {
            writer.abandon();
            continue;
        }
        if (n <= 0) {
            writer.abandon();
            if (n < 0) throw std::runtime_error(std::string("reading stdin: ") + std::strerror(errno));
            break;
        }
        writer.commit(static_cast<size_t>(n));
    }
    writer.close_wait();
}

static void do_read(const char *name) {
    shm::Reader reader = shm::Ring::open(name).reader();
    while (shm::Lent msg = reader.recv_ref()) write_all(1, msg.data(), msg.size());
}

int main(int argc, char **argv) {
    try {
        if (argc >= 3 && std::strcmp(argv[1], "write") == 0) {
            do_write(argv[2], argc > 3 ? std::strtoull(argv[3], nullptr, 0) : 1u << 20);
            return 0;
        }
        if (argc == 3 && std::strcmp(argv[1], "read") == 0) {
            do_read(argv[2]);
            return 0;
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "zero_copy_cat: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "usage: zero_copy_cat write NAME [CAPACITY] < input\n"
                         "       zero_copy_cat read NAME > output\n");
    return 2;
}
