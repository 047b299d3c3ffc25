package io.tandem.dataplane.fastpath;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The libbpf 1.x calls the fast path makes, bound through Java's FFM API (no JNI). libbpf is
 * found at run time ({@code libbpf.so.1}: Debian's libbpf1, RHEL's libbpf); {@link #available}
 * says whether it was. Calls return libbpf's convention: 0 or a count on success, a negative
 * errno on failure; the few that return a pointer return NULL and set errno, captured here.
 *
 * <p>Structures are laid out as libbpf 1.1's {@code libbpf.h} and {@code bpf.h} declare them;
 * each starts with its own size ({@code sz}), libbpf's way of staying compatible across versions.
 */
final class Libbpf {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Optional<SymbolLookup> LIBRARY = open();

    /** struct bpf_object_open_opts: sz, object_name, relaxed_maps, pin_root_path, (unused), kconfig, btf_custom_path, kernel_log_buf, kernel_log_size, kernel_log_level. */
    static final long OPEN_OPTS_SIZE = 80;
    static final long OPEN_OPTS_LOG_BUF = 56;
    static final long OPEN_OPTS_LOG_SIZE = 64;
    static final long OPEN_OPTS_LOG_LEVEL = 72;
    /** struct bpf_test_run_opts. */
    static final long TEST_RUN_SIZE = 80;
    static final long TEST_RUN_DATA_IN = 8;
    static final long TEST_RUN_DATA_OUT = 16;
    static final long TEST_RUN_DATA_SIZE_IN = 24;
    static final long TEST_RUN_DATA_SIZE_OUT = 28;
    static final long TEST_RUN_CTX_IN = 32;
    static final long TEST_RUN_CTX_SIZE_IN = 48;
    static final long TEST_RUN_RETVAL = 56;
    /** struct __sk_buff (uapi/linux/bpf.h): its size and the fields a test run's context may set. */
    static final long SK_BUFF_SIZE = 192;
    static final long SK_BUFF_INGRESS_IFINDEX = 36;
    static final long SK_BUFF_IFINDEX = 40;
    static final long SK_BUFF_GSO_SEGS = 164;
    static final long SK_BUFF_GSO_SIZE = 176;
    static final long TEST_RUN_REPEAT = 60;
    /** struct bpf_tc_hook: sz, ifindex, attach_point, parent. */
    static final long TC_HOOK_SIZE = 24;
    static final long TC_HOOK_IFINDEX = 8;
    static final long TC_HOOK_ATTACH_POINT = 12;
    static final int BPF_TC_INGRESS = 1;
    /** struct bpf_tc_opts: sz, prog_fd, flags, prog_id, handle, priority. */
    static final long TC_OPTS_SIZE = 32;
    static final long TC_OPTS_PROG_FD = 8;
    static final long TC_OPTS_FLAGS = 12;
    static final long TC_OPTS_PROG_ID = 16;
    static final long TC_OPTS_HANDLE = 20;
    static final long TC_OPTS_PRIORITY = 24;
    static final int BPF_TC_F_REPLACE = 1;
    static final long BPF_ANY = 0;
    static final long BPF_NOEXIST = 1;
    static final long BPF_EXIST = 2;
    /** struct bpf_map_info (uapi/linux/bpf.h): its size and the fields read. */
    static final int MAP_INFO_SIZE = 88;
    static final long MAP_INFO_TYPE = 0;
    static final long MAP_INFO_KEY_SIZE = 8;
    static final long MAP_INFO_VALUE_SIZE = 12;
    static final long MAP_INFO_MAX_ENTRIES = 16;
    static final int BPF_MAP_TYPE_HASH = 1;
    static final int BPF_MAP_TYPE_ARRAY = 2;
    /** BPF_F_INNER_MAP: an inner map whose max_entries may differ from the outer map's template. */
    static final int BPF_F_INNER_MAP = 0x1000;
    /** struct bpf_map_create_opts (libbpf 1.1): sz, btf_fd, btf_key_type_id, btf_value_type_id, btf_vmlinux_value_type_id, inner_map_fd, map_flags, map_extra, numa_node, map_ifindex. */
    static final long MAP_CREATE_OPTS_SIZE = 48;
    static final long MAP_CREATE_OPTS_MAP_FLAGS = 28;

    private static final MethodHandle OPEN_MEM = bind("bpf_object__open_mem", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, ADDRESS), true);
    private static final MethodHandle LOAD = bind("bpf_object__load", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    private static final MethodHandle CLOSE = bind("bpf_object__close", FunctionDescriptor.ofVoid(ADDRESS), false);
    private static final MethodHandle FIND_MAP = bind("bpf_object__find_map_by_name", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS), false);
    private static final MethodHandle MAP_FD = bind("bpf_map__fd", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    private static final MethodHandle SET_MAX_ENTRIES = bind("bpf_map__set_max_entries", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), false);
    private static final MethodHandle FIND_PROGRAM = bind("bpf_object__find_program_by_name", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS), false);
    private static final MethodHandle PROGRAM_FD = bind("bpf_program__fd", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    private static final MethodHandle MAP_UPDATE = bind("bpf_map_update_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG), false);
    private static final MethodHandle MAP_LOOKUP = bind("bpf_map_lookup_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), false);
    private static final MethodHandle MAP_DELETE = bind("bpf_map_delete_elem", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), false);
    private static final MethodHandle TEST_RUN = bind("bpf_prog_test_run_opts", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), false);
    private static final MethodHandle TC_HOOK_CREATE = bind("bpf_tc_hook_create", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    private static final MethodHandle TC_ATTACH = bind("bpf_tc_attach", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), false);
    private static final MethodHandle TC_DETACH = bind("bpf_tc_detach", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), false);
    private static final MethodHandle SET_PIN_PATH = bind("bpf_map__set_pin_path", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), false);
    private static final MethodHandle MAP_NEXT_KEY = bind("bpf_map_get_next_key", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), false);
    private static final MethodHandle LINK_CREATE = bind("bpf_link_create", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), false);
    private static final MethodHandle LINK_UPDATE = bind("bpf_link_update", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), false);
    private static final MethodHandle OBJ_PIN = bind("bpf_obj_pin", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), false);
    private static final MethodHandle OBJ_GET = bind("bpf_obj_get", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    private static final MethodHandle OBJ_INFO = bind("bpf_obj_get_info_by_fd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), false);
    private static final MethodHandle LINK_DETACH = bind("bpf_link_detach", FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);
    private static final MethodHandle MAP_CREATE = bind("bpf_map_create",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS), false);
    private static final MethodHandle MAP_UPDATE_BATCH = bind("bpf_map_update_batch",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS), false);
    private static final MethodHandle OBJECT_BTF = bind("bpf_object__btf", FunctionDescriptor.of(ADDRESS, ADDRESS), false);
    private static final MethodHandle BTF_FIND = bind("btf__find_by_name_kind", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT), false);
    private static final MethodHandle BTF_TYPE = bind("btf__type_by_id", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT), false);
    private static final MethodHandle BTF_NAME = bind("btf__name_by_offset", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT), false);
    private static final MethodHandle POSSIBLE_CPUS = bind("libbpf_num_possible_cpus", FunctionDescriptor.of(JAVA_INT), false);
    private static final MethodHandle RING_BUFFER_NEW = bind("ring_buffer__new",
            FunctionDescriptor.of(ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS), true);
    private static final MethodHandle RING_BUFFER_POLL = bind("ring_buffer__poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), false);
    private static final MethodHandle RING_BUFFER_CONSUME = bind("ring_buffer__consume", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
    private static final MethodHandle RING_BUFFER_FREE = bind("ring_buffer__free", FunctionDescriptor.ofVoid(ADDRESS), false);
    /** {@code int (*ring_buffer_sample_fn)(void *ctx, void *data, size_t size)}. */
    static final FunctionDescriptor SAMPLE_FN = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG);

    private Libbpf() {
    }

    private static Optional<SymbolLookup> open() {
        try {
            return Optional.of(SymbolLookup.libraryLookup("libbpf.so.1", Arena.global()));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    private static MethodHandle bind(String name, FunctionDescriptor descriptor, boolean captureErrno) {
        if (LIBRARY.isEmpty()) {
            return null;
        }
        MemorySegment symbol = LIBRARY.get().find(name).orElseThrow(() -> new UnsatisfiedLinkError("libbpf has no " + name));
        return captureErrno ? LINKER.downcallHandle(symbol, descriptor, Linker.Option.captureCallState("errno"))
                : LINKER.downcallHandle(symbol, descriptor);
    }

    /** Whether libbpf.so.1 could be loaded; else every call throws. */
    static boolean available() {
        return LIBRARY.isPresent();
    }

    private static IllegalStateException wrap(Throwable t) {
        return t instanceof IllegalStateException e ? e : new IllegalStateException(t);
    }

    /** Opens an object from memory: the object's handle, or {@link MemorySegment#NULL} with {@code errno[0]} set. */
    static MemorySegment openMem(MemorySegment object, MemorySegment opts, int[] errno) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            MemorySegment obj = (MemorySegment) OPEN_MEM.invokeExact(state, object, object.byteSize(), opts);
            errno[0] = (int) ERRNO.get(state, 0L);
            return obj;
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int load(MemorySegment obj) {
        try {
            return (int) LOAD.invokeExact(obj);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static void close(MemorySegment obj) {
        try {
            CLOSE.invokeExact(obj);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static MemorySegment findMap(MemorySegment obj, MemorySegment name) {
        try {
            return (MemorySegment) FIND_MAP.invokeExact(obj, name);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int mapFd(MemorySegment map) {
        try {
            return (int) MAP_FD.invokeExact(map);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int setMaxEntries(MemorySegment map, int entries) {
        try {
            return (int) SET_MAX_ENTRIES.invokeExact(map, entries);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static MemorySegment findProgram(MemorySegment obj, MemorySegment name) {
        try {
            return (MemorySegment) FIND_PROGRAM.invokeExact(obj, name);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int programFd(MemorySegment program) {
        try {
            return (int) PROGRAM_FD.invokeExact(program);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int mapUpdate(int fd, MemorySegment key, MemorySegment value, long flags) {
        try {
            return (int) MAP_UPDATE.invokeExact(fd, key, value, flags);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int mapLookup(int fd, MemorySegment key, MemorySegment value) {
        try {
            return (int) MAP_LOOKUP.invokeExact(fd, key, value);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int mapDelete(int fd, MemorySegment key) {
        try {
            return (int) MAP_DELETE.invokeExact(fd, key);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int testRun(int programFd, MemorySegment opts) {
        try {
            return (int) TEST_RUN.invokeExact(programFd, opts);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int tcHookCreate(MemorySegment hook) {
        try {
            return (int) TC_HOOK_CREATE.invokeExact(hook);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int tcAttach(MemorySegment hook, MemorySegment opts) {
        try {
            return (int) TC_ATTACH.invokeExact(hook, opts);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int tcDetach(MemorySegment hook, MemorySegment opts) {
        try {
            return (int) TC_DETACH.invokeExact(hook, opts);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int setPinPath(MemorySegment map, MemorySegment path) {
        try {
            return (int) SET_PIN_PATH.invokeExact(map, path);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** The key after {@code key} ({@link MemorySegment#NULL}: the first) into {@code next}; -ENOENT at the end. */
    static int mapNextKey(int fd, MemorySegment key, MemorySegment next) {
        try {
            return (int) MAP_NEXT_KEY.invokeExact(fd, key, next);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** BPF_TCX_INGRESS (Linux 6.6's enum bpf_attach_type; Debian 12's headers predate it). */
    static final int BPF_TCX_INGRESS = 46;

    /** A link attaching {@code programFd} to {@code ifindex} ({@code attachType}): its fd, or a negative errno. */
    static int linkCreate(int programFd, int ifindex, int attachType) {
        try {
            return (int) LINK_CREATE.invokeExact(programFd, ifindex, attachType, MemorySegment.NULL);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** Puts {@code programFd} in the link's place (an attachment that never lapses). */
    static int linkUpdate(int linkFd, int programFd) {
        try {
            return (int) LINK_UPDATE.invokeExact(linkFd, programFd, MemorySegment.NULL);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int objPin(int fd, MemorySegment path) {
        try {
            return (int) OBJ_PIN.invokeExact(fd, path);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** The object pinned at {@code path}: an fd, or a negative errno. */
    static int objGet(MemorySegment path) {
        try {
            return (int) OBJ_GET.invokeExact(path);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** Fills {@code info} (a struct bpf_map_info of {@link #MAP_INFO_SIZE} bytes) for the map {@code fd}; 0 or a negative errno. */
    static int mapInfo(int fd, MemorySegment info) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment length = a.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, (int) info.byteSize());
            return (int) OBJ_INFO.invokeExact(fd, info, length);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** Detaches a BPF link from its hook, whoever else holds it (a pin): 0 or a negative errno. */
    static int linkDetach(int linkFd) {
        try {
            return (int) LINK_DETACH.invokeExact(linkFd);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** A new map: its fd, or a negative errno. */
    static int mapCreate(int type, String name, int keySize, int valueSize, int maxEntries) {
        return mapCreate(type, name, keySize, valueSize, maxEntries, 0);
    }

    /** As above, with the map's {@code map_flags} (struct bpf_map_create_opts). */
    static int mapCreate(int type, String name, int keySize, int valueSize, int maxEntries, int mapFlags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment opts = a.allocate(MAP_CREATE_OPTS_SIZE, 8);
            opts.set(JAVA_LONG, 0, MAP_CREATE_OPTS_SIZE);
            opts.set(JAVA_INT, MAP_CREATE_OPTS_MAP_FLAGS, mapFlags);
            return (int) MAP_CREATE.invokeExact(type, a.allocateFrom(name), keySize, valueSize, maxEntries, opts);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** Writes {@code count} keys and values in one call (BPF_MAP_UPDATE_BATCH): 0 or a negative errno. */
    static int mapUpdateBatch(int fd, MemorySegment keys, MemorySegment values, int count) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            n.set(JAVA_INT, 0, count);
            return (int) MAP_UPDATE_BATCH.invokeExact(fd, keys, values, n, MemorySegment.NULL);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** The object's BTF (libbpf's struct btf), or NULL if it has none. */
    static MemorySegment objectBtf(MemorySegment obj) {
        try {
            return (MemorySegment) OBJECT_BTF.invokeExact(obj);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** A named type's id in the BTF, or a negative errno (ENOENT: none of that name and kind). */
    static int btfFind(MemorySegment btf, String name, int kind) {
        try (Arena a = Arena.ofConfined()) {
            return (int) BTF_FIND.invokeExact(btf, a.allocateFrom(name), kind);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** A type by id: struct btf_type (name_off, info, size) followed by its members, readable for {@code bytes}. */
    static MemorySegment btfType(MemorySegment btf, int id, long bytes) {
        try {
            return ((MemorySegment) BTF_TYPE.invokeExact(btf, id)).reinterpret(bytes);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** A name in the BTF's string section. */
    static String btfName(MemorySegment btf, int offset) {
        try {
            return ((MemorySegment) BTF_NAME.invokeExact(btf, offset)).reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static int possibleCpus() {
        try {
            return (int) POSSIBLE_CPUS.invokeExact();
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** A consumer of the ring buffer map {@code fd} calling {@code sample} per record: its handle, or NULL with {@code errno[0]} set. */
    static MemorySegment ringBufferNew(int fd, MemorySegment sample, int[] errno) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            MemorySegment rb = (MemorySegment) RING_BUFFER_NEW.invokeExact(state, fd, sample, MemorySegment.NULL, MemorySegment.NULL);
            errno[0] = (int) ERRNO.get(state, 0L);
            return rb;
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** Waits up to {@code timeoutMillis} for records and hands each to the sample function: their count, or a negative errno. */
    static int ringBufferPoll(MemorySegment rb, int timeoutMillis) {
        try {
            return (int) RING_BUFFER_POLL.invokeExact(rb, timeoutMillis);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** Reads every record waiting, without waiting for more: the count read, or a negative errno. */
    static int ringBufferConsume(MemorySegment rb) {
        try {
            return (int) RING_BUFFER_CONSUME.invokeExact(rb);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    static void ringBufferFree(MemorySegment rb) {
        try {
            RING_BUFFER_FREE.invokeExact(rb);
        } catch (Throwable t) {
            throw wrap(t);
        }
    }

    /** An upcall stub for {@code target} with {@link #SAMPLE_FN}'s signature, alive as long as {@code arena}. */
    static MemorySegment sampleStub(MethodHandle target, Arena arena) {
        return LINKER.upcallStub(target, SAMPLE_FN, arena);
    }
}
