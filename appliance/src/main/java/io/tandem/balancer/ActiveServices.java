package io.tandem.balancer;

/**
 * The service table in force. A reload builds a new {@link ServiceTable} aside and publishes
 * it with one volatile write; every event loop sees the new table from its next packet on,
 * and flows already tracked keep their backends whatever the new table says.
 */
public final class ActiveServices {
    private volatile ServiceTable current;

    public ActiveServices(ServiceTable initial) {
        this.current = initial;
    }

    public ServiceTable current() {
        return current;
    }

    public void publish(ServiceTable table) {
        this.current = table;
    }
}
