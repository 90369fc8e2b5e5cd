#!/usr/bin/env python3
"""Does the installed mosquitto keep an MQTT 5 subscriber within its Receive Maximum?

docs/guarantees.md "Memory". Starts mosquitto on a free loopback port, subscribes a raw MQTT 5
client (QoS 1, Receive Maximum R, persistent session), queues a backlog, then acks the oldest
message in flight one at a time — in arrival order, as firegrid must — and prints how many
PUBLISH packets are in flight (received, not acked) before the first ack and after the acks.
A broker that honours the Receive Maximum never exceeds R.

    python3 scripts/check-receive-maximum.py [R=20] [backlog=3000] [acks=10]
"""
import os, socket, struct, subprocess, sys, tempfile, time


def varint(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def utf8(x):
    x = x.encode()
    return struct.pack("!H", len(x)) + x


def packet(first_byte, body):
    return bytes([first_byte]) + varint(len(body)) + body


def read_packet(sock):
    head = sock.recv(1)
    if not head:
        raise EOFError
    mult, n = 1, 0
    while True:
        b = sock.recv(1)[0]
        n, mult = n + (b & 0x7F) * mult, mult * 128
        if not b & 0x80:
            break
    data = b""
    while len(data) < n:
        data += sock.recv(n - len(data))
    return head[0], data


def main():
    rmax, backlog, acks = (int(a) for a in (sys.argv[1:] + ["20", "3000", "10"][len(sys.argv) - 1:])[:3])
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 1000\nmax_queued_messages 1000000\n")
        broker = subprocess.Popen(["mosquitto", "-c", conf], stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 5
            while True:
                try:
                    sub = socket.create_connection(("127.0.0.1", port))
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)
            # CONNECT: MQTT 5, clean start, session expiry 1 h, Receive Maximum rmax.
            props = b"\x11" + struct.pack("!I", 3600) + b"\x21" + struct.pack("!H", rmax)
            sub.sendall(packet(0x10, utf8("MQTT") + b"\x05\x02" + struct.pack("!H", 60) + varint(len(props)) + props + utf8("rm-check")))
            read_packet(sub)
            sub.sendall(packet(0x82, struct.pack("!H", 1) + b"\x00" + utf8("rm-check/#") + b"\x01"))
            read_packet(sub)
            subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-V", "mqttv5", "-t", "rm-check/a", "-l"],
                           input=b"x\n" * backlog, check=True)
            in_flight = []

            def drain(seconds):
                sub.settimeout(seconds)
                try:
                    while True:
                        kind, data = read_packet(sub)
                        if kind >> 4 == 3:
                            topic_len = struct.unpack("!H", data[:2])[0]
                            in_flight.append(struct.unpack("!H", data[2 + topic_len:4 + topic_len])[0])
                except socket.timeout:
                    pass

            drain(1.0)
            before = len(in_flight)
            for _ in range(acks):
                sub.sendall(b"\x40\x02" + struct.pack("!H", in_flight.pop(0)))
                drain(0.2)
            version = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()[0]
            print(f"{version}: Receive Maximum {rmax}, backlog {backlog}: {before} in flight before any ack, "
                  f"{len(in_flight)} after {acks} in-order acks ({'honoured' if len(in_flight) <= rmax else 'EXCEEDED'})")
        finally:
            broker.terminate()
            broker.wait()


if __name__ == "__main__":
    main()
