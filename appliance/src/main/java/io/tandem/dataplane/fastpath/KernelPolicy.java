package io.tandem.dataplane.fastpath;

import java.util.HexFormat;
import java.util.List;

/**
 * The engine's policy as the program applies it (DESIGN §3b): every service, with its Maglev
 * table when the program may create its flows, and every backend a table names. Built by the
 * engine from its service table on each change, published by {@link FastPath#publish}.
 *
 * @param firstPort the SNAT port range ({@code conntrack.snat_ports})
 * @param lastPort  its last port
 */
public record KernelPolicy(int firstPort, int lastPort, List<Service> services, List<Backend> backends) {
    /** A Maglev slot without a backend (NO_BACKEND in tandem_maps.h). */
    public static final int NO_BACKEND = -1;

    /**
     * A service by the address and port clients send to ({@code vip}: 4 or 16 bytes, network
     * order; {@code proto}: 6 or 17). {@code slots}: its Maglev table as SNAT port pool ids
     * ({@link #NO_BACKEND}: none), or null when only the engine applies its policy (its new flows' first packets go
     * to the engine). {@code hashClient}: hash_key client-address.
     */
    public record Service(byte[] vip, int port, int proto, boolean hashClient, int[] slots) {
        String key() {
            return HexFormat.of().formatHex(vip) + ":" + port + "/" + proto;
        }
    }

    /** A backend by its SNAT port pool's id: its address, the SNAT address (4 or 16 bytes each), its port. */
    public record Backend(int pool, byte[] address, byte[] snat, int port) {
    }
}
