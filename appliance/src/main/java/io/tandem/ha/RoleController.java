package io.tandem.ha;

import io.tandem.events.EventLog;
import io.tandem.role.Role;
import io.tandem.role.RoleListener;

import java.io.IOException;

/**
 * Decides this box's {@link Role} from keepalived's VRRP state and whether the flow table is
 * in sync with the peer, and steers keepalived through the track file:
 * <ul>
 *   <li>SYNCING or FAULT: held back (priority 1), so a restarted box never takes the
 *       addresses with an empty table;</li>
 *   <li>ready, but the operators prefer the peer ({@link PairPreference}): yielded (priority 2),
 *       so the peer, if ready, is master, and this box still beats a held-back peer;</li>
 *   <li>ready: the configured priority; with a forced override, FAULT or the top priority.</li>
 * </ul>
 * Every way the role changes (keepalived's notify FIFO, BGP mode's election, the operators'
 * failover and takeover through preferences and overrides) ends in {@code apply}, which tells
 * the one {@link RoleListener}. The flow table is published to the peer only while ACTIVE. Mastership is never refused to
 * packets: the data plane forwards whatever reaches it in any role (keepalived adds the
 * addresses before it tells us, DESIGN.md §5).
 */
public final class RoleController {
    private final TrackFile trackFile;
    private final RoleListener listener;
    private final String self;
    private final int priority;
    private VrrpState.State vrrp;
    private boolean inSync;
    private PairPreference preference = PairPreference.NONE;
    private ManualOverride override = ManualOverride.NONE;
    private Role role;
    private int weight;
    private long vrrpTransitions;
    private boolean stopping;
    private final EventLog events;

    /**
     * @param self          this box's name, as preferences name it
     * @param priority      this box's configured VRRP priority
     * @param listener      told of the role at start and of every change ({@link RoleListener})
     */
    public RoleController(TrackFile trackFile, String self, int priority, RoleListener listener) throws IOException {
        this(trackFile, self, priority, listener, new EventLog(), VrrpState.State.BACKUP);
    }

    /**
     * @param events  where role changes, preferences and overrides are recorded for operators
     * @param initial the VRRP state assumed until keepalived reports one: BACKUP (so the box
     *                starts held back) unless a restart resumes a master ({@link RestartCarry})
     */
    public RoleController(TrackFile trackFile, String self, int priority, RoleListener listener, EventLog events,
                          VrrpState.State initial) throws IOException {
        this.vrrp = initial;
        this.events = events;
        this.trackFile = trackFile;
        this.self = self;
        this.priority = priority;
        this.listener = listener;
        apply(); // starts SYNCING, held back (or, resuming a master, ACTIVE)
    }

    /** keepalived reported a state change. */
    public synchronized void onVrrp(VrrpState state) throws IOException {
        if (state.state() != vrrp) {
            vrrpTransitions++;
        }
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

    /** Adopts a preference if it is newer than the one held; true if it was. */
    public synchronized boolean offerPreference(PairPreference offered) throws IOException {
        PairPreference next = preference.newer(offered);
        if (next == preference) {
            return false;
        }
        events.add("preference", next.preferred() + " preferred as active (" + next.by() + "), was "
                + (preference.preferred() == null ? "none" : preference.preferred()));
        preference = next;
        apply();
        return true;
    }

    public synchronized void setOverride(ManualOverride next) throws IOException {
        if (next != override) {
            events.add("override", next + " (was " + override + ")");
        }
        override = next;
        apply();
    }

    /**
     * The box is stopping: held back for good. keepalived's notify FIFO still reports the
     * state changes the hold-back causes (MASTER, then BACKUP, in sync): without this pin the
     * BACKUP report released the box again (weight 0), keepalived took the VIPs back to a box
     * whose tandemd was going away, and every flow met the local stack's resets (found by
     * PairFailoverIT's SIGTERM of the active).
     */
    public synchronized void stopping() throws IOException {
        stopping = true;
        apply();
    }

    public synchronized Role role() {
        return role;
    }

    public synchronized VrrpState.State vrrp() {
        return vrrp;
    }

    public synchronized boolean inSync() {
        return inSync;
    }

    public synchronized PairPreference preference() {
        return preference;
    }

    public synchronized ManualOverride override() {
        return override;
    }

    /** keepalived state changes seen since start. */
    public synchronized long vrrpTransitions() {
        return vrrpTransitions;
    }

    /** What the track file holds now. */
    public synchronized int weight() {
        return weight;
    }

    /** The VRRP priority keepalived advertises for this box now; 0 when the track file forces FAULT. */
    public synchronized int effectivePriority() {
        return weight < KeepalivedConfig.HOLD_BACK_WEIGHT ? 0
                : Math.clamp(priority + weight, 1, KeepalivedConfig.MAX_PRIORITY);
    }

    private void apply() throws IOException {
        Role next = switch (vrrp) {
            case MASTER -> Role.ACTIVE;
            case FAULT, STOP -> Role.FAULT;
            case BACKUP -> inSync ? Role.STANDBY : Role.SYNCING;
        };
        weight = switch (override) {
            case FORCED_STANDBY -> KeepalivedConfig.FAULT_WEIGHT;
            case FORCED_ACTIVE -> KeepalivedConfig.takeWeight(priority);
            // A master is the source whatever its sync state: it holds the only live table.
            case NONE -> next == Role.SYNCING || next == Role.FAULT ? KeepalivedConfig.HOLD_BACK_WEIGHT
                    : preference.yields(self) ? KeepalivedConfig.yieldWeight(priority)
                    : KeepalivedConfig.READY_WEIGHT;
        };
        if (stopping) {
            weight = Math.min(weight, KeepalivedConfig.HOLD_BACK_WEIGHT);
        }
        // A box forced into FAULT reports FAULT: it must not count as a ready box held back by sync.
        if (override == ManualOverride.FORCED_STANDBY && next != Role.ACTIVE) {
            next = Role.FAULT;
        }
        trackFile.write(weight);
        if (next != role) {
            events.add("role", (role == null ? "start" : role) + " -> " + next + " (vrrp " + vrrp + ", in sync " + inSync + ")");
            role = next;
            listener.tell(next); // last, after the track file and the event: the order RoleListener states
        }
    }
}
