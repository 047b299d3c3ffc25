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
        if (verdict == Verdict.DROP || verdict == Verdict.HELD) {
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

    /**
     * Readies in {@code scratch} the next packet the handler lets go of, behind a blank
     * virtio-net header when the device has them (a whole packet: no offload asked for).
     *
     * @return whether {@code scratch} (from its reader index) is to be written
     */
    static boolean released(ByteBuf scratch, int headerSize, PacketHandler processor, long now) {
        scratch.clear();
        if (headerSize > 0) {
            scratch.setZero(0, headerSize);
        }
        scratch.setIndex(headerSize, headerSize);
        if (!processor.nextReleased(scratch, now)) {
            return false;
        }
        scratch.readerIndex(0);
        return true;
    }
}
