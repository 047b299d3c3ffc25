package io.tandem.dataplane.fastpath;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;

/**
 * The maps the engine publishes its policy in, for the program to create flows by
 * ({@code tandem_maps.h}): the box's config, the services, each service's Maglev table (an inner
 * array swapped in whole through {@code tandem_maglev}, a hash of maps, as Cilium does, so the
 * program never reads a half-written table) and the backends by SNAT port pool id. Written off
 * the hot path (a start, a reload, a health change); one writer at a time.
 */
final class PolicyMaps {
    /** The maps' names in the object, in the constructor's order. */
    static final List<String> NAMES = List.of("tandem_config", "tandem_services", "tandem_maglev", "tandem_backends");
    /** struct service_key, struct service, struct backend, struct fp_config. */
    static final int SERVICE_KEY_SIZE = BpfLayout.size("service_key");
    static final int SERVICE_SIZE = BpfLayout.size("service");
    static final int BACKEND_SIZE = BpfLayout.size("backend");
    static final int CONFIG_SIZE = BpfLayout.size("fp_config");
    /** service.flags */
    static final int SVC_CREATE = 0x01;
    static final int SVC_HASH_CLIENT = 0x02;
    private static final ValueLayout.OfShort BE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final int configFd;
    private final int servicesFd;
    private final int maglevFd;
    private final int backendsFd;

    PolicyMaps(int configFd, int servicesFd, int maglevFd, int backendsFd) {
        this.configFd = configFd;
        this.servicesFd = servicesFd;
        this.maglevFd = maglevFd;
        this.backendsFd = backendsFd;
    }

    /**
     * The box: the interfaces a flow's two directions leave by, the SNAT port range, and whether
     * the program creates flows ({@code create}: the engine published its policy and reads the reports).
     */
    synchronized int config(int frontIfindex, int backIfindex, int firstPort, int lastPort, boolean create) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(CONFIG_SIZE, 8);
            v.set(ValueLayout.JAVA_INT, BpfLayout.at("fp_config", "front_ifindex"), frontIfindex);
            v.set(ValueLayout.JAVA_INT, BpfLayout.at("fp_config", "back_ifindex"), backIfindex);
            v.set(ValueLayout.JAVA_SHORT, BpfLayout.at("fp_config", "snat_first"), (short) firstPort);
            v.set(ValueLayout.JAVA_SHORT, BpfLayout.at("fp_config", "snat_last"), (short) lastPort);
            v.set(ValueLayout.JAVA_INT, BpfLayout.at("fp_config", "create"), create ? 1 : 0);
            return Libbpf.mapUpdate(configFd, a.allocate(ValueLayout.JAVA_INT), v, Libbpf.BPF_ANY);
        }
    }

    /** A backend by its pool id: its address and the SNAT address (4 or 16 bytes, network order), its port. */
    synchronized int backend(int pool, byte[] address, byte[] snat, int port) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(ValueLayout.JAVA_INT);
            k.set(ValueLayout.JAVA_INT, 0, pool);
            MemorySegment v = a.allocate(BACKEND_SIZE, 8);
            MemorySegment.copy(MemorySegment.ofArray(address), 0, v, BpfLayout.at("backend", "addr"), address.length);
            MemorySegment.copy(MemorySegment.ofArray(snat), 0, v, BpfLayout.at("backend", "snat"), snat.length);
            v.set(BE_SHORT, BpfLayout.at("backend", "port"), (short) port);
            v.set(ValueLayout.JAVA_BYTE, BpfLayout.at("backend", "family"), (byte) (address.length == 4 ? 4 : 6));
            return Libbpf.mapUpdate(backendsFd, k, v, Libbpf.BPF_ANY);
        }
    }

    /**
     * Publishes a service: its Maglev table ({@code slots}: a pool id or {@link KernelPolicy#NO_BACKEND} per
     * slot) built into a new inner array and swapped in whole under {@code id}, then the service
     * itself. Null slots: the service's new flows stay with the engine (its entry says so).
     */
    synchronized int service(byte[] vip, int port, int proto, int id, int flags, int[] slots) {
        try (Arena a = Arena.ofConfined()) {
            if (slots != null) {
                int rc = maglev(a, id, slots);
                if (rc < 0) {
                    return rc;
                }
            }
            MemorySegment v = a.allocate(SERVICE_SIZE, 8);
            v.set(ValueLayout.JAVA_INT, BpfLayout.at("service", "id"), id);
            v.set(ValueLayout.JAVA_INT, BpfLayout.at("service", "maglev_size"), slots == null ? 0 : slots.length);
            v.set(ValueLayout.JAVA_INT, BpfLayout.at("service", "flags"), slots == null ? flags & ~SVC_CREATE : flags);
            return Libbpf.mapUpdate(servicesFd, serviceKey(a, vip, port, proto), v, Libbpf.BPF_ANY);
        }
    }

    /** Takes a service out: its entry first (no new flow finds it), then its table. */
    synchronized void removeService(byte[] vip, int port, int proto, int id) {
        try (Arena a = Arena.ofConfined()) {
            Libbpf.mapDelete(servicesFd, serviceKey(a, vip, port, proto));
            MemorySegment k = a.allocate(ValueLayout.JAVA_INT);
            k.set(ValueLayout.JAVA_INT, 0, id);
            Libbpf.mapDelete(maglevFd, k);
        }
    }

    private int maglev(Arena a, int id, int[] slots) {
        int table = Libbpf.mapCreate(Libbpf.BPF_MAP_TYPE_ARRAY, "tandem_maglev_t", 4, 4, slots.length, Libbpf.BPF_F_INNER_MAP);
        if (table < 0) {
            return table;
        }
        try {
            MemorySegment keys = a.allocate(4L * slots.length, 8);
            MemorySegment values = a.allocate(4L * slots.length, 8);
            for (int i = 0; i < slots.length; i++) {
                keys.setAtIndex(ValueLayout.JAVA_INT, i, i);
                values.setAtIndex(ValueLayout.JAVA_INT, i, slots[i]);
            }
            int rc = Libbpf.mapUpdateBatch(table, keys, values, slots.length);
            if (rc < 0) {
                return rc;
            }
            MemorySegment k = a.allocate(ValueLayout.JAVA_INT);
            k.set(ValueLayout.JAVA_INT, 0, id);
            MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
            v.set(ValueLayout.JAVA_INT, 0, table);
            return Libbpf.mapUpdate(maglevFd, k, v, Libbpf.BPF_ANY);
        } finally {
            LinuxFd.close(table); // the outer map holds the table now
        }
    }

    private static MemorySegment serviceKey(Arena a, byte[] vip, int port, int proto) {
        MemorySegment k = a.allocate(SERVICE_KEY_SIZE, 8);
        MemorySegment.copy(MemorySegment.ofArray(vip), 0, k, BpfLayout.at("service_key", "vip"), vip.length);
        k.set(BE_SHORT, BpfLayout.at("service_key", "port"), (short) port);
        k.set(ValueLayout.JAVA_BYTE, BpfLayout.at("service_key", "proto"), (byte) proto);
        k.set(ValueLayout.JAVA_BYTE, BpfLayout.at("service_key", "family"), (byte) (vip.length == 4 ? 4 : 6));
        return k;
    }
}
