package io.tandem.control;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The commands tandemd answers, by name. The control socket may run every one; the HTTP
 * server only those registered as read-only.
 */
public final class ControlApi {
    private static final Logger LOG = LoggerFactory.getLogger(ControlApi.class);

    /** Runs one command; an {@link IllegalArgumentException} is the caller's mistake, said back as is. */
    @FunctionalInterface
    public interface Handler {
        Object handle(ControlRequest request) throws Exception;
    }

    private record Entry(Handler handler, boolean readOnly) {
    }

    private final Map<String, Entry> commands = new LinkedHashMap<>();

    /** A command that only reads: offered over HTTP too. */
    public ControlApi query(String name, Handler handler) {
        commands.put(name, new Entry(handler, true));
        return this;
    }

    /** A command that changes something: only over the control socket. */
    public ControlApi mutation(String name, Handler handler) {
        commands.put(name, new Entry(handler, false));
        return this;
    }

    public Set<String> names() {
        return commands.keySet();
    }

    /**
     * @param mutationsAllowed false for read-only transports (HTTP)
     */
    public ControlResponse handle(ControlRequest request, boolean mutationsAllowed) {
        Entry entry = request.command() == null ? null : commands.get(request.command());
        if (entry == null) {
            return ControlResponse.error("unknown command '" + request.command() + "'; known: " + String.join(", ", commands.keySet()));
        }
        if (!entry.readOnly() && !mutationsAllowed) {
            return ControlResponse.error("'" + request.command() + "' changes the pair: only over the control socket (tandemctl)");
        }
        try {
            Object result = entry.handler().handle(request);
            // A handler may answer with a refusal of its own (no stack trace in the log for an expected "no").
            return result instanceof ControlResponse response ? response : ControlResponse.of(result);
        } catch (IllegalArgumentException e) {
            return ControlResponse.error(e.getMessage());
        } catch (Exception e) {
            LOG.error("control command {} failed", request.command(), e);
            return ControlResponse.error(request.command() + " failed: " + e);
        }
    }
}
