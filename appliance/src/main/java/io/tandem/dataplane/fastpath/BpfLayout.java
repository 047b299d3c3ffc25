package io.tandem.dataplane.fastpath;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The structs tandemd shares with the program ({@code tandem_maps.h}) as the Java side reads
 * and writes them: each struct's size and each field's byte offset. At load the object's BTF
 * (the compiler's own account of the header) is checked against this table, so a field moved
 * in the header and not here is a refused start, naming the field, never a misread map. The
 * offsets the Java side uses come from here ({@link #at}).
 */
final class BpfLayout {
    private static final int BTF_KIND_STRUCT = 4;
    private static final int BTF_TYPE_SIZE = 12;
    private static final int BTF_MEMBER_SIZE = 12;

    /** One struct as tandemd expects it: its size, and the offsets of the fields it touches. */
    record Struct(String name, int size, Map<String, Integer> fields) {
    }

    /** Every shared struct, in the header's order. */
    static final List<Struct> EXPECTED = List.of(
            struct("flow4_key", 16, "saddr", 0, "daddr", 4, "sport", 8, "dport", 10, "proto", 12),
            struct("flow4_nat", 48, "saddr", 0, "daddr", 4, "sport", 8, "dport", 10, "ifindex", 12, "last_seen_ns", 16, "packets", 24,
                    "bytes", 32, "seq_end", 40, "flags", 44),
            struct("flow6_key", 40, "saddr", 0, "daddr", 16, "sport", 32, "dport", 34, "proto", 36),
            struct("flow6_nat", 72, "saddr", 0, "daddr", 16, "sport", 32, "dport", 34, "ifindex", 36, "last_seen_ns", 40, "packets", 48,
                    "bytes", 56, "seq_end", 64, "flags", 68),
            struct("fp_config", 16, "front_ifindex", 0, "back_ifindex", 4, "snat_first", 8, "snat_last", 10, "create", 12),
            struct("service_key", 20, "vip", 0, "port", 16, "proto", 18, "family", 19),
            struct("service", 16, "id", 0, "maglev_size", 4, "flags", 8),
            struct("backend", 40, "addr", 0, "snat", 16, "port", 32, "family", 34),
            struct("fp_event", 56, "family", 0, "tcp_flags", 1, "window", 2, "seq", 4, "window_scale", 8, "kind", 9, "snat_port", 10,
                    "pool", 12));

    private BpfLayout() {
    }

    private static Struct struct(String name, int size, Object... fieldsAndOffsets) {
        Map<String, Integer> fields = new LinkedHashMap<>();
        for (int i = 0; i < fieldsAndOffsets.length; i += 2) {
            fields.put((String) fieldsAndOffsets[i], (Integer) fieldsAndOffsets[i + 1]);
        }
        return new Struct(name, size, fields);
    }

    /** A field's offset as tandemd uses it (an unknown name is a programming error). */
    static int at(String struct, String field) {
        for (Struct s : EXPECTED) {
            if (s.name().equals(struct)) {
                Integer offset = s.fields().get(field);
                if (offset != null) {
                    return offset;
                }
            }
        }
        throw new IllegalArgumentException("no field " + struct + "." + field + " in BpfLayout");
    }

    static int size(String struct) {
        return EXPECTED.stream().filter(s -> s.name().equals(struct)).findFirst().orElseThrow().size();
    }

    /**
     * {@link #differences} for the program object in the jar, opened (not loaded) for the check:
     * for the tests, and by hand.
     */
    static List<String> differencesInTheProgram(List<Struct> expected) throws FastPathProgram.FastPathException {
        byte[] bytes = FastPathProgram.objectBytes();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment image = a.allocate(bytes.length, 8);
            image.copyFrom(MemorySegment.ofArray(bytes));
            MemorySegment opts = a.allocate(Libbpf.OPEN_OPTS_SIZE, 8);
            opts.set(ValueLayout.JAVA_LONG, 0, Libbpf.OPEN_OPTS_SIZE);
            int[] errno = new int[1];
            MemorySegment obj = Libbpf.openMem(image, opts, errno);
            if (obj.equals(MemorySegment.NULL)) {
                throw new FastPathProgram.FastPathException("libbpf could not open the program (errno " + errno[0] + ")");
            }
            try {
                return differences(Libbpf.objectBtf(obj), expected);
            } finally {
                Libbpf.close(obj);
            }
        }
    }

    /**
     * What in {@code expected} the object's BTF says otherwise: an empty list when all agree,
     * else one line per difference ("struct flow4_nat: flags at 44 here, 45 in the program").
     */
    static List<String> differences(MemorySegment btf, List<Struct> expected) {
        List<String> out = new ArrayList<>();
        if (btf.equals(MemorySegment.NULL)) {
            out.add("the object has no BTF");
            return out;
        }
        for (Struct s : expected) {
            int id = Libbpf.btfFind(btf, s.name(), BTF_KIND_STRUCT);
            if (id < 0) {
                out.add("struct " + s.name() + ": not in the program");
                continue;
            }
            MemorySegment type = Libbpf.btfType(btf, id, BTF_TYPE_SIZE);
            int info = type.get(ValueLayout.JAVA_INT, 4);
            int members = info & 0xFFFF;
            boolean bitfieldOffsets = info < 0; // kind_flag: the member offset's low 24 bits are the offset
            int size = type.get(ValueLayout.JAVA_INT, 8);
            if (size != s.size()) {
                out.add("struct " + s.name() + ": " + s.size() + " bytes here, " + size + " in the program");
            }
            type = Libbpf.btfType(btf, id, BTF_TYPE_SIZE + (long) BTF_MEMBER_SIZE * members);
            Map<String, Integer> seen = new LinkedHashMap<>();
            for (int m = 0; m < members; m++) {
                long at = BTF_TYPE_SIZE + (long) BTF_MEMBER_SIZE * m;
                String name = Libbpf.btfName(btf, type.get(ValueLayout.JAVA_INT, at));
                int bits = type.get(ValueLayout.JAVA_INT, at + 8);
                seen.put(name, (bitfieldOffsets ? bits & 0xFFFFFF : bits) / 8);
            }
            s.fields().forEach((field, offset) -> {
                Integer actual = seen.get(field);
                if (actual == null) {
                    out.add("struct " + s.name() + ": no field " + field + " in the program");
                } else if (actual.intValue() != offset) {
                    out.add("struct " + s.name() + ": " + field + " at " + offset + " here, " + actual + " in the program");
                }
            });
        }
        return out;
    }
}
