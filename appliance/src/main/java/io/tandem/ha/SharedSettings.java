package io.tandem.ha;

import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * What else the pair keeps equal besides flows: the services config (compared by
 * fingerprint) and the operators' drains (the newer set wins, so a failover keeps them);
 * {@code unknownBackends} says, when it is not null, that the peer's flows go to backends this
 * box's config does not have.
 */
public record SharedSettings(Supplier<String> configFingerprint, Supplier<List<String>> drained, LongSupplier drainSeq,
                             BiConsumer<List<String>, Long> adoptDrained, Supplier<String> unknownBackends) {
    /** For a box whose settings nobody shares (tests). */
    public static SharedSettings none() {
        return new SharedSettings(() -> "", List::of, () -> 0, (d, s) -> { }, () -> null);
    }
}
