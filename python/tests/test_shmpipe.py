"""The Python binding: the API in one process, then across processes with the Rust command and
the C programs. Every wait has a timeout; every ring has a unique name."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import shmpipe

T = 30  # seconds: the deadline of any one wait


def seed_blocks():
    return [bytes([ord("A") + i]) * 1023 for i in range(5)]


# ---- one process ------------------------------------------------------------------------------


def test_send_recv_iterate_until_end_of_stream(name):
    ring = shmpipe.create(name, 4096)
    assert ring.capacity == 4096 and ring.max_message == 4088
    with ring.writer() as writer, shmpipe.open(name, timeout=T).reader() as reader:
        writer.send(b"bytes")
        writer.send(bytearray(b"bytearray"))
        writer.send(memoryview(b"..memoryview")[2:])
        writer.send(b"")
        assert reader.recv(timeout=T) == b"bytes"
        writer.close()
        writer.close()  # twice does nothing
        assert list(reader) == [b"bytearray", b"memoryview", b""]
        assert reader.recv(timeout=T) is None  # end-of-stream, again
    with pytest.raises(ValueError, match="closed"):
        reader.recv()
    with pytest.raises(ValueError, match="closed"):
        writer.send(b"x")


def test_timeouts_empty_and_full(name):
    ring = shmpipe.create(name, 64)
    writer, reader = ring.writer(), ring.reader()
    with pytest.raises(shmpipe.Empty):
        reader.recv(timeout=0)
    start = time.monotonic()
    with pytest.raises(shmpipe.Timeout):
        reader.recv(timeout=0.05)
    assert 0.04 < time.monotonic() - start < T
    writer.send(b"x" * 56, timeout=0)  # 8 + 56 bytes: the ring is full
    with pytest.raises(shmpipe.Full):
        writer.send(b"y", timeout=0)
    with pytest.raises(shmpipe.Timeout):
        writer.send(b"y", timeout=0.05)
    assert reader.recv(timeout=0) == b"x" * 56
    writer.send(b"y", timeout=0)
    with pytest.raises(ValueError):
        reader.recv(timeout=-1)
    with pytest.raises(shmpipe.NotFound):
        shmpipe.open(name + "-missing", timeout=0)
    with pytest.raises(shmpipe.Timeout):
        shmpipe.open(name + "-missing", timeout=0.05)


def test_errors_are_exceptions(name):
    with pytest.raises(ValueError, match="power of two"):
        shmpipe.create(name, 1000)
    with pytest.raises(ValueError):
        shmpipe.create("a/b")
    ring = shmpipe.create(name, 1024)
    with pytest.raises(shmpipe.AlreadyExists):
        shmpipe.create(name, 1024)
    writer = ring.writer()
    with pytest.raises(shmpipe.AlreadyAttached):
        ring.writer()
    with pytest.raises(shmpipe.TooLarge):
        writer.send(bytes(1017))
    reader = ring.reader()
    reader.close()
    with pytest.raises(shmpipe.Closed) as caught:
        writer.send(b"to nobody")
    assert isinstance(caught.value, shmpipe.Error)
    with pytest.raises(shmpipe.Closed):
        ring.reader()  # a ring is used once


def test_recv_view_is_zero_copy_and_held_while_viewed(name):
    ring = shmpipe.create(name, 64)
    writer, reader = ring.writer(), ring.reader()
    writer.send(b"0123456789" * 5)
    view = reader.recv_view(timeout=T)
    assert view.readonly and bytes(view) == b"0123456789" * 5 and len(view) == 50
    with pytest.raises(TypeError):
        view[0] = 1
    # Held: the writer cannot reuse its room, and the reader cannot move on.
    with pytest.raises(shmpipe.Full):
        writer.send(b"z" * 40, timeout=0)
    part = view[10:20]
    view.release()
    with pytest.raises(BufferError):
        reader.recv(timeout=0)  # `part` still points into the ring
    with pytest.raises(BufferError):
        reader.close()
    assert bytes(part) == b"0123456789"
    part.release()  # the last view: the record goes back to the writer now
    writer.send(b"z" * 40, timeout=0)
    with reader.recv_view(timeout=T) as v:
        assert bytes(v) == b"z" * 40
        exporter = v.obj
    with pytest.raises(ValueError):
        v.tobytes()  # released with the block
    with pytest.raises(BufferError, match="given back"):
        memoryview(exporter)
    writer.send(b"after", timeout=0)
    assert reader.recv(timeout=T) == b"after"
    writer.close()
    assert reader.recv_view(timeout=T) is None


def test_a_view_outlives_a_dropped_reader(name):
    ring = shmpipe.create(name, 256)
    writer, reader = ring.writer(), ring.reader()
    writer.send(b"kept alive")
    view = reader.recv_view(timeout=T)
    del reader, ring
    assert bytes(view) == b"kept alive"
    with pytest.raises(shmpipe.Full):
        writer.send(b"x" * 230, timeout=0)  # still held: 24 + 8 + 232 > 256
    view.release()  # the reader goes with its last view: closed
    with pytest.raises(shmpipe.Closed):
        writer.send(b"x", timeout=T)


def test_blocking_releases_the_gil(name):
    ring = shmpipe.create(name, 1024)
    writer, reader = ring.writer(), ring.reader()
    got = []
    thread = threading.Thread(target=lambda: got.append(reader.recv(timeout=T)))
    thread.start()
    # While the thread blocks in recv, this thread runs Python code and sends.
    spins = 0
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        spins += 1
    writer.send(b"from the main thread")
    thread.join(T)
    assert not thread.is_alive()
    assert got == [b"from the main thread"]
    assert spins > 1000


def test_a_handle_used_by_two_threads_at_once_is_an_error(name):
    ring = shmpipe.create(name, 1024)
    writer, reader = ring.writer(), ring.reader()
    errors = []
    thread = threading.Thread(target=lambda: reader.recv(timeout=T))
    thread.start()
    deadline = time.monotonic() + T
    while not errors and time.monotonic() < deadline:
        try:
            reader.recv(timeout=0)
        except RuntimeError as e:
            errors.append(e)
        except shmpipe.Empty:
            time.sleep(0.001)
    writer.send(b"wake")
    thread.join(T)
    assert errors and "another thread" in str(errors[0])


# ---- across processes: the Rust command, the C programs, Python ------------------------------


def input_file(tmp_path, data):
    """`data` in a file, to be a child's stdin (a pipe could fill while we wait)."""
    path = tmp_path / "input"
    path.write_bytes(data)
    return open(path, "rb")


