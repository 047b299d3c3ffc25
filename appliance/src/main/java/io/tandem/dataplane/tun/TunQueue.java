package io.tandem.dataplane.tun;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoEvent;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import io.tandem.packet.PacketCopy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.function.LongSupplier;

/**
 * One TUN queue served by one Netty event loop. On each EPOLLIN readiness it reads up to
 * {@link #BATCH} packets into one reusable pooled direct buffer, runs each through the
 * queue's {@link PacketHandler} and writes forwarded packets and replies straight back:
 * no allocation per packet. A write that would block keeps its packet in a bounded backlog,
 * reading pauses and EPOLLOUT is asked for until the backlog is written — the only time
 * EPOLLOUT is registered.
 */
public final class TunQueue implements EpollIoHandle, PacketQueue {
    /** Packets read per readiness event before yielding the event loop to others. */
    static final int BATCH = 64;
    static final int BACKLOG_LIMIT = 1024;
    /** Enough for any packet a TUN device hands over: 64 KB super-packets and their virtio-net header. */
    static final int BUFFER_SIZE = 65_536 + VirtioNetHeader.SIZE;
    private static final Logger LOG = LoggerFactory.getLogger(TunQueue.class);

    private final FileDescriptor fd;
    private final PacketHandler processor;
    private final LongSupplier clock;
    private final ByteBufAllocator allocator;
    private final ByteBuf buffer;
    /** Where a packet the handler held back and lets go is readied (see {@link PacketHandler#nextReleased}). */
    private final ByteBuf released;
    private final ArrayDeque<ByteBuf> backlog = new ArrayDeque<>();
    private boolean closed;
    private long writeErrors;
    private long backlogDrops;
    /** Bytes before each packet: a {@link VirtioNetHeader} with offload, none without. */
    private final int headerSize;

    public TunQueue(int fd, PacketHandler processor, LongSupplier clock, ByteBufAllocator allocator) {
        this(fd, false, processor, clock, allocator);
    }

    /** @param vnetHeader the device was opened with IFF_VNET_HDR */
    public TunQueue(int fd, boolean vnetHeader, PacketHandler processor, LongSupplier clock, ByteBufAllocator allocator) {
        this.headerSize = vnetHeader ? VirtioNetHeader.SIZE : 0;
        this.fd = new FileDescriptor(fd);
        this.processor = processor;
        this.clock = clock;
        this.allocator = allocator;
        this.buffer = allocator.directBuffer(BUFFER_SIZE, BUFFER_SIZE);
        this.released = allocator.directBuffer(BUFFER_SIZE, BUFFER_SIZE);
    }

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    @Override
    public void handle(IoRegistration registration, IoEvent event) {
        EpollIoOps ops = ((EpollIoEvent) event).ops();
        try {
            if (ops.contains(EpollIoOps.EPOLLOUT) && flushBacklog()) {
                registration.submit(EpollIoOps.EPOLLIN);
            }
            if (backlog.isEmpty() && ops.contains(EpollIoOps.EPOLLIN)) {
                readBatch(registration);
            }
        } catch (IOException e) {
            LOG.error("TUN queue fd {} failed: {}", fd.intValue(), e.toString());
            registration.cancel();
        }
    }

    private void readBatch(IoRegistration registration) throws IOException {
        long now = clock.getAsLong();
        long address = buffer.memoryAddress();
        for (int i = 0; i < BATCH; i++) {
            int n = fd.readAddress(address, 0, BUFFER_SIZE);
            if (n <= 0) {
                return; // EAGAIN: drained
            }
            if (n <= headerSize) {
                continue; // a header without a packet: nothing to do
            }
            if (Turnaround.process(buffer, n, headerSize, processor, now) && !write(buffer)) {
                registration.submit(EpollIoOps.EPOLLOUT);
                return;
            }
            while (Turnaround.released(released, headerSize, processor, now)) {
                if (!write(released)) {
                    registration.submit(EpollIoOps.EPOLLOUT);
                    return;
                }
            }
        }
    }

    /** Writes a packet; false if the device would block (the packet is kept in the backlog). */
    private boolean write(ByteBuf packet) throws IOException {
        int length = packet.readableBytes();
        int written;
        try {
            written = fd.writeAddress(packet.memoryAddress(), packet.readerIndex(), packet.writerIndex());
        } catch (IOException e) {
            // e.g. EINVAL for a packet the kernel refuses: count it, never stop the queue for it
            writeErrors++;
            return true;
        }
        if (written == length) {
            return true;
        }
        if (backlog.size() < BACKLOG_LIMIT) {
            ByteBuf kept = allocator.directBuffer(length);
            PacketCopy.copy(packet, kept);
            backlog.add(kept);
        } else {
            backlogDrops++;
        }
        return false;
    }

    /** Writes the backlog in order; true once it is empty. */
    private boolean flushBacklog() throws IOException {
        while (!backlog.isEmpty()) {
            ByteBuf next = backlog.peek();
            int written = fd.writeAddress(next.memoryAddress(), next.readerIndex(), next.writerIndex());
            if (written != next.readableBytes()) {
                return false;
            }
            backlog.poll().release();
        }
        return true;
    }

    public long writeErrors() {
        return writeErrors;
    }

    public long backlogDrops() {
        return backlogDrops;
    }

    /** Idempotent: the event loop closes its handles at shutdown, and the owner may too. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        backlog.forEach(ByteBuf::release);
        backlog.clear();
        buffer.release();
        released.release();
        fd.close();
    }
}
