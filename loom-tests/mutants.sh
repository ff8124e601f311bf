#!/usr/bin/env bash
# Evidence that the loom models bite: on a scratch copy of the source, weaken one memory
# ordering (or break one step of the sleep/wake handshake) at a time, run the loom models
# against the mutant, and record which model caught it. A mutant no model catches SURVIVES;
# the script exits non-zero if any does (except the loom-blind ones listed below, which must
# survive: if one is caught, the list is out of date and the script fails too).
#
# Usage: loom-tests/mutants.sh [MUTANT_ID...]       (default: every mutant)
#   MUTANTS_ALL=1             run every model on every mutant (default: stop at the first
#                             model that fails, trying the expected catchers first)
#   LOOM_MAX_PREEMPTIONS=N    preemption bound (default 3, as in .ci/loom)
#   MUTANTS_MODEL_TIMEOUT=S   seconds one model may run on one mutant (default 300)
#   MUTANTS_SCRATCH=DIR       where the mutated copy lives (default target/loom/mutants-src;
#                             a fixed path keeps the rebuilds incremental)
#   MUTANTS_TARGET_DIR=DIR    cargo's target directory (default target/loom/mutants: not
#                             target/loom itself, whose artifacts have the same names, as
#                             cargo's hashes do not depend on where the workspace is)
#   MUTANTS_LOGS=DIR          keep every build and model log there (default: a temporary
#                             directory, removed at the end)
#   MUTANTS_LIST=1            only print the mutants
#
# Runs locally, not in CI: about 20-30 minutes on 2 cores (see loom-tests/README.md).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scratch=${MUTANTS_SCRATCH:-$root/target/loom/mutants-src}
export CARGO_TARGET_DIR=${MUTANTS_TARGET_DIR:-$root/target/loom/mutants}
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$root/$CARGO_TARGET_DIR ;; esac
export RUSTFLAGS="--cfg loom"
export LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-3}
model_timeout=${MUTANTS_MODEL_TIMEOUT:-300}
all_models=${MUTANTS_ALL:-0}

