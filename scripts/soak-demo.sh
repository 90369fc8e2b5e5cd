#!/usr/bin/env bash
# Demo soak (issue 15): runs `firegrid demo` in a fresh data directory for MINUTES and prints, every
# INTERVAL seconds, the elapsed time, RSS (VmRSS), its anonymous part (heap, stacks: what the
# process allocated) and file-backed part (its code), peak RSS (VmHWM) and the data directory's
# size with its split (the readings and incidents files, each with its WAL), then the readings
# stored and the incident file's rows. Loopback only; stops the demo it started (SIGTERM, by PID).
#   usage: scripts/soak-demo.sh [MINUTES] [INTERVAL] [PROFILE]   (defaults: 60, 60, release)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-60}
INTERVAL=${2:-60}
PROFILE=${3:-release}
if [ "$PROFILE" = release ]; then cargo build --release -q --bin firegrid; else cargo build -q --bin firegrid; fi
bin=./target/$PROFILE/firegrid
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port); mqtt_port=$(free_port)
FIREGRID_LOG=warn $bin demo --data-dir "$work/demo" --listen "127.0.0.1:$http_port" \
    --mqtt-listen "127.0.0.1:$mqtt_port" >"$work/demo.out" 2>"$work/demo.err" &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
echo "minute  rss_mib  anon_mib  file_mib  peak_mib  data_mib  readings_mib  incidents_mib"
# Size of a SQLite file with its -wal and -shm, in MiB.
db_mib() { du -cm "$work/demo/$1".sqlite3* 2>/dev/null | tail -1 | cut -f1; }
start=$(date +%s)
while :; do
    sleep "$INTERVAL"
    now=$(date +%s); elapsed=$(( now - start ))
    rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status); hwm=$(awk '/VmHWM/ {print int($2/1024)}' /proc/$pid/status)
    anon=$(awk '/RssAnon/ {print int($2/1024)}' /proc/$pid/status); file=$(awk '/RssFile/ {print int($2/1024)}' /proc/$pid/status)
    data=$(du -sm "$work/demo" | cut -f1)
    printf "%6.1f  %7s  %8s  %8s  %8s  %8s  %12s  %13s\n" "$(python3 -c "print($elapsed/60)")" "$rss" "$anon" "$file" \
        "$hwm" "$data" "$(db_mib readings)" "$(db_mib incidents)"
    [ "$elapsed" -ge $(( MINUTES * 60 )) ] && break
done
sqlite3 "$work/demo/readings.sqlite3" 'SELECT count(*) FROM points;' | sed 's/^/readings stored: /'
sqlite3 "$work/demo/incidents.sqlite3" "SELECT 'incidents (open, closed): ' || count(*) || ' (' ||
    sum(status NOT IN ('resolved','false_alarm','rectified')) || ', ' || sum(status IN ('resolved','false_alarm','rectified')) || '); outbox rows: ' ||
    (SELECT count(*) FROM outbox) || '; audit rows: ' || (SELECT count(*) FROM audit) FROM incidents;"
