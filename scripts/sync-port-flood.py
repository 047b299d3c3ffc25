#!/usr/bin/env python3
"""Outsiders against a sync port, for the namespace lab: SLOW connections that each send a TLS
ClientHello's record header and then its body a byte every 300 ms (reconnecting 50 ms after it is
closed),
and FAST connections that connect, send junk and close, again and again (50 ms apart, 20 when
refused), all to HOST:PORT, until SECONDS have passed; then it stops and prints what it did.
Run it in a lab namespace only.
   sync-port-flood.py HOST PORT SLOW FAST SECONDS"""
import socket
import struct
import sys
import threading
import time

host, port, slow, fast, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
if not host.startswith("198.18.") and not host.startswith("198.19."):
    sys.exit("sync-port-flood: lab addresses (198.18.0.0/15) only")
HELLO = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
end = time.monotonic() + seconds
counts = {"slow": 0, "fast": 0, "refused": 0}
lock = threading.Lock()


def count(what):
    with lock:
        counts[what] += 1


def slow_client():
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                count("slow")
                s.settimeout(0.3)
                sent = 0
                while time.monotonic() < end:
                    s.sendall(HELLO[sent:sent + 1] if sent < len(HELLO) else b"\0")
                    sent += 1
                    try:
                        if s.recv(1) == b"":
                            break
                    except socket.timeout:
                        pass
            time.sleep(0.05)  # closed on it: connect again, twenty times a second at most
        except OSError:
            count("refused")
            time.sleep(0.05)


def fast_client():
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                count("fast")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a RST: no TIME_WAIT
                s.sendall(b"bela\x05\x05 forged frame, no key")
            time.sleep(0.05)  # twenty connections a second each, over a thousand in all: the box keeps its two cores
        except OSError:
            count("refused")
            time.sleep(0.02)


threads = [threading.Thread(target=slow_client) for _ in range(slow)] + [threading.Thread(target=fast_client) for _ in range(fast)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"sync port flood: slow connections {counts['slow']} fast connections {counts['fast']} refused {counts['refused']}")