# The mutants, as Python: id, what it does, the edits (file, exact old text that must occur
# exactly once, new text), the models expected to catch it (tried first), and, for the
# loom-blind ones, why no loom model can catch them.
read -r -d '' MUTANTS <<'PY' || true
P = "shmpipe/src/protocol.rs"
L = "shmpipe/src/layout.rs"
W = "shmpipe/src/wait.rs"
WR = "shmpipe/src/writer.rs"
R = "shmpipe/src/reader.rs"
O = "shmpipe/src/ownership.rs"
N = "shmpipe/src/notify.rs"
WS = "shmpipe/src/waitset.rs"
MUTANTS = [
  # --- every Release/Acquire/AcqRel in src/, weakened -----------------------------------
  dict(id="init-store", what="Header::initialise: init word store Release -> Relaxed",
       edits=[(L, "id.init.store(INIT_READY, Ordering::Release)", "id.init.store(INIT_READY, Ordering::Relaxed)")],
       expect=["opener_waits_for_initialised_header"]),
  dict(id="init-load", what="Header::is_ready: init word load Acquire -> Relaxed",
       edits=[(L, "self.identity.init.load(Ordering::Acquire)", "self.identity.init.load(Ordering::Relaxed)")],
       expect=["opener_waits_for_initialised_header"]),
  dict(id="publish-store", what="WriterState::publish: write position store Release -> Relaxed",
       edits=[(P, ".store(self.published, Ordering::Release)", ".store(self.published, Ordering::Relaxed)")],
       expect=["one_record"]),
  dict(id="publish-load", what="ReaderState::refresh_write: write position load Acquire -> Relaxed",
       edits=[(P, "let write = ring.header.writer.position.load(Ordering::Acquire);\n        if !self.write_is_valid(ring, write) {",
                  "let write = ring.header.writer.position.load(Ordering::Relaxed);\n        if !self.write_is_valid(ring, write) {")],
       expect=["one_record"]),
  dict(id="publish-load-fast", what="ReaderState::more_published (first look of every receive, and of recv_values' runs): write position load Acquire -> Relaxed",
       edits=[(P, "let write = ring.header.writer.position.load(Ordering::Acquire);\n        if write == self.released || !self.write_is_valid(ring, write) {\n            self.slip.after_look(0, ring.capacity);",
                  "let write = ring.header.writer.position.load(Ordering::Relaxed);\n        if write == self.released || !self.write_is_valid(ring, write) {\n            self.slip.after_look(0, ring.capacity);")],
       expect=["one_record", "values_stream_in_runs"]),
  dict(id="reader-attach-write-load", what="ReaderState::attach: write position load Acquire -> Relaxed",
       edits=[(P, "`reader_attaches_mid_stream` (a data\n        // race).\n        let write = ring.header.writer.position.load(Ordering::Acquire);",
                  "`reader_attaches_mid_stream` (a data\n        // race).\n        let write = ring.header.writer.position.load(Ordering::Relaxed);")],
       expect=["reader_attaches_mid_stream"]),
  dict(id="release-store", what="ReaderState::publish: read position store Release -> Relaxed",
       edits=[(P, ".store(self.released, Ordering::Release)", ".store(self.released, Ordering::Relaxed)")],
       expect=["stream_wraps_with_padding"]),
  dict(id="release-load", what="WriterState::refresh_read: read position load Acquire -> Relaxed",
       edits=[(P, "let read = ring.header.reader.position.load(Ordering::Acquire);\n        if read % 8 != 0 || read < self.cached_read",
                  "let read = ring.header.reader.position.load(Ordering::Relaxed);\n        if read % 8 != 0 || read < self.cached_read")],
       expect=["stream_wraps_with_padding"]),
  dict(id="writer-attach-read-load", what="WriterState::attach: read position load Acquire -> Relaxed",
       edits=[(P, "let read = ring.header.reader.position.load(Ordering::Acquire);\n        // Relaxed: only the holder of the writer role",
                  "let read = ring.header.reader.position.load(Ordering::Relaxed);\n        // Relaxed: only the holder of the writer role")],
       expect=["writer_takes_over_from_dead_writer"]),
  dict(id="close-store", what="WriterState::close: writer state store Release -> Relaxed",
       edits=[(P, ".writer\n            .state\n            .store(STATE_CLOSED, Ordering::Release)",
                  ".writer\n            .state\n            .store(STATE_CLOSED, Ordering::Relaxed)")],
       expect=["writer_close_with_records_in_flight"]),
  dict(id="close-load", what="ReaderState::poll: writer state load Acquire -> Relaxed",
       edits=[(P, "ring.header.writer.state.load(Ordering::Acquire)", "ring.header.writer.state.load(Ordering::Relaxed)")],
       expect=["writer_close_with_records_in_flight"]),
  dict(id="reader-close-store", what="ReaderState::close: reader state store Release -> Relaxed",
       edits=[(P, ".reader\n            .state\n            .store(STATE_CLOSED, Ordering::Release)",
                  ".reader\n            .state\n            .store(STATE_CLOSED, Ordering::Relaxed)")],
       expect=["writer_waits_until_the_reader_drained"]),
  dict(id="drained-load", what="WriterState::drained: reader state load Acquire -> Relaxed",
       edits=[(P, "ring.header.reader.state.load(Ordering::Acquire)", "ring.header.reader.state.load(Ordering::Relaxed)")],
       expect=["writer_waits_until_the_reader_drained"]),
  dict(id="claim-cas", what="claim: owner compare-exchange Acquire -> Relaxed",
       edits=[(O, ".compare_exchange(current, me, Ordering::Acquire, Ordering::Relaxed)",
                  ".compare_exchange(current, me, Ordering::Relaxed, Ordering::Relaxed)")],
       expect=["both_attach_one_sees_the_other", "role_claim_race"]),
  dict(id="both-attached", what="both_attached: fetch_add Release -> Relaxed",
       edits=[(P, "owner.fetch_add(0, Ordering::Release)", "owner.fetch_add(0, Ordering::Relaxed)")],
       expect=["both_attach_one_sees_the_other"]),
  dict(id="announce-store", what="mark_sleeping: swap -> plain store",
       edits=[(P, "own.wake.swap(WAKE_SLEEPING, Ordering::Relaxed);", "own.wake.store(WAKE_SLEEPING, Ordering::Relaxed);")],
       expect=["reader_sleeps_on_empty_and_is_woken", "writer_sleeps_on_full_and_is_woken"]),
  dict(id="wake-load", what="peer_needs_wake: the reset swap -> a load (the sleeper's word is not reset)",
       edits=[(P, "peer.wake.swap(WAKE_IDLE, Ordering::Relaxed) == WAKE_SLEEPING", "peer.wake.load(Ordering::Relaxed) == WAKE_SLEEPING")],
       expect=["reader_sleeps_on_empty_and_is_woken", "writer_sleeps_on_full_and_is_woken"]),
  dict(id="publish-fence", what="peer_needs_wake: no fence between the publish and the look at the peer's wake word (the publisher's half of the asymmetric fence)",
       edits=[(P, "    fence::publish_fence();\n", "")],
       expect=["reader_sleeps_on_empty_and_is_woken", "writer_sleeps_on_full_and_is_woken"]),
  dict(id="sleep-fence", what="sleep_fence: no fence between the announcement and the re-check (the sleeper's half of the asymmetric fence)",
       edits=[(P, "    fence::sleep_fence();\n", "")],
       expect=["reader_sleeps_on_empty_and_is_woken", "writer_sleeps_on_full_and_is_woken"]),
  dict(id="check-then-announce", what="wait_for: re-check before announcing the sleep, not after",
       edits=[(W, "protocol::announce_sleep(own);\n        if let Some(result) = attempt().done() {", "if let Some(result) = attempt().done() {"),
              (W, "os::futex_wait(&own.wake, WAKE_SLEEPING, slice);", "protocol::announce_sleep(own);\n        os::futex_wait(&own.wake, WAKE_SLEEPING, slice);")],
       expect=["reader_sleeps_on_empty_and_is_woken", "writer_sleeps_on_full_and_is_woken"]),
  dict(id="close-drops-publish-wake", what="Writer::close_now: forget the wake-up its final publish asked for (the close's own publish then has nothing pending)",
       edits=[(WR, "            published,\n            || state.close(&ring),", "            crate::protocol::Wake::default(),\n            || state.close(&ring),")],
       expect=["writer_close_publishes_pending_padding"]),
  dict(id="reader-close-no-wake", what="ReaderState::close: no wake-up after the state store",
       edits=[(P, "peer_needs_wake(&ring.header.writer).or(woke)", "{ let _ = peer_needs_wake; woke }")],
       expect=["reader_close_while_writer_blocked"]),
  # --- protocol steps the models must also notice ---------------------------------------
  dict(id="async-no-recheck", what="notify::poll_side: register the waker without re-checking after the announcement",
       edits=[(N, "    if let Some(result) = attempt(handle).done() {\n        finish(parked, handle);\n        return Poll::Ready(result);\n    }\n", "")],
       expect=["async_reader_parks_and_is_woken"]),
  dict(id="async-waiter-ignores-reset", what="notify::Registry::run: wake only tasks whose liveness check is due, not those whose word the peer reset",
       edits=[(N, "let reset = e.word().load(Ordering::Relaxed) != WAKE_SLEEPING;", "let reset = false && e.word().load(Ordering::Relaxed) != WAKE_SLEEPING;")],
       expect=["async_reader_parks_and_is_woken"]),
  dict(id="waitset-no-recheck", what="WaitSet::wait_until: sleep without re-checking the rings after the announcement",
       edits=[(WS, "            let ready = self.ready_now();\n            if !ready.is_empty() {\n                self.announce_all(false);\n                return ready;\n            }\n", "")],
       expect=["waitset_sleeps_and_is_woken"]),
  dict(id="batch-no-publish-before-wait", what="Writer::place: do not publish a batch's pending records before waiting",
       edits=[(WR, "if state.has_pending() {\n                        state.publish(ring).redeem();", "if false && state.has_pending() {\n                        state.publish(ring).redeem();")],
       expect=["batch_publish"]),
  dict(id="skipped-padding-unpublished", what="Reader::next_slow: do not publish released records (skipped padding, a batch) before waiting",
       edits=[(R, "would otherwise wait for ever.\n                    state.publish_skipped(&ring).redeem();",
                  "would otherwise wait for ever.\n                    if false {\n                        state.publish_skipped(&ring).redeem();\n                    }")],
       expect=["receive_batch_publishes_deferred_releases_before_waiting", "zero_copy_reserve_commit_and_in_place_receive"]),
  dict(id="claim-not-atomic", what="claim: load-then-store instead of compare-exchange",
       edits=[(O, "match line\n            .owner\n            .compare_exchange(current, me, Ordering::Acquire, Ordering::Relaxed)\n        {",
                  "match {\n            crate::sync::spin_hint();\n            line.owner.store(me, Ordering::Relaxed);\n            Ok::<u64, u64>(current)\n        } {")],
       expect=["role_claim_race"]),
  # --- ownership: the kernel's locks (issue 9/12) ----------------------------------------
  dict(id="close-without-transition", what="release_locks: close the handle's description without holding the transition lock",
       edits=[(O, "    let mut tries = 0;\n    loop {\n        match locks.try_lock_own(&closer, transition_byte(role)) {",
                  "    let mut tries = 0;\n    while false {\n        match locks.try_lock_own(&closer, transition_byte(role)) {")],
       expect=["forked_writer_closes_with_its_last_copy"]),
  dict(id="close-not-last-holder", what="release_locks: store CLOSED whether or not a copy of the handle lives on",
       edits=[(O, "        Ok(true) => close(),\n        // Another copy", "        _ if true => close(),\n        // Another copy")],
       expect=["forked_writer_closes_with_its_last_copy"]),
  dict(id="claim-without-transition", what="claim_locks: take the hold lock without waiting for the transition lock",
       edits=[(O, "    while !locks\n        .try_lock_own(&own, transition_byte(role))", "    while false && !locks\n        .try_lock_own(&own, transition_byte(role))")],
       expect=["claim_after_close_is_refused"]),
  dict(id="both-attached-load", what="both_attached: read-modify-write -> load (Acquire)",
       edits=[(P, "ring.side(other).owner.fetch_add(0, Ordering::Release) != 0", "ring.side(other).owner.load(Ordering::Acquire) != 0")],
       expect=["both_attach_one_sees_the_other"]),
  dict(id="run-released-early", what="Reader::finish_current_then: release a run of values with its first value",
       edits=[(R, "self.take_current(record.message_at(consumed), release);", "self.take_current(record.len, release);")],
       expect=["a_run_of_values_is_released_after_its_last_value"]),
  dict(id="values-ref-released-at-lend", what="RecvBatch::values_ref: release the values when they are lent, not when the guard drops",
       edits=[(R, "        let lent = unsafe { self.reader.memory.ring().data.lend(offset, bytes) };\n", "        let lent = unsafe { self.reader.memory.ring().data.lend(offset, bytes) };\n        self.reader.take_current(bytes, Release::Now);\n")],
       expect=["values_in_place_are_released_when_the_guard_drops"]),
  dict(id="grant-no-end-access", what="Grant::commit: publish while the grant's bytes are still lent",
       edits=[(WR, "#[allow(clippy::drop_non_drop)]\n        drop(lent);", "let _keep = lent;")],
       expect=["zero_copy_reserve_commit_and_in_place_receive"]),
]
# Orderings no loom model can tell apart (see loom-tests/README.md): must survive.
LOOM_BLIND = {
  "claim-cas": "C11 store buffering on two RMWs; loom orders the RMWs of one word totally",
  "both-attached": "C11 store buffering on two RMWs; loom orders the RMWs of one word totally",
  "reader-close-store": "the model's publish fence is a SeqCst fence (what membarrier makes it), which also releases the final read position before the close; the shipped build's compiler barrier does not",
}
PY

