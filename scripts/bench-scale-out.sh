#!/usr/bin/env bash
# Scale-out drain benchmark (issue 13, docs/operations.md "Scaling out"): one `firegrid run --role ingest`
# instance against two on one shared group, draining the same backlog of N readings from one mosquitto into
# VictoriaMetrics, in one run. Three persistent sessions are registered first — `solo` alone in group `one`,
# `duo-a` and `duo-b` in group `two` — so that one publish of N readings queues N for `solo` and N/2 for each of
# the pair. Then `solo` drains alone, and after it the pair together; each rate is N / (time from process start
# to N points written, summed over the instances). Loopback only; stops everything it started.
#   usage: scripts/bench-scale-out.sh [N]   (default 100000; FIREGRID_BENCH_BIN=path uses that binary instead of
#          building target/release/firegrid)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. scripts/lib/bench-servers.sh
wait_ready() { for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.05; done; return 1; }
written() {
    local v
    v=$(curl -sf "http://127.0.0.1:$1/metrics" | awk '/^firegrid_points_written_total/ {print $2}') || v=0
    echo "${v:-0}"
}

start_servers

bin=${FIREGRID_BENCH_BIN:-}
if [ -z "$bin" ]; then cargo build --release -q; bin=./target/release/firegrid; fi
export FIREGRID_MQTT__URL="mqtt://127.0.0.1:$mqtt_port" FIREGRID_STORE__INFLUXDB__URL="http://127.0.0.1:$vm_port" \
       FIREGRID_LOG=warn

# start NAME GROUP HTTP_PORT: an ingest instance with its own client id, data directory and port; its PID in $started_pid.
start() {
    FIREGRID_MQTT__CLIENT_ID="$1" FIREGRID_MQTT__SHARED_GROUP="$2" FIREGRID_HTTP__LISTEN="127.0.0.1:$3" \
        FIREGRID_DATA__DIR="$work/$1" $bin run --role ingest --config deploy/firegrid.toml >>"$work/$1.log" 2>&1 &
    started_pid=$!
    pids+=("$started_pid")
}
declare -A port
for name in solo duo-a duo-b; do port[$name]=$(free_port); done

# Register the three sessions (and their group memberships), then leave so that the broker queues for them.
for spec in "solo one" "duo-a two" "duo-b two"; do
    set -- $spec
    start "$1" "$2" "${port[$1]}"; wait_ready "${port[$1]}"; kill -TERM "$started_pid"; wait "$started_pid"
done

echo "publishing $N readings (QoS 1) ..."
$bin simulate load --url "mqtt://127.0.0.1:$mqtt_port" --rate 0 --total "$N" --qos 1 --json | tail -1

# drain GROUP NAME...: starts the instances together, waits until they wrote N points in all, prints the rate.
drain() {
    local group=$1 t0 t1 sum p started=()
    shift
    t0=$(now)
    for name in "$@"; do start "$name" "$group" "${port[$name]}"; started+=("$started_pid"); done
    while :; do
        sum=0
        for name in "$@"; do sum=$((sum + $(written "${port[$name]}"))); done
        [ "$sum" -ge "$N" ] && break
        sleep 0.05
    done
    t1=$(now)
    for p in "${started[@]}"; do kill -TERM "$p"; wait "$p" || true; done
    echo "$# ingest instance(s) ($*): $N readings stored in $(python3 -c "print(round($t1-$t0,2))") s = $(python3 -c "print(round($N/($t1-$t0)))") readings/s"
}
drain one solo
drain two duo-a duo-b
echo "machine: $(nproc) cores; mosquitto, VictoriaMetrics and the instances share them"
