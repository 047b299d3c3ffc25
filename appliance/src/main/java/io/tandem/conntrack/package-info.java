/**
 * Connection tracking: one record per flow, reachable from its original tuple (client to
 * VIP) and its reply tuple (backend to SNAT address), like Linux conntrack; TCP and UDP
 * state, per-state idle timeouts, caps on all and on half-open flows, SNAT port pools, and
 * the events that state sync consumes.
 */
package io.tandem.conntrack;