models=(one_record stream_wraps_with_padding full_and_empty_boundaries
    zero_copy_reserve_commit_and_in_place_receive batch_publish
    writer_close_with_records_in_flight writer_close_publishes_pending_padding
    reader_close_while_writer_blocked
    reader_sleeps_on_empty_and_is_woken writer_sleeps_on_full_and_is_woken role_claim_race
    both_attach_one_sees_the_other opener_waits_for_initialised_header
    reader_attaches_mid_stream writer_takes_over_from_dead_writer
    forked_writer_closes_with_its_last_copy claim_after_close_is_refused
    async_reader_parks_and_is_woken waitset_sleeps_and_is_woken
    death_watch_fires_while_the_reader_waits a_run_of_values_is_released_after_its_last_value
    values_in_place_are_released_when_the_guard_drops)

py() { python3 -c "$MUTANTS"$'\n'"$1" "${@:2}"; }

# id<TAB>expected models<TAB>loom-blind reason, one mutant a line.
mutant_table=$(py '
for m in MUTANTS:
    print("\x1f".join([m["id"], " ".join(m["expect"]), LOOM_BLIND.get(m["id"], ""), m["what"]]))')

# Every Release, Acquire, AcqRel and SeqCst in src/ must be weakened by some mutant.
(cd "$root" && py '
import re, subprocess, sys
hits = subprocess.run(["grep", "-rnE", "Ordering::(Release|Acquire|AcqRel|SeqCst)", "src"],
                      capture_output=True, text=True).stdout.splitlines()
covered = set()
for m in MUTANTS:
    for path, old, new in m["edits"]:
        text = open(path).read()
        at = text.find(old)
        if at < 0:
            continue
        first = text.count("\n", 0, at) + 1
        for k, (a, b) in enumerate(zip(old.split("\n"), new.split("\n"))):
            if a != b:
                covered.add((path, first + k))
missing = [h for h in hits if (h.split(":")[0], int(h.split(":")[1])) not in covered]
if missing:
    sys.exit("orderings no mutant weakens (add them to loom-tests/mutants.sh):\n" + "\n".join(missing))
')

if [[ ${MUTANTS_LIST:-0} == 1 ]]; then
    printf '%s\n' "$mutant_table" | awk -F$'\x1f' '{printf "%-30s %s\n", $1, $4}'
    exit 0
fi

selected=("$@")
if [[ ${#selected[@]} -eq 0 ]]; then
    mapfile -t selected < <(printf '%s\n' "$mutant_table" | cut -d$'\x1f' -f1)
fi

# A fresh copy of the sources (the workspace manifest and every member, which cargo needs to
# parse the workspace; the library and the models are what the mutants change).
fresh_copy() {
    mkdir -p "$scratch"
    rm -rf "$scratch/shmpipe" "$scratch/shmpipe-cli" "$scratch/shmpipe-bench" "$scratch/shmpipe-c" "$scratch/loom-tests"
    cp "$root/Cargo.toml" "$root/Cargo.lock" "$scratch/"
    [[ -f $root/clippy.toml ]] && cp "$root/clippy.toml" "$scratch/"
    for member in shmpipe shmpipe-cli shmpipe-bench shmpipe-c loom-tests; do
        mkdir -p "$scratch/$member"
        (cd "$root/$member" && tar cf - --exclude=./target .) | (cd "$scratch/$member" && tar xmf -)
    done
}

apply_mutant() {
    (cd "$scratch" && py '
import sys
id = sys.argv[1]
m = next(m for m in MUTANTS if m["id"] == id)
for path, old, new in m["edits"]:
    text = open(path).read()
    n = text.count(old)
    if n != 1:
        sys.exit(f"mutant {id}: expected the text to occur once in {path}, found {n}:\n{old}")
    open(path, "w").write(text.replace(old, new))
' "$1")
}

build() {
    local log=$1
    (cd "$scratch" && timeout 900 cargo test -p loom-tests --release --test models --no-run) >"$log" 2>&1 || return 1
    sed -n 's/.*Executable tests\/models.rs (\(.*\))$/\1/p' "$log" | tail -1
}

# Runs one model; prints how it ended: "ok", or what failed.
run_model() {
    local bin=$1 model=$2 log=$3 rc=0
    (cd "$scratch" && timeout "$model_timeout" "$bin" --exact "$model" --test-threads=1) >"$log" 2>&1 || rc=$?
    if [[ $rc == 0 ]] && grep -q '1 passed' "$log"; then
        echo ok
    elif [[ $rc == 124 ]]; then
        echo "timeout"
    elif grep -q 'Causality violation' "$log"; then
        echo "data race"
    elif grep -q 'currently writing to cell\|currently reading from cell' "$log"; then
        echo "overlapping access"
    elif grep -qi 'deadlock' "$log"; then
        echo "deadlock"
    elif grep -q 'max_branches\|maximum number of branches' "$log"; then
        echo "livelock"
    else
        echo "assertion"
    fi
}

if [[ -n ${MUTANTS_LOGS:-} ]]; then
    logs=$MUTANTS_LOGS
    mkdir -p "$logs"
else
    logs=$(mktemp -d)
    trap 'rm -rf "$logs"' EXIT
fi
start=$(date +%s)

echo "== baseline (no mutant), LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS"
fresh_copy
bin=$(build "$logs/build-baseline") || { cat "$logs/build-baseline"; echo "baseline build failed"; exit 2; }
for model in "${models[@]}"; do
    outcome=$(run_model "$bin" "$model" "$logs/baseline-$model")
    if [[ $outcome != ok ]]; then
        tail -30 "$logs/baseline-$model"
        echo "baseline: $model fails ($outcome) without any mutant"
        exit 2
    fi
done
echo "   every model passes"

results=()
bad=0
for id in "${selected[@]}"; do
    line=$(printf '%s\n' "$mutant_table" | awk -F$'\x1f' -v id="$id" '$1 == id')
    [[ -n $line ]] || { echo "no mutant $id"; exit 2; }
    IFS=$'\x1f' read -r _ expect blind what <<<"$line"
    t0=$(date +%s)
    fresh_copy
    apply_mutant "$id"
    if ! bin=$(build "$logs/build-$id"); then
        tail -30 "$logs/build-$id"
        echo "mutant $id does not build"
        exit 2
    fi
    order=()
    for model in $expect "${models[@]}"; do
        [[ " ${order[*]} " == *" $model "* ]] || order+=("$model")
    done
    caught=()
    for model in "${order[@]}"; do
        outcome=$(run_model "$bin" "$model" "$logs/$id-$model")
        if [[ $outcome != ok ]]; then
            caught+=("$model ($outcome)")
            [[ $all_models == 1 ]] || break
        fi
    done
    secs=$(( $(date +%s) - t0 ))
    if [[ ${#caught[@]} -gt 0 ]]; then
        verdict=$(IFS=,; echo "${caught[*]}" | sed 's/,/, /g')
        [[ -z $blind ]] || { verdict="CAUGHT, but listed as loom-blind: $verdict"; bad=1; }
    elif [[ -n $blind ]]; then
        verdict="survives (loom-blind: $blind)"
    else
        verdict="SURVIVED"
        bad=1
    fi
    printf '%-30s %4ss  %s\n' "$id" "$secs" "$verdict"
    results+=("$id"$'\x1f'"$what"$'\x1f'"$verdict")
done

echo
echo "== mutants (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, $(( $(date +%s) - start ))s in all)"
printf '| %s | %s | %s |\n' "mutant" "change" "caught by"
printf '|---|---|---|\n'
for r in "${results[@]}"; do
    IFS=$'\x1f' read -r id what verdict <<<"$r"
    printf '| `%s` | %s | %s |\n' "$id" "$what" "$verdict"
done
exit $bad
