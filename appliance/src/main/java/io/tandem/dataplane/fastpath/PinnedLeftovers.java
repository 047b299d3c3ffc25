package io.tandem.dataplane.fastpath;

import io.tandem.config.DataplaneConfig;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What an earlier tandemd left in the pin directory — its flow maps, their layout stamp, its
 * pinned tcx links — read before this one loads its program, so that it adopts only what it can
 * prove it understands (issue 29, point 5). A map in a layout this tandemd knows is adopted as
 * it is when it fits ({@link #adoptable}), or its entries are carried into fresh maps
 * ({@link #carry}: an older layout, or another {@code max_flows}) while the old program keeps
 * forwarding them until the new one takes its place; anything else is removed — the program
 * detached from both interfaces (tcx links and tc clsact filters alike) and the pins unlinked —
 * because entries nobody expires would go on rewriting packets for flows that ended (a stale
 * reply entry sends a new flow's replies to an old client).
 *
 * <p>The layouts: 3 is stamped ({@link FastPathProgram#LAYOUT_VERSION}): the structs of 2 in
 * preallocated maps, entries the program created among them; 2 is stamped 2 or, before the stamp,
 * known by its sizes (flows4 values of 48 bytes, flows6 values of 72) in maps allocated as they
 * filled (libbpf cannot reuse those for a preallocated definition: carried); 1 had flows4 values
 * of 40 bytes (no sequence end or flags) and no flows6.
 */
final class PinnedLeftovers {
    /** What was found: nothing, a layout this tandemd knows (1, 2 or 3), or something it does not. */
    enum Layout { NONE, V1, V2, V3, UNKNOWN }

    private static final int V1_VALUE_SIZE = 40;

    private final Path dir;
    private final Layout layout;
    private final int maxEntries;
    private final String description;

    private PinnedLeftovers(Path dir, Layout layout, int maxEntries, String description) {
        this.dir = dir;
        this.layout = layout;
        this.maxEntries = maxEntries;
        this.description = description;
    }

    /** Reads what is pinned in {@code dir} (a bpffs directory). */
    static PinnedLeftovers inspect(Path dir) {
        Path flows4 = dir.resolve(DataplaneConfig.FAST_PATH_MAP);
        if (!Files.exists(flows4)) {
            boolean anything = Files.exists(dir.resolve(DataplaneConfig.FAST_PATH_MAP6)) || Files.exists(dir.resolve(FastPathProgram.LAYOUT_PIN));
            return new PinnedLeftovers(dir, anything ? Layout.UNKNOWN : Layout.NONE, 0, anything ? "pins without a flows4 map" : "nothing");
        }
        try (Arena a = Arena.ofConfined()) {
            MapShape v4 = MapShape.of(a, flows4);
            MapShape v6 = Files.exists(dir.resolve(DataplaneConfig.FAST_PATH_MAP6))
                    ? MapShape.of(a, dir.resolve(DataplaneConfig.FAST_PATH_MAP6)) : null;
            int stamp = stamp(a, dir.resolve(FastPathProgram.LAYOUT_PIN));
            String what = "flows4 " + v4 + (v6 == null ? "" : ", flows6 " + v6) + ", layout " + (stamp < 0 ? "unstamped" : "stamp " + stamp);
            boolean v4IsV2 = v4.hash() && v4.keySize == FastPathProgram.KEY_SIZE && v4.valueSize == FastPathProgram.VALUE_SIZE;
            boolean v6IsV2 = v6 != null && v6.hash() && v6.keySize == FastPathProgram.KEY6_SIZE && v6.valueSize == FastPathProgram.VALUE6_SIZE;
            Layout layout;
            if (stamp == FastPathProgram.LAYOUT_VERSION && v4IsV2 && v6IsV2) {
                layout = Layout.V3;
            } else if ((stamp == 2 || stamp < 0) && v4IsV2 && (v6 == null || v6IsV2)) {
                layout = Layout.V2;
            } else if (stamp < 0 && v6 == null && v4.hash() && v4.keySize == FastPathProgram.KEY_SIZE && v4.valueSize == V1_VALUE_SIZE) {
                layout = Layout.V1;
            } else {
                layout = Layout.UNKNOWN;
            }
            int entries = v6 == null || v6.maxEntries == v4.maxEntries ? v4.maxEntries : -1;
            return new PinnedLeftovers(dir, layout, entries, what);
        } catch (IllegalStateException e) {
            return new PinnedLeftovers(dir, Layout.UNKNOWN, 0, e.getMessage());
        }
    }

    Layout layout() {
        return layout;
    }

    /** What was found, for the log. */
    String description() {
        return description;
    }

    /** A layout-3 map with both maps pinned at the size wanted: libbpf reuses it as it is. */
    boolean adoptable(int wantedEntries) {
        return layout == Layout.V3 && maxEntries == wantedEntries && Files.exists(dir.resolve(DataplaneConfig.FAST_PATH_MAP6));
    }

    /** A layout this tandemd knows but cannot reuse as it is: its entries are carried into new maps. */
    boolean carriable() {
        return layout == Layout.V1 || layout == Layout.V2 || layout == Layout.V3;
    }

    /** The entries of a known layout, converted to this one: IPv4 first, then IPv6. */
    record Entry(boolean ipv6, byte[] key, byte[] value) {
    }

    /**
     * Reads every entry of the pinned maps (a known layout), in this tandemd's layout, then
     * unlinks their pins: the program still attached keeps them (it holds the maps), so the
     * kernel goes on forwarding until the new program replaces it.
     */
    List<Entry> carry() throws IOException {
        if (!carriable()) {
            throw new IllegalStateException("not a layout to carry: " + description);
        }
        List<Entry> entries = new ArrayList<>();
        readAll(dir.resolve(DataplaneConfig.FAST_PATH_MAP), false, entries);
        if (Files.exists(dir.resolve(DataplaneConfig.FAST_PATH_MAP6))) {
            readAll(dir.resolve(DataplaneConfig.FAST_PATH_MAP6), true, entries);
        }
        unpinMaps(dir);
        return entries;
    }

    private static void readAll(Path pin, boolean ipv6, List<Entry> into) {
        try (Arena a = Arena.ofConfined()) {
            int fd = Libbpf.objGet(a.allocateFrom(pin.toString()));
            if (fd < 0) {
                throw new IllegalStateException("cannot open the pinned map " + pin + " (errno " + -fd + ")");
            }
            try {
                MapShape shape = MapShape.of(a, fd, pin);
                int wanted = ipv6 ? FastPathProgram.VALUE6_SIZE : FastPathProgram.VALUE_SIZE;
                // An older layout's value is shorter: its later fields stay zero (sequence unknown, no flags).
                MemorySegment value = a.allocate(Math.max(shape.valueSize, wanted), 8);
                FastPathProgram.eachEntry(fd, shape.keySize, value, key -> {
                    into.add(new Entry(ipv6, key.toArray(ValueLayout.JAVA_BYTE), value.asSlice(0, wanted).toArray(ValueLayout.JAVA_BYTE)));
                    value.fill((byte) 0);
                });
            } finally {
                LinuxFd.close(fd);
            }
        }
    }

    /** Unlinks the map pins in {@code dir} (the maps live on while a program holds them); returns those that were there. */
    static List<String> unpinMaps(Path dir) throws IOException {
        List<String> removed = new ArrayList<>();
        for (String pin : List.of(DataplaneConfig.FAST_PATH_MAP, DataplaneConfig.FAST_PATH_MAP6, FastPathProgram.LAYOUT_PIN)) {
            if (Files.deleteIfExists(dir.resolve(pin))) {
                removed.add(pin);
            }
        }
        return removed;
    }

    /** Detaches the tcx link pinned for {@code role} in {@code dir} (whoever else holds it) and unlinks its pin; true if there was one. */
    static boolean dropPinnedLink(Path dir, String role) throws IOException {
        Path link = dir == null ? null : dir.resolve(role + ".link");
        if (link == null || !Files.exists(link)) {
            return false;
        }
        try (Arena a = Arena.ofConfined()) {
            int fd = Libbpf.objGet(a.allocateFrom(link.toString()));
            if (fd > 0) {
                Libbpf.linkDetach(fd);
                LinuxFd.close(fd);
            }
        }
        Files.deleteIfExists(link);
        return true;
    }

    /**
     * Removes everything an earlier tandemd left: the program detached from both interfaces (its
     * pinned tcx links detached and unlinked, its tc clsact filters deleted) and the map pins
     * unlinked, so the maps go with the program. Returns what it removed ("nothing" if nothing).
     */
    static String removeAll(Path dir, int frontIfindex, int backIfindex) throws IOException {
        List<String> removed = new ArrayList<>();
        for (String role : List.of("front", "back")) {
            if (dropPinnedLink(dir, role)) {
                removed.add("the " + role + " tcx link");
            }
        }
        if (FastPath.detachTcFilter(frontIfindex)) {
            removed.add("the tc filter on the front interface");
        }
        if (FastPath.detachTcFilter(backIfindex)) {
            removed.add("the tc filter on the back interface");
        }
        if (dir != null) {
            unpinMaps(dir).forEach(pin -> removed.add("the pinned " + pin));
        }
        return removed.isEmpty() ? "nothing" : String.join(", ", removed);
    }

    /** The stamped layout, or -1 when there is no stamp. */
    private static int stamp(Arena a, Path pin) {
        if (!Files.exists(pin)) {
            return -1;
        }
        int fd = Libbpf.objGet(a.allocateFrom(pin.toString()));
        if (fd < 0) {
            throw new IllegalStateException("cannot open the layout stamp " + pin + " (errno " + -fd + ")");
        }
        try {
            MemorySegment zero = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment version = a.allocate(ValueLayout.JAVA_LONG); // room for any value size up to 8
            return Libbpf.mapLookup(fd, zero, version) == 0 ? version.get(ValueLayout.JAVA_INT, 0) : 0;
        } finally {
            LinuxFd.close(fd);
        }
    }

    /** A pinned map's type and sizes, from the kernel. */
    private record MapShape(int type, int keySize, int valueSize, int maxEntries) {
        static MapShape of(Arena a, Path pin) {
            int fd = Libbpf.objGet(a.allocateFrom(pin.toString()));
            if (fd < 0) {
                throw new IllegalStateException("cannot open the pinned map " + pin + " (errno " + -fd + ")");
            }
            try {
                return of(a, fd, pin);
            } finally {
                LinuxFd.close(fd);
            }
        }

        static MapShape of(Arena a, int fd, Path pin) {
            MemorySegment info = a.allocate(Libbpf.MAP_INFO_SIZE, 8);
            int rc = Libbpf.mapInfo(fd, info);
            if (rc < 0) {
                throw new IllegalStateException("cannot read what " + pin + " is (errno " + -rc + ")");
            }
            return new MapShape(info.get(ValueLayout.JAVA_INT, Libbpf.MAP_INFO_TYPE), info.get(ValueLayout.JAVA_INT, Libbpf.MAP_INFO_KEY_SIZE),
                    info.get(ValueLayout.JAVA_INT, Libbpf.MAP_INFO_VALUE_SIZE), info.get(ValueLayout.JAVA_INT, Libbpf.MAP_INFO_MAX_ENTRIES));
        }

        boolean hash() {
            return type == Libbpf.BPF_MAP_TYPE_HASH;
        }

        @Override
        public String toString() {
            return "(" + keySize + "-byte keys, " + valueSize + "-byte values, " + maxEntries + " entries)";
        }
    }
}
