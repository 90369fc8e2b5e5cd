#!/usr/bin/env bash
# End-to-end drain benchmark (issue: ingest): a backlog of N readings queued by mosquitto for two
# persistent sessions, drained once by a null subscriber (mosquitto_sub -q 1 to /dev/null) and once
# by firegrid into VictoriaMetrics, from the same broker in one run. Prints both rates, their
# ratio, firegrid's peak RSS (its anonymous and file-backed parts, and which files) and its CPU time per reading (user
# and system), then where the drain's time went: per
# firegrid thread its CPU and its wait for a CPU (run queue, from /proc/PID/task/*/schedstat: on a
# shared machine a thread ready to run waits there), the writer's time in store writes, and the CPU
# mosquitto and VictoriaMetrics used meanwhile, and the MQTT connection's story (connections, redeliveries, stale
# acks, the event loop's overflow: its high-water mark and how often it was full). Loopback only; stops everything it
# started.
#   usage: scripts/bench-drain.sh [N]   (default 200000)
#   env:   FIREGRID_BIN (default target/dist/firegrid, the deployed profile, built first); FIREGRID_CONFIG (default
#          deploy/firegrid.toml: an older binary needs its own tree's file); REGISTRY_DIR=dir (a registry from
#          `firegrid simulate registry`: firegrid loads it — the drain with a city-size registry of issue 14 —
#          and the backlog comes from SENDERS of its devices (default 5,000, spread evenly over the file: the
#          same workload as without a registry, so the two rates compare the registry's cost and not the store's
#          cost of new series; SENDERS=all sends from every device); without it, the simulator's default fleet
#          of 5,000 devices); HEAPTRACK=/path/prefix (drain under heaptrack, keep its profile there and print
#          the heap's peak by call site; the rate and CPU then are heaptrack's, not firegrid's);
#          PERF=/path/file (record the drain's CPU with `perf record -F 1999 -g` into that file; PERF_CALLGRAPH
#          replaces -g, e.g. --call-graph=dwarf,16384); SMAPS=/path/file (keep /proc/PID/smaps at the drain's end);
#          WRAP="cmd args" (run the draining firegrid as `cmd args BIN run …`, for a tool that execs in place such as
#          `valgrind --tool=callgrind --callgrind-out-file=F`: instructions per reading, which load does not change)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. scripts/lib/bench-servers.sh

start_servers
http_port=$(free_port)

