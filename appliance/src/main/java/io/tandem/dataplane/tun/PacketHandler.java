package io.tandem.dataplane.tun;

import io.netty.buffer.ByteBuf;

/**
 * What a TUN queue hands each packet it reads to: the engine implements it, the queues never
 * know the engine (as Netty's transport owns {@code EpollIoHandle} and never imports its users).
 * Called on the queue's event loop, one packet at a time; it must not allocate.
 */
@FunctionalInterface
public interface PacketHandler {
    /**
     * @param packet          the IP packet, from its reader index to its writer index; rewritten in place
     * @param checksumPartial its transport checksum is left to the device ({@code CHECKSUM_PARTIAL})
     * @return what the queue does with the buffer: write it back, or drop it
     */
    Verdict process(ByteBuf packet, boolean checksumPartial, long nowMillis);

    /**
     * A packet the handler held ({@link Verdict#HELD}) and now lets go, appended to {@code out}
     * at its reader and writer index, ready to write; false when there is none. Queues ask after
     * each packet they processed; it must be cheap when there is nothing.
     */
    default boolean nextReleased(ByteBuf out, long nowMillis) {
        return false;
    }
}
