package io.tandem.role;

/**
 * The one signal of a role change: this box became the active (it owns the addresses, its
 * flow table is the source of truth and is published to the peer) or stopped being it
 * (standby, syncing or fault: it applies the peer's changes and publishes nothing).
 *
 * <p>Every path that changes the role ends here, in this order: keepalived's notifications,
 * the BGP election and manual failovers and takeovers go through {@code ha.RoleController},
 * which writes the track file first, records the change in the event log, and then tells its
 * listener; a box without an {@code ha} section is told its configured {@code sync.role} once
 * at start, before it serves. Seesaw's {@code becomeMaster()}/{@code becomeBackup()} are the model.
 */
public interface RoleListener {
    RoleListener NONE = new RoleListener() {
        @Override
        public void becameActive() {
        }

        @Override
        public void becameStandby() {
        }
    };

    /** This box is now the active. */
    void becameActive();

    /** This box is now anything but the active: standby, syncing or fault. */
    void becameStandby();

    /** Tells this listener the role it is in: for the initial role, and for each change. */
    default void tell(Role role) {
        if (role == Role.ACTIVE) {
            becameActive();
        } else {
            becameStandby();
        }
    }
}
