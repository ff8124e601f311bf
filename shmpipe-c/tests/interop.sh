#!/usr/bin/env bash
# The C API from C: tests/c/api_test.c (static, shared, as C++), then against the Rust
# command, across processes, both ways, byte for byte: the seed pair (shm_write / shm_read), a 64 MiB stream through shm_cat (C) and
# zero_copy_cat (C++), and a peer killed with SIGKILL on either side.
#
#   shmpipe-c/tests/interop.sh PATH/TO/shmpipe DIR/OF/PROGRAMS   (DIR: what `make` built)
#
# Prints one line per test and ends with a cargo-style "test result:" line. Every wait has a
# deadline; rings are named shmpipe-interop-PID-* and removed at exit. SHOW=1 also prints the
# messages the survivors of the kill -9 tests gave.
set -uo pipefail

cli=$(realpath "$1")
bin=$(realpath "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/shmpipe-interop.XXXXXX")
prefix="shmpipe-interop-$$"
T=60 # seconds any one program may run
passed=0
failed=0
background=()

cleanup() {
    local p
    for p in "${background[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$work"
    rm -f /dev/shm/"$prefix"-*
}
trap cleanup EXIT

# Prints why a test fails (the caller then returns 1).
fail() {
    echo "    $*" >&2
}

# Waits (up to 30 s) until file $1 holds at least $2 bytes.
wait_size() {
    local deadline=$((SECONDS + 30))
    while [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -lt "$2" ]; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.02
    done
}

# The seed pair's bytes: five 1023-byte blocks of 'A'..'E'.
for letter in A B C D E; do head -c 1023 /dev/zero | tr '\0' "$letter"; done >"$work/seed"
head -c $((64 << 20)) /dev/urandom >"$work/stream"

seed_c_to_cli() {
    local n="$prefix-seed1"
    timeout $T "$cli" read "$n" >"$work/out" & # waits for the ring, like a FIFO
    local reader=$!
    timeout $T "$bin/shm_write" "$n" >"$work/log" || { fail "shm_write failed"; return 1; }
    wait $reader || { fail "shmpipe read failed"; return 1; }
    cmp "$work/seed" "$work/out" || { fail "the bytes differ"; return 1; }
    grep -q "Writing Process: complete" "$work/log" || { fail "no completion line"; return 1; }
}

seed_cli_to_c() {
    local n="$prefix-seed2"
    timeout $T "$bin/shm_read" "$n" >"$work/log" &
    local reader=$!
    timeout $T "$cli" write "$n" <"$work/seed" || { fail "shmpipe write failed"; return 1; }
    wait $reader || { fail "shm_read failed"; return 1; }
    grep -q "end of stream after [0-9]* blocks, 5115 bytes" "$work/log" || { fail "$(cat "$work/log")"; return 1; }
    grep -q ": AAAAAAAAAA" "$work/log" || { fail "no block of 'A' in: $(cat "$work/log")"; return 1; }
}

seed_c_to_c() {
    local n="$prefix-seed3"
    timeout $T "$bin/shm_write" "$n" >/dev/null || { fail "shm_write failed"; return 1; }
    # The writer has closed; the reader drains the ring it left behind.
    timeout $T "$bin/shm_read" "$n" >"$work/log" || { fail "shm_read failed"; return 1; }
    grep -q "end of stream after 5 blocks, 5115 bytes" "$work/log" || { fail "$(cat "$work/log")"; return 1; }
    [ "$(grep -c "bytes: EEEE" "$work/log")" = 1 ] || { fail "block 5 is not 'E': $(cat "$work/log")"; return 1; }
}

# stream NAME WRITER... -- READER...: the 64 MiB file through a ring, compared byte for byte;
# an argument "@" stands for the ring's name.
stream() {
    local n="$prefix-$1"
    shift
    local writer=() reader=()
    while [ "$1" != "--" ]; do writer+=("${1/#@/$n}"); shift; done
    shift
    for arg in "$@"; do reader+=("${arg/#@/$n}"); done
    timeout $T "${reader[@]}" >"$work/out" &
    local r=$!
    timeout $T "${writer[@]}" <"$work/stream" || { fail "the writer failed"; return 1; }
    wait $r || { fail "the reader failed"; return 1; }
    cmp "$work/stream" "$work/out" || { fail "the bytes differ"; return 1; }
}

