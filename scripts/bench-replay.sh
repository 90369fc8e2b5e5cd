#!/usr/bin/env bash
# Spool benchmark (issue: zero loss): with the store down, N readings are published and firegrid
# spools them (ingest rate into the spool, with the chosen fsync policy); then the store comes
# back while live traffic continues at LIVE readings/s, and the spool replay rate is measured.
# Loopback only; stops everything it started.
#   usage: scripts/bench-replay.sh [N=1000000] [FSYNC=true] [LIVE=5000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}; FSYNC=${2:-true}; LIVE=${3:-5000}
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
now() { date +%s.%N; }
metric() { curl -sf "http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1==m {print $2}'; }

mqtt_port=$(free_port); vm_port=$(free_port); http_port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\n%s\n' \
    "$mqtt_port" "$( [ "$(id -u)" -eq 0 ] && echo 'user root')" > "$work/mosquitto.conf"
/usr/sbin/mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 & pids+=($!)
wait_port "$mqtt_port"
cargo build --release -q
bin=./target/release/firegrid
export FIREGRID_MQTT__URL="mqtt://127.0.0.1:$mqtt_port" FIREGRID_MQTT__CLIENT_ID=firegrid-replay \
       FIREGRID_STORE__INFLUXDB__URL="http://127.0.0.1:$vm_port" FIREGRID_STORE__INFLUXDB__RETRY_MAX_MS=1000 \
       FIREGRID_HTTP__LISTEN="127.0.0.1:$http_port" FIREGRID_DATA__DIR="$work/data" FIREGRID_LOG=warn \
       FIREGRID_SPOOL__FSYNC="$FSYNC" FIREGRID_SPOOL__MAX_BYTES=$((8 << 30))
$bin run --config deploy/firegrid.toml & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.1; done

echo "store down: publishing $N readings (fsync=$FSYNC) ..."
t0=$(now)
$bin simulate load --url "mqtt://127.0.0.1:$mqtt_port" --rate 0 --total "$N" --qos 1 --json >/dev/null 2>&1 &
loader=$!
while :; do a=$(metric firegrid_spool_appended_points_total); [ "${a%.*}" -ge "$N" ] 2>/dev/null && break; sleep 0.2; done
t1=$(now); wait $loader || true
spool_bytes=$(metric firegrid_spool_bytes)
echo "spooled $N readings in $(python3 -c "print(round($t1-$t0,2))") s = $(python3 -c "print(round($N/($t1-$t0)))") readings/s; spool $((${spool_bytes%.*} >> 20)) MiB"

victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm_port" -retentionPeriod=100y \
    >"$work/vm.log" 2>&1 & pids+=($!)
wait_port "$vm_port"
live_before=$(metric firegrid_points_written_total)
$bin simulate load --url "mqtt://127.0.0.1:$mqtt_port" --rate "$LIVE" --duration 600s --qos 1 --client-id live --json >/dev/null 2>&1 &
live=$!; pids+=($live)
t0=$(now)
while :; do r=$(metric firegrid_spool_replayed_points_total); [ "${r%.*}" -ge "$N" ] 2>/dev/null && break; sleep 0.2; done
t1=$(now)
written=$(metric firegrid_points_written_total)
live_written=$(python3 -c "print(int(${written%.*} - ${live_before%.*} - $N))")
secs=$(python3 -c "print(round($t1-$t0,2))")
echo "replayed $N readings in $secs s = $(python3 -c "print(round($N/($t1-$t0)))") readings/s, while $live_written live readings were written ($(python3 -c "print(round($live_written/($t1-$t0)))")/s, asked $LIVE/s)"
