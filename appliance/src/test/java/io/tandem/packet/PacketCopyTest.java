package io.tandem.packet;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class PacketCopyTest {
    @Test
    void copiesTheReadableBytesWhateverTheirLengthAndOffset() {
        for (int length : new int[] {0, 1, 7, 8, 9, 63, 1500}) {
            ByteBuf from = PooledByteBufAllocator.DEFAULT.directBuffer(length + 3);
            from.writeBytes(new byte[] {9, 9, 9});
            for (int i = 0; i < length; i++) {
                from.writeByte(i * 31);
            }
            from.readerIndex(3);
            ByteBuf to = PooledByteBufAllocator.DEFAULT.directBuffer(4);
            to.writeBytes(new byte[] {1, 2, 3, 4});
            PacketCopy.copy(from, to);
            assertEquals(ByteBufUtil.hexDump(from), ByteBufUtil.hexDump(to), "length " + length);
            from.release();
            to.release();
        }
    }
}
