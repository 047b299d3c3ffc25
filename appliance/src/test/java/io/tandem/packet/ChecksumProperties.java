package io.tandem.packet;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** RFC 1624's incremental update agrees with recomputing the checksum from scratch, for random data. */
class ChecksumProperties {
    private static final int TRIES = 5000;

    @Test
    void incrementalUpdateOf32BitFieldsMatchesFullRecompute() {
        Random random = new Random(1624);
        for (int t = 0; t < TRIES; t++) {
            ByteBuf buf = randomBuffer(random);
            int offset = random.nextInt(buf.readableBytes() / 2 - 1) * 2;
            int newValue = random.nextInt(8) == 0 ? 0 : random.nextInt();
            int before = Checksum.compute(buf, 0, buf.readableBytes());
            int oldValue = buf.getInt(offset);
            buf.setInt(offset, newValue);
            int expected = Checksum.compute(buf, 0, buf.readableBytes());
            assertEquivalent(expected, Checksum.update32(before, oldValue, newValue));
            assertEquivalent(expected, ~Checksum.fold((~before & 0xFFFF) + (long) NatRewriter.delta32(oldValue, newValue)) & 0xFFFF);
        }
    }

    @Test
    void incrementalUpdateOf16BitFieldsMatchesFullRecompute() {
        Random random = new Random(1071);
        for (int t = 0; t < TRIES; t++) {
            ByteBuf buf = randomBuffer(random);
            int offset = random.nextInt(buf.readableBytes() / 2) * 2;
            int newValue = random.nextInt(8) == 0 ? 0xFFFF : random.nextInt(0x10000);
            int before = Checksum.compute(buf, 0, buf.readableBytes());
            int oldValue = buf.getUnsignedShort(offset);
            buf.setShort(offset, newValue);
            assertEquivalent(Checksum.compute(buf, 0, buf.readableBytes()), Checksum.update16(before, oldValue, newValue));
        }
    }

    /** 0x0000 and 0xFFFF are the two zeros of one's-complement arithmetic; both verify. */
    private static void assertEquivalent(int expected, int actual) {
        assertEquals(expected == 0xFFFF ? 0 : expected, actual == 0xFFFF ? 0 : actual,
                () -> Integer.toHexString(expected) + " vs " + Integer.toHexString(actual));
    }

    private static ByteBuf randomBuffer(Random random) {
        byte[] bytes = new byte[4 + 2 * random.nextInt(30)];
        random.nextBytes(bytes);
        if (random.nextInt(10) == 0) {
            Arrays.fill(bytes, (byte) 0xFF); // edge: all ones
        }
        return Unpooled.wrappedBuffer(bytes);
    }
}
