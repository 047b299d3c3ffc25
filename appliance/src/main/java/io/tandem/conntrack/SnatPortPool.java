package io.tandem.conntrack;

/**
 * The SNAT ports of one (SNAT address, backend address, backend port, protocol): a bitmap
 * over the port range, so the reply tuple of every flow towards that backend is unique and
 * exhaustion is known exactly, never a silent collision. A new flow keeps the client's own
 * port when it is free ({@link #allocate(int, int)}), as Linux's NAT does; otherwise the
 * search starts at a hint derived from the flow hash and takes the next free port (next fit),
 * one word at a time.
 */
public final class SnatPortPool {
    private final int id;
    private final int firstPort;
    private final int size;
    private final long[] used;
    private int inUse;

    private final int snatAddress;
    private final int backendAddress;
    private final int backendPort;

    SnatPortPool(int id, int firstPort, int lastPort, int snatAddress, int backendAddress, int backendPort) {
        this.id = id;
        this.snatAddress = snatAddress;
        this.backendAddress = backendAddress;
        this.backendPort = backendPort;
        this.firstPort = firstPort;
        this.size = lastPort - firstPort + 1;
        this.used = new long[(size + 63) >>> 6];
    }

    public int id() {
        return id;
    }

    /** The reply tuple's fixed part: the SNAT address (the flow table's key for it), the backend's address and port. */
    public int snatAddress() {
        return snatAddress;
    }

    public int backendAddress() {
        return backendAddress;
    }

    public int backendPort() {
        return backendPort;
    }

    /** A free port, marked used; or -1 if every port of the range is taken. */
    public synchronized int allocate(int hint) {
        if (inUse == size) {
            return -1;
        }
        int start = Math.floorMod(hint, size);
        int word = start >>> 6;
        long free = ~used[word] & (-1L << (start & 63));
        for (int scanned = 0; scanned <= used.length; scanned++) {
            if (free != 0) {
                int bit = word << 6 | Long.numberOfTrailingZeros(free);
                if (bit < size) {
                    used[word] |= 1L << bit;
                    inUse++;
                    return firstPort + bit;
                }
            }
            word = word + 1 == used.length ? 0 : word + 1;
            free = ~used[word];
        }
        return -1;
    }

    /**
     * The client's own port if it is in the range and free, else {@link #allocate(int)}: the
     * backend then sees the same 4-tuple for a client port whatever the table held before — a
     * restarted tandemd, the peer, or the kernel's NAT before it — so a new SYN on a tuple the
     * backend still holds in TIME_WAIT carries that client connection's own, newer timestamps
     * (RFC 6191) and is accepted.
     */
    public synchronized int allocate(int preferredPort, int hint) {
        if (reserve(preferredPort)) {
            return preferredPort;
        }
        return allocate(hint);
    }

    /** Marks a given port used (a flow installed by state sync); false if it already was. */
    public synchronized boolean reserve(int port) {
        int bit = port - firstPort;
        if (bit < 0 || bit >= size || (used[bit >>> 6] & 1L << bit) != 0) {
            return false;
        }
        used[bit >>> 6] |= 1L << bit;
        inUse++;
        return true;
    }

    public synchronized void release(int port) {
        int bit = port - firstPort;
        if (bit >= 0 && bit < size && (used[bit >>> 6] & 1L << bit) != 0) {
            used[bit >>> 6] &= ~(1L << bit);
            inUse--;
        }
    }

    public synchronized int inUse() {
        return inUse;
    }

    public int firstPort() {
        return firstPort;
    }

    public int capacity() {
        return size;
    }
}
