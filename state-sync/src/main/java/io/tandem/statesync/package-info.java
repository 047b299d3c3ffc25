/**
 * Flow-table replication between the two boxes of a pair: flow records, their versioned
 * binary wire format, the per-range digest that proves two tables equal, and the
 * {@link io.tandem.statesync.FlowReplicator} with a JGroups implementation (encrypted,
 * streaming state transfer for a joining peer) and an in-memory stand-in for tests.
 * It knows nothing of Netty or packets: the appliance feeds it records and applies the
 * records it receives through {@link io.tandem.statesync.FlowStore}.
 */
package io.tandem.statesync;
