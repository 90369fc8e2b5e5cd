#!/usr/bin/env bash
# Runs firegrid on this machine against a local mosquitto and VictoriaMetrics (installed from
# Debian's packages when missing), with the sample registry, until Ctrl-C. Then it stops the
# servers it started. Data lives under ./firegrid-data/local.
#   MQTT:            mqtt://127.0.0.1:${FIREGRID_LOCAL_MQTT_PORT:-1883}
#   VictoriaMetrics: http://127.0.0.1:${FIREGRID_LOCAL_VM_PORT:-8428}  (Grafana: Prometheus or InfluxQL data source)
#   firegrid:        http://127.0.0.1:8080/metrics, /healthz, /readyz
set -euo pipefail
cd "$(dirname "$0")/.."

mqtt_port=${FIREGRID_LOCAL_MQTT_PORT:-1883}
vm_port=${FIREGRID_LOCAL_VM_PORT:-8428}
data=firegrid-data/local
mkdir -p "$data/mosquitto" "$data/vm"

if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ] || ! command -v victoria-metrics >/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends mosquitto mosquitto-clients victoria-metrics
fi
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

cat > "$data/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $PWD/$data/mosquitto/
autosave_interval 10
max_queued_messages 1000000
$( [ "$(id -u)" -eq 0 ] && echo "user root" )
CONF

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$mosquitto_bin" -c "$data/mosquitto.conf" >"$data/mosquitto.log" 2>&1 & pids+=($!)
victoria-metrics -storageDataPath="$data/vm" -httpListenAddr="127.0.0.1:$vm_port" -retentionPeriod=1y \
    -dedup.minScrapeInterval=1ms >"$data/vm.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$vm_port") 2>/dev/null; then break; fi
    sleep 0.2
done

cargo build --release
FIREGRID_MQTT__URL="mqtt://127.0.0.1:$mqtt_port" \
FIREGRID_STORE__INFLUXDB__URL="http://127.0.0.1:$vm_port" \
FIREGRID_DATA__DIR="$data" \
    ./target/release/firegrid run --config deploy/firegrid.toml "$@" & pids+=($!)
wait "${pids[-1]}"
