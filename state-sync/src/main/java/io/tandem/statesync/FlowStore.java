package io.tandem.statesync;

import java.util.function.Consumer;

/** The appliance's flow table as the replicator sees it. Implementations are thread-safe. */
public interface FlowStore {
    /** Applies a record from the peer: insert or update unless it is older than what is held; end the flow if removed. */
    void apply(FlowRecord record);

    /** Visits every flow, for a joining peer's state transfer and for range resyncs. */
    void forEach(Consumer<FlowRecord> visitor);

    /** Ends the local flow with this record's key, because the peer does not have it. */
    void removeLocal(FlowRecord record);

    /** The digest of the flows held, kept up to date by the store itself. */
    FlowDigest digest();
}
