package io.tandem.packet;

import io.netty.buffer.ByteBuf;

/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624, eqn. 3:
 * {@code HC' = ~(~HC + ~m + m')}). The data plane only ever uses the incremental form;
 * the full computation is for building packets and for tests that verify from scratch.
 */
public final class Checksum {
    private Checksum() {
    }

    /** Updates {@code checksum} for one 16-bit word changing from {@code oldWord} to {@code newWord}. */
    public static int update16(int checksum, int oldWord, int newWord) {
        int sum = (~checksum & 0xFFFF) + (~oldWord & 0xFFFF) + (newWord & 0xFFFF);
        return ~fold(sum) & 0xFFFF;
    }

    /** Updates {@code checksum} for a 32-bit field (an IPv4 address) changing value. */
    public static int update32(int checksum, int oldValue, int newValue) {
        int sum = (~checksum & 0xFFFF)
                + (~oldValue >>> 16 & 0xFFFF) + (~oldValue & 0xFFFF)
                + (newValue >>> 16) + (newValue & 0xFFFF);
        return ~fold(sum) & 0xFFFF;
    }

    /** One's-complement sum of {@code length} bytes, not yet complemented. */
    public static long sum(ByteBuf buf, int offset, int length) {
        long sum = 0;
        int i = 0;
        for (; i + 1 < length; i += 2) {
            sum += buf.getUnsignedShort(offset + i);
        }
        if (i < length) {
            sum += (buf.getUnsignedByte(offset + i) << 8);
        }
        return sum;
    }

    /** The Internet checksum of {@code length} bytes (RFC 1071). */
    public static int compute(ByteBuf buf, int offset, int length) {
        return ~fold(sum(buf, offset, length)) & 0xFFFF;
    }

    /** The TCP/UDP checksum over the IPv4 pseudo-header and the L4 segment. */
    public static int computeL4(ByteBuf buf, int srcAddress, int dstAddress, int protocol, int l4Offset, int l4Length) {
        long sum = sum(buf, l4Offset, l4Length)
                + (srcAddress >>> 16) + (srcAddress & 0xFFFF)
                + (dstAddress >>> 16) + (dstAddress & 0xFFFF)
                + protocol + l4Length;
        return ~fold(sum) & 0xFFFF;
    }

    /**
     * The TCP/UDP/ICMPv6 checksum over the IPv6 pseudo-header (RFC 8200 §8.1: both addresses,
     * the upper-layer length as 32 bits, the next header as 32 bits) and the segment.
     */
    public static int computeL4v6(ByteBuf buf, long srcHigh, long srcLow, long dstHigh, long dstLow, int nextHeader,
                                  int l4Offset, int l4Length) {
        long sum = sum(buf, l4Offset, l4Length) + words(srcHigh) + words(srcLow) + words(dstHigh) + words(dstLow)
                + (l4Length >>> 16) + (l4Length & 0xFFFF) + nextHeader;
        return ~fold(sum) & 0xFFFF;
    }

    /** The sum of a long's four 16-bit words. */
    static long words(long v) {
        return (v >>> 48) + (v >>> 32 & 0xFFFF) + (v >>> 16 & 0xFFFF) + (v & 0xFFFF);
    }

    static int fold(long sum) {
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        return (int) sum;
    }
}
