#!/usr/bin/env bash
# Embedded-store benchmark (issue 15): a backlog of N readings (the simulator's fleet, QoS 1)
# queued by mosquitto for firegrid's persistent session, drained by firegrid through the whole
# pipeline (MQTT -> decode -> enrich -> batch -> SQLite commit -> PUBACK) into the embedded store,
# once per `[store.embedded] synchronous` mode. Prints readings/s from process start to the last
# point written, and the file's bytes per point (after a WAL checkpoint, and after VACUUM).
# Loopback only; stops everything it started.
#   usage: scripts/bench-embedded.sh [N] [MODES] [PROFILE]
#          (defaults: 100000, "full normal", release; PROFILE=debug uses target/debug)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
MODES=${2:-"full normal"}
PROFILE=${3:-release}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. scripts/lib/bench-servers.sh

if [ "$PROFILE" = release ]; then cargo build --release -q --bin firegrid; else cargo build -q --bin firegrid; fi
bin=./target/$PROFILE/firegrid
filter='firegrid/v1/+/+/+/+'

run=0
for mode in $MODES; do
    run=$((run + 1)); dir="$work/$run-$mode"
    http_port=$(free_port)
    mkdir -p "$dir"
    start_mosquitto "$dir"; mq=$mqtt_pid
    export FIREGRID_MQTT__URL="mqtt://127.0.0.1:$mqtt_port" FIREGRID_MQTT__CLIENT_ID=firegrid-bench \
           FIREGRID_STORE__BACKEND=embedded FIREGRID_STORE__EMBEDDED__SYNCHRONOUS="$mode" \
           FIREGRID_HTTP__LISTEN="127.0.0.1:$http_port" FIREGRID_DATA__DIR="$dir/data" FIREGRID_LOG=warn

    # Register the persistent session, then go away so the broker queues the backlog for it.
    $bin run --config deploy/firegrid.toml 2>>"$dir/firegrid.log" & fg=$!
    for _ in $(seq 200); do curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break; sleep 0.1; done
    kill -TERM $fg; wait $fg
    $bin simulate load --url "mqtt://127.0.0.1:$mqtt_port" --rate 0 --total "$N" --qos 1 --json >/dev/null 2>&1

    t0=$(now)
    $bin run --config deploy/firegrid.toml 2>>"$dir/firegrid.log" & fg=$!; pids+=($fg)
    while :; do
        written=$(curl -sf "http://127.0.0.1:$http_port/metrics" | awk '/^firegrid_points_written_total/ {print $2}') || written=0
        [ "${written:-0}" -ge "$N" ] && break
        sleep 0.05
    done
    t1=$(now)
    kill -TERM $fg; wait $fg || true
    kill -TERM $mq; wait $mq || true
    db="$dir/data/readings.sqlite3"
    sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
    points=$(sqlite3 "$db" 'SELECT count(*) FROM points;')
    size=$(stat -c %s "$db")
    echo "synchronous=$mode: where the bytes are (dbstat: table, pages, payload bytes, unused bytes):"
    sqlite3 "$db" "SELECT name, count(*), sum(payload), sum(unused) FROM dbstat GROUP BY name ORDER BY 2 DESC;" || true
    sqlite3 "$db" 'VACUUM;'
    vacuumed=$(stat -c %s "$db")
    echo "synchronous=$mode: $N readings stored in $(python3 -c "print(round($t1-$t0,2))") s =" \
         "$(python3 -c "print(round($N/($t1-$t0)))") readings/s (from process start, $PROFILE build);" \
         "$points points, $((size / points)) bytes/point ($((vacuumed / points)) after VACUUM)"
done
