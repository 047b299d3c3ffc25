package io.tandem.ha;

import java.util.List;

/** What a failover or takeover tells the operator: done how, or refused why and what would do it anyway. */
final class HandOverTexts {
    static final String NO_FRESH_WORD = "no announcement from the peer within " + HaNode.FRESH_PEER_WAIT_MILLIS
            + " ms of the command: the peer or the sync link is down";

    private HandOverTexts() {
    }

    static String configDiffers(String here, String there) {
        return "the services config differs from the peer's (fingerprint " + here + " here, " + there
                + " there): reload both boxes with the same config";
    }

    /**
     * @param self  this box
     * @param peer  the peer's name, or "the peer"
     * @param bgp   BGP mode: the routers move, not the VRRP addresses
     */
    static String failover(boolean forced, boolean bgp, String self, String peer) {
        if (forced) {
            return "forced: keepalived on " + self + " goes to FAULT and " + peer + " takes the addresses whatever its table holds; "
                    + "connections it lacks will be reset. Run 'tandemctl takeover' on " + self + " to bring it back.";
        }
        if (bgp) {
            return "handing over to " + peer + ": " + self + " yields (priority " + KeepalivedConfig.YIELDED_PRIORITY
                    + ", its routes announced with the longer path); the routers move to " + peer + " as it announces the shorter";
        }
        return "handing over to " + peer + ": " + self + " yields (VRRP priority " + KeepalivedConfig.YIELDED_PRIORITY
                + "); " + peer + " takes the addresses within a few advert intervals";
    }

    static String takeover(boolean forced, String self) {
        return forced
                ? "forced: " + self + " takes the top VRRP priority (" + KeepalivedConfig.MAX_PRIORITY + ") whatever its table "
                + "holds; connections it lacks will be reset"
                : self + " takes over: the peer yields and " + self + " takes the addresses within a few advert intervals";
    }

    /** A refusal: what was refused and why, with the forcing hint when forcing is possible. */
    static String refused(String command, HandOverCheck.Verdict verdict) {
        String hint = verdict.forceable()
                ? " ('tandemctl " + command + " --force' does it anyway: connections the other box lacks will be reset)" : "";
        String why = verdict.forceable() ? "the pair is not safe to hand over" : "nothing to do in this role";
        return command + " refused: " + why + hint;
    }

    static String refusedEvent(String by, List<String> reasons) {
        return "refused (" + by + "): " + String.join("; ", reasons);
    }
}