# The writer is killed with SIGKILL after 100000 bytes: the reader gets every byte, then a
# "died" failure (exit 1), within the deadline.
kill_writer() {
    local n="$prefix-$1" writer=$2 reader=$3
    local fifo="$work/fifo-$1"
    mkfifo "$fifo"
    if [ "$writer" = cli ]; then "$cli" write "$n" <"$fifo" & else "$bin/$writer" write "$n" <"$fifo" & fi
    local w=$!
    background+=("$w")
    local feed
    exec {feed}>"$fifo"
    head -c 100000 "$work/stream" >&$feed
    if [ "$reader" = cli ]; then
        timeout $T "$cli" read "$n" >"$work/out" 2>"$work/err" &
    else
        timeout $T "$bin/$reader" read "$n" >"$work/out" 2>"$work/err" &
    fi
    local r=$!
    wait_size "$work/out" 100000 || { fail "the reader did not get 100000 bytes"; return 1; }
    kill -9 "$w"
    wait "$w" 2>/dev/null # reaped quietly (bash would report "Killed")
    wait "$r"
    local rc=$?
    exec {feed}>&-
    [ $rc = 1 ] || { fail "the reader exited with $rc, not 1: $(cat "$work/err")"; return 1; }
    grep -q "died" "$work/err" || { fail "no 'died' in: $(cat "$work/err")"; return 1; }
    [ -z "${SHOW:-}" ] || cat "$work/err"
    head -c 100000 "$work/stream" | cmp - "$work/out" || { fail "the bytes differ"; return 1; }
}

# A reader killed with SIGKILL: the writer fails with "died" (exit 1), no SIGPIPE.
kill_reader() {
    local n="$prefix-$1" writer=$2 reader=$3
    if [ "$reader" = cli ]; then "$cli" read "$n" >/dev/null & else "$bin/$reader" read "$n" >/dev/null & fi
    local r=$!
    background+=("$r")
    local fifo="$work/fifo-$1"
    mkfifo "$fifo"
    if [ "$writer" = cli ]; then
        timeout $T "$cli" write "$n" <"$fifo" 2>"$work/err" &
    else
        timeout $T "$bin/$writer" write "$n" <"$fifo" 2>"$work/err" &
    fi
    local w=$!
    local feed
    exec {feed}>"$fifo"
    head -c 100000 "$work/stream" >&$feed
    # Wait until the ring exists and both are attached: its name is removed then.
    local deadline=$((SECONDS + 30))
    sleep 0.2
    while [ -e "/dev/shm/$n" ]; do
        [ $SECONDS -lt $deadline ] || { fail "the ring was never attached by both"; return 1; }
        sleep 0.02
    done
    kill -9 "$r"
    wait "$r" 2>/dev/null
    head -c 1000000 "$work/stream" >&$feed 2>/dev/null
    exec {feed}>&-
    wait "$w"
    local rc=$?
    [ $rc = 1 ] || { fail "the writer exited with $rc, not 1: $(cat "$work/err")"; return 1; }
    grep -q "died" "$work/err" || { fail "no 'died' in: $(cat "$work/err")"; return 1; }
    [ -z "${SHOW:-}" ] || cat "$work/err"
}

run_test() {
    local name=$1
    shift
    if "$@"; then
        echo "interop: $name ... ok"
        passed=$((passed + 1))
    else
        echo "interop: $name ... FAILED"
        failed=$((failed + 1))
    fi
}

run_test "api_test: every status code (static library)" timeout $T "$bin/api_test" "$prefix-api1"
run_test "api_test: every status code (shared library)" timeout $T "$bin/api_test_shared" "$prefix-api2"
run_test "api_test: every status code (built as C++)" timeout $T "$bin/header_cxx" "$prefix-api3"
run_test "seed pair: C shm_write -> shmpipe read" seed_c_to_cli
run_test "seed pair: shmpipe write -> C shm_read" seed_cli_to_c
run_test "seed pair: C shm_write -> C shm_read" seed_c_to_c
run_test "64 MiB: C shm_cat -> shmpipe read" stream s1 "$bin/shm_cat" write @ -- "$cli" read @
run_test "64 MiB: shmpipe write -> C shm_cat" stream s2 "$cli" write @ -- "$bin/shm_cat" read @
run_test "64 MiB: C++ zero_copy_cat -> shmpipe read" stream s3 "$bin/zero_copy_cat" write @ -- "$cli" read @
run_test "64 MiB: shmpipe write -> C++ zero_copy_cat" stream s4 "$cli" write @ -- "$bin/zero_copy_cat" read @
run_test "64 MiB: C shm_cat -> C++ zero_copy_cat (64 KiB ring)" stream s5 "$bin/shm_cat" write @ 65536 -- "$bin/zero_copy_cat" read @
run_test "kill -9: shmpipe write dies, C shm_cat reads to the end" kill_writer k1 cli shm_cat
run_test "kill -9: C shm_cat write dies, shmpipe read reads to the end" kill_writer k2 shm_cat cli
run_test "kill -9: C++ zero_copy_cat write dies, C shm_cat reads to the end" kill_writer k3 zero_copy_cat shm_cat
run_test "kill -9: shmpipe read dies, C shm_cat write fails" kill_reader k4 shm_cat cli
run_test "kill -9: C++ zero_copy_cat read dies, shmpipe write fails" kill_reader k5 cli zero_copy_cat

echo "test result: $([ $failed = 0 ] && echo ok || echo FAILED). $passed passed; $failed failed"
[ $failed = 0 ]
