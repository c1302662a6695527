#!/usr/bin/env python3
"""Memory an HTTP server holds per idle keep-alive connection.

Opens N connections to 127.0.0.1:PORT, sends one GET for PATH on each, reads each response
to its end (Content-Length), keeps the connections open, and prints the VmRSS of PID before
and after, and the difference per connection.

    python3 bench/idle_conns.py N PORT PID [PATH]

The process needs N free descriptors (ulimit -n) and so does the server.
"""
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def read_response(sock):
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("connection closed before a response head")
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("connection closed inside a response body")
        body += chunk


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    n, port, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    path = sys.argv[4] if len(sys.argv) > 4 else "/size/4096"
    before = rss_kib(pid)
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        socks.append(s)
    for s in socks:
        read_response(s)
    time.sleep(0.5)
    after = rss_kib(pid)
    print(f"{n} idle keep-alive connections: VmRSS {before} -> {after} KiB, "
          f"{(after - before) / n:.1f} KiB per connection")


if __name__ == "__main__":
    main()
