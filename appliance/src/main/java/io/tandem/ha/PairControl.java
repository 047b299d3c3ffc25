package io.tandem.ha;

import java.io.IOException;

/** What the operators' interfaces (control socket, status page) may see and do of the pair. */
public interface PairControl {
    PairView view();

    CommandResult failover(boolean force, String by) throws IOException;

    CommandResult takeover(boolean force, String by) throws IOException;
}
