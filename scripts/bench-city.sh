#!/usr/bin/env bash
# City-scale benchmark (issue 14): a registry of about a million devices across all 38 counties of
# Chongqing, generated into a temporary directory; the release firegrid against a real mosquitto
# and VictoriaMetrics on loopback. Prints: check-config time and RSS; `run` start-up time (to
# /readyz) and RSS; one reading published from every device, the time until all are stored and
# the RSS then (bytes per device, all-in); the intake pause and peak RSS of a SIGHUP registry
# reload; the simulator's own peak RSS; then the offline sweep's tick cost with every device
# watched (`cargo bench -p firegrid-alerting --bench sweep`, in-process; SWEEP=0 skips it).
# Loopback only; stops everything it started.
#   usage: scripts/bench-city.sh [URBAN_HOUSEHOLDS] [RURAL_HOUSEHOLDS]   (default 59 45: 1,000,646 devices)
#   env:   FIREGRID_BIN (default target/dist/firegrid, the deployed profile, built first), KEEP_REGISTRY=dir (reuse/keep it),
#          SWEEP=0, DRAIN_TIMEOUT=seconds (default 900: how long to wait for every reading to be stored),
#          KEEP_LOG=file (keep firegrid's log), FIREGRID_LOG (default warn,firegrid=info: every firegrid crate's events),
#          HEAPTRACK=/path/prefix (run firegrid under heaptrack, keep its profile there and print the
#          allocation sites holding the most at the peak; RSS and times are then heaptrack's, not the figures)
set -euo pipefail
cd "$(dirname "$0")/.."
URBAN=${1:-59}
RURAL=${2:-45}
COUNTIES=500101,500102,500103,500104,500105,500106,500107,500108,500109,500110,500111,500112,500113,500114,500115,500116,500117,500118,500119,500120,500151,500152,500153,500154,500155,500156,500229,500230,500231,500233,500235,500236,500237,500238,500240,500241,500242,500243
work=$(mktemp -d)
pids=()
cleanup() { keep_log; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# KEEP_LOG=file: firegrid's log is copied there at the end.
keep_log() { [ -z "${KEEP_LOG:-}" ] || cp "$work/firegrid.log" "$KEEP_LOG" 2>/dev/null || true; }

. scripts/lib/bench-servers.sh
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
hwm_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
metric() { curl -sf "http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

if [ -z "${FIREGRID_BIN:-}" ]; then cargo build --profile dist -q --bin firegrid; fi
bin=${FIREGRID_BIN:-./target/dist/firegrid}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

reg=${KEEP_REGISTRY:-$work/registry}
if [ ! -s "$reg/devices.csv" ]; then
    t0=$(now)
    $bin simulate registry --out-dir "$reg" --counties "$COUNTIES" \
        --households-per-urban "$URBAN" --households-per-rural "$RURAL" | tail -1
    echo "generated in $(python3 -c "print(round($(now)-$t0,1))") s"
fi
N=$(($(wc -l <"$reg/devices.csv") - 1))
echo "devices: $N"

start_servers
http_port=$(free_port)

export FIREGRID_MQTT__URL="mqtt://127.0.0.1:$mqtt_port" FIREGRID_MQTT__CLIENT_ID=firegrid-city \
       FIREGRID_STORE__INFLUXDB__URL="http://127.0.0.1:$vm_port" FIREGRID_HTTP__LISTEN="127.0.0.1:$http_port" \
       FIREGRID_DATA__DIR="$work/data" FIREGRID_LOG=${FIREGRID_LOG:-warn,firegrid=info} \
       FIREGRID_REGISTRY__DEVICES="$reg/devices.csv" FIREGRID_REGISTRY__STATIONS="$reg/stations.csv" \
       FIREGRID_REGISTRY__GRIDS="$reg/grids.csv"

/usr/bin/time -f "%e %M" -o "$work/check.time" $bin check-config --config deploy/firegrid.toml >/dev/null
read -r secs kib <"$work/check.time"
echo "check-config: $secs s, peak RSS $((kib / 1024)) MiB = $((kib * 1024 / N)) bytes/device"

t0=$(now)
if [ -n "${HEAPTRACK:-}" ]; then
    heaptrack -o "$HEAPTRACK" $bin run --config deploy/firegrid.toml >"$work/firegrid.log" 2>&1 & tracer=$!
    pids+=($tracer)
    until fg=$(pgrep -P $tracer -x "$(basename "$bin" | cut -c1-15)"); do sleep 0.05; done
else
    $bin run --config deploy/firegrid.toml 2>"$work/firegrid.log" & fg=$!
fi
pids+=($fg)
until curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null; do
    kill -0 $fg || { echo "firegrid exited"; exit 1; }
    sleep 0.02
done
echo "run: ready after $(python3 -c "print(round($(now)-$t0,2))") s, RSS $(rss_mib $fg) MiB (peak $(hwm_mib $fg) MiB)"
# Where start-up went: each start-up event's log timestamp, in seconds after the process started.
python3 - "$t0" "$work/firegrid.log" <<'PY'
import datetime, re, sys
t0, seen = float(sys.argv[1]), []
for line in open(sys.argv[2], errors="replace"):
    m = re.match(r"(\S+Z) .*?event=\"?(\w+)", line)
    if m and m.group(2) not in seen and m.group(2) in (
            "registry_loaded", "alert_engine_resumed", "started", "mqtt_connected", "registry_watched"):
        seen.append(m.group(2))
        t = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
        print(f"  start-up: {m.group(2)} at {t - t0:.2f} s")
PY
# The alert engine watches the registry's devices for silence in steps once it runs (between readings).
until grep -q 'event="registry_watched"' "$work/firegrid.log" 2>/dev/null; do kill -0 $fg || exit 1; sleep 0.02; done
echo "every device watched for silence $(python3 -c "print(round($(now)-$t0,2))") s after start:" \
     "$(grep -o 'steps=[0-9]* elapsed_ms=[0-9]* longest_step_ms=[0-9.]*' "$work/firegrid.log" | tail -1)," \
     "RSS $(rss_mib $fg) MiB"

echo "publishing one reading from each of $N devices (QoS 1) ..."
t0=$(now)
/usr/bin/time -f "%M" -o "$work/load.time" $bin simulate load --url "mqtt://127.0.0.1:$mqtt_port" \
    --registry-dir "$reg" --rate 0 --total "$N" --qos 1 --json 2>/dev/null | tail -1
echo "simulate load: peak RSS $(($(cat "$work/load.time") / 1024)) MiB"
# Stored, and every device's reading evaluated (the alert engine holds a state for each). "Stored"
# counts distinct readings: each device publishes one, so the series of each kind's required
# field in VictoriaMetrics (one per device; its tsdb status counts them) are the distinct
# readings stored — firegrid_points_written_total also counts the broker's redeliveries, written
# again. DRAIN_TIMEOUT (s, default 900) bounds the wait.
stored() {
    curl -sf "http://127.0.0.1:$vm_port/api/v1/status/tsdb?topN=1000" | python3 -c '
import json, sys
names = {"smoke_obscuration_db_m", "electrical_residual_current_ma", "forest_ir_max_temp_c"}
rows = json.load(sys.stdin)["data"]["seriesCountByMetricName"]
print(sum(r["value"] for r in rows if r["name"] in names))' 2>/dev/null || echo 0
}
deadline=$(($(date +%s) + ${DRAIN_TIMEOUT:-900}))
distinct=0
while :; do
    kill -0 $fg || { echo "firegrid exited"; exit 1; }
    evaluated=$(metric 'firegrid_alert_state_devices{registry="registered"}' || echo 0)
    if [ "${evaluated:-0}" -ge "$N" ] 2>/dev/null; then
        distinct=$(stored)
        [ "$distinct" -ge "$N" ] && break
    fi
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 2
done
secs=$(python3 -c "print(round($(now)-$t0,1))")
rss=$(awk '/VmRSS/ {print $2}' /proc/$fg/status)
[ "$distinct" -ge "$N" ] || distinct=$(stored)
written=$(metric firegrid_points_written_total || echo 0)
dups=$(metric firegrid_alert_duplicates_total || echo 0)
echo "$secs s after the first publish: $distinct of $N distinct readings stored (points written ${written%.*}, of which" \
     "redeliveries the alert engine dropped: ${dups%.*}), ${evaluated%.*} devices evaluated"
[ "$distinct" -ge "$N" ] || echo "NOT COMPLETE: the drain did not store every reading within ${DRAIN_TIMEOUT:-900} s"
# The connection's story: reconnections, redeliveries (received beyond N), the event loop's overflow,
# and what the store writes cost (a million new series each cost VictoriaMetrics an index entry).
curl -sf "http://127.0.0.1:$http_port/metrics" | awk -v n="$N" '
    /^firegrid_mqtt_connections_total / {c=$2} /^firegrid_messages_received_total/ {r+=$2}
    /^firegrid_mqtt_stale_acks_total / {s=$2} /^firegrid_mqtt_overflow_full_total\{queue="readings"\}/ {f=$2}
    /^firegrid_write_seconds_sum/ {ws=$2} /^firegrid_write_seconds_count/ {wn=$2}
    END {printf "mqtt: %d connection(s); %d messages received for %d published (%d redelivered), %d stale acks, overflow full %d times; store: %.1f s in %d writes\n", c, r, n, r-n, s, f, ws, wn}'
echo "after one reading per device: RSS $((rss / 1024)) MiB = $((rss * 1024 / N)) bytes/device (peak $(hwm_mib $fg) MiB)"

# Reload: SIGHUP loads the registry on a blocking thread and swaps it in (the pipeline takes it
# with its next message); the alert engine, whose task acknowledges readings, then watches the
# new registry in steps between readings. The intake pause is the longest of: the engine's
# longest step (from its log), and the longest /healthz round trip while it all happens (a stall
# of the runtime that serves HTTP and intake). Peak RSS is sampled throughout, and the RSS once
# the replaced registry is freed.
python3 - "$http_port" "$fg" "$work/firegrid.log" "$bin" "$mqtt_port" "$reg" <<'PY'
import os, re, signal, subprocess, sys, time, urllib.request
port, pid, log, bin, mqtt_port, reg = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def rss(field):
    return int(re.search(field + r":\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1)) // 1024
def probe():
    t = time.monotonic()
    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30).read()
    return time.monotonic() - t
def count(event):
    return open(log, errors="replace").read().count(f'event="{event}"')
base = max(probe() for _ in range(50))
before, seen, retired = rss("VmRSS"), count("registry_watched"), count("registry_retired")
os.kill(pid, signal.SIGHUP)
t0, worst, peak, done = time.monotonic(), 0.0, before, None
while time.monotonic() - t0 < 60 and (done is None or time.monotonic() - done < 5):
    worst = max(worst, probe())
    peak = max(peak, rss("VmRSS"))
    if done is None and count("registry_watched") > seen:
        done = time.monotonic()
    time.sleep(0.01)
# A city never falls silent: a few readings let the pipeline take the new registry, so the old
# one is freed (its "registry_retired" event) and the steady RSS after a reload can be read.
subprocess.run([bin, "simulate", "load", "--url", f"mqtt://127.0.0.1:{mqtt_port}", "--registry-dir", reg,
                "--rate", "0", "--total", "100", "--qos", "1"], capture_output=True, timeout=60)
t1 = time.monotonic()
while count("registry_retired") == retired and time.monotonic() - t1 < 45:
    peak = max(peak, rss("VmRSS"))
    time.sleep(0.1)
time.sleep(1)
text = open(log, errors="replace").read()
load = re.findall(r'event="registry_reloaded".*?load_ms=(\d+)', text)
step = re.findall(r'event="registry_watched".*?steps=(\d+) elapsed_ms=(\d+) longest_step_ms=([0-9.]+)', text)
ret = re.findall(r'event="registry_retired".*?(waited_ms=\d+ freed_here=\w+ released=\w+)', text)
after = rss("VmRSS")
print(f"reload: registry loaded in {load[-1] if load else '?'} ms off the runtime; "
      + (f"engine re-watch {step[-1][1]} ms in {step[-1][0]} steps, longest step {float(step[-1][2]):.1f} ms; "
         if done and step else "engine re-watch NOT finished within 60 s; ")
      + f"longest /healthz round trip {worst*1000:.0f} ms (idle {base*1000:.1f} ms); "
      f"RSS {before} -> peak {peak} MiB (peak/steady {peak/before:.2f}); "
      + (f"old registry retired ({ret[-1]}): RSS {after} MiB ({after/before:.2f} x before)" if len(ret) > retired
         else f"old registry NOT retired within 45 s: RSS {after} MiB"))
PY
echo "firegrid warnings/errors: $(grep -c 'WARN\|ERROR' "$work/firegrid.log"), the last: $(grep 'WARN\|ERROR' "$work/firegrid.log" | tail -1 | cut -c1-200)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); CPU of firegrid so far: $(awk -v t="$(getconf CLK_TCK)" '{print ($14+$15)/t}' /proc/$fg/stat) s"
kill -TERM $fg; wait $fg 2>/dev/null || true
if [ -n "${HEAPTRACK:-}" ]; then
    wait $tracer || true
    heaptrack_print -f "$HEAPTRACK".*zst -p 1 -n 16 -s 1 -a 0 -T 0 -l 0 2>/dev/null | sed -n '/PEAK MEMORY/,$p' | head -120
fi
# The offline sweep with a million watched devices, in-process (no broker needed).
if [ "${SWEEP:-1}" = 1 ]; then
    FIREGRID_SWEEP_DEVICES=$N cargo bench -q -p firegrid-alerting --bench sweep 2>/dev/null | grep -v '^$'
fi
