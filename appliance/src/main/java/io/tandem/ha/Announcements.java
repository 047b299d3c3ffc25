package io.tandem.ha;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The announcement codec: a {@link NodeStatus} as the JSON bytes the sync link carries
 * opaquely to the peer, and back. Unknown fields are skipped, so a newer peer may say more.
 */
final class Announcements {
    private static final Logger LOG = LoggerFactory.getLogger(Announcements.class);
    private static final ObjectMapper JSON = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private final AtomicLong unreadable = new AtomicLong();

    byte[] encode(NodeStatus status) {
        try {
            return JSON.writeValueAsBytes(status);
        } catch (IOException e) {
            throw new IllegalStateException("a NodeStatus always serializes", e);
        }
    }

    /** The peer's status, or null if its bytes cannot be read (counted, and logged now and then). */
    NodeStatus decode(byte[] payload) {
        try {
            return JSON.readValue(payload, NodeStatus.class);
        } catch (IOException e) {
            // The link is authenticated, so this is a peer of another version, not an attacker: say so once in a while.
            if (unreadable.getAndIncrement() % 100 == 0) {
                LOG.warn("the peer's announcement is unreadable ({} so far): {}", unreadable.get(), e.getMessage());
            }
            return null;
        }
    }

    long unreadable() {
        return unreadable.get();
    }
}
