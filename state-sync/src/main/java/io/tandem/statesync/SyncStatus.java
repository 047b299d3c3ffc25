package io.tandem.statesync;

/**
 * What the status page and {@code tandemctl sync} show about replication.
 *
 * @param source          this box is the source of truth (the active), the peer a replica
 * @param peerConnected   the peer is a member of the sync group now
 * @param peer            the peer's name, or null
 * @param digestsEqual    null until a digest was compared; then whether every range was equal
 * @param lastLagMillis   change on the sender to application here, for the last batch received
 * @param lastFullResync  the last whole-table transfer received (null if none)
 * @param peersRefused    connections to or from the sync port refused because the other end did not
 *                        hold the pair's key ({@link SyncTls})
 * @param rangeMessagesIgnored range-resync messages that answered no current request, came in the
 *                        wrong role or too often, or ended a resync whose records did not all arrive
 * @param merges          partitions healed: each time the group merged, both sides sent each other
 *                        their whole tables ({@link SyncEngine#peerMerged})
 * @param recordsRefused  peer records the store refused (a copy its removal overtook, a state not of
 *                        its protocol, a version far ahead of this box's clock)
 * @param conflicts       peer records refused because another flow held their reply tuple
 */
public record SyncStatus(boolean source, boolean peerConnected, String peer, long recordsSent, long recordsReceived,
                         int queueDepth, long overflows, long decodeErrors, long lastLagMillis,
                         Boolean digestsEqual, long rangeResyncs, FullResync lastFullResync, long peersRefused,
                         long rangeMessagesIgnored, long merges, long recordsRefused, long conflicts) {

    /** As the canonical constructor, with no connection refused. */
    public SyncStatus(boolean source, boolean peerConnected, String peer, long recordsSent, long recordsReceived,
                      int queueDepth, long overflows, long decodeErrors, long lastLagMillis,
                      Boolean digestsEqual, long rangeResyncs, FullResync lastFullResync) {
        this(source, peerConnected, peer, recordsSent, recordsReceived, queueDepth, overflows, decodeErrors, lastLagMillis,
                digestsEqual, rangeResyncs, lastFullResync, 0, 0, 0, 0, 0);
    }

    /** This status with the transport's count of refused connections. */
    public SyncStatus withPeersRefused(long refused) {
        return new SyncStatus(source, peerConnected, peer, recordsSent, recordsReceived, queueDepth, overflows, decodeErrors,
                lastLagMillis, digestsEqual, rangeResyncs, lastFullResync, refused, rangeMessagesIgnored, merges, recordsRefused,
                conflicts);
    }

    /** This status with the store's counts of refused and conflicting records. */
    public SyncStatus withStoreCounts(long refused, long conflicting) {
        return new SyncStatus(source, peerConnected, peer, recordsSent, recordsReceived, queueDepth, overflows, decodeErrors,
                lastLagMillis, digestsEqual, rangeResyncs, lastFullResync, peersRefused, rangeMessagesIgnored, merges, refused,
                conflicting);
    }

    /** A whole-table transfer: when it ended, how many records, how long it took. */
    public record FullResync(long finishedAtMillis, long records, long millis) {
    }
}
