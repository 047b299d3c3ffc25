package io.tandem.dataplane.tun;

import io.netty.buffer.ByteBuf;

/**
 * The 10-byte {@code struct virtio_net_hdr} a TUN device with IFF_VNET_HDR puts before each
 * packet (virtio spec §5.1.6; host byte order on a legacy TUN): flags, gso_type, hdr_len,
 * gso_size, csum_start, csum_offset. tandemd NATs a super-packet's headers once and writes it
 * back with the same header: the kernel segments it and finishes its checksum.
 */
final class VirtioNetHeader {
    static final int SIZE = 10;
    /** The L4 checksum field holds only the pseudo-header sum; the rest is computed later. */
    static final int F_NEEDS_CSUM = 1;

    private VirtioNetHeader() {
    }

    static boolean needsChecksum(ByteBuf buf, int offset) {
        return (buf.getByte(offset) & F_NEEDS_CSUM) != 0;
    }

    /** A plain packet with full checksums (the replies tandemd makes itself). */
    static void clear(ByteBuf buf, int offset) {
        buf.setLong(offset, 0);
        buf.setShort(offset + 8, 0);
    }
}
