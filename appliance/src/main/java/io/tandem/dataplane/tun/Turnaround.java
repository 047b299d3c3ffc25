package io.tandem.dataplane.tun;

import io.netty.buffer.ByteBuf;

/** What every queue does with a packet it read: process it in place and ready it to go back to the device. */
final class Turnaround {
    private Turnaround() {
    }

    /**
     * @param length     bytes read into {@code buffer}, the virtio-net header included
     * @param headerSize {@link VirtioNetHeader#SIZE} with offload, 0 without
     * @return whether to write {@code buffer} (from its reader index) back; false for a drop
     */
    static boolean process(ByteBuf buffer, int length, int headerSize, PacketHandler processor, long now) {
        buffer.setIndex(headerSize, length);
        boolean partial = headerSize > 0 && VirtioNetHeader.needsChecksum(buffer, 0);
        Verdict verdict = processor.process(buffer, partial, now);
        if (verdict == Verdict.DROP) {
            return false;
        }
        if (headerSize > 0) {
            if (verdict == Verdict.REPLY) {
                VirtioNetHeader.clear(buffer, 0); // a packet we made: whole, checksums complete
            }
            buffer.readerIndex(0); // forwarded: the same header goes back with the packet
        }
        return true;
    }
}
