# Sourced by the bench scripts (bench-drain, bench-gzip, bench-scale-out, bench-city, bench-embedded): loopback
# ports, and a mosquitto and a VictoriaMetrics of their own in "$work", their PIDs appended to
# "pids" (the caller's cleanup trap stops them). The caller sets `work` and `pids` first.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
now() { date +%s.%N; }

# Starts a mosquitto in "${1:-$work}" on a free 127.0.0.1 port; sets mqtt_port and mqtt_pid. It
# queues without limit (a backlog is the point of a drain).
start_mosquitto() {
    local dir=${1:-$work}
    mqtt_port=$(free_port)
    cat > "$dir/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_queued_bytes 0
$( [ "$(id -u)" -eq 0 ] && echo "user root" )
CONF
    /usr/sbin/mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 & mqtt_pid=$!; pids+=($mqtt_pid)
    wait_port "$mqtt_port"
}

# Starts both servers on free 127.0.0.1 ports and sets mqtt_port and vm_port (and their PIDs
# mqtt_pid, vm_pid). VictoriaMetrics keeps every point.
start_servers() {
    start_mosquitto
    vm_port=$(free_port)
    victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm_port" -retentionPeriod=100y \
        >"$work/vm.log" 2>&1 & vm_pid=$!; pids+=($vm_pid)
    wait_port "$vm_port"
}
