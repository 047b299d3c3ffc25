package io.tandem.balancer;

import java.util.function.Consumer;

/**
 * The service table in force. A reload builds a new {@link ServiceTable} aside and publishes
 * it with one volatile write; every event loop sees the new table from its next packet on,
 * and flows already tracked keep their backends whatever the new table says.
 */
public final class ActiveServices {
    private volatile ServiceTable current;
    /** Told of each table published (the fast path's copy of the policy), on the publishing thread. */
    private volatile Consumer<ServiceTable> follower = table -> {
    };

    public ActiveServices(ServiceTable initial) {
        this.current = initial;
    }

    public ServiceTable current() {
        return current;
    }

    public void publish(ServiceTable table) {
        this.current = table;
        follower.accept(table);
    }

    /** Has {@code follower} told of every table published from now on, and of the one in force at once. */
    public synchronized void follow(Consumer<ServiceTable> follower) {
        this.follower = follower;
        follower.accept(current);
    }
}
