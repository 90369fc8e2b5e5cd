#!/usr/bin/env bash
# Mutation testing of firegrid's pure core (issue 17) with cargo-mutants, against each crate's fast
# tests only: the library's unit tests, and for alerting its pure table tests (scenarios, routing,
# escalation) — never the end-to-end suite, which needs servers and minutes.
#
#   scripts/mutants.sh                 # every module below
#   scripts/mutants.sh topic severity  # some of them
#
# Modules: topic payload lineproto batch rules correlation severity routing escalation.
# Results go to $MUTANTS_OUT (default target/mutants)/<crate>/mutants.out (caught.txt, missed.txt, timeout.txt, unviable.txt).
# Exclusions (equivalent mutants, with reasons) are in .cargo/mutants.toml.
# Install once: cargo install cargo-mutants --locked (27.x). A full run is hours on 2 cores: each
# crate's run builds the dependencies once in a scratch copy (tens of minutes here), then the
# crate's tests per mutant. MUTANTS_IN_PLACE=1 mutates this checkout instead and reuses its warm
# target/ (about 10 s a mutant for ingest): leave the tree alone while it runs; an interrupted run
# can leave one mutated file behind (`git status`, then `git checkout -- <file>`).
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

# One cargo-mutants run per crate (each run builds its dependencies once in a scratch copy), then
# the outcomes split by module.
run_crate() {
    local crate=$1; shift
    local args=() m
    for m in "$@"; do
        for f in ${FILES[$m]}; do args+=(--file "$f"); done
    done
    [ ${#args[@]} -gt 0 ] || return 0
    local test_args=(--cargo-test-arg=--lib)
    if [[ $crate == alerting ]]; then
        test_args+=(--cargo-test-arg=--test=scenarios --cargo-test-arg=--test=routing --cargo-test-arg=--test=escalation)
    fi
    mkdir -p "$OUT/$crate"
    echo "=== $crate: $*"
    # cargo-mutants exits 2 when mutants survive: report, keep going.
    # --in-place mutates this checkout, one mutant at a time (cargo-mutants refuses --jobs with it).
    local place=(--jobs "${MUTANTS_JOBS:-1}")
    [ "${MUTANTS_IN_PLACE:-0}" = 1 ] && place=(--in-place)
    cargo mutants --workspace "${args[@]}" "${test_args[@]}" "${place[@]}" --no-shuffle \
        --timeout 60 --build-timeout 600 --output "$OUT/$crate" || true
    local out="$OUT/$crate/mutants.out" o n
    for m in "$@"; do
        for o in caught missed timeout unviable; do
            n=0
            if [ -f "$out/$o.txt" ]; then
                n=$(grep -cE "^(${FILES[$m]//\*/[^:]*})" "$out/$o.txt" || true)
            fi
            printf '%s %s: %s\n' "$m" "$o" "$n"
        done
    done
}

ingest=() alerting=()
for m in "${modules[@]}"; do
    file=${FILES[$m]:-}
    [ -n "$file" ] || { echo "unknown module $m (one of: ${ORDER[*]})" >&2; exit 2; }
    if [[ $file == ingest/* ]]; then ingest+=("$m"); else alerting+=("$m"); fi
done
run_crate ingest "${ingest[@]}"
run_crate alerting "${alerting[@]}"
