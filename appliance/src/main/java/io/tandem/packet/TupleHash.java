package io.tandem.packet;

/**
 * A stable 64-bit hash of a flow's 5-tuple (or of an address alone). Stable means the same
 * on every JVM and both boxes of a pair: Maglev backend choice depends on it, so a flow whose
 * state never reached the standby still lands on the same backend after failover.
 * The mixer is MurmurHash3's 64-bit finalizer (fmix64).
 */
public final class TupleHash {
    private TupleHash() {
    }

    public static long of(int protocol, int srcAddress, int dstAddress, int srcPort, int dstPort) {
        long addresses = (long) srcAddress << 32 | (dstAddress & 0xFFFFFFFFL);
        long ports = (long) srcPort << 24 | (long) dstPort << 8 | protocol;
        return fmix64(addresses * 0x9E3779B97F4A7C15L ^ fmix64(ports + 0x632BE59BD9B4E019L));
    }

    public static long ofAddress(int address) {
        return fmix64((address & 0xFFFFFFFFL) * 0x9E3779B97F4A7C15L + 0x2545F4914F6CDD1DL);
    }

    /** The IPv6 5-tuple's hash: the 128-bit addresses themselves, never their ids (those differ between boxes). */
    public static long of6(int protocol, long srcHigh, long srcLow, long dstHigh, long dstLow, int srcPort, int dstPort) {
        long src = fmix64(srcHigh * 0x9E3779B97F4A7C15L ^ srcLow);
        long dst = fmix64(dstHigh * 0xC2B2AE3D27D4EB4FL ^ dstLow);
        long ports = (long) srcPort << 24 | (long) dstPort << 8 | protocol;
        return fmix64(src * 0x9E3779B97F4A7C15L ^ dst ^ fmix64(ports + 0x632BE59BD9B4E019L));
    }

    public static long ofAddress6(long high, long low) {
        return fmix64(fmix64(high * 0x9E3779B97F4A7C15L ^ low) + 0x2545F4914F6CDD1DL);
    }

    public static long fmix64(long k) {
        k ^= k >>> 33;
        k *= 0xFF51AFD7ED558CCDL;
        k ^= k >>> 33;
        k *= 0xC4CEB9FE1A85EC53L;
        k ^= k >>> 33;
        return k;
    }
}
