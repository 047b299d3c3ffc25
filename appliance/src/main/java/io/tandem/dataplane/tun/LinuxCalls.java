package io.tandem.dataplane.tun;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The few libc calls the TUN device needs, bound with the FFM linker. Each captures
 * {@code errno} so a failure says what the kernel said ("ioctl(TUNSETIFF): Operation not
 * permitted"), never a bare -1.
 */
final class LinuxCalls {
    static final int O_RDWR = 0x0002;
    static final int O_NONBLOCK = 0x0800;
    static final int O_CLOEXEC = 0x80000;
    static final int EPERM = 1;
    static final int ENOENT = 2;
    static final int EBUSY = 16;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final MethodHandle OPEN = bind("open",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT),
            CAPTURE_ERRNO);
    // ioctl is variadic: its third argument is passed as a variadic pointer.
    private static final MethodHandle IOCTL = bind("ioctl",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IOCTL_VALUE = bind("ioctl",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = bind("close",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), CAPTURE_ERRNO);
    private static final MethodHandle WRITE = bind("write",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle STRERROR = bind("strerror",
            FunctionDescriptor.of(ValueLayout.ADDRESS.withTargetLayout(MemoryLayout.sequenceLayout(256, ValueLayout.JAVA_BYTE)),
                    ValueLayout.JAVA_INT));

    private LinuxCalls() {
    }

    private static MethodHandle bind(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        MemorySegment symbol = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    /** A failed call: the errno and the kernel's words for it. */
    static final class NativeException extends IOException {
        private final int errno;

        NativeException(String call, int errno) {
            super(call + ": " + describe(errno) + " (errno " + errno + ")");
            this.errno = errno;
        }

        int errno() {
            return errno;
        }
    }

    static int open(String path, int flags) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path), flags);
            if (fd < 0) {
                throw new NativeException("open(" + path + ")", errno(state));
            }
            return fd;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** An ioctl whose argument is a value, not a pointer (TUNSETOFFLOAD). */
    static void ioctlValue(int fd, String what, long request, long value) throws NativeException {
        check(what, state -> (int) IOCTL_VALUE.invokeExact(state, fd, request, value));
    }

    static void ioctl(int fd, String what, long request, MemorySegment argument) throws NativeException {
        check(what, state -> (int) IOCTL.invokeExact(state, fd, request, argument));
    }

    /** A call that returns -1 and sets errno on failure. */
    @FunctionalInterface
    private interface ErrnoCall {
        int call(MemorySegment errnoState) throws Throwable;
    }

    private static void check(String what, ErrnoCall call) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            if (call.call(state) < 0) {
                throw new NativeException("ioctl(" + what + ")", errno(state));
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** write(2) of {@code length} bytes at a native address; the bytes written, or -1 (errno not kept: the caller only counts it). */
    static long write(int fd, long address, long length) {
        try {
            return (long) WRITE.invokeExact(fd, MemorySegment.ofAddress(address), length);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static void close(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) CLOSE.invokeExact(arena.allocate(CAPTURE), fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    static String describe(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }
}
