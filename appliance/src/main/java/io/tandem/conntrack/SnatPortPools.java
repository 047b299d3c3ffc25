package io.tandem.conntrack;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Every {@link SnatPortPool}, one per (SNAT address, backend address, backend port,
 * protocol). Pools are looked up when services are built (off the hot path) and live as long
 * as the process, so flows keep their ports across reloads. A flow stores its pool's id, in 16
 * bits: at most {@link #MAX_POOLS} pools (each holds an 8 KiB bitmap: 512 MiB at the cap).
 */
public final class SnatPortPools {
    public static final int MAX_POOLS = 65_535;
    private final int firstPort;
    private final int lastPort;
    private final Map<PoolKey, SnatPortPool> byKey = new HashMap<>();
    private volatile SnatPortPool[] byId = new SnatPortPool[0];

    private record PoolKey(int snatAddress, int backendAddress, int backendPort, int protocol) {
    }

    public SnatPortPools(int firstPort, int lastPort) {
        if (firstPort < 1 || lastPort > 65535 || firstPort > lastPort) {
            throw new IllegalArgumentException("SNAT port range " + firstPort + "-" + lastPort + " is not within 1-65535");
        }
        this.firstPort = firstPort;
        this.lastPort = lastPort;
    }

    public synchronized SnatPortPool poolFor(int snatAddress, int backendAddress, int backendPort, int protocol) {
        return byKey.computeIfAbsent(new PoolKey(snatAddress, backendAddress, backendPort, protocol), key -> {
            SnatPortPool[] current = byId;
            if (current.length == MAX_POOLS) {
                throw new IllegalStateException("this box already has " + MAX_POOLS + " SNAT port pools (one per SNAT address,"
                        + " backend address, backend port and protocol, kept since start): restart it to build them again");
            }
            SnatPortPool[] grown = Arrays.copyOf(current, current.length + 1);
            SnatPortPool pool = new SnatPortPool(current.length, firstPort, lastPort, snatAddress, backendAddress, backendPort);
            grown[current.length] = pool;
            byId = grown;
            return pool;
        });
    }

    /** The pool of a backend this box has had in its config (created when services were built), or null. */
    public synchronized SnatPortPool existing(int snatAddress, int backendAddress, int backendPort, int protocol) {
        return byKey.get(new PoolKey(snatAddress, backendAddress, backendPort, protocol));
    }

    /** Pools made so far: ids run from 0 to this, less one. */
    public int count() {
        return byId.length;
    }

    public SnatPortPool byId(int id) {
        return byId[id];
    }

    /** Ports allocated across every pool (a port leak shows here after the flows are gone). */
    public int portsInUse() {
        int total = 0;
        for (SnatPortPool pool : byId) {
            total += pool.inUse();
        }
        return total;
    }

    public int firstPort() {
        return firstPort;
    }

    public int lastPort() {
        return lastPort;
    }
}
