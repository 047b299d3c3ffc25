package io.tandem.dataplane.tun;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.uring.IoUringIoEvent;
import io.netty.channel.uring.IoUringIoHandle;
import io.netty.channel.uring.IoUringIoOps;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteOrder;
import java.util.function.LongSupplier;

/**
 * One TUN queue served through io_uring (Netty 4.2's {@code IoUringIoHandler}): reads and
 * writes are submitted as operations, many per {@code io_uring_enter}, and their completions
 * reaped in batches — where epoll costs a readiness event plus a read and a write syscall per
 * packet.
 *
 * <p>Order matters (TCP takes reordering as loss), and several reads outstanding on one file
 * may complete in any order. So the reads go in chains of {@link #CHAIN}, hard-linked
 * ({@code IOSQE_IO_HARDLINK}: the next starts when the previous completed, whatever its
 * result), each posting its completion as its packet arrives; the next chain, on the other
 * half of the buffers, is submitted when the last read of the running one completed. Writes
 * are issued in completion order and TUN writes do not block, so they keep it.
 *
 * <p>No allocation per packet: every operation is built once per buffer (the write is a
 * {@code writev} whose one iovec's length is updated in place).
 */
public final class UringTunQueue implements IoUringIoHandle, PacketQueue {
    /** Reads per hard-linked chain; two chains' worth of buffers alternate. */
    static final int CHAIN = 32;
    static final int BUFFER_SIZE = TunQueue.BUFFER_SIZE;
    // Opcodes and flags from linux/io_uring.h.
    private static final byte IORING_OP_READ = 22;
    private static final byte IORING_OP_WRITEV = 2;
    private static final byte IOSQE_IO_HARDLINK = 1 << 3;
    private static final int ECANCELED = 125;
    private static final int IOVEC_SIZE = 16;
    private static final Logger LOG = LoggerFactory.getLogger(UringTunQueue.class);

    private final int fd;
    private final PacketHandler processor;
    private final LongSupplier clock;
    private final int headerSize;
    private final ByteBuf[] buffers = new ByteBuf[2 * CHAIN];
    private final ByteBuf iovecs;
    private final IoUringIoOps[] reads = new IoUringIoOps[2 * CHAIN];
    private final IoUringIoOps[] writes = new IoUringIoOps[2 * CHAIN];
    /** Per half: operations submitted and not completed yet. */
    private final int[] inFlight = new int[2];
    /** Per half: reads of its chain not completed yet. */
    private final int[] readsLeft = new int[2];
    /** Per half: its chain is due but waits for its last writes. */
    private final boolean[] chainDue = new boolean[2];
    private IoRegistration registration;
    private boolean closed;
    private long writeErrors;
    /** Where a packet the handler lets go of is readied (see {@link PacketHandler#nextReleased}). */
    private final ByteBuf released;
    private long readErrors;

