package io.tandem.dataplane;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

import java.util.Arrays;

/**
 * Later IPv4 fragments that arrive before their datagram's first fragment (which alone carries
 * the ports, so alone can be NATed): held here for a short time, then let go once the first
 * has been translated, or dropped when their time is up. Bounded in packets and in bytes a
 * packet, all in one buffer allocated at start: nothing is allocated per fragment. Shared by
 * the event loops (a datagram's fragments may reach different queues): synchronized, which
 * costs only packets that are fragments in the first place.
 *
 * <p>Keyed as RFC 791 reassembly keys them: source, destination, protocol, identification.
 */
final class FragmentHold {
    /** The largest fragment held: more than any 1,500-byte link carries. */
    static final int MAX_FRAGMENT = 2_048;

    private final ByteBuf store;
    private final int[] src;
    private final int[] dst;
    /** protocol << 16 | identification, or -1 for a free slot. */
    private final int[] key;
    private final int[] length;
    private final long[] expires;
    private final boolean[] ready;
    private final long holdMillis;
    private volatile int readyCount;
    private int held;
    private long expired;

    /** @param packets how many fragments may wait at once; 0 holds none */
    FragmentHold(int packets, long holdMillis, ByteBufAllocator allocator) {
        this.store = allocator.directBuffer(Math.max(1, packets) * MAX_FRAGMENT);
        this.src = new int[packets];
        this.dst = new int[packets];
        this.key = new int[packets];
        this.length = new int[packets];
        this.expires = new long[packets];
        this.ready = new boolean[packets];
        this.holdMillis = holdMillis;
        Arrays.fill(key, -1);
    }

    /** The outcome of {@link #hold}: held, or why not. */
    enum Outcome { HELD, FULL, TOO_LARGE }

    /** Keeps a copy of the fragment between {@code packet}'s reader index and {@code bytes} on; those whose time is up go first. */
    synchronized Outcome hold(ByteBuf packet, int bytes, int source, int destination, int protocol, int id, long nowMillis) {
        if (bytes > MAX_FRAGMENT) {
            return Outcome.TOO_LARGE;
        }
        expire(nowMillis);
        for (int i = 0; i < key.length; i++) {
            if (key[i] == -1) {
                copy(packet, packet.readerIndex(), store, i * MAX_FRAGMENT, bytes);
                src[i] = source;
                dst[i] = destination;
                key[i] = protocol << 16 | id;
                length[i] = bytes;
                expires[i] = nowMillis + holdMillis;
                ready[i] = false;
                held++;
                return Outcome.HELD;
            }
        }
        return Outcome.FULL;
    }

    /** The first fragment of this datagram was translated: its held fragments may go. */
    synchronized void release(int source, int destination, int protocol, int id) {
        if (held == 0) {
            return;
        }
        int k = protocol << 16 | id;
        int released = 0;
        for (int i = 0; i < key.length; i++) {
            if (key[i] == k && src[i] == source && dst[i] == destination && !ready[i]) {
                ready[i] = true;
                released++;
            }
        }
        readyCount += released;
    }

    /** Whether a released fragment waits to be taken (a volatile read: cheap enough per packet). */
    boolean anyReady() {
        return readyCount > 0;
    }

    /** Appends one released fragment to {@code out} at its writer index and frees its slot; false when none. */
    synchronized boolean take(ByteBuf out) {
        for (int i = 0; i < key.length; i++) {
            if (key[i] != -1 && ready[i]) {
                int bytes = length[i];
                out.ensureWritable(bytes);
                copy(store, i * MAX_FRAGMENT, out, out.writerIndex(), bytes);
                out.writerIndex(out.writerIndex() + bytes);
                free(i);
                readyCount--;
                return true;
            }
        }
        return false;
    }

    /** Drops the fragments whose time is up (and that were not released), counting them in {@link #expired}. */
    synchronized void expire(long nowMillis) {
        if (held > 0) {
            for (int i = 0; i < key.length; i++) {
                if (key[i] != -1 && !ready[i] && nowMillis > expires[i]) {
                    free(i);
                    expired++;
                }
            }
        }
    }

    /** Fragments dropped because their first fragment did not come in time, so far. */
    synchronized long expired() {
        return expired;
    }

    synchronized int held() {
        return held;
    }

    /** Copies {@code length} bytes eight at a time (ByteBuf's own copy between direct buffers allocates a view). */
    private static void copy(ByteBuf from, int fromIndex, ByteBuf to, int toIndex, int length) {
        int n = 0;
        for (; n + 8 <= length; n += 8) {
            to.setLong(toIndex + n, from.getLong(fromIndex + n));
        }
        for (; n < length; n++) {
            to.setByte(toIndex + n, from.getByte(fromIndex + n));
        }
    }

    /** Releases the buffer; once the loops have stopped. */
    void close() {
        store.release();
    }

    private void free(int i) {
        key[i] = -1;
        ready[i] = false;
        held--;
    }
}
