package io.tandem.statesync;

import java.util.function.Consumer;

/** The appliance's flow table as the replicator sees it. Implementations are thread-safe. */
public interface FlowStore {
    /** What {@link #apply} did with a record. */
    enum Applied {
        /** A flow this store did not hold, inserted. */
        INSERTED,
        /** Held now (updated, removed, or already as new). */
        TAKEN,
        /** Older than a flow held here with another NAT mapping: the boxes disagree (see {@link #replace}). */
        OLDER_THAN_OTHER_MAPPING,
        /** Not taken: older than its removal, malformed, from the far future, no room, its reply tuple taken. */
        REFUSED
    }

    /** Applies a record from the peer: insert or update unless it is older than what is held; end the flow if removed. */
    Applied apply(FlowRecord record);

    /**
     * Puts the source's record in place of the flow held here, whatever their versions: a
     * replica's range refresh, where the source's view of the flow is the truth (a stray packet
     * on the standby may have given its copy a newer version and another mapping).
     */
    void replace(FlowRecord record);

    /** Visits every flow, for a joining peer's state transfer and for range resyncs. */
    void forEach(Consumer<FlowRecord> visitor);

    /** Ends the local flow with this record's key, because the peer does not have it. */
    void removeLocal(FlowRecord record);

    /** The digest of the flows held, kept up to date by the store itself. */
    FlowDigest digest();
}
