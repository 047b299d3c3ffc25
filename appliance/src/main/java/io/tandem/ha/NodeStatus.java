package io.tandem.ha;

import io.tandem.role.Role;

import java.util.List;

/**
 * One box as it describes itself: shown by {@code tandemctl status} and the status page, and
 * announced to the peer over the sync link, so each box can show both and check the other's
 * state before handing over.
 *
 * @param vrrp         keepalived's state of the instance (MASTER, BACKUP, FAULT, STOP)
 * @param priority     the VRRP priority keepalived advertises (configured priority plus the track file's weight)
 * @param lagMillis    as a replica: change on the active to application here, last batch
 * @param digestsEqual null until compared; whether our table digest equals the peer's
 * @param configFingerprint a hash of the services config: the pair's must be equal
 * @param drained      the drained backends, and {@code drainSeq} when they last changed (the newer set wins)
 */
public record NodeStatus(String name, Role role, String vrrp, int priority, long startedAtMillis, boolean inSync,
                         long flows, long lagMillis, Boolean digestsEqual, boolean peerConnected,
                         PairPreference preference, ManualOverride override, String configFingerprint,
                         List<String> drained, long drainSeq) {
}
