#!/usr/bin/env bash
# Mutation testing of firegrid's pure core (issue 17) with cargo-mutants, against each module's
# fast tests only: its crate's library unit tests and the pure table tests that exercise it
# (TESTS below) — never the end-to-end suite, which needs servers and minutes.
#
#   scripts/mutants.sh                 # every module below
#   scripts/mutants.sh topic severity  # some of them
#   MUTANTS_RE='routing\.rs:(87|133):' scripts/mutants.sh routing   # re-check some mutants only
#
# Modules: topic payload lineproto batch rules correlation severity routing escalation.
# Results go to $MUTANTS_OUT (default target/mutants)/<module>/mutants.out (caught.txt,
# missed.txt, timeout.txt, unviable.txt; log/ has each mutant's build and test output, with
# every failing test named: the tests run with --no-fail-fast). The figures of each run are in
# docs/mutation-testing.md. Exclusions (equivalent mutants, with reasons) are in
# .cargo/mutants.toml.
# Install once: cargo install cargo-mutants --locked (27.x). A full run is hours on 2 cores: each
# module's run builds the dependencies once in a scratch copy (tens of minutes here), then the
# tests per mutant. MUTANTS_IN_PLACE=1 mutates this checkout instead and reuses its warm
# target/ (10-30 s a mutant): leave the tree alone while it runs; an interrupted run can leave
# one mutated file behind (`git status`, then `git checkout -- <file>`).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A FILES=(
    [topic]="ingest/src/wire/topic.rs"
    [payload]="ingest/src/wire/payload.rs"
    [lineproto]="ingest/src/lineproto/*.rs"
    [batch]="ingest/src/batch.rs"
    [rules]="alerting/src/detect/rules/*.rs"
    [correlation]="alerting/src/incident/correlate.rs"
    [severity]="alerting/src/incident/severity.rs"
    [routing]="alerting/src/dispatch/routing.rs"
    [escalation]="alerting/src/dispatch/escalation.rs"
)
# The test targets each module's mutants are tried against: --lib plus the pure integration tests
# that exercise the module. Given as --cargo-arg, so that they limit the build too: a mutant
# rebuilds only these test binaries (alerting has twenty, most of them end-to-end).
declare -A TESTS=(
    [topic]="--lib"
    [payload]="--lib"
    [lineproto]="--lib"
    [batch]="--lib"
    [rules]="--lib --test=scenarios --test=trust"
    [correlation]="--lib --test=scenarios --test=trust --test=correlation"
    [severity]="--lib --test=scenarios --test=correlation"
    [routing]="--lib --test=routing --test=escalation --test=unroutable"
    [escalation]="--lib --test=escalation --test=unroutable"
)
# Tests left out of a module's run: slow (seconds each, most of a mutant's test time), and about
# another module — the 100,000-reading flood bounds the detector's memory (no correlation code
# runs in it); the embedded store's retention and size cap drop whole files of hours and days
# (the line protocol is parsed on the way in and is tested by its own round trips).
declare -A SKIP=(
    [correlation]="a_flood_of_made_up_ids_keeps_per_device_state_bounded"
    [lineproto]="over_its_size_cap_the_store_drops_its_oldest_hours retention_drops_whole_old_days"
)
OUT=${MUTANTS_OUT:-target/mutants}
ORDER=(topic payload lineproto batch rules correlation severity routing escalation)
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=("${ORDER[@]}")
for m in "${modules[@]}"; do
    [ -n "${FILES[$m]:-}" ] || { echo "unknown module $m (one of: ${ORDER[*]})" >&2; exit 2; }
done

run_module() {
    local m=$1 f t args=()
    for f in ${FILES[$m]}; do args+=(--file "$f"); done
    for t in ${TESTS[$m]}; do args+=("--cargo-arg=$t"); done
    args+=(--cargo-test-arg=--no-fail-fast)
    if [ -n "${SKIP[$m]:-}" ]; then
        args+=(--cargo-test-arg=--)
        for t in ${SKIP[$m]}; do args+=("--cargo-test-arg=--skip=$t"); done
    fi
    [ -z "${MUTANTS_RE:-}" ] || args+=(--re "$MUTANTS_RE")
    # MUTANTS_SHARD=k/n: the k-th of n shards, to run a module in two checkouts at once.
    [ -z "${MUTANTS_SHARD:-}" ] || args+=(--shard "$MUTANTS_SHARD")
    # --in-place mutates this checkout, one mutant at a time (cargo-mutants refuses --jobs with it).
    local place=(--jobs "${MUTANTS_JOBS:-1}")
    # MUTANTS_COPY_TARGET=1: the scratch copy starts from a copy of target/ (4 GB here) instead of
    # building the dependencies again. It fails while another build writes target/ (a file
    # vanishes mid-copy): beside an in-place run, copy the tree yourself (tar without .git and
    # target/debug/incremental) and run MUTANTS_IN_PLACE=1 in the copy.
    [ "${MUTANTS_COPY_TARGET:-0}" = 1 ] && place+=(--copy-target=true)
    [ "${MUTANTS_IN_PLACE:-0}" = 1 ] && place=(--in-place)
    mkdir -p "$OUT/$m"
    echo "=== $m"
    # cargo-mutants exits 2 when mutants survive: report, keep going. The tests take seconds, so
    # a mutant still running after 30 s loops forever.
    cargo mutants --workspace "${args[@]}" "${place[@]}" --no-shuffle \
        --timeout "${MUTANTS_TIMEOUT:-30}" --build-timeout 600 --output "$OUT/$m" || true
    local o n
    for o in caught missed timeout unviable; do
        n=0
        [ -f "$OUT/$m/mutants.out/$o.txt" ] && n=$(wc -l <"$OUT/$m/mutants.out/$o.txt")
        printf '%s %s: %s\n' "$m" "$o" "$n"
    done
}

for m in "${modules[@]}"; do
    run_module "$m"
done
