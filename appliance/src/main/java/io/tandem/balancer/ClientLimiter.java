package io.tandem.balancer;

import io.tandem.config.ClientLimitsConfig;
import io.tandem.packet.TupleHash;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Per-client-address token buckets for one service's new flows, shared by every event loop
 * and allocation-free: {@link #BUCKETS} buckets indexed by a hash of the client address, each
 * one long holding the time of its last refill (ms) and its tokens, changed by CAS. Clients
 * whose addresses share a bucket share its limit (with 16,384 buckets, rare below thousands of
 * clients at once; never more permissive than configured). A spoofed flood from many
 * addresses is met by the half-open cap's early drop; this bounds what any one address may
 * open, spoofed or not.
 */
public final class ClientLimiter {
    static final int BUCKETS = 1 << 14;
    private static final int TOKEN_BITS = 22;
    private static final long TOKEN_MASK = (1L << TOKEN_BITS) - 1;

    private final ClientLimitsConfig limits;
    private final int perSecond;
    private final int burst;
    /** {@code lastRefillMillis << 22 | tokens}; 0 = never used (full). */
    private final AtomicLongArray buckets = new AtomicLongArray(BUCKETS);

    public ClientLimiter(ClientLimitsConfig config) {
        this.limits = config;
        this.perSecond = config.limitsRate() ? config.newFlowsPerSecond() : 0;
        this.burst = config.limitsRate() ? config.burst() : 0;
    }

    /** The cap on one client's flows held at once, or 0 for none (the flow table enforces it). */
    public int maxFlowsPerClient() {
        return limits.maxFlowsPerClient();
    }

    ClientLimitsConfig limits() {
        return limits;
    }

    /** Takes one new flow's token from {@code client}'s bucket; false when it has none left (always true without a rate). */
    public boolean tryAcquire(int client, long nowMillis) {
        if (perSecond == 0) {
            return true;
        }
        int i = (int) TupleHash.fmix64(client & 0xFFFFFFFFL) & (BUCKETS - 1);
        while (true) {
            long current = buckets.get(i);
            long last = current >>> TOKEN_BITS;
            long tokens = current == 0 ? burst : current & TOKEN_MASK;
            if (current == 0 || nowMillis < last) {
                last = nowMillis;
            }
            long refill = (nowMillis - last) * perSecond / 1000;
            if (refill > 0) {
                tokens = Math.min(burst, tokens + refill);
                last = tokens == burst ? nowMillis : last + refill * 1000 / perSecond;
            }
            if (tokens == 0) {
                return false;
            }
            long next = last << TOKEN_BITS | (tokens - 1);
            if (buckets.compareAndSet(i, current, next == 0 ? 1 : next)) {
                return true;
            }
        }
    }
}
