package io.tandem.conntrack;

/**
 * Linear probing over an array of any length, shared by {@link TupleIndex} and
 * {@link Ipv6Addresses}. Not only powers of two: an {@code int[1 << 22]} with its 16-byte header
 * is one G1 region (4 MiB on this heap) more than its payload, and a table sized to its load
 * wastes nothing (docs/benchmarks.md, "Memory"). A home position is the hash scaled into the
 * length (Lemire's multiply-shift, "Fast Random Integer Generation in an Interval", 2019).
 */
final class Probing {
    private Probing() {
    }

    /** The home position of {@code hash} in an array of {@code length}. */
    static int home(long hash, int length) {
        return (int) (((hash ^ hash >>> 32) & 0xFFFF_FFFFL) * length >>> 32);
    }

    /** The position after {@code position}, wrapping at the end. */
    static int next(int position, int length) {
        int next = position + 1;
        return next == length ? 0 : next;
    }

    /**
     * Whether the entry at {@code next}, whose home is {@code home}, may stay when {@code hole}
     * opens before it: its home lies cyclically in (hole, next]. The test of backward-shift
     * deletion (Knuth, TAOCP vol. 3, 6.4 Algorithm R).
     */
    static boolean staysPut(int hole, int home, int next) {
        return hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
    }
}
