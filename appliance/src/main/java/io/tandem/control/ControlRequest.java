package io.tandem.control;

import java.util.Map;

/**
 * One line of JSON on the control socket: {@code {"command":"failover","force":false,"by":"alice@lb1"}}.
 *
 * @param by   who asks, for the log and the event list
 * @param args command arguments (filters, names), all strings
 */
public record ControlRequest(String command, boolean force, String by, Map<String, String> args) {
    public ControlRequest {
        args = args == null ? Map.of() : Map.copyOf(args);
    }

    public String arg(String name, String fallback) {
        return args.getOrDefault(name, fallback);
    }
}
