#!/usr/bin/env python3
"""Fragments through the namespace lab's VIP, from the client namespace only (raw sockets):
   frag-probe.py reverse DST PORT COUNT   COUNT UDP datagrams of 1,200 bytes, each sent as two
                                          fragments, the second first; counts the answers
   frag-probe.py tiny DST PORT COUNT      COUNT TCP SYNs whose first fragment holds 8 bytes
                                          (RFC 1858's tiny fragment: the flags in the second)
   frag-probe.py overlap DST PORT COUNT   COUNT UDP datagrams whose second fragment starts at
                                          offset 8, over the UDP header the first carried
Bounded by COUNT and a 2 s wait per answer; prints "frag-probe MODE sent N answered M"."""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from inet import checksum  # noqa: E402

mode, dst, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if not dst.startswith("198.18.") and not dst.startswith("198.19."):
    sys.exit("frag-probe: lab addresses (198.18.0.0/15) only")
SRC = "198.18.0.10"


def l4_checksum(proto, segment):
    pseudo = socket.inet_aton(SRC) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, len(segment))
    return checksum(pseudo + segment)


def fragment(proto, ident, segment, offset, chunk, more):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(chunk), ident, (0x2000 if more else 0) | offset // 8, 64, proto, 0,
                     socket.inet_aton(SRC), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + chunk


raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
answers = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
answers.bind((SRC, 0))
answers.settimeout(2.0)
sport = answers.getsockname()[1]
sent = answered = 0
for i in range(count):
    ident = 0x4000 + i
    if mode == "tiny":
        tcp = struct.pack("!HHIIBBHHH", sport, port, 1000 + i, 0, 5 << 4, 0x02, 65535, 0, 0) + b"x" * 32
        tcp = tcp[:16] + struct.pack("!H", l4_checksum(socket.IPPROTO_TCP, tcp)) + tcp[18:]
        raw.sendto(fragment(socket.IPPROTO_TCP, ident, tcp, 0, tcp[:8], True), (dst, 0))
        raw.sendto(fragment(socket.IPPROTO_TCP, ident, tcp, 8, tcp[8:], False), (dst, 0))
        sent += 1
        continue
    body = (f"frag-probe {i} ".encode() * 100)[:1192]
    udp = struct.pack("!HHHH", sport, port, 8 + len(body), 0) + body
    udp = udp[:6] + struct.pack("!H", l4_checksum(socket.IPPROTO_UDP, udp) or 0xFFFF) + udp[8:]
    first = fragment(socket.IPPROTO_UDP, ident, udp, 0, udp[:600], True)
    second_at = 8 if mode == "overlap" else 600
    second = fragment(socket.IPPROTO_UDP, ident, udp, second_at, udp[second_at:], False)
    if mode == "reverse":
        raw.sendto(second, (dst, 0))
        raw.sendto(first, (dst, 0))
    else:
        raw.sendto(first, (dst, 0))
        raw.sendto(second, (dst, 0))
    sent += 1
    try:
        reply, _ = answers.recvfrom(4096)
        if body in reply:
            answered += 1
    except socket.timeout:
        pass
print(f"frag-probe {mode} sent {sent} answered {answered}")
