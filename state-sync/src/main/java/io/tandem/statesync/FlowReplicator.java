package io.tandem.statesync;

/**
 * Replicates flow changes to the peer and applies the peer's to the local {@link FlowStore}.
 * {@link #publish} is called from the data plane and never blocks: a full queue drops the
 * change, counts it, and the periodic digest comparison heals the difference.
 */
public interface FlowReplicator extends AutoCloseable {
    /** Joins the peer (pulling its whole table if it was there first) and starts replicating. */
    void start(FlowStore store) throws Exception;

    /** Queues a change for the peer; false if the queue was full (counted as overflow). */
    boolean publish(FlowRecord record);

    /**
     * As {@link #publish}, for a flow just created here: if it also ends before its batch
     * leaves, neither change is sent (the peer needs no record of a flow that is gone).
     */
    boolean publishCreated(FlowRecord record);

    /**
     * Whether this side is the source of truth (the active) or a replica: only the source's
     * changes are sent, only a replica asks for resyncs. The appliance calls it from its one
     * role signal (becameActive / becameStandby).
     */
    void setSource(boolean source);

    SyncStatus status();

    /**
     * How far the peer's clock is ahead of this box's, at least, from the send times of its
     * messages (0 if it is behind or nothing came; offsets beyond an hour are ignored as
     * broken). A box that becomes the source issues versions above the peer's clock, so a
     * change the old source made whose record was lost cannot outrank this box's later changes.
     */
    long peerClockAheadMillis();

    /** What this box tells its peer about itself (role, health), resent periodically; opaque here. */
    void announce(byte[] payload);

    /** The peer's latest announcement, or null if none arrived yet. */
    PeerAnnouncement peerAnnouncement();

    /** Leaves the peer; the local table is kept as it is. */
    @Override
    void close();
}
