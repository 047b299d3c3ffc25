package io.tandem.ha;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.function.Consumer;

/**
 * Decides this box's {@link Role} from two inputs — keepalived's VRRP state and whether the
 * flow table is in sync with the peer — and acts on it: the data plane publishes to the peer
 * only while ACTIVE, and the track file holds the box back from mastership while it is not
 * ready (SYNCING, FAULT), so a restarted box never takes the addresses with an empty table.
 *
 * <p>Mastership is never refused to packets: the data plane forwards whatever reaches it in
 * any role (keepalived adds the addresses before it tells us, DESIGN.md §5).
 */
public final class RoleController {
    private static final Logger LOG = LoggerFactory.getLogger(RoleController.class);

    private final TrackFile trackFile;
    private final Consumer<Boolean> publishToPeer;
    private VrrpState.State vrrp = VrrpState.State.BACKUP;
    private boolean inSync;
    private Role role;

    /**
     * @param publishToPeer told true when this box becomes the source of the flow table
     */
    public RoleController(TrackFile trackFile, Consumer<Boolean> publishToPeer) throws IOException {
        this.trackFile = trackFile;
        this.publishToPeer = publishToPeer;
        apply(); // starts SYNCING, held back
    }

    /** keepalived reported a state change. */
    public synchronized void onVrrp(VrrpState state) throws IOException {
        vrrp = state.state();
        apply();
    }

    /**
     * Sync progress: true once the bulk resync is done and the digests agree, or when there
     * is no peer to sync from (a box alone is as in sync as it can be).
     */
    public synchronized void onSync(boolean synced) throws IOException {
        inSync = synced;
        apply();
    }

    public synchronized Role role() {
        return role;
    }

    private void apply() throws IOException {
        Role next = switch (vrrp) {
            case MASTER -> Role.ACTIVE;
            case FAULT, STOP -> Role.FAULT;
            case BACKUP -> inSync ? Role.STANDBY : Role.SYNCING;
        };
        // A master is the source whatever its sync state: it holds the only live table.
        if (next == Role.ACTIVE || next == Role.STANDBY) {
            trackFile.ready();
        } else {
            trackFile.holdBack();
        }
        if (next != role) {
            LOG.info("role: {} -> {} (vrrp {}, in sync {})", role, next, vrrp, inSync);
            role = next;
            publishToPeer.accept(next == Role.ACTIVE);
        }
    }
}
