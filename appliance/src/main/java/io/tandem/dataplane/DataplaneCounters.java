package io.tandem.dataplane;

import io.tandem.packet.DropReason;

/**
 * Counters of one {@link PacketProcessor}, written only by its event loop (plain fields,
 * no contention); readers add several together with {@link #addTo} and may see values a
 * few packets old.
 */
public final class DataplaneCounters {
    long packetsIn;
    long bytesIn;
    long forwarded;
    long replied;
    long flowsCreated;
    long icmpErrorsTranslated;
    long rstsChallenged;
    long handshakeAcksRefused;
    long fragmentsHeld;
    final long[] drops = new long[DropReason.values().length];

    public long packetsIn() {
        return packetsIn;
    }

    public long bytesIn() {
        return bytesIn;
    }

    public long forwarded() {
        return forwarded;
    }

    public long replied() {
        return replied;
    }

    public long flowsCreated() {
        return flowsCreated;
    }

    public long icmpErrorsTranslated() {
        return icmpErrorsTranslated;
    }

    /** In-window RSTs that did not start at the expected sequence: passed to the endpoint, the flow kept. */
    public long rstsChallenged() {
        return rstsChallenged;
    }

    /**
     * Handshake ACKs that did not acknowledge the backend's ISN + 1 (a blind spoofer's): passed to
     * the backend, which resets them, without establishing the flow.
     */
    public long handshakeAcksRefused() {
        return handshakeAcksRefused;
    }

    /** Later fragments that came before their first and were held for it. */
    public long fragmentsHeld() {
        return fragmentsHeld;
    }

    public long drops(DropReason reason) {
        return drops[reason.ordinal()];
    }

    public long dropsTotal() {
        long total = 0;
        for (long d : drops) {
            total += d;
        }
        return total;
    }

    /** Adds these counters into {@code total} (for aggregating event loops). */
    public void addTo(DataplaneCounters total) {
        total.packetsIn += packetsIn;
        total.bytesIn += bytesIn;
        total.forwarded += forwarded;
        total.replied += replied;
        total.flowsCreated += flowsCreated;
        total.icmpErrorsTranslated += icmpErrorsTranslated;
        total.rstsChallenged += rstsChallenged;
        total.handshakeAcksRefused += handshakeAcksRefused;
        total.fragmentsHeld += fragmentsHeld;
        for (int i = 0; i < drops.length; i++) {
            total.drops[i] += drops[i];
        }
    }
}
