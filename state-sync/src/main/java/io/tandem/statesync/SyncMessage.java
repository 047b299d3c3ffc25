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

    /** Please send every flow of these digest ranges (the replica asks the source). */
    record ResyncRequest(long sentAtMillis, List<Integer> ranges) implements SyncMessage {
    }

    /** The source starts sending every flow of these ranges. */
    record RangeBegin(long sentAtMillis, List<Integer> ranges) implements SyncMessage {
    }

    /** The source has sent every flow of these ranges: the replica drops its others there. */
    record RangeEnd(long sentAtMillis, List<Integer> ranges) implements SyncMessage {
    }

    /** The sender's own view of itself (role, health), for the peer to show and to check before a failover. */
    record Announcement(long sentAtMillis, byte[] payload) implements SyncMessage {
    }
}
