package io.tandem.microbench;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.tandem.packet.Checksum;
import io.tandem.packet.Ipv4;

/** Builds benchmark packets (valid checksums) into pooled direct buffers, and copies them without allocating. */
final class Packets {
    private Packets() {
    }

    static ByteBuf tcp(int src, int srcPort, int dst, int dstPort, int flags, int payload) {
        int length = 40 + payload;
        ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(length);
        buf.writeByte(0x45).writeByte(0).writeShort(length).writeShort(1).writeShort(0)
                .writeByte(64).writeByte(Ipv4.PROTO_TCP).writeShort(0).writeInt(src).writeInt(dst);
        buf.writeShort(srcPort).writeShort(dstPort).writeInt(1000).writeInt(2000)
                .writeByte(5 << 4).writeByte(flags).writeShort(65535).writeShort(0).writeShort(0);
        buf.writeZero(payload);
        buf.setShort(10, Checksum.compute(buf, 0, 20));
        buf.setShort(36, Checksum.computeL4(buf, src, dst, Ipv4.PROTO_TCP, 20, 20 + payload));
        return buf;
    }

    /**
     * Restores the first {@code headerBytes} of a template into a work buffer that already holds
     * the template's payload: the engine rewrites headers only.
     */
    static void restoreHeaders(ByteBuf from, ByteBuf to, int headerBytes) {
        for (int i = 0; i < headerBytes; i += 8) {
            to.setLong(i, from.getLong(i));
        }
        to.readerIndex(0).writerIndex(from.readableBytes());
    }
}
