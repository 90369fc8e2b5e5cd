# Sourced by the bench scripts (bench-drain, bench-gzip, bench-scale-out, bench-city): loopback
# ports, and a mosquitto and a VictoriaMetrics of their own in "$work", their PIDs appended to
# "pids" (the caller's cleanup trap stops them). The caller sets `work` and `pids` first.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
now() { date +%s.%N; }

# Starts both servers on free 127.0.0.1 ports and sets mqtt_port and vm_port (and their PIDs mqtt_pid, vm_pid). mosquitto queues
# without limit (a backlog is the point of a drain) and VictoriaMetrics keeps every point.
start_servers() {
    mqtt_port=$(free_port); vm_port=$(free_port)
    cat > "$work/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_queued_bytes 0
$( [ "$(id -u)" -eq 0 ] && echo "user root" )
CONF
    /usr/sbin/mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 & mqtt_pid=$!; pids+=($!)
    victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm_port" -retentionPeriod=100y \
        >"$work/vm.log" 2>&1 & vm_pid=$!; pids+=($!)
    wait_port "$mqtt_port"; wait_port "$vm_port"
}
