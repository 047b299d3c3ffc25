package io.tandem.packet;

import io.netty.buffer.ByteBuf;

/** Copies a packet between direct buffers without allocating (ByteBuf.writeBytes between two direct buffers allocates a ByteBuffer view). */
public final class PacketCopy {
    private PacketCopy() {
    }

    /** Replaces {@code to}'s content with {@code from}'s readable bytes, eight at a time. */
    public static void copy(ByteBuf from, ByteBuf to) {
        int length = from.readableBytes();
        int src = from.readerIndex();
        to.clear();
        to.ensureWritable(length);
        int i = 0;
        for (; i + 8 <= length; i += 8) {
            to.setLong(i, from.getLong(src + i));
        }
        for (; i < length; i++) {
            to.setByte(i, from.getByte(src + i));
        }
        to.writerIndex(length);
    }
}
