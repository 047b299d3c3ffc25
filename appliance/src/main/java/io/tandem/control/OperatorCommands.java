package io.tandem.control;

import io.tandem.ha.HaNode;
import io.tandem.ha.HandOverCheck;
import io.tandem.ha.ManualOverride;
import io.tandem.ha.NodeStatus;
import io.tandem.ha.PairControl;
import io.tandem.ha.PairPreference;
import io.tandem.ha.Role;
import io.tandem.statesync.SyncStatus;

import java.util.List;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/** The commands of tandemd's control API, wired to the parts that answer them. */
public final class OperatorCommands {
    private OperatorCommands() {
    }

    /**
     * @param pair  the HA pair, or null when this box runs alone (no {@code ha} section)
     * @param sync  the sync link's status, or null without one
     * @param flows how many flows are tracked
     */
    public static ControlApi build(String node, PairControl pair, Supplier<SyncStatus> sync, LongSupplier flows) {
        long startedAt = System.currentTimeMillis();
        Supplier<HaNode.PairView> view = pair != null ? pair::view : () -> standalone(node, startedAt, sync.get(), flows.getAsLong());
        return new ControlApi()
                .query("status", request -> view.get())
                .query("sync", request -> {
                    SyncStatus s = sync.get();
                    if (s == null) {
                        throw new IllegalArgumentException("no 'sync' section: this box replicates to no peer");
                    }
                    return s;
                })
                .mutation("failover", request -> requirePair(pair).failover(request.force(), who("failover", request, node)))
                .mutation("takeover", request -> requirePair(pair).takeover(request.force(), who("takeover", request, node)));
    }

    private static PairControl requirePair(PairControl pair) {
        if (pair == null) {
            throw new IllegalArgumentException("no 'ha' section: this box runs alone, there is nothing to fail over to");
        }
        return pair;
    }

    private static String who(String command, ControlRequest request, String node) {
        return "tandemctl " + command + (request.force() ? " --force" : "") + " on " + node
                + (request.by() == null ? "" : " by " + request.by());
    }

    /** A box without a pair: active by definition, never in sync with anyone. */
    private static HaNode.PairView standalone(String node, long startedAt, SyncStatus sync, long flows) {
        NodeStatus self = new NodeStatus(node, Role.ACTIVE, "none", 0, startedAt, false, flows, 0,
                sync == null ? null : sync.digestsEqual(), sync != null && sync.peerConnected(), PairPreference.NONE, ManualOverride.NONE);
        List<String> alone = List.of("no 'ha' section: this box runs alone");
        HandOverCheck.Verdict no = new HandOverCheck.Verdict(false, alone, false);
        return new HaNode.PairView(self, null, -1, sync, alone, no, no);
    }
}
