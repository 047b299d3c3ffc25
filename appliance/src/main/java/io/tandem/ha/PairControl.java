package io.tandem.ha;

import java.io.IOException;

/** What the operators' interfaces (control socket, status page) may see and do of the pair. */
public interface PairControl {
    HaNode.PairView view();

    HaNode.CommandResult failover(boolean force, String by) throws IOException;

    HaNode.CommandResult takeover(boolean force, String by) throws IOException;
}
