package io.tandem.ha;

import java.util.List;

/** A failover's or takeover's outcome: done, or refused with the reasons. */
public record CommandResult(boolean accepted, boolean forced, String message, List<String> reasons) {
}
