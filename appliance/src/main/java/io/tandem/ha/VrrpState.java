package io.tandem.ha;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A VRRP state change as keepalived writes it to its notify FIFO, one line per event:
 * {@code INSTANCE "tandem" MASTER 150} (type, quoted name, state, priority).
 */
public record VrrpState(String instance, State state, int priority) {
    /** keepalived's instance states. */
    public enum State {
        MASTER, BACKUP, FAULT, STOP
    }

    private static final Pattern LINE = Pattern.compile("INSTANCE \"([^\"]+)\" (MASTER|BACKUP|FAULT|STOP) (\\d+)");

    /** The instance event on this line, or empty for other lines (GROUP events, garbage). */
    public static Optional<VrrpState> parse(String line) {
        Matcher m = LINE.matcher(line.strip());
        if (!m.matches()) {
            return Optional.empty();
        }
        return Optional.of(new VrrpState(m.group(1), State.valueOf(m.group(2)), Integer.parseInt(m.group(3))));
    }
}
