#!/usr/bin/env python3
"""Blind spoofed handshakes, for the namespace lab: for COUNT forged sources (addresses in
198.18.0.120-249, random ports; none of them a real host), a SYN to DST:DPORT, then, a moment
later (WAIT ms: the backend's SYN-ACK has gone by, to nobody), an ACK at the SYN's sequence
number + 1 with a guessed acknowledgment number: what an off-path attacker who never sees the
SYN-ACK can send. Batches of 50, at most RATE handshakes a second; bounded by COUNT and by
SECONDS, it stops by itself and prints what it sent. Run it in the lab's spoofer namespace only.
   spoof-handshakes.py DST DPORT COUNT RATE WAIT_MS SECONDS"""
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from inet import tcp_segment  # noqa: E402

dst, dport, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rate, wait, seconds = float(sys.argv[4]), float(sys.argv[5]) / 1000, float(sys.argv[6])
if not dst.startswith("198.18.") and not dst.startswith("198.19."):
    sys.exit("spoof-handshakes: lab addresses (198.18.0.0/15) only")
SYN, ACK = 0x02, 0x10


def segment(src, dst_bytes, sport, seq, ack, flags):
    return tcp_segment(src, dst_bytes, sport, dport, seq, ack, flags)


s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
dst_bytes = socket.inet_aton(dst)
rnd = random.Random(29)
used = set()
sent = 0
start = time.monotonic()
end = start + seconds
while sent < count and time.monotonic() < end:
    batch = []
    while len(batch) < min(50, count - sent):
        source = (bytes([198, 18, 0, rnd.randrange(120, 250)]), rnd.randrange(1024, 65535))
        if source not in used:
            used.add(source)
            batch.append((source, rnd.getrandbits(32)))
    for (src, sport), isn in batch:
        s.sendto(segment(src, dst_bytes, sport, isn, 0, SYN), (dst, 0))
    time.sleep(wait)
    for (src, sport), isn in batch:
        s.sendto(segment(src, dst_bytes, sport, (isn + 1) & 0xFFFFFFFF, rnd.getrandbits(32), ACK), (dst, 0))
    sent += len(batch)
    ahead = start + sent / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
print(f"spoofed handshakes {sent} sources {len(used)}")
