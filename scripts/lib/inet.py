"""Helpers the lab's raw-socket senders share (scripts/frag-probe.py, spoof-segments.py, spoof-handshakes.py)."""
import random
import socket
import struct


def checksum(data):
    """The Internet checksum (RFC 1071) of data: the one's complement of the one's-complement sum of its 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_segment(src, dst, sport, dport, seq, ack, flags):
    """An IPv4 packet (addresses as 4 bytes) holding a bare TCP segment with its checksum, for a raw IP_HDRINCL socket."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0, 64, socket.IPPROTO_TCP, 0, src, dst)
    return ip + tcp
