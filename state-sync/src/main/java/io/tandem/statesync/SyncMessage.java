package io.tandem.statesync;

import java.util.List;

/** What the peers say to each other (seesaw's engine/sync.go names each message type too). */
public sealed interface SyncMessage {
    /** When the sender encoded it, by its clock: the receiver's lag measure. */
    long sentAtMillis();

    /** Flow changes, coalesced and batched. */
    record Records(long sentAtMillis, List<FlowRecord> records) implements SyncMessage {
    }

    /** The sender's table digest, one value per range. */
    record Digest(long sentAtMillis, long[] ranges) implements SyncMessage {
    }

    /**
     * Please send every flow of these digest ranges (the replica asks the source).
     *
     * @param requestId the replica's number for this request: the answer must carry it
     * @param epoch     the replica's role epoch when it asked (how many role changes it has seen)
     */
    record ResyncRequest(long sentAtMillis, long requestId, long epoch, List<Integer> ranges) implements SyncMessage {
    }

    /** The source starts sending every flow of these ranges, answering request {@code requestId} in its role epoch {@code epoch}. */
    record RangeBegin(long sentAtMillis, long requestId, long epoch, List<Integer> ranges) implements SyncMessage {
    }

    /**
     * The source has sent every flow of these ranges — {@code records} of them, all sent: the
     * replica drops its others there, if it is still waiting for that request and has them all.
     */
    record RangeEnd(long sentAtMillis, long requestId, long epoch, long records, List<Integer> ranges) implements SyncMessage {
    }

    /** The sender's own view of itself (role, health), for the peer to show and to check before a failover. */
    record Announcement(long sentAtMillis, byte[] payload) implements SyncMessage {
    }
}