def test_the_cli_writes_python_reads(name, cli, tmp_path):
    data = os.urandom(3 << 20)
    with input_file(tmp_path, data) as stdin, subprocess.Popen([cli, "write", name], stdin=stdin) as w:
        reader = shmpipe.open(name, timeout=T).reader()
        got = b"".join(iter(lambda: reader.recv(timeout=T), None))
        assert w.wait(T) == 0
    assert got == data


def test_python_writes_the_cli_reads(name, cli, tmp_path):
    data = os.urandom(3 << 20)
    with open(tmp_path / "out", "wb") as out:
        with subprocess.Popen([cli, "read", name], stdout=out) as reader:
            with shmpipe.create(name, 1 << 16).writer() as writer:
                for i in range(0, len(data), 20000):
                    writer.send(data[i : i + 20000], timeout=T)
                writer.close(wait=True, timeout=T)
            assert reader.wait(T) == 0
    assert (tmp_path / "out").read_bytes() == data


def test_the_c_seed_writer_to_python(name, c_bin):
    subprocess.run([f"{c_bin}/shm_write", name], check=True, timeout=T, capture_output=True)
    with shmpipe.open(name, timeout=0).reader() as reader:
        assert list(reader) == seed_blocks()


def test_python_to_the_c_seed_reader(name, c_bin):
    with subprocess.Popen([f"{c_bin}/shm_read", name], stdout=subprocess.PIPE, text=True) as p:
        with shmpipe.create(name, 64 * 1024).writer() as writer:
            for block in seed_blocks():
                writer.send(block, timeout=T)
        out, _ = p.communicate(timeout=T)
    assert p.returncode == 0
    assert "end of stream after 5 blocks, 5115 bytes" in out
    assert "block 5, 1023 bytes: EEEE" in out


