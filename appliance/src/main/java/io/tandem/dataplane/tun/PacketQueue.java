package io.tandem.dataplane.tun;

import io.netty.channel.IoHandle;

/** One TUN queue served by one event loop, however it reads and writes ({@link TunQueue}, {@link UringTunQueue}). */
public interface PacketQueue extends IoHandle {
    /** Packets the kernel refused to take back (counted, never fatal). */
    long writeErrors();

    /** Packets dropped because the device pushed back for too long. */
    long backlogDrops();
}
