package io.tandem.conntrack;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The flow table's storage: one slot per flow in parallel primitive arrays (no object per
 * flow), written by {@link #write} and read by {@link #read} only, whichever path creates,
 * installs, looks up or lists a flow. The four ports share one long; the accessors unpack it.
 *
 * <p>A slot's state word holds its {@link FlowState} code, three flags and a generation that
 * grows with every reuse of the slot; it is read and changed with volatile/CAS access
 * ({@link #stateWord}, {@link #casState}) so packets on other event loops never see a torn
 * state. Not synchronized otherwise: {@link FlowTable} holds the lock.
 *
 * <p>Kept small, since a slot is paid for every flow the table can hold: a flow's last-seen time
 * is the low 32 bits of the millisecond clock, read back against a recent reading of it (exact
 * while the two are within 24 days of each other: {@link FlowTimeouts#MAX} keeps every idle
 * limit inside that); the SNAT pool id is 16 bits ({@link SnatPortPools#MAX_POOLS}); a free slot's
 * client address field links it to the next free slot, so the free list costs no array.
 */
final class FlowSlots {
    static final int STATE_MASK = 0x0F;
    static final int FIN_FROM_REPLY = 0x10;
    /** Installed from the peer and not yet seen here: held by the peer's refreshes, not by local idle timers. */
    static final int REMOTE = 0x20;
    /** Its backend failed with on_backend_down: reset: the client's next segment is answered with a RST. */
    static final int RESET = 0x40;
    /** Installed in the in-kernel fast path: its packets may bypass the engine ({@link FastPathHook}). */
    static final int FAST = 0x80;
    static final int GENERATION_SHIFT = 8;
    static final int NO_POOL = -1;
    private static final char NO_POOL_STORED = 0xFFFF;
    /** Bytes per slot: four addresses, packed ports, protocol, state word, last seen, version, pool. */
    static final int BYTES_PER_SLOT = 4 * 4 + 8 + 1 + 4 + 4 + 8 + 2 + TcpWindows.BYTES_PER_SLOT;

    private static final VarHandle STATE_WORDS = MethodHandles.arrayElementVarHandle(int[].class);

    /** A flow's client address; in a free slot, the next free slot (-1: none). */
    private final int[] clientAddress;
    private final int[] vipAddress;
    private final int[] backendAddress;
    private final int[] snatAddress;
    /** client << 48 | vip << 32 | backend << 16 | snat. */
    private final long[] ports;
    private final byte[] protocol;
    private final int[] stateWord;
    /** The low 32 bits of the millisecond clock when the flow was last seen. */
    private final int[] lastSeen;
    private final long[] version;
    private final char[] poolId;
    private final TcpWindows windows;
    /** A recent reading of the table's clock: what {@link #read(int, FlowSnapshot)} reads times back against. */
    private volatile long clockMillis;
    private int freeHead;
    private int freeCount;

    FlowSlots(int capacity) {
        clientAddress = new int[capacity];
        vipAddress = new int[capacity];
        backendAddress = new int[capacity];
        snatAddress = new int[capacity];
        ports = new long[capacity];
        protocol = new byte[capacity];
        stateWord = new int[capacity];
        lastSeen = new int[capacity];
        version = new long[capacity];
        poolId = new char[capacity];
        windows = new TcpWindows(capacity);
        for (int i = 0; i < capacity; i++) {
            clientAddress[i] = i + 1 < capacity ? i + 1 : -1; // slot 0 handed out first
        }
        freeCount = capacity;
    }

    int freeCount() {
        return freeCount;
    }

    /** Takes a free slot off the list; the caller has checked {@link #freeCount()}. */
    int takeFree() {
        int slot = freeHead;
        freeHead = clientAddress[slot];
        freeCount--;
        return slot;
    }

    /** Puts a slot whose flow is gone back on the free list (its fields are dead from here on). */
    void putFree(int slot) {
        clientAddress[slot] = freeHead;
        freeHead = slot;
        freeCount++;
    }

    /** Records a reading of the table's clock (see {@link #clockMillis}). */
    void observeClock(long nowMillis) {
        clockMillis = nowMillis;
    }

    static int state(int word) {
        return word & STATE_MASK;
    }

    static int generation(int word) {
        return word >>> GENERATION_SHIFT;
    }

    /**
     * The one slot writer: a new flow's key, mapping, SNAT pool, time and version; then its
     * state word, with the slot's generation advanced, released last so a reader that sees the
     * new generation sees the fields too.
     */
    void write(int slot, int proto, int client, int clientPort, int vip, int vipPort, int backend, int backendPort,
               int snat, int snatPort, int pool, long nowMillis, long flowVersion, int stateAndFlags) {
        protocol[slot] = (byte) proto;
        clientAddress[slot] = client;
        vipAddress[slot] = vip;
        backendAddress[slot] = backend;
        snatAddress[slot] = snat;
        ports[slot] = (long) clientPort << 48 | (long) vipPort << 32 | (long) backendPort << 16 | snatPort;
        poolId[slot] = pool == NO_POOL ? NO_POOL_STORED : (char) pool;
        lastSeen[slot] = (int) nowMillis;
        version[slot] = flowVersion;
        clockMillis = nowMillis;
        windows.clear(slot);
        int generation = (generation(stateWord[slot]) + 1) & 0xFFFFFF;
        STATE_WORDS.setRelease(stateWord, slot, generation << GENERATION_SHIFT | stateAndFlags);
    }

    /** The one slot reader: the key, mapping and state into {@code out}; returns the state word read. */
    int read(int slot, FlowFields out) {
        int word = stateWord[slot];
        long p = ports[slot];
        out.protocol = protocol[slot] & 0xFF;
        out.clientAddress = clientAddress[slot];
        out.vipAddress = vipAddress[slot];
        out.backendAddress = backendAddress[slot];
        out.snatAddress = snatAddress[slot];
        out.clientPort = clientPort(p);
        out.vipPort = vipPort(p);
        out.backendPort = backendPort(p);
        out.snatPort = snatPort(p);
        out.state = FlowState.ofCode(state(word));
        out.finFromReply = (word & FIN_FROM_REPLY) != 0;
        return word;
    }

    /** As {@link #read}, with the slot's times and flags for a snapshot. */
    void read(int slot, FlowSnapshot out) {
        int word = read(slot, (FlowFields) out);
        out.lastSeenMillis = lastSeen(slot, clockMillis);
        out.version = version[slot];
        out.remote = (word & REMOTE) != 0;
    }

    /** As {@link #read}, with the slot's identity for a lookup. */
    void read(int slot, FlowLookup out) {
        int word = read(slot, (FlowFields) out);
        out.flowId = slot;
        out.generation = generation(word);
        out.resetPending = (word & RESET) != 0;
    }

    private static int clientPort(long packed) {
        return (int) (packed >>> 48);
    }

    private static int vipPort(long packed) {
        return (int) (packed >>> 32) & 0xFFFF;
    }

    private static int backendPort(long packed) {
        return (int) (packed >>> 16) & 0xFFFF;
    }

    private static int snatPort(long packed) {
        return (int) packed & 0xFFFF;
    }

    /** The slots' TCP sequence tracking. */
    TcpWindows windows() {
        return windows;
    }

    /** The flow protocol ({@link io.tandem.packet.FlowProtocol}: the transport, with the IPv6 bit), unsigned. */
    int protocol(int slot) {
        return protocol[slot] & 0xFF;
    }

    int clientAddress(int slot) {
        return clientAddress[slot];
    }

    int vipAddress(int slot) {
        return vipAddress[slot];
    }

    int backendAddress(int slot) {
        return backendAddress[slot];
    }

    int snatAddress(int slot) {
        return snatAddress[slot];
    }

    int clientPort(int slot) {
        return clientPort(ports[slot]);
    }

    int vipPort(int slot) {
        return vipPort(ports[slot]);
    }

    int backendPort(int slot) {
        return backendPort(ports[slot]);
    }

    int snatPort(int slot) {
        return snatPort(ports[slot]);
    }

    int poolId(int slot) {
        char id = poolId[slot];
        return id == NO_POOL_STORED ? NO_POOL : id;
    }

    /** How long ago, at {@code nowMillis}, the flow was last seen (negative if later than that). */
    long idleMillis(int slot, long nowMillis) {
        return (int) nowMillis - lastSeen[slot]; // int arithmetic: wraps with the stored bits
    }

    /** When the flow was last seen, read back against {@code referenceMillis} (a recent clock reading). */
    long lastSeen(int slot, long referenceMillis) {
        return referenceMillis - idleMillis(slot, referenceMillis);
    }

    void touch(int slot, long nowMillis) {
        lastSeen[slot] = (int) nowMillis;
    }

    long version(int slot) {
        return version[slot];
    }

    void setVersion(int slot, long flowVersion) {
        version[slot] = flowVersion;
    }

    /** The state word as written last (plain read: under the table's lock, or re-checked by CAS). */
    int stateWord(int slot) {
        return stateWord[slot];
    }

    int stateWordVolatile(int slot) {
        return (int) STATE_WORDS.getVolatile(stateWord, slot);
    }

    boolean casState(int slot, int expected, int next) {
        return STATE_WORDS.compareAndSet(stateWord, slot, expected, next);
    }

    void setStateVolatile(int slot, int word) {
        STATE_WORDS.setVolatile(stateWord, slot, word);
    }

    /** Sets the word and returns the one it replaced. */
    int getAndSetState(int slot, int word) {
        return (int) STATE_WORDS.getAndSet(stateWord, slot, word);
    }

    /** Whether the slot's original tuple (entry direction 0) or reply tuple (1) is this one. */
    boolean matches(int slot, int direction, int proto, int src, int dst, int srcPort, int dstPort) {
        if (protocol[slot] != (byte) proto) {
            return false;
        }
        long p = ports[slot];
        if (direction == 0) {
            return clientAddress[slot] == src && vipAddress[slot] == dst && clientPort(p) == srcPort && vipPort(p) == dstPort;
        }
        return backendAddress[slot] == src && snatAddress[slot] == dst && backendPort(p) == srcPort && snatPort(p) == dstPort;
    }

    /** Whether the slot maps to this backend and SNAT port (a peer's record with the same mapping). */
    boolean sameMapping(int slot, int backend, int backendPort, int snat, int snatPort) {
        long p = ports[slot];
        return backendAddress[slot] == backend && snatAddress[slot] == snat && backendPort(p) == backendPort && snatPort(p) == snatPort;
    }
}
