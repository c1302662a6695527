"""Hostile clients for bench/soak.sh, against one gateway address until killed:

* IDLE connections that never send a byte, reopened whenever the gateway closes one;
* SLOW clients sending a request head one byte a second, reopened when cut;
* SPOOF_RPS requests a second with a new X-Forwarded-For and x-envoy-peer-metadata-id each.

Prints a line every ten seconds: connections held, heads cut, spoofed requests answered.
"""

import random
import selectors
import socket
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
port = int(port)
idle_n, slow_n, spoof_rps = (int(x) for x in sys.argv[2:5])

try:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
except (ImportError, ValueError):
    pass

sel = selectors.DefaultSelector()
HEAD = b"GET /slow HTTP/1.1\r\nHost: web\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n"


def connect(kind):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((host, port))
    sel.register(s, selectors.EVENT_READ, {"kind": kind, "sent": 0})
    return s


for _ in range(idle_n):
    connect("idle")
for _ in range(slow_n):
    connect("slow")

cut = answered = 0
last_trickle = last_report = last_spoof = time.monotonic()
spoof_sent = 0
while True:
    for key, _ in sel.select(timeout=0.05):
        s, data = key.fileobj, key.data
        try:
            got = s.recv(4096)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            got = b""
        if data["kind"] == "spoof":
            if got.startswith(b"HTTP/1.1"):
                answered += 1
            sel.unregister(s)
            s.close()
            continue
        if not got:
            sel.unregister(s)
            s.close()
            if data["kind"] == "slow":
                cut += 1
            connect(data["kind"])
    now = time.monotonic()
    if now - last_trickle >= 1.0:
        last_trickle = now
        for key in list(sel.get_map().values()):
            data = key.data
            if data["kind"] == "slow" and data["sent"] < len(HEAD):
                try:
                    key.fileobj.send(HEAD[data["sent"] : data["sent"] + 1])
                    data["sent"] += 1
                except OSError:
                    pass
    due = int((now - last_spoof) * spoof_rps)
    if due > 0:
        last_spoof = now
        for _ in range(due):
            spoof_sent += 1
            ip = "10.%d.%d.%d" % (random.randrange(256), random.randrange(256), random.randrange(256))
            req = (
                "GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n"
                f"X-Forwarded-For: {ip}\r\n"
                f"x-envoy-peer-metadata-id: sidecar~{ip}~evil-{spoof_sent}.default~default.svc.cluster.local\r\n\r\n"
            ).encode()
            try:
                s = socket.create_connection((host, port), timeout=2)
                s.sendall(req)
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, {"kind": "spoof", "sent": 0})
            except OSError:
                pass
    if now - last_report >= 10:
        last_report = now
        held = sum(1 for k in sel.get_map().values() if k.data["kind"] != "spoof")
        print(f"held {held}, slow heads cut {cut}, spoofed answered {answered}/{spoof_sent}", flush=True)
