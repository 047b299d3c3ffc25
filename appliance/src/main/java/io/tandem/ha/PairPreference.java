package io.tandem.ha;

/**
 * Which box the operators want active, set by {@code tandemctl failover} and {@code takeover}
 * on either box and shared through the boxes' announcements: the newest wins (higher
 * {@code seq}; on a tie — two commands in the same millisecond on both boxes — the greater
 * name). {@code preferred == null} leaves it to the configured VRRP priorities.
 *
 * @param seq       when it was set (wall clock milliseconds), so the newer command wins
 * @param preferred the box the pair prefers, or null
 * @param by        who asked, for the event log ("tandemctl failover on lb1")
 */
public record PairPreference(long seq, String preferred, String by) {
    public static final PairPreference NONE = new PairPreference(0, null, null);

    /** The newer of this and that. */
    public PairPreference newer(PairPreference that) {
        if (that == null || that.seq < seq) {
            return this;
        }
        if (that.seq > seq) {
            return that;
        }
        return String.valueOf(that.preferred).compareTo(String.valueOf(preferred)) > 0 ? that : this;
    }

    /** Whether this box should let the peer be master: another box is preferred. */
    public boolean yields(String self) {
        return preferred != null && !preferred.equals(self);
    }
}