    /**
     * @param fd         a blocking TUN queue descriptor: io_uring waits for a packet itself
     *                   (a non-blocking one would complete every read at once with EAGAIN)
     * @param vnetHeader the device was opened with IFF_VNET_HDR
     */
    public UringTunQueue(int fd, boolean vnetHeader, PacketHandler processor, LongSupplier clock, ByteBufAllocator allocator) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalStateException("io_uring queues are written for little-endian machines; use dataplane.io: epoll");
        }
        this.fd = fd;
        this.processor = processor;
        this.clock = clock;
        this.headerSize = vnetHeader ? VirtioNetHeader.SIZE : 0;
        this.iovecs = allocator.directBuffer(2 * CHAIN * IOVEC_SIZE, 2 * CHAIN * IOVEC_SIZE);
        this.released = allocator.directBuffer(BUFFER_SIZE, BUFFER_SIZE);
        for (int i = 0; i < buffers.length; i++) {
            buffers[i] = allocator.directBuffer(BUFFER_SIZE, BUFFER_SIZE);
            long address = buffers[i].memoryAddress();
            byte flags = i % CHAIN == CHAIN - 1 ? 0 : IOSQE_IO_HARDLINK; // the last of a chain ends it
            reads[i] = new IoUringIoOps(IORING_OP_READ, flags, (short) 0, fd, 0L, address, BUFFER_SIZE, 0, (long) i,
                    (short) 0, (short) 0, 0, 0L);
            iovecs.setLongLE(i * IOVEC_SIZE, address);
            writes[i] = new IoUringIoOps(IORING_OP_WRITEV, (byte) 0, (short) 0, fd, 0L, iovecs.memoryAddress() + (long) i * IOVEC_SIZE,
                    1, 0, (long) i, (short) 0, (short) 0, 0, 0L);
        }
    }

    /** Submits the first chain of reads; on the queue's event loop, once registered. */
    public void start(IoRegistration registration) {
        this.registration = registration;
        submitChain(0);
    }

    @Override
    public void handle(IoRegistration registration, IoEvent event) {
        IoUringIoEvent completion = (IoUringIoEvent) event;
        int index = (int) completion.userData();
        int half = index / CHAIN;
        inFlight[half]--;
        if (completion.opcode() == IORING_OP_READ) {
            readCompleted(index, half, completion.res());
        } else if (completion.res() < 0) {
            writeErrors++; // e.g. EINVAL for a packet the kernel refuses: counted, never stops the queue
        }
        if (chainDue[half] && inFlight[half] == 0 && !closed) {
            chainDue[half] = false;
            submitChain(half);
        }
    }

    private void readCompleted(int index, int half, int result) {
        if (--readsLeft[half] == 0 && !closed) {
            chainDue[1 - half] = true; // the next chain, on the other half, once that half is idle
            if (inFlight[1 - half] == 0) {
                chainDue[1 - half] = false;
                submitChain(1 - half);
            }
        }
        if (result < 0) {
            if (-result != ECANCELED) {
                readErrors++;
                if (readErrors == 1) {
                    LOG.warn("TUN queue fd {}: read failed with errno {}", fd, -result);
                }
            }
            return;
        }
        if (result <= headerSize || closed) {
            return;
        }
        ByteBuf buffer = buffers[index];
        long now = clock.getAsLong();
        if (Turnaround.process(buffer, result, headerSize, processor, now)) {
            iovecs.setLongLE(index * IOVEC_SIZE, buffer.memoryAddress() + buffer.readerIndex());
            iovecs.setLongLE(index * IOVEC_SIZE + 8, buffer.readableBytes());
            registration.submit(writes[index]);
            inFlight[half]++;
        }
        // Packets the handler held and now lets go (fragments whose first came): rare, so
        // written at once with write(2) rather than through a ring slot.
        while (Turnaround.released(released, headerSize, processor, now)) {
            long written = LinuxCalls.write(fd, released.memoryAddress() + released.readerIndex(), released.readableBytes());
            if (written != released.readableBytes()) {
                writeErrors++;
            }
        }
    }

    private void submitChain(int half) {
        for (int i = half * CHAIN; i < (half + 1) * CHAIN; i++) {
            registration.submit(reads[i]);
        }
        inFlight[half] += CHAIN;
        readsLeft[half] = CHAIN;
    }


    @Override
    public long writeErrors() {
        return writeErrors;
    }

    /** io_uring writes never wait in a backlog: a TUN write completes or fails. */
    @Override
    public long backlogDrops() {
        return 0;
    }

    /**
     * Netty closes a handle once its registration is cancelled and every operation completed:
     * only then may the buffers the kernel reads into go.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (inFlight[0] + inFlight[1] == 0) {
            for (ByteBuf b : buffers) {
                b.release();
            }
            iovecs.release();
            released.release();
        } // else: the kernel may still own them; they go with the process
        LinuxCalls.close(fd);
    }
}
