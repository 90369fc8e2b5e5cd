#!/usr/bin/env bash
# Mutation testing of firegrid's pure core (issue 17) with cargo-mutants, against each crate's fast
# tests only: the library's unit tests, and for alerting its pure table tests (scenarios, routing,
# escalation) — never the end-to-end suite, which needs servers and minutes.
#
#   scripts/mutants.sh                 # every module below
#   scripts/mutants.sh topic severity  # some of them
#
# Modules: topic payload lineproto batch rules correlation severity routing escalation.
# Results go to $MUTANTS_OUT (default target/mutants)/<module>/mutants.out (caught.txt, missed.txt, timeout.txt, unviable.txt).
# Exclusions (equivalent mutants, with reasons) are in .cargo/mutants.toml.
# Install once: cargo install cargo-mutants --locked (27.x). A full run is hours on 2 cores: each
# module builds its dependencies once in a scratch copy, then one crate per mutant.
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
OUT=${MUTANTS_OUT:-target/mutants}
ORDER=(topic payload lineproto batch rules correlation severity routing escalation)
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=("${ORDER[@]}")

for m in "${modules[@]}"; do
    file=${FILES[$m]:-}
    [ -n "$file" ] || { echo "unknown module $m (one of: ${ORDER[*]})" >&2; exit 2; }
    test_args=(--cargo-test-arg=--lib)
    if [[ $file == alerting/* ]]; then
        test_args+=(--cargo-test-arg=--test=scenarios --cargo-test-arg=--test=routing --cargo-test-arg=--test=escalation)
    fi
    echo "=== $m ($file)"
    mkdir -p "$OUT/$m"
    # cargo-mutants exits 2 when mutants survive: report, keep going.
    cargo mutants --workspace --file "$file" "${test_args[@]}" --no-shuffle \
        --timeout 60 --build-timeout 600 --jobs "${MUTANTS_JOBS:-1}" --output "$OUT/$m" || true
    out="$OUT/$m/mutants.out"
    for o in caught missed timeout unviable; do
        n=0
        [ -f "$out/$o.txt" ] && n=$(wc -l < "$out/$o.txt")
        printf '%s %s: %s\n' "$m" "$o" "$n"
    done
done
