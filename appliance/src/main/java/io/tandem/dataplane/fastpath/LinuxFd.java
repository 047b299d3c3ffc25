package io.tandem.dataplane.fastpath;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/** close(2) for the fds libbpf hands out (links), through FFM. */
final class LinuxFd {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle CLOSE = LINKER.downcallHandle(LINKER.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private LinuxFd() {
    }

    /** Closes {@code fd} if it is one (> 0). */
    static void close(int fd) {
        if (fd <= 0) {
            return;
        }
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
