"""Helpers the lab's raw-socket senders share (scripts/frag-probe.py, scripts/spoof-segments.py)."""
import struct


def checksum(data):
    """The Internet checksum (RFC 1071) of data: the one's complement of the one's-complement sum of its 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
