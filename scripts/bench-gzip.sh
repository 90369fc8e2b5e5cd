#!/usr/bin/env bash
# Store writes with and without gzip, in one run (issue 16): one backlog of N readings queued by mosquitto for two
# persistent sessions, drained by firegrid into VictoriaMetrics once with store.influxdb.content_encoding = "gzip"
# and once with "identity". Prints, for each: the drain rate, the line protocol bytes and the request body bytes
# sent (firegrid_store_line_bytes_total / firegrid_store_request_bytes_total), and firegrid's CPU seconds
# (user + system, from /proc) — the cost of compressing. Loopback only; stops everything it started.
#   usage: scripts/bench-gzip.sh [N]   (default 200000)
#   FIREGRID_BIN=target/debug/firegrid scripts/bench-gzip.sh 20000   uses that binary, no release build (the bytes
#   are the same; rates and CPU of a debug build are not representative)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. scripts/lib/bench-servers.sh
metric() { curl -sf "http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

start_servers
http_port=$(free_port)

bin=${FIREGRID_BIN:-./target/release/firegrid}
[ -n "${FIREGRID_BIN:-}" ] || cargo build --release -q
export FIREGRID_MQTT__URL="mqtt://127.0.0.1:$mqtt_port" FIREGRID_STORE__INFLUXDB__URL="http://127.0.0.1:$vm_port" \
       FIREGRID_HTTP__LISTEN="127.0.0.1:$http_port" FIREGRID_LOG=warn

# Register both persistent sessions (one per encoding), then go away so the broker queues for both.
for enc in gzip identity; do
    FIREGRID_MQTT__CLIENT_ID="bench-$enc" FIREGRID_DATA__DIR="$work/data-$enc" \
        $bin run --config deploy/firegrid.toml & fg=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break; sleep 0.1; done
    kill -TERM $fg; wait $fg
done

echo "publishing $N readings (QoS 1) ..."
$bin simulate load --url "mqtt://127.0.0.1:$mqtt_port" --rate 0 --total "$N" --qos 1 --json | tail -1

for enc in gzip identity; do
    t0=$(now)
    FIREGRID_MQTT__CLIENT_ID="bench-$enc" FIREGRID_DATA__DIR="$work/data-$enc" \
        FIREGRID_STORE__INFLUXDB__CONTENT_ENCODING=$enc $bin run --config deploy/firegrid.toml & fg=$!
    pids+=($fg)
    while :; do
        written=$(metric firegrid_points_written_total) || written=0
        [ "${written:-0}" -ge "$N" ] && break
        sleep 0.05
    done
    t1=$(now)
    line=$(metric firegrid_store_line_bytes_total); body=$(metric firegrid_store_request_bytes_total)
    cpu=$(cpu_seconds $fg)
    kill -TERM $fg; wait $fg || true
    python3 - "$enc" "$N" "$t0" "$t1" "$line" "$body" "$cpu" <<'PY'
import sys
enc, n, t0, t1, line, body, cpu = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:])
secs = t1 - t0
print(f"{enc:8}: {n} readings in {secs:.2f} s = {n/secs:.0f} readings/s; line protocol {line/1e6:.1f} MB, "
      f"on the wire {body/1e6:.1f} MB ({body/line:.1%}, {body/n:.0f} B/reading); firegrid CPU {cpu:.2f} s "
      f"({cpu/n*1e6:.1f} µs/reading)")
PY
done