def test_the_cxx_program_writes_python_reads_in_place(name, c_bin, tmp_path):
    data = os.urandom(1 << 20)
    program = [f"{c_bin}/zero_copy_cat", "write", name]
    with input_file(tmp_path, data) as stdin, subprocess.Popen(program, stdin=stdin) as w:
        reader = shmpipe.open(name, timeout=T).reader()
        got = bytearray()
        while (view := reader.recv_view(timeout=T)) is not None:
            with view:
                got += view
        assert w.wait(T) == 0
    assert got == data


def test_the_ten_line_script_reads_what_the_cli_writes(name, cli, tmp_path):
    data = os.urandom(1 << 20)
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "read_ring.py")
    with open(tmp_path / "out", "wb") as out:
        with subprocess.Popen([sys.executable, script, name, str(T)], stdout=out) as r:
            with input_file(tmp_path, data) as stdin:
                subprocess.run([cli, "write", name], stdin=stdin, check=True, timeout=T)
            assert r.wait(T) == 0
    assert (tmp_path / "out").read_bytes() == data


def test_the_write_script_to_the_c_reader(name, c_bin, tmp_path):
    data = os.urandom(1 << 20)
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "write_ring.py")
    with open(tmp_path / "out", "wb") as out:
        with subprocess.Popen([f"{c_bin}/shm_cat", "read", name], stdout=out) as r:
            with input_file(tmp_path, data) as stdin:
                subprocess.run([sys.executable, script, name], stdin=stdin, check=True, timeout=T)
            assert r.wait(T) == 0
    assert (tmp_path / "out").read_bytes() == data


def test_a_writer_killed_with_sigkill_is_peer_died(name, cli):
    writer = subprocess.Popen([cli, "write", name], stdin=subprocess.PIPE)
    try:
        reader = shmpipe.open(name, timeout=T).reader()
        writer.stdin.write(b"before the crash")
        writer.stdin.flush()
        assert reader.recv(timeout=T) == b"before the crash"
        writer.send_signal(signal.SIGKILL)
        writer.wait(T)
        with pytest.raises(shmpipe.PeerDied, match=f"pid {writer.pid}"):
            reader.recv(timeout=T)
    finally:
        writer.kill()
        writer.stdin.close()
        writer.wait(T)


def test_a_reader_killed_with_sigkill_is_peer_died(name, c_bin):
    reader = subprocess.Popen([f"{c_bin}/shm_cat", "read", name], stdout=subprocess.DEVNULL)
    try:
        writer = shmpipe.create(name, 1 << 16).writer()
        writer.send(b"hello", timeout=T)
        deadline = time.monotonic() + T
        while os.path.exists(f"/dev/shm/{name}"):  # removed once both have attached
            assert time.monotonic() < deadline
            time.sleep(0.01)
        reader.send_signal(signal.SIGKILL)
        reader.wait(T)
        with pytest.raises(shmpipe.PeerDied, match=f"pid {reader.pid}"):
            for _ in range(10000):
                writer.send(bytes(1000), timeout=T)
    finally:
        reader.kill()
        reader.wait(T)


def test_the_throughput_benchmark_runs():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
    try:
        import throughput
    finally:
        sys.path.pop(0)
    for kind in ("ring", "ring-view", "pipe"):
        rate, mbps = throughput.measure(kind, 4096, 0.05)  # asserts every message arrived
        assert rate > 0 and mbps > 0
