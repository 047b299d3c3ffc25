package io.tandem.dataplane.tun;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A multi-queue TUN device: one non-blocking file descriptor per queue, each attached with
 * {@code TUNSETIFF} and {@code IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE}, so the kernel spreads
 * flows over the queues by hash and each queue can be served by its own event loop. The
 * device is not persistent: it disappears when the last queue is closed.
 */
public final class TunDevice implements AutoCloseable {
    static final Path CLONE_DEVICE = Path.of("/dev/net/tun");
    /** {@code _IOW('T', 202, int)} from linux/if_tun.h. */
    static final long TUNSETIFF = 0x400454caL;
    static final short IFF_TUN = 0x0001;
    static final short IFF_NO_PI = 0x1000;
    static final short IFF_MULTI_QUEUE = 0x0100;
    /** Fail with EBUSY if the device exists: a second tandemd must never attach to the first one's queues. */
    static final short IFF_TUN_EXCL = (short) 0x8000;
    /** Each packet comes and goes with a {@link VirtioNetHeader} (linux/if_tun.h). */
    static final short IFF_VNET_HDR = 0x4000;
    static final long TUNSETOFFLOAD = 0x400454d0L;
    static final long TUN_F_CSUM = 0x01;
    static final long TUN_F_TSO4 = 0x02;
    static final long TUN_F_TSO6 = 0x04;
    static final long TUN_F_USO4 = 0x20;
    static final long TUN_F_USO6 = 0x40;
    /** {@code struct ifreq}: the name in the first 16 bytes, the flags as a short at 16. */
    static final int IFREQ_SIZE = 40;
    static final int IFNAMSIZ = 16;

    private final String name;
    private final List<Integer> queueFds;
    private final String offloads;

    private TunDevice(String name, List<Integer> queueFds, String offloads) {
        this.name = name;
        this.queueFds = List.copyOf(queueFds);
        this.offloads = offloads;
    }

    /**
     * Creates (or attaches to) the device {@code name} with {@code queues} queues.
     *
     * @throws TunException with what to do about it: no device node, no privilege, name in use
     */
    public static TunDevice open(String name, int queues) throws TunException {
        return open(name, queues, false);
    }

    /**
     * As {@link #open(String, int)}; with {@code offload}, every packet carries a virtio-net
     * header and the kernel may hand over (and take back) TCP and UDP super-packets with
     * partial checksums: TSO and checksum offload, and USO where the kernel has it (6.2+).
     * Refused offloads fall back to fewer, never to failure; {@link #offloads()} says which.
     */
    public static TunDevice open(String name, int queues, boolean offload) throws TunException {
        return open(name, queues, offload, false);
    }

    /**
     * As {@link #open(String, int, boolean)}; {@code blocking} descriptors are for io_uring,
     * which waits for a packet itself (on a non-blocking one every read ends at once in EAGAIN).
     */
    public static TunDevice open(String name, int queues, boolean offload, boolean blocking) throws TunException {
        if (name.isEmpty() || name.getBytes(StandardCharsets.US_ASCII).length >= IFNAMSIZ) {
            throw new TunException("TUN device name '" + name + "' must be 1-15 characters");
        }
        if (!Files.exists(CLONE_DEVICE)) {
            throw new TunException(CLONE_DEVICE + " does not exist: load the tun module (modprobe tun) or run where TUN is available");
        }
        List<Integer> fds = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            for (int q = 0; q < queues; q++) {
                int fd = LinuxCalls.open(CLONE_DEVICE.toString(),
                        LinuxCalls.O_RDWR | (blocking ? 0 : LinuxCalls.O_NONBLOCK) | LinuxCalls.O_CLOEXEC);
                fds.add(fd);
                MemorySegment ifreq = arena.allocate(IFREQ_SIZE);
                byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
                MemorySegment.copy(bytes, 0, ifreq, ValueLayout.JAVA_BYTE, 0, bytes.length);
                // The first queue creates the device, exclusively; the others attach to it.
                ifreq.set(ValueLayout.JAVA_SHORT, IFNAMSIZ,
                        (short) (IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | (offload ? IFF_VNET_HDR : 0) | (q == 0 ? IFF_TUN_EXCL : 0)));
                LinuxCalls.ioctl(fd, "TUNSETIFF " + name, TUNSETIFF, ifreq);
            }
            String offloads = offload ? setOffloads(fds.getFirst()) : "off";
            return new TunDevice(name, fds, offloads);
        } catch (LinuxCalls.NativeException e) {
            fds.forEach(LinuxCalls::close);
            String hint = switch (e.errno()) {
                case LinuxCalls.EPERM -> ": tandemd needs CAP_NET_ADMIN (run as root or with AmbientCapabilities=CAP_NET_ADMIN)";
                case LinuxCalls.EBUSY -> ": a device of that name exists already (another tandemd serves it, or another"
                        + " device is in the way): a second tandemd never attaches to a running one's queues";
                default -> "";
            };
            throw new TunException(e.getMessage() + hint);
        }
    }

    /** The most the kernel accepts of checksum, TSO and USO offload; "vnet header only" if none. */
    private static String setOffloads(int fd) {
        long[][] choices = {
                {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6},
                {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6},
                {TUN_F_CSUM}};
        String[] names = {"csum tso4 tso6 uso4 uso6", "csum tso4 tso6", "csum"};
        for (int i = 0; i < choices.length; i++) {
            try {
                LinuxCalls.ioctlValue(fd, "TUNSETOFFLOAD", TUNSETOFFLOAD, choices[i][0]);
                return names[i];
            } catch (LinuxCalls.NativeException refused) {
                // the kernel lacks it: try fewer
            }
        }
        return "vnet header only";
    }

    /** The offloads in force ("off" without a virtio-net header). */
    public String offloads() {
        return offloads;
    }

    public boolean vnetHeader() {
        return !offloads.equals("off");
    }

    public String name() {
        return name;
    }

    /**
     * Packets the kernel dropped on their way to a reader of this device because its queue was
     * full (the interface's tx_dropped: the kernel transmits to the reader); 0 if unreadable.
     */
    public long queueDrops() {
        return queueDrops(Path.of("/sys/class/net", name, "statistics", "tx_dropped"));
    }

    static long queueDrops(Path counter) {
        try {
            return Long.parseLong(Files.readString(counter).trim());
        } catch (IOException | NumberFormatException unreadable) {
            return 0;
        }
    }

    /** One file descriptor per queue (non-blocking unless opened for io_uring). */
    public List<Integer> queueFds() {
        return queueFds;
    }

    @Override
    public void close() {
        queueFds.forEach(LinuxCalls::close);
    }

    /** TUN could not be opened; the message says why and what to do. */
    public static final class TunException extends IOException {
        public TunException(String message) {
            super(message);
        }
    }
}
