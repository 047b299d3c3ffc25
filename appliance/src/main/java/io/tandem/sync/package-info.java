/**
 * The bridge between the data plane's flow table and state sync: conntrack events become
 * flow records for the peer (on the active), the peer's records are installed in the table
 * (on the standby), and the table's digest is kept for the in-sync proof.
 */
package io.tandem.sync;