if [ -z "${FIREGRID_BIN:-}" ]; then cargo build --profile dist -q --bin firegrid; fi
bin=${FIREGRID_BIN:-./target/dist/firegrid}
cfg=${FIREGRID_CONFIG:-deploy/firegrid.toml}
# CPU and run-queue wait of every live thread of PID, in ms: "cpu wait" (schedstat is in ns).
sched_ms() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{c+=$1; w+=$2} END {printf "%d %d\n", c/1e6, w/1e6}'; }
# The same per thread name (tokio-runtime-w, the store threads, ...), one line each.
sched_by_thread() {
    for t in /proc/"$1"/task/*; do printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(cat "$t/schedstat")"; done 2>/dev/null |
        awk '{n[$1]++; c[$1]+=$2; w[$1]+=$3} END {for (k in c) printf "    %-18s x%-2d CPU %6.2f s, waiting for a CPU %6.2f s\n", k, n[k], c[k]/1e9, w[k]/1e9}'
}
registry=()
if [ -n "${REGISTRY_DIR:-}" ]; then
    export FIREGRID_REGISTRY__DEVICES="$REGISTRY_DIR/devices.csv" FIREGRID_REGISTRY__STATIONS="$REGISTRY_DIR/stations.csv" \
           FIREGRID_REGISTRY__GRIDS="$REGISTRY_DIR/grids.csv"
    devices=$(($(wc -l <"$REGISTRY_DIR/devices.csv") - 1))
    senders=${SENDERS:-5000}
    if [ "$senders" = all ] || [ "$senders" -ge "$devices" ]; then
        registry=(--registry-dir "$REGISTRY_DIR"); senders=$devices
    else
        mkdir -p "$work/senders"
        awk -v step=$((devices / senders)) -v n="$senders" \
            'NR == 1 || ((NR - 2) % step == 0 && k++ < n)' "$REGISTRY_DIR/devices.csv" >"$work/senders/devices.csv"
        registry=(--registry-dir "$work/senders")
    fi
    echo "registry: $devices devices; the backlog from $senders of them"
fi
filter='firegrid/v1/+/+/+/+'
export FIREGRID_MQTT__URL="mqtt://127.0.0.1:$mqtt_port" FIREGRID_MQTT__CLIENT_ID=firegrid-bench \
       FIREGRID_STORE__INFLUXDB__URL="http://127.0.0.1:$vm_port" FIREGRID_HTTP__LISTEN="127.0.0.1:$http_port" \
       FIREGRID_DATA__DIR="$work/data" FIREGRID_LOG=warn

# Register both persistent sessions, then go away so the broker queues for them.
mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -V mqttv5 -c -x 86400 -i null-sub -q 1 -t "$filter" -W 1 >/dev/null || true
$bin run --config "$cfg" & fg=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break; sleep 0.1; done
kill -TERM $fg; wait $fg

echo "publishing $N readings (QoS 1) ..."
$bin simulate load --url "mqtt://127.0.0.1:$mqtt_port" "${registry[@]}" --rate 0 --total "$N" --qos 1 --json | tail -1

t0=$(now)
mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -V mqttv5 -c -x 86400 -i null-sub -q 1 -t "$filter" -C "$N" >/dev/null
t1=$(now)
null_rate=$(python3 -c "print(round($N/($t1-$t0)))")
echo "null subscriber: $N messages in $(python3 -c "print(round($t1-$t0,2))") s = $null_rate msg/s"

read -r vm_cpu0 _ < <(sched_ms "$vm_pid"); read -r mq_cpu0 _ < <(sched_ms "$mqtt_pid")
t0=$(now)
if [ -n "${HEAPTRACK:-}" ]; then
    heaptrack -o "$HEAPTRACK" $bin run --config "$cfg" >"$work/heaptrack.log" 2>&1 & tracer=$!
    pids+=($tracer)
    until fg=$(pgrep -P $tracer -x "$(basename "$bin" | cut -c1-15)"); do sleep 0.02; done
else
    ${WRAP:-} $bin run --config "$cfg" & fg=$!
fi
pids+=($fg)
if [ -n "${PERF:-}" ]; then perf record -F 1999 ${PERF_CALLGRAPH:--g} -o "$PERF" -p "$fg" 2>"$work/perf.log" & perf_pid=$!; fi
peak=0; peak_anon=0; peak_file=0
ready=""
while :; do
    [ -z "$ready" ] && curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && ready=$(now)
    written=$(curl -sf "http://127.0.0.1:$http_port/metrics" | awk '/^firegrid_points_written_total/ {print $2}') || written=0
    read -r hwm anon file < <(awk '/VmHWM/ {h=$2} /RssAnon/ {a=$2} /RssFile/ {f=$2} END {print h+0, a+0, f+0}' /proc/$fg/status 2>/dev/null || echo "0 0 0")
    [ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
    [ "${anon:-0}" -gt "$peak_anon" ] && peak_anon=$anon
    [ "${file:-0}" -gt "$peak_file" ] && peak_file=$file
    [ "${written:-0}" -ge "$N" ] && break
    sleep 0.05
done
t1=$(now)
# CPU (user + system) of the process so far, in clock ticks: fields 14 and 15 of /proc/PID/stat.
ticks=$(awk '{print $14 + $15}' /proc/$fg/stat)
read -r uticks sticks < <(awk '{print $14, $15}' /proc/$fg/stat)
# File-backed pages resident at the end, by file: the binary's own, and every other (shared libraries).
files=$(awk -v exe="$(readlink /proc/$fg/exe)" '
    /^[0-9a-f]+-[0-9a-f]+ / {path=$6} /^Rss:/ && path ~ /^\// {if (path == exe) b+=$2; else o+=$2}
    END {printf "the binary %.1f MiB, other files %.1f MiB", b/1024, o/1024}' /proc/$fg/smaps 2>/dev/null)
[ -n "${SMAPS:-}" ] && cp /proc/$fg/smaps "$SMAPS"
hwm=$(awk '/VmHWM/ {print $2}' /proc/$fg/status)
[ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
threads=$(sched_by_thread "$fg")
read -r fg_cpu fg_wait < <(sched_ms "$fg")
writes=$(curl -sf "http://127.0.0.1:$http_port/metrics" | awk '/^firegrid_write_seconds_sum/ {s=$2} /^firegrid_write_seconds_count/ {n=$2} END {printf "%.2f s in %d writes", s, n}')
read -r vm_cpu1 _ < <(sched_ms "$vm_pid"); read -r mq_cpu1 _ < <(sched_ms "$mqtt_pid")
# The connection's story: reconnections, redeliveries (received beyond N) and the event loop's overflow.
mqtt=$(curl -sf "http://127.0.0.1:$http_port/metrics" | awk -v n="$N" '
    /^firegrid_mqtt_connections_total / {c=$2} /^firegrid_messages_received_total/ {r+=$2}
    /^firegrid_mqtt_stale_acks_total / {s=$2} /^firegrid_ingest_queue_full_total / {q=$2}
    /^firegrid_mqtt_overflow_high_water_messages\{queue="readings"\}/ {h=$2}
    /^firegrid_mqtt_overflow_full_total\{queue="readings"\}/ {f=$2}
    END {printf "%d connection(s); %d messages received for %d published (%d redelivered), %d stale acks; queue full %d times, overflow high water %d, overflow full %d times", c, r, n, r-n, s, q, h, f}')
[ -n "${PERF:-}" ] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
kill -TERM $fg; wait $fg 2>/dev/null || true
if [ -n "${HEAPTRACK:-}" ]; then
    wait $tracer || true
    heaptrack_print -f "$HEAPTRACK".*zst -p 1 -n 16 -s 1 -a 0 -T 0 -l 0 2>/dev/null | sed -n '/PEAK MEMORY/,$p' | head -160 >"$work/heap.txt" || true
fi
fg_rate=$(python3 -c "print(round($N/($t1-$t0)))")
cpu=$(python3 -c "print(round($ticks/$(getconf CLK_TCK),2))")
echo "firegrid:        $N readings stored in $(python3 -c "print(round($t1-$t0,2))") s = $fg_rate readings/s (from process start), peak RSS $((peak/1024)) MiB, CPU $cpu s = $(python3 -c "print(round($cpu*1e6/$N,2))") µs/reading"
echo "                 CPU by mode: user $(python3 -c "print(round($uticks/$(getconf CLK_TCK),2))") s, system (the kernel: sockets, page faults) $(python3 -c "print(round($sticks/$(getconf CLK_TCK),2))") s"
echo "                 peak RSS by kind (sampled every 50 ms): anonymous (heap, stacks) $((peak_anon/1024)) MiB, file-backed $((peak_file/1024)) MiB (at the end: $files)"
echo "                 ready after $(python3 -c "print(round(${ready:-$t0}-$t0,2))") s; from ready: $(python3 -c "print(round($N/($t1-${ready:-$t0})))") readings/s"
echo "where the time went (wall $(python3 -c "print(round($t1-$t0,2))") s): firegrid's live threads CPU $(python3 -c "print(round($fg_cpu/1000,2))") s, waiting for a CPU $(python3 -c "print(round($fg_wait/1000,2))") s; store writes $writes"
echo "$threads"
echo "    MQTT: $mqtt"
echo "    meanwhile mosquitto CPU $(python3 -c "print(round(($mq_cpu1-$mq_cpu0)/1000,2))") s, VictoriaMetrics CPU $(python3 -c "print(round(($vm_cpu1-$vm_cpu0)/1000,2))") s"
echo "ratio firegrid/null = $(python3 -c "print(round($fg_rate/$null_rate,3))"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "${HEAPTRACK:-}" ] && { echo "heap peak by call site (heaptrack):"; cat "$work/heap.txt"; }
true
